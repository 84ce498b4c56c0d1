"""Scaling: does a bigger model, or more data, close the gap between the problems a model trained on and
the ones it never saw? (notebook 13)

The task is 3-digit addition with the operands zero-padded and the answer written least significant digit
first, the format notebook 07 found fastest to learn:

    123 + 45 = 168     ->   # 1 2 3 + 0 4 5 = 8 6 1 0 #

Training problems come only from a *region*: both operands at most ``limit`` (500 by default). The model
is scored on held-out problems from that region (in distribution) and on problems with an operand above
it (out of distribution), which notebook 07 showed a small model gets wrong at 2-digit scale.

``train_seeds`` trains one model per seed side by side: the parameters of all seeds are stacked on a
leading axis and one ``jax.vmap``-ed program updates them together, each seed with its own initial
weights and its own batches.
"""
from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import data as data_lib
from . import parallel, train
from .model import ModelConfig, count_params, init_params
from .train import TrainConfig

FORMAT = data_lib.NumberFormat(operand_width=3, answer_width=4, reverse_answer=True)
SEQ_LEN = 14                     # '#', 3 digits, '+', 3 digits, '=', 4 answer digits, '#'
LIMIT = 500                      # training operands are 0..LIMIT
MAX_OPERAND = 999


def size_config(d_model: int, n_layers: int) -> ModelConfig:
    """The series' model at another size: heads of 16 (at least 2 heads), d_ff = 4 d_model, learned
    positions (the ones notebooks 08 and 10 use), inputs of ``SEQ_LEN - 1`` tokens."""
    return ModelConfig(max_len=SEQ_LEN - 1, d_model=d_model, n_layers=n_layers, n_heads=max(2, d_model // 16),
                       d_ff=4 * d_model, pos_encoding="learned")


def n_params(config: ModelConfig) -> int:
    """Parameters of a model of this config, counted without building it."""
    return count_params(jax.eval_shape(lambda: init_params(jax.random.key(0), config)))


def region_pairs(limit: int, max_operand: int = MAX_OPERAND) -> tuple[np.ndarray, np.ndarray]:
    """(inside, outside): row indices into ``data.all_pairs(max_operand)`` of the pairs with both operands
    at most ``limit``, and of those with at least one above it."""
    a, b = data_lib.all_pairs(max_operand)
    inside = (a <= limit) & (b <= limit)
    return np.flatnonzero(inside), np.flatnonzero(~inside)


@dataclasses.dataclass
class RegionData:
    """Training problems from inside the region, and two test sets: held-out pairs inside it and pairs
    outside it (at least one operand above ``limit``)."""
    limit: int
    train: data_lib.Split
    inside: data_lib.Split
    outside: data_lib.Split | None      # None when the region is every pair


def region_data(n_train: int, limit: int = LIMIT, n_test: int = 2000, seed: int = 0) -> RegionData:
    """``n_train`` distinct training pairs drawn from the region, ``n_test`` other pairs of the region and
    ``n_test`` pairs from outside it, all seeded. Raises ValueError if the region is too small."""
    if not 0 <= limit <= MAX_OPERAND:
        raise ValueError(f"limit must be in 0..{MAX_OPERAND}, got {limit}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    inside, outside = region_pairs(limit)
    if n_train + n_test > len(inside):
        raise ValueError(f"the region 0..{limit} holds {len(inside):,} pairs: too few for {n_train:,} training "
                         f"and {n_test:,} test problems")
    rng = np.random.default_rng(seed)
    picked = rng.permutation(inside)[:n_train + n_test]
    a, b = data_lib.all_pairs(MAX_OPERAND)

    def split(rows):
        return data_lib.Split.from_operands(a[rows], b[rows], "+", SEQ_LEN, FORMAT)

    out = split(rng.permutation(outside)[:n_test]) if len(outside) else None
    return RegionData(limit, split(np.sort(picked[:n_train])), split(picked[n_train:]), out)


def train_seeds(model_config: ModelConfig, train_config: TrainConfig, train_split: data_lib.Split,
                eval_splits: dict, seeds=(0, 1), steps: int = 1000, evals: int = 10, progress: bool = True,
                desc: str = "steps"):
    """Train one model per seed side by side for ``steps`` optimizer steps, each on batches of
    ``train_config.batch_size`` rows drawn at random from ``train_split``, and score every seed on each
    split of ``eval_splits`` (``{name: Split}``) ``evals`` times along the way.

    Returns (params, history): ``params`` is one pytree whose leaves have a leading seed axis (S, ...);
    ``history`` holds ``step`` (evals,), ``seconds`` (evals,), ``train_loss`` (evals, S) and, for each
    eval split, ``<name>_loss`` (answer tokens only) and ``<name>_accuracy`` (exact answers), (evals, S)."""
    if steps % evals:
        raise ValueError(f"steps ({steps}) must be a multiple of evals ({evals})")
    start = time.perf_counter()
    optimizer = train.make_optimizer(train_config, steps)
    n_rows, batch_size = len(train_split), train_config.batch_size

    def sample_batch(key, arrays):
        rows = jax.random.randint(key, (batch_size,), 0, n_rows)
        return jax.tree.map(lambda array: array[rows], arrays)

    mesh = parallel.data_mesh()
    parallel.check_batch_size(batch_size, mesh)
    run_steps = train.make_sampled_steps_fn(model_config, train_config, optimizer, sample_batch, steps // evals, mesh)
    run_seeds = jax.jit(jax.vmap(run_steps, in_axes=(0, 0, 0, None)))          # the same data, every seed
    evaluate = jax.jit(jax.vmap(train.make_eval_fn(model_config, "masked"), in_axes=(0, None)))

    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds))
    init_keys, keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    params = jax.vmap(lambda key: init_params(key, model_config))(init_keys)
    opt_state = jax.vmap(optimizer.init)(params)
    # everything placed as the compiled program returns it, so that the second call does not compile again
    params, opt_state, keys = parallel.replicate((params, opt_state, keys), mesh)
    train_arrays = parallel.replicate(train.as_device_arrays(train_split), mesh)
    eval_arrays = {name: parallel.replicate(train.as_device_arrays(split), mesh) for name, split in eval_splits.items()}
    history = {"step": [], "seconds": [], "train_loss": []}
    for name in eval_splits:
        history[f"{name}_loss"], history[f"{name}_accuracy"] = [], []
    bar = tqdm(range(1, evals + 1), desc=desc, disable=not progress)
    for chunk in bar:
        params, opt_state, keys, losses = run_seeds(params, opt_state, keys, train_arrays)
        history["train_loss"].append(np.asarray(losses).mean(axis=1).tolist())
        for name, arrays in eval_arrays.items():
            metrics = jax.device_get(evaluate(params, arrays))
            history[f"{name}_loss"].append(metrics["answer_loss"].tolist())
            history[f"{name}_accuracy"].append(metrics["exact_accuracy"].tolist())
        history["step"].append(chunk * steps // evals)
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix({name: f"{100 * np.mean(history[f'{name}_accuracy'][-1]):.1f}%" for name in eval_splits})
    return params, history


def train_flops(config: ModelConfig, batch_size: int, steps: int) -> float:
    """Training FLOPs by the usual count: 6 x parameters x tokens seen (``SEQ_LEN - 1`` inputs a row)."""
    return 6.0 * n_params(config) * batch_size * (SEQ_LEN - 1) * steps


def fit_power_law(x, y) -> tuple[float, float]:
    """Least-squares line through (log x, log y): returns (coefficient, exponent) of ``y = c * x ** k``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or len(np.unique(x)) < 2:
        raise ValueError("a power law needs x and y of one length, with at least two different x")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("a power law is fitted on logarithms: every x and y must be positive")
    exponent, log_coefficient = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_coefficient)), float(exponent)
