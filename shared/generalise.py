"""What generalises (notebook 14): which positions let a model add numbers it never saw, larger or longer.

Every problem is addition written least significant digit first (``shared.places``), so a carry flows in
the order the answer is written. Two tests:

- **value**: notebook 07's split. Train on the pairs with both operands at most 50 (a seeded 80%; the other
  20% is the in-range check), then score every pair up to 99: the larger operand in 51-74 is the region
  settings are read on, 75-99 the final region.
- **length**: train on operands of 1 to 5 digits, score exact answers at every length from 1 to 15 digits
  (both operands of that length).

The models differ only in how a token's position enters: ``ENCODINGS``, the series' four and ``"abacus"``
(each digit's place in its number, with a random offset in training; ``shared.model``).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import data as data_lib
from . import places, train
from .model import ModelConfig, forward

ENCODINGS = ("none", "learned", "sinusoidal", "rope", "abacus")
VALUE_LIMIT, VALUE_MAX = 50, 99               # 07's split: train on operands <= 50, score up to 99
VALUE_REGIONS = {"in range (held out)": (0, 50), "51-74": (51, 74), "75-99": (75, 99)}
TRAIN_DIGITS, MAX_TEST_DIGITS = 5, 15


@dataclasses.dataclass(frozen=True)
class Setup:
    """One experiment's model and training, the same for every encoding. ``place_offset`` is used by
    the abacus model only; ``max_digits`` is the longest operand the model must read (its ``max_len``)."""
    max_digits: int
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    place_offset: int = 20
    batch_size: int = 128
    epochs: int = 10
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    pad_room: int = 0             # extra input positions, for rows with '#' put in front (``with_leading_pads``)

    def model(self, encoding: str) -> ModelConfig:
        """The ModelConfig of this setup with positions ``encoding`` (one of ``ENCODINGS``)."""
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}: choose one of {ENCODINGS}")
        return ModelConfig(max_len=places.seq_len_for(self.max_digits) - 1 + self.pad_room, d_model=self.d_model,
                           n_layers=self.n_layers, n_heads=self.n_heads, d_ff=4 * self.d_model,
                           pos_encoding=encoding, place_offset=self.place_offset if encoding == "abacus" else 0)

    def training(self, seed: int = 0) -> train.TrainConfig:
        """AdamW, warmup and cosine decay, loss on the answer digits only."""
        return train.TrainConfig(optimizer="adamw", learning_rate=self.learning_rate, schedule="cosine",
                                 warmup_steps=self.warmup_steps, batch_size=self.batch_size, epochs=self.epochs,
                                 loss="masked", seed=seed)


VALUE_SETUP = Setup(max_digits=2, n_layers=2, batch_size=64, epochs=60, place_offset=10, warmup_steps=100)
LENGTH_SETUP = Setup(max_digits=MAX_TEST_DIGITS, n_layers=2, pad_room=24)


def split_of(a, b, max_digits: int) -> data_lib.Split:
    """Operands (N,) -> a ``data.Split`` of their sums written by ``places.make_rows``, rows long enough
    for operands of ``max_digits`` digits."""
    rows, answer_mask = places.make_rows(a, b, places.seq_len_for(max_digits))
    return data_lib.Split(rows[:, :-1].astype(np.int32), rows[:, 1:].astype(np.int32), answer_mask,
                          np.asarray(a), np.asarray(b))


def value_splits(seed: int = 0) -> tuple[data_lib.Split, data_lib.Split, data_lib.Split]:
    """07's split: (train, held-out in range, every pair 0..99 in row-major order (a, b))."""
    a, b = data_lib.all_pairs(VALUE_MAX)
    inside = np.flatnonzero((a <= VALUE_LIMIT) & (b <= VALUE_LIMIT))
    train_idx, held_idx = data_lib.split_indices(len(inside), train_fraction=0.8, seed=seed)
    chosen = [inside[train_idx], inside[held_idx]]
    return (*(split_of(a[i], b[i], 2) for i in chosen), split_of(a, b, 2))


def value_region(a, b) -> np.ndarray:
    """(N,) the ``VALUE_REGIONS`` name of each pair, by its larger operand."""
    upper_ends = [high for _, high in VALUE_REGIONS.values()][:-1]          # 50, 74
    return np.array(list(VALUE_REGIONS))[np.searchsorted(upper_ends, np.maximum(a, b))]


def length_split(n: int, min_digits: int, max_digits: int, row_digits: int, seed: int) -> data_lib.Split:
    """``n`` sums of two operands, each with a digit count uniform in ``min_digits..max_digits``, as rows
    for operands of up to ``row_digits`` digits."""
    rng = np.random.default_rng(seed)
    a = places.random_operands(rng, n, min_digits, max_digits)
    b = places.random_operands(rng, n, min_digits, max_digits)
    return split_of(a, b, row_digits)


def fit(encoding: str, setup: Setup, train_split: data_lib.Split, check_split: data_lib.Split, seed: int = 0,
        progress: bool = True):
    """Train the ``encoding`` model of ``setup`` from scratch; returns (params, config, history)."""
    config = setup.model(encoding)
    params, history = train.train(config, setup.training(seed), train_split, check_split, progress=progress)
    return params, config, history


def answers_right(params, config: ModelConfig, split: data_lib.Split, batch: int = 2048) -> np.ndarray:
    """(N, T) bool: where the teacher-forced argmax equals the target (only answer positions matter)."""
    predict = _predictor(config)
    right = [np.asarray(predict(params, jnp.asarray(split.x[i:i + batch])) == split.y[i:i + batch])
             for i in range(0, len(split), batch)]
    return np.concatenate(right)


def exact(params, config: ModelConfig, split: data_lib.Split) -> np.ndarray:
    """(N,) bool: whether greedy decoding writes each whole answer right (``evaluate.exact_match``)."""
    return (answers_right(params, config, split) | ~split.answer_mask).all(axis=1)


def accuracy_by_length(params, config: ModelConfig, lengths=range(1, MAX_TEST_DIGITS + 1), n: int = 1000,
                       seed: int = 1) -> dict:
    """``{digits: exact accuracy}`` on ``n`` fresh sums of two operands of exactly that many digits each
    (rows for ``MAX_TEST_DIGITS``-digit operands)."""
    return {int(d): float(exact(params, config, length_split(n, d, d, MAX_TEST_DIGITS, seed + d)).mean())
            for d in tqdm(lengths, desc="lengths", leave=False)}


def with_leading_pads(split: data_lib.Split, n: int, width: int) -> data_lib.Split:
    """The same sums with ``n`` more ``#`` tokens in front of every row, rows cut or padded to ``width``
    inputs: the problem is unchanged, only where in the row it sits."""
    def shift(array, fill):
        moved = np.concatenate([np.full((len(array), n), fill, array.dtype), array], axis=1)[:, :width]
        return np.pad(moved, ((0, 0), (0, width - moved.shape[1])), constant_values=fill)
    if n < 0 or split.answer_mask[:, max(0, width - n):].any():
        raise ValueError(f"{n} pads do not fit: rows of {width} inputs would cut off an answer")
    return data_lib.Split(shift(split.x, data_lib.PAD), shift(split.y, data_lib.PAD), shift(split.answer_mask, False),
                          split.a, split.b)


@functools.lru_cache(maxsize=None)
def _predictor(config: ModelConfig):
    """One compiled argmax predictor per model config, reused by every call (rows of one width compile once)."""
    @jax.jit
    def predict(params, x):
        positions = places.digit_places(x) if config.pos_encoding == "abacus" else None
        return jnp.argmax(forward(params, x, config, places=positions), axis=-1)
    return predict


COLUMN_KINDS = ("seen in the tens column", "seen only in the units column", "never seen")


def tens_column_kind(a, b, train_a, train_b) -> np.ndarray:
    """(N,) which ``COLUMN_KINDS`` the tens column of each sum ``a + b`` (N,) is, against the training sums
    ``train_a + train_b``. A column is (tens digit of a, tens digit of b, carry in from the units), a
    missing tens digit counted as its own value; the units column of a sum is (units of a, units of b, no
    carry). A model that learned addition one column at a time, the same in every place, can add a column
    it saw in any place; a model that learned each place apart, only one it saw in that place."""
    def tens(a, b):
        a, b = np.asarray(a), np.asarray(b)
        carry = (a % 10 + b % 10) >= 10
        return (np.where(a >= 10, a // 10, 10) * 11 + np.where(b >= 10, b // 10, 10)) * 2 + carry
    seen_tens = np.isin(tens(a, b), tens(train_a, train_b))
    units_like = (np.asarray(a) >= 10) & (np.asarray(b) >= 10) & ((np.asarray(a) % 10 + np.asarray(b) % 10) < 10)
    return np.array(COLUMN_KINDS)[np.where(seen_tens, 0, np.where(units_like, 1, 2))]
