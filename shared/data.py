"""Vocabulary, encode/decode, vectorised dataset builders, splits and batching.

A problem is one string of characters, e.g. ``#72+90=162#`` padded with ``#`` to ``SEQ_LEN`` (13):

    position  0 1 2 3 4 5 6 7 8 9 10 11 12
    token     # 7 2 + 9 0 = 1 6 2 #  #  #

``#`` plays three roles: beginning of sequence (position 0), end of the answer (the first ``#`` after
``=``), and padding (everything after that). The model reads ``x = row[:-1]`` and learns to predict
``y = row[1:]``, so it sees ``T = SEQ_LEN - 1 = 12`` positions.

Every builder takes integer arrays and works on whole arrays at once: no Python loop over rows.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

VOCAB = "#0123456789+-*/="
TOKEN_ID = {char: i for i, char in enumerate(VOCAB)}
PAD = BOS = EOS = TOKEN_ID["#"]
EQUALS = TOKEN_ID["="]
SEQ_LEN = 13
OPERATORS = "+-*/"  # "/" is floor division
BLOG_PROBLEMS = ("72+90", "3+50", "90+68", "5+51", "52+5", "36+24", "46+11")


@dataclasses.dataclass(frozen=True)
class NumberFormat:
    """How numbers are written. The default is the blog's: plain decimal, most significant digit first.

    ``operand_width=2`` zero-pads operands (``#07+50=57#``); ``answer_width=3`` zero-pads the answer
    (``=057``); ``reverse_answer`` writes the answer least significant digit first (``=75`` for 57),
    the order in which carries are computed."""
    operand_width: int | None = None
    answer_width: int | None = None
    reverse_answer: bool = False

    def __post_init__(self):
        for name in ("operand_width", "answer_width"):
            width = getattr(self, name)
            if width is not None and width < 1:
                raise ValueError(f"{name} must be a positive number of digits or None, got {width}")


BLOG_FORMAT = NumberFormat()

_ID_OF_BYTE = np.full(256, -1, dtype=np.int32)
_ID_OF_BYTE[np.frombuffer(VOCAB.encode(), np.uint8)] = np.arange(len(VOCAB))


def encode(text: str) -> np.ndarray:
    """``"#7+5=12#"`` -> int32 token ids of shape ``(len(text),)``.

    Raises ValueError naming the first character that is not in the vocabulary."""
    bad = [c for c in text if c not in TOKEN_ID]
    if bad:
        raise ValueError(f"character {bad[0]!r} is not in the vocabulary {VOCAB!r}")
    return _ID_OF_BYTE[np.frombuffer(text.encode("ascii"), np.uint8)]


def decode(ids) -> str:
    """Token ids of shape ``(T,)`` -> the string they spell."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size and (ids.min() < 0 or ids.max() >= len(VOCAB)):
        raise ValueError(f"decode expects a 1-D array of ids in [0, {len(VOCAB)}), got shape {ids.shape}")
    return "".join(VOCAB[i] for i in ids)


# The arithmetic behind every dataset of the series, by operator symbol ("/" and "//" are floor division).
NUMPY_OPERATION = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.floor_divide,
                   "//": np.floor_divide, "%": np.mod}


def apply_operator(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    """The true result of ``a op b`` for integer arrays of shape ``(N,)``."""
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}: choose one of {OPERATORS!r}")
    if op == "/" and np.any(b == 0):
        raise ValueError("division by zero: drop the pairs with b == 0 before building '/' problems")
    return NUMPY_OPERATION[op](a, b)


def _digit_tokens(values: np.ndarray, width: int | None = None, reverse: bool = False):
    """Non-negative ints ``(N,)`` -> (digit tokens ``(N, W)`` left-aligned, number of digits ``(N,)``).

    With ``width`` every number is zero-padded to exactly that many digits; with ``reverse`` the least
    significant digit comes first."""
    lengths = 1 + (values[:, None] >= 10 ** np.arange(1, 19)).sum(axis=1)  # exact, no float log10
    if width is not None:
        if values.size and lengths.max() > width:
            raise ValueError(f"{values[np.argmax(lengths)]} has more than {width} digits")
        lengths = np.full_like(lengths, width)
    column = np.arange(int(lengths.max(initial=1)))
    significance = column if reverse else lengths[:, None] - 1 - column   # 0 = ones, 1 = tens, ...
    digits = (values[:, None] // 10 ** np.maximum(significance, 0)) % 10
    return digits + TOKEN_ID["0"], lengths


def _place(rows: np.ndarray, start: np.ndarray, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Write ``tokens[i, :lengths[i]]`` into ``rows[i]`` from column ``start[i]``; return the new ends."""
    column = np.arange(tokens.shape[1])
    inside = column < lengths[:, None]
    row_index = np.broadcast_to(np.arange(len(rows))[:, None], tokens.shape)
    rows[row_index[inside], (start[:, None] + column)[inside]] = tokens[inside]
    return start + lengths


def as_operands(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Operands ``a, b`` of shape ``(N,)`` as int64 arrays. Raises ValueError unless both are 1-D, of one
    shape, and whole numbers (``3.0`` is; ``3.5`` is refused, not rounded down)."""
    a_given, b_given = np.asarray(a), np.asarray(b)
    if a_given.dtype.kind not in "biufO" or b_given.dtype.kind not in "biufO":   # text, dates and the like
        raise ValueError(f"operands must be whole numbers, got arrays of {a_given.dtype} and {b_given.dtype}")
    try:
        with np.errstate(invalid="ignore"):
            a, b = a_given.astype(np.int64), b_given.astype(np.int64)
    except (OverflowError, TypeError, ValueError):
        raise ValueError("operands must be whole numbers that fit in 64 bits") from None
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D arrays of one shape, got {a.shape} and {b.shape}")
    if np.any(a != a_given) or np.any(b != b_given):
        raise ValueError("operands must be whole numbers")
    return a, b


def make_sequences(a, b, op: str, seq_len: int = SEQ_LEN, fmt: NumberFormat = BLOG_FORMAT) -> np.ndarray:
    """Operand arrays ``a, b`` of shape ``(N,)`` -> token rows ``#a op b=c#`` padded with ``#``, ``(N, seq_len)``.

    Numbers are written as ``fmt`` says. Negative results (for ``-``) carry a ``-`` sign. Raises
    ValueError for negative operands, an unknown operator, or a row that does not fit in ``seq_len``."""
    a, b = as_operands(a, b)
    if a.size and min(a.min(), b.min()) < 0:
        raise ValueError("operands must be non-negative")
    result = apply_operator(a, b, op)
    n = len(a)
    ones = np.ones(n, np.int64)
    rows = np.full((n, seq_len + 64), PAD, np.int32)  # spare room, so a too-long row is caught below
    end = np.ones(n, np.int64)  # position 0 is BOS
    end = _place(rows, end, *_digit_tokens(a, fmt.operand_width))
    end = _place(rows, end, np.full((n, 1), TOKEN_ID[op]), ones)
    end = _place(rows, end, *_digit_tokens(b, fmt.operand_width))
    end = _place(rows, end, np.full((n, 1), EQUALS), ones)
    end = _place(rows, end, np.full((n, 1), TOKEN_ID["-"]), (result < 0).astype(np.int64))
    answer = _digit_tokens(np.abs(result), fmt.answer_width, fmt.reverse_answer)
    end = _place(rows, end, *answer)  # then EOS: the row is already '#'
    if n and end.max() + 1 > seq_len:
        raise ValueError(f"a row needs {end.max() + 1} tokens but seq_len is {seq_len}")
    return rows[:, :seq_len]


def answer_mask(x: np.ndarray) -> np.ndarray:
    """Inputs ``x`` of shape ``(N, T)`` -> bool ``(N, T)``, True where the target ``y`` is an answer token.

    Target ``y[t]`` is part of the answer when ``=`` has appeared in ``x[:t+1]`` and ``x[t]`` is not
    ``#``: that covers each answer digit and the closing ``#`` (EOS), and skips the padding after it."""
    seen_equals = np.cumsum(np.asarray(x) == EQUALS, axis=-1) > 0
    return seen_equals & (np.asarray(x) != PAD)


class Split(NamedTuple):
    """One split of a dataset. ``N`` rows, ``T = seq_len - 1`` positions."""
    x: np.ndarray            # (N, T) int32 inputs, row[:-1]
    y: np.ndarray            # (N, T) int32 next-token targets, row[1:]
    answer_mask: np.ndarray  # (N, T) bool, True where y is an answer digit or the closing '#'
    a: np.ndarray            # (N,) first operands
    b: np.ndarray            # (N,) second operands

    @classmethod
    def from_operands(cls, a, b, op: str = "+", seq_len: int = SEQ_LEN, fmt: NumberFormat = BLOG_FORMAT) -> "Split":
        rows = make_sequences(a, b, op, seq_len, fmt)
        x, y = rows[:, :-1], rows[:, 1:]
        return cls(x, y, answer_mask(x), np.asarray(a), np.asarray(b))

    def __len__(self) -> int:
        return len(self.x)


def all_pairs(max_operand: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair ``(a, b)`` with ``0 <= a, b <= max_operand``: two arrays of shape ``(N,)``."""
    if max_operand < 0:
        raise ValueError(f"max_operand must be at least 0, got {max_operand}")
    a, b = np.meshgrid(np.arange(max_operand + 1), np.arange(max_operand + 1), indexing="ij")
    return a.ravel(), b.ravel()


def split_indices(n: int, train_fraction: float = 0.72, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)``: (train indices, test indices), disjoint and covering all."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(train_fraction * n))
    if not 0 < n_train < n:
        raise ValueError(f"{n} rows split at train_fraction {train_fraction} leave the train or the test split empty")
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def make_dataset(op: str = "+", max_operand: int = 99, train_fraction: float = 0.72, seed: int = 0,
                 seq_len: int = SEQ_LEN, fmt: NumberFormat = BLOG_FORMAT) -> tuple[Split, Split]:
    """All pairs of operands in ``[0, max_operand]`` for ``op``, written as ``fmt`` says, split train/test.
    The blog's dataset is ``make_dataset()``: 10,000 additions, 7,200 train and 2,800 test."""
    a, b = all_pairs(max_operand)
    if op == "/":
        a, b = a[b != 0], b[b != 0]
    train_idx, test_idx = split_indices(len(a), train_fraction, seed)
    return (Split.from_operands(a[train_idx], b[train_idx], op, seq_len, fmt),
            Split.from_operands(a[test_idx], b[test_idx], op, seq_len, fmt))


def hold_out(split: Split, rows: int, seed: int = 1) -> tuple[Split, Split]:
    """Carve a validation split of ``rows`` randomly chosen rows out of ``split`` (usually the training
    set): ``(the rest, validation)``, disjoint. Settings are chosen on the validation rows, so the test
    set is only ever used to report."""
    if not 0 < rows < len(split):
        raise ValueError(f"rows must be between 1 and {len(split) - 1}, got {rows}")
    order = np.random.default_rng(seed).permutation(len(split))
    rest, validation = np.sort(order[rows:]), np.sort(order[:rows])
    return Split(*(part[rest] for part in split)), Split(*(part[validation] for part in split))


def batch_layout(arrays, batch_size: int):
    """Lay out arrays of shape ``(N, ...)`` as ``(num_batches, batch_size, ...)``, the leading axis being
    the one ``jax.lax.scan`` steps over. The last ``N % batch_size`` rows are dropped."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    def layout(array):
        num_batches = array.shape[0] // batch_size
        if num_batches == 0:
            raise ValueError(f"batch_size {batch_size} is larger than the {array.shape[0]} rows")
        return array[: num_batches * batch_size].reshape(num_batches, batch_size, *array.shape[1:])
    return jax.tree.map(layout, arrays)


def shuffled_batches(key: jax.Array, arrays, batch_size: int):
    """Shuffle the rows of every array in the pytree ``arrays`` with one permutation drawn from ``key``,
    then lay them out as ``(num_batches, batch_size, ...)``. Runs on the device, inside ``jit``."""
    n = jax.tree.leaves(arrays)[0].shape[0]
    order = jax.random.permutation(key, n)
    return batch_layout(jax.tree.map(lambda array: jnp.take(array, order, axis=0), arrays), batch_size)
