"""Data parallelism with ``jax.sharding``: a 1-D mesh named ``data`` over every local device.

Each batch is split along its rows across the mesh, and parameters and optimizer state are replicated
on every device. Inside ``jit`` XLA then computes each device's share of the gradient and inserts the
all-reduce that sums them, so the training step is written once, for one device, and runs unchanged on
one CPU, one GPU or a TPU's eight cores. With a single device the mesh has size 1: the same code path.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: every local device)."""
    devices = jax.local_devices() if devices is None else devices
    return Mesh(np.array(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, small datasets)."""
    return NamedSharding(mesh, PartitionSpec())


def split_rows(mesh: Mesh) -> NamedSharding:
    """Axis 0 (the batch rows) split across the ``data`` axis; the other axes whole."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raise a clear ValueError unless ``batch_size`` rows split evenly over the mesh's devices."""
    if batch_size % mesh.size:
        raise ValueError(f"batch_size {batch_size} does not split evenly over {mesh.size} devices: "
                         f"use a multiple of {mesh.size}")


def shard_batch(batch, mesh: Mesh):
    """Inside ``jit``: constrain every array of ``batch`` (rows first) to be split by rows across the mesh."""
    return jax.lax.with_sharding_constraint(batch, split_rows(mesh))


def replicate(tree, mesh: Mesh):
    """Place every array of ``tree`` whole on every device of the mesh."""
    return jax.device_put(tree, replicated(mesh))
