"""Long addition with every number written least significant digit first, and the place of every digit.

Notebook 14 asks what lets a model add numbers longer than any it was trained on. Its problems use the
series' vocabulary (``shared.data.VOCAB``) with every number reversed, the order in which carries flow,
and an answer one digit longer than the longer operand (so its last digit may be 0):

    123 + 45 = 168     ->   # 3 2 1 + 5 4 = 8 6 1 0 #   then '#' padding to the row length

``digit_places`` gives each token the place of its digit within its number: 1 for the units (the first
digit written), 2 for the tens, ...; 0 for a token that is not a digit. Units of both operands and of the
answer share place 1, tens place 2: the per-significance positions of Abacus embeddings (McLeish et al.
2024, "Transformers Can Do Arithmetic with the Right Embeddings") and of position coupling (Cho et al.
2024). A model with ``pos_encoding="abacus"`` adds one learned vector per place to each token; with
``place_offset`` it shifts every place of a row (the 0 of ``#``, ``+`` and ``=`` too) by one random amount in
training, so that the vectors of places beyond the training lengths are trained too.

Every builder works on whole arrays: no Python loop over rows.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .data import PAD, TOKEN_ID, as_operands

ZERO, NINE, PLUS, EQUALS = TOKEN_ID["0"], TOKEN_ID["9"], TOKEN_ID["+"], TOKEN_ID["="]
MAX_DIGITS = 18                   # int64 holds every sum of two 18-digit numbers


def digit_places(tokens):
    """Token ids (B, T) -> places (B, T) int32: for a digit, 1 + how many digits come right before it in
    the same number; 0 for any other token. Causal: a place depends only on the tokens up to it."""
    tokens = jnp.asarray(tokens)
    is_digit = (tokens >= ZERO) & (tokens <= NINE)
    count = jnp.cumsum(is_digit, axis=1, dtype=jnp.int32)                    # digits so far
    before_number = jax.lax.cummax(jnp.where(is_digit, 0, count), axis=1)    # digits before this number
    return jnp.where(is_digit, count - before_number, 0)


def random_operands(rng: np.random.Generator, n: int, min_digits: int, max_digits: int) -> np.ndarray:
    """(n,) int64 numbers whose digit count is uniform in ``min_digits..max_digits`` and whose value is
    uniform among the numbers with that many digits (one-digit numbers include 0)."""
    if not 1 <= min_digits <= max_digits <= MAX_DIGITS:
        raise ValueError(f"digit counts must satisfy 1 <= {min_digits} <= {max_digits} <= {MAX_DIGITS}")
    lengths = rng.integers(min_digits, max_digits + 1, n)
    low = np.where(lengths == 1, 0, 10 ** (lengths - 1))
    return low + (rng.random(n) * (10 ** lengths - low)).astype(np.int64)


def num_digits(values) -> np.ndarray:
    """(N,) non-negative ints -> (N,) how many digits each has (0 has one)."""
    values = np.asarray(values, np.int64)
    return np.maximum(1, np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1)


def seq_len_for(max_digits: int) -> int:
    """The row length that holds every problem with operands of up to ``max_digits`` digits."""
    if max_digits < 1:
        raise ValueError(f"max_digits must be at least 1, got {max_digits}")
    return 4 + 3 * max_digits + 2                  # '#', a, '+', b, '=', answer (max_digits + 1), '#'


def make_rows(a, b, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Operands (N,) -> (rows uint8 (N, seq_len), answer_mask bool (N, seq_len - 1)): ``#`` + a + ``+`` + b
    + ``=`` + the sum with one digit more than the longer operand + ``#``, every number least significant
    digit first, ``#`` padding after. The mask marks the targets ``y = row[1:]`` that are answer digits."""
    a, b = as_operands(a, b)
    if np.any(a < 0) or np.any(b < 0) or max(a.max(initial=0), b.max(initial=0)) >= 10 ** MAX_DIGITS:
        raise ValueError(f"operands must be whole numbers with at most {MAX_DIGITS} digits")
    len_a, len_b = num_digits(a), num_digits(b)
    len_c = np.maximum(len_a, len_b) + 1
    needed = int((4 + len_a + len_b + len_c).max(initial=0))
    if needed > seq_len:
        raise ValueError(f"rows of {seq_len} tokens are too short: the longest problem needs {needed}")
    rows = np.full((len(a), seq_len), PAD, np.uint8)
    column = np.arange(seq_len)
    start_b, start_c = 2 + len_a, 3 + len_a + len_b                      # first digit of b and of the answer
    for value, start, length in ((a, 1, len_a), (b, start_b, len_b), (a + b, start_c, len_c)):
        place = column[None, :] - start[:, None] if np.ndim(start) else column[None, :] - start
        inside = (place >= 0) & (place < length[:, None])
        digit = (value[:, None] // 10 ** np.clip(place, 0, MAX_DIGITS)) % 10
        rows = np.where(inside, ZERO + digit, rows).astype(np.uint8)
    rows[np.arange(len(a)), 1 + len_a] = PLUS
    rows[np.arange(len(a)), start_c - 1] = EQUALS
    target = column[None, :-1] + 1                                       # the row position each target is
    answer_mask = (target >= start_c[:, None]) & (target < (start_c + len_c)[:, None])
    return rows, answer_mask


def read_answers(answer_tokens) -> np.ndarray:
    """Answer digit tokens (N, n), least significant first -> the numbers they spell (N,) int64."""
    digits = np.asarray(answer_tokens, np.int64) - ZERO
    return (digits * 10 ** np.arange(digits.shape[1])).sum(axis=1)
