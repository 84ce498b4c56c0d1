"""Checkpoints as ``.npz`` (arrays) + ``.json`` (config and metadata). Never pickle: arrays load with
``allow_pickle=False`` and the structure comes from a template pytree, so a checkpoint cannot run code."""
from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import numpy as np

from .model import ModelConfig


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _flat(tree) -> dict:
    """A pytree -> ``{"path/to/leaf": numpy array}``, keys in the tree's own leaf order. PRNG keys are
    stored as their raw ``key_data``."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
            for path, leaf in leaves}


def save(path, tree, model_config: ModelConfig, **metadata) -> pathlib.Path:
    """Write ``tree`` (params, or a whole training state) to ``<path>.npz`` and the model config plus
    ``metadata`` (JSON-serialisable) to ``<path>.json``. Returns the ``.npz`` path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _flat(tree)
    np.savez(path.with_suffix(".npz"), **{f"{i:04d}": array for i, array in enumerate(arrays.values())})
    info = {"model_config": dataclasses.asdict(model_config), "leaves": list(arrays), **metadata}
    path.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    return path.with_suffix(".npz")


def load_config(path, config_class=ModelConfig) -> tuple:
    """The model config (a ``config_class``: the decoder's ``ModelConfig`` unless told) and the metadata
    saved beside a checkpoint. Raises ValueError if missing or corrupt."""
    json_path = pathlib.Path(path).with_suffix(".json")
    try:
        info = json.loads(json_path.read_text())
        return config_class(**info.pop("model_config")), info
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {json_path}") from None
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"corrupt checkpoint metadata {json_path}: {error}") from None


def load(path, template):
    """Load the arrays saved at ``path`` into the structure of ``template`` (a pytree of the same shapes,
    e.g. freshly initialised params). Raises ValueError if the file is missing, corrupt or does not fit."""
    npz_path = pathlib.Path(path).with_suffix(".npz")
    expected = _flat(template)
    try:
        with np.load(npz_path, allow_pickle=False) as stored:
            arrays = [stored[f"{i:04d}"] for i in range(len(stored.files))]
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {npz_path}") from None
    except Exception as error:  # zipfile, OSError, ValueError: all mean the file is unusable
        raise ValueError(f"corrupt checkpoint {npz_path}: {error}") from None
    if len(arrays) != len(expected) or any(a.shape != e.shape for a, e in zip(arrays, expected.values())):
        raise ValueError(f"checkpoint {npz_path} does not match the expected structure")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    restored = [jax.random.wrap_key_data(a) if _is_key(t) else jax.numpy.asarray(a.astype(e.dtype))
                for a, e, t in zip(arrays, expected.values(), leaves)]
    return jax.tree_util.tree_unflatten(treedef, restored)
