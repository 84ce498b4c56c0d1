"""Losses, optimizers and the training loop: one epoch is one jit-compiled ``lax.scan`` over batches
that live on the device, reshuffled each epoch with a PRNG key. Every batch is split across all local
devices (``shared.parallel``); with one device that is a no-op on the same code path.
"""
from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from . import data as data_lib
from . import parallel
from . import places as places_lib
from .evaluate import exact_match
from .model import ModelConfig, forward, init_params

LOSSES = ("per_token", "masked")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train. ``loss="per_token"`` averages the cross-entropy over every target position;
    ``loss="masked"`` over the answer tokens only (the answer digits and the closing ``#``)."""
    optimizer: str = "adam"        # sgd | adam | adamw
    learning_rate: float = 3e-3
    schedule: str = "constant"     # constant | cosine (linear warmup, then cosine decay to 0)
    warmup_steps: int = 0
    weight_decay: float = 0.0      # adamw only
    grad_clip: float | None = None  # global-norm clipping threshold
    batch_size: int = 256
    epochs: int = 30
    loss: str = "per_token"        # per_token | masked
    seed: int = 0

    def __post_init__(self):
        for name, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES), ("loss", self.loss, LOSSES)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: choose one of {allowed}")
        if self.learning_rate <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("learning_rate, batch_size and epochs must be positive")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps and weight_decay must not be negative")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive (or None for no clipping), got {self.grad_clip}")


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optax optimizer ``config`` names, with its learning-rate schedule and optional clipping."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = optax.warmup_cosine_decay_schedule(
            0.0, config.learning_rate, config.warmup_steps, max(total_steps, config.warmup_steps + 1))
    if config.optimizer == "sgd":
        optimizer = optax.sgd(learning_rate)
    elif config.optimizer == "adam":
        optimizer = optax.adam(learning_rate)
    else:
        optimizer = optax.adamw(learning_rate, weight_decay=config.weight_decay)
    if config.grad_clip is not None:
        optimizer = optax.chain(optax.clip_by_global_norm(config.grad_clip), optimizer)
    return optimizer


def token_losses(params, model_config: ModelConfig, x, y, dropout_key=None, places=None):
    """Cross-entropy of each next-token prediction: inputs and targets (B, T) -> losses (B, T).
    ``places`` (B, T): the abacus places of ``x``, for an abacus model."""
    logits = forward(params, x, model_config, dropout_key, places=places)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


def mean_loss(losses, weights):
    """Weighted mean of ``losses`` (B, T) with ``weights`` (B, T) of 0s and 1s."""
    return (losses * weights).sum() / jnp.maximum(weights.sum(), 1)


def loss_weights(kind: str, answer_mask):
    """Which target positions a loss counts: all of them (``per_token``) or the answer only (``masked``)."""
    return jnp.ones(answer_mask.shape, jnp.float32) if kind == "per_token" else answer_mask.astype(jnp.float32)


def as_device_arrays(split: data_lib.Split, with_places: bool = False) -> dict:
    """The parts of a split the training loop needs, as device arrays: ``{"x", "y", "answer_mask"}``, and
    ``"places"`` (each input token's place in its number, for an abacus model) if ``with_places``."""
    arrays = {"x": jnp.asarray(split.x), "y": jnp.asarray(split.y), "answer_mask": jnp.asarray(split.answer_mask)}
    if with_places:
        arrays["places"] = places_lib.digit_places(arrays["x"])
    return arrays


def make_train_step(model_config: ModelConfig, train_config: TrainConfig, optimizer, mesh=None):
    """Build ``train_step((params, opt_state, key), batch) -> ((params, opt_state, key), loss)``: one
    optimizer step on a batch ``{"x", "y", "answer_mask"}`` of shape (B, T) (and ``"places"`` for an abacus
    model), in the form ``lax.scan`` wants.
    The batch rows are split across ``mesh`` (default: every local device); parameters stay replicated."""
    random_in_training = model_config.dropout > 0 or model_config.place_offset > 0
    mesh = parallel.data_mesh() if mesh is None else mesh

    def batch_loss(params, batch, key):
        losses = token_losses(params, model_config, batch["x"], batch["y"], key if random_in_training else None,
                              places=batch.get("places"))
        return mean_loss(losses, loss_weights(train_config.loss, batch["answer_mask"]))

    def train_step(carry, batch):
        params, opt_state, key = carry
        key, dropout_key = jax.random.split(key)
        batch = parallel.shard_batch(batch, mesh)   # each device gets B / n_devices rows
        loss, grads = jax.value_and_grad(batch_loss)(params, batch, dropout_key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), loss

    return train_step


def make_epoch_fn(model_config: ModelConfig, train_config: TrainConfig, optimizer, mesh=None):
    """Build ``run_epoch(params, opt_state, key, train_arrays) -> (params, opt_state, key, mean_loss)``:
    one jit-compiled pass over the shuffled training set as a ``lax.scan`` of optimizer steps."""
    return epoch_fn(make_train_step(model_config, train_config, optimizer, mesh), train_config.batch_size)


def epoch_fn(train_step, batch_size: int):
    """``run_epoch`` as in ``make_epoch_fn``, around any ``train_step((params, opt_state, key), batch) ->
    ((params, opt_state, key), loss)`` (notebook 11 passes one with hand-written gradients)."""

    @jax.jit
    def run_epoch(params, opt_state, key, train_arrays):
        key, shuffle_key = jax.random.split(key)
        batches = data_lib.shuffled_batches(shuffle_key, train_arrays, batch_size)
        (params, opt_state, key), losses = jax.lax.scan(train_step, (params, opt_state, key), batches)
        return params, opt_state, key, losses.mean()

    return run_epoch


def make_sampled_steps_fn(model_config: ModelConfig, train_config: TrainConfig, optimizer, sample_batch, steps: int,
                          mesh=None):
    """Build ``run_steps(params, opt_state, key, data) -> (params, opt_state, key, losses (steps,))``: ``steps``
    optimizer steps in one jit-compiled ``lax.scan``, each on a fresh batch ``sample_batch(key, data)``
    drawn on the device. For datasets too large to walk in epochs (notebook 08's five million rows)."""
    train_step = make_train_step(model_config, train_config, optimizer, mesh)

    @jax.jit
    def run_steps(params, opt_state, key, data):
        def sampled_step(carry, _):
            params, opt_state, key = carry
            key, batch_key = jax.random.split(key)
            return train_step((params, opt_state, key), sample_batch(batch_key, data))

        (params, opt_state, key), losses = jax.lax.scan(sampled_step, (params, opt_state, key), None, length=steps)
        return params, opt_state, key, losses

    return run_steps


def make_eval_fn(model_config: ModelConfig, loss_kind: str):
    """Build ``evaluate(params, arrays) -> dict`` of ``loss`` (the training loss's kind), ``token_loss``
    (every position), ``answer_loss`` (answer tokens only) and ``exact_accuracy`` (fraction of rows
    whose whole answer greedy decoding gets right; see ``evaluate.exact_match``), in one forward pass."""

    @jax.jit
    def evaluate(params, arrays):
        logits = forward(params, arrays["x"], model_config, places=arrays.get("places"))
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, arrays["y"])
        mask = arrays["answer_mask"]
        metrics = {"token_loss": losses.mean(),
                   "answer_loss": mean_loss(losses, mask.astype(jnp.float32)),
                   "exact_accuracy": exact_match(logits, arrays["y"], mask).mean()}
        metrics["loss"] = metrics["token_loss" if loss_kind == "per_token" else "answer_loss"]
        return metrics

    return evaluate


@dataclasses.dataclass
class History:
    """Per-epoch record of a run; ``seconds`` is cumulative wall time since the start, compile included."""
    epoch: list = dataclasses.field(default_factory=list)
    train_loss: list = dataclasses.field(default_factory=list)      # mean over the epoch's batches
    test_loss: list = dataclasses.field(default_factory=list)       # same kind as the training loss
    test_answer_loss: list = dataclasses.field(default_factory=list)
    test_accuracy: list = dataclasses.field(default_factory=list)   # exact-answer, whole test set
    seconds: list = dataclasses.field(default_factory=list)

    def append(self, **row):
        for name, value in row.items():
            getattr(self, name).append(int(value) if name == "epoch" else float(value))

    def first_epoch_at(self, accuracy: float = 1.0):
        """(epoch, seconds) when the test accuracy first reached ``accuracy``, or None if it never did."""
        for epoch, acc, sec in zip(self.epoch, self.test_accuracy, self.seconds):
            if acc >= accuracy:
                return epoch, sec
        return None


def mesh_and_optimizer(train_config: TrainConfig, train_rows: int):
    """The device mesh and the optimizer (its schedule spanning the whole budget) for training on
    ``train_rows`` rows; a clear ValueError if a batch is larger than the rows or does not split evenly
    over the devices."""
    steps_per_epoch = train_rows // train_config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {train_config.batch_size} exceeds the {train_rows} training rows")
    mesh = parallel.data_mesh()
    parallel.check_batch_size(train_config.batch_size, mesh)
    return mesh, make_optimizer(train_config, steps_per_epoch * train_config.epochs)


def train(model_config: ModelConfig, train_config: TrainConfig, train_split: data_lib.Split,
          test_split: data_lib.Split, params=None, progress: bool = True, stop_at_accuracy=None):
    """Train from ``init_params(seed)`` (or the given ``params``) for ``train_config.epochs`` epochs,
    evaluating on the whole test split after each. Stops early once the test exact-answer accuracy
    reaches ``stop_at_accuracy``, if given. Returns ``(params, history)``."""
    start = time.perf_counter()
    key = jax.random.key(train_config.seed)
    key, init_key = jax.random.split(key)
    if params is None:
        params = init_params(init_key, model_config)
    mesh, optimizer = mesh_and_optimizer(train_config, len(train_split))
    params = parallel.replicate(params, mesh)
    opt_state = parallel.replicate(optimizer.init(params), mesh)
    key = parallel.replicate(key, mesh)     # placed like the key each epoch returns: no second compile
    run_epoch = make_epoch_fn(model_config, train_config, optimizer, mesh)
    evaluate = make_eval_fn(model_config, train_config.loss)
    with_places = model_config.pos_encoding == "abacus"
    train_arrays = parallel.replicate(as_device_arrays(train_split, with_places), mesh)
    test_arrays = parallel.replicate(as_device_arrays(test_split, with_places), mesh)
    history = History()
    bar = tqdm(range(1, train_config.epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        params, opt_state, key, train_loss = run_epoch(params, opt_state, key, train_arrays)
        metrics = jax.device_get(evaluate(params, test_arrays))  # waits for the epoch to finish
        history.append(epoch=epoch, train_loss=train_loss, test_loss=metrics["loss"],
                       test_answer_loss=metrics["answer_loss"], test_accuracy=metrics["exact_accuracy"],
                       seconds=time.perf_counter() - start)
        bar.set_postfix(loss=f"{float(train_loss):.4f}", test_acc=f"{metrics['exact_accuracy']:.4f}")
        if stop_at_accuracy is not None and metrics["exact_accuracy"] >= stop_at_accuracy:
            break
    return params, history


def train_seeds(model_config: ModelConfig, train_config: TrainConfig, train_split: data_lib.Split,
                test_split: data_lib.Split, seeds=(0, 1, 2), progress: bool = True):
    """Train one run per seed side by side, with ``jax.vmap``: the parameters, optimizer states and keys of
    every seed are stacked on a leading axis of length S = len(seeds), and one compiled epoch trains them
    all. Seed ``s`` starts from the same parameters and draws the same shuffles as ``train`` with seed ``s``
    (the results agree up to float rounding). Every seed runs the whole budget (no early stop).

    Returns ``(params, histories)``: the parameters with a leading seed axis (S, ...) and one ``History``
    per seed. Their ``seconds`` are the wall time of all seeds together, compile included."""
    start = time.perf_counter()
    seeds = tuple(int(seed) for seed in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    mesh, optimizer = mesh_and_optimizer(train_config, len(train_split))
    keys = jax.vmap(lambda seed: jax.random.split(jax.random.key(seed)))(jnp.asarray(seeds))  # (S, 2), as in train
    keys, init_keys = keys[:, 0], keys[:, 1]
    params = jax.vmap(lambda key: init_params(key, model_config))(init_keys)                 # leaves (S, ...)
    params = parallel.replicate(params, mesh)
    opt_state = parallel.replicate(jax.vmap(optimizer.init)(params), mesh)
    keys = parallel.replicate(keys, mesh)
    run_epoch = jax.jit(jax.vmap(make_epoch_fn(model_config, train_config, optimizer, mesh), in_axes=(0, 0, 0, None)))
    evaluate = jax.jit(jax.vmap(make_eval_fn(model_config, train_config.loss), in_axes=(0, None)))
    with_places = model_config.pos_encoding == "abacus"
    train_arrays = parallel.replicate(as_device_arrays(train_split, with_places), mesh)
    test_arrays = parallel.replicate(as_device_arrays(test_split, with_places), mesh)
    histories = [History() for _ in seeds]
    bar = tqdm(range(1, train_config.epochs + 1), desc=f"epochs, {len(seeds)} seeds at once", disable=not progress)
    for epoch in bar:
        params, opt_state, keys, train_loss = run_epoch(params, opt_state, keys, train_arrays)
        metrics = jax.device_get(evaluate(params, test_arrays))   # each (S,); waits for the epoch
        seconds = time.perf_counter() - start
        for s, history in enumerate(histories):
            history.append(epoch=epoch, train_loss=train_loss[s], test_loss=metrics["loss"][s],
                           test_answer_loss=metrics["answer_loss"][s], test_accuracy=metrics["exact_accuracy"][s],
                           seconds=seconds)
        bar.set_postfix(loss=f"{float(train_loss.mean()):.4f}", test_acc=f"{float(metrics['exact_accuracy'].mean()):.4f}")
    return params, histories
