"""Notebook 12's task: differentiate a polynomial written as text, ``-3x^3+4x^2-4`` -> ``-9x^2+8x``.

**The distribution** (the reference's: flat univariate polynomials, powers up to 5, coefficients -5..5):
the degree d is uniform in 1-5; the leading coefficient (of x^d) is uniform among the ten non-zero values
-5..-1, 1..5; each lower power 0..d-1 is present with probability 1/2, and then its coefficient is again
uniform among the ten non-zero values. A polynomial is its coefficient vector ``coeffs`` (6,) int, power
0 first. There are 10 * 11^d polynomials of degree d, 1,771,550 in all, so degrees 1 and 2 (110 and 1,210
polynomials) repeat often in a sample.

**How it is written** (one canonical string per polynomial, so the text is a function of the coefficients):
terms by falling power, zero terms left out; a term is its sign (left out for a positive first term), the
absolute coefficient (left out when it is 1 and the power is at least 1), then ``x`` for power 1 or
``x^k`` for powers 2-5 (nothing for power 0). So ``x^2-x+1``, never ``1x^2-1x^1+1``. A derivative is
written the same way; its coefficients reach 25 (5 * 5), written with two digits. The zero polynomial
is ``0`` (the derivative of a constant; the generator never makes one, its degree is at least 1).

**Tokens**: the reference's ``x + - ^``, the ten digits and three control tokens (padding, start, end):
17 (the reference counts 18). Everything here works on whole arrays: ``render`` writes every row at once,
and ``parse`` reads rows back with a loop over token positions, never over rows.
"""
from __future__ import annotations

import numpy as np

MAX_DEGREE = 5
MAX_COEFF = 5
POWERS = MAX_DEGREE + 1                     # coefficient vectors: one entry per power 0..5

VOCAB = ["<pad>", "<s>", "</s>", "x", "+", "-", "^"] + [str(d) for d in range(10)]
PAD, START, END = 0, 1, 2
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
X, PLUS, MINUS, CARET = (TOKEN_ID[t] for t in "x+-^")
ZERO = TOKEN_ID["0"]
TERM_WIDTH = 6                              # sign, two coefficient digits, x, ^, power digit
MAX_TOKENS = POWERS * TERM_WIDTH            # 36: room for any polynomial or derivative written here
SPACE = 11 ** POWERS                        # polynomial ids: every coefficient vector in -5..5


def sample(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` polynomials from the distribution above: coefficients (n, 6) int64, power 0 first."""
    degree = rng.integers(1, MAX_DEGREE + 1, n)
    nonzero = rng.integers(1, MAX_COEFF + 1, (n, POWERS)) * rng.choice([-1, 1], (n, POWERS))
    power = np.arange(POWERS)
    present = (power < degree[:, None]) & (rng.random((n, POWERS)) < 0.5) | (power == degree[:, None])
    return np.where(present, nonzero, 0)


def degree(coeffs) -> np.ndarray:
    """(n, 6) -> (n,) the highest power with a non-zero coefficient (0 for constants and for zero)."""
    coeffs = np.asarray(coeffs)
    nonzero = coeffs != 0
    return np.where(nonzero.any(axis=1), POWERS - 1 - np.argmax(nonzero[:, ::-1], axis=1), 0)


def derivative(coeffs) -> np.ndarray:
    """(n, 6) -> (n, 6): the power rule, ``k c_k x^(k-1)``; the constant vanishes."""
    coeffs = np.asarray(coeffs)
    out = np.zeros_like(coeffs)
    out[:, :-1] = coeffs[:, 1:] * np.arange(1, POWERS)
    return out


def ids(coeffs) -> np.ndarray:
    """(n, 6) coefficients in -5..5 -> (n,) int64 in [0, 11^6): one number per polynomial (for splits)."""
    return ((np.asarray(coeffs, np.int64) + MAX_COEFF) * 11 ** np.arange(POWERS)).sum(axis=1)


def from_ids(polynomial_ids) -> np.ndarray:
    """The inverse of ``ids``: (n,) -> coefficients (n, 6)."""
    polynomial_ids = np.asarray(polynomial_ids, np.int64)
    return (polynomial_ids[:, None] // 11 ** np.arange(POWERS)) % 11 - MAX_COEFF


def split_of(coeffs, seed: int = 0, fractions=(0.9, 0.05, 0.05)) -> np.ndarray:
    """(n, 6) -> (n,) int: 0 train, 1 validation, 2 test. A fixed random draw per polynomial id, so one
    polynomial is always in the same split, however often it is sampled."""
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative shares of 1 (train, validation, test), got {fractions}")
    u = np.random.default_rng(seed).random(SPACE)[ids(coeffs)]
    return np.searchsorted(np.cumsum(fractions)[:-1], u, side="right")


def render(coeffs, width: int = MAX_TOKENS) -> np.ndarray:
    """(n, 6) coefficients (|c| <= 99) -> (n, width) uint8 tokens: the canonical text, then padding."""
    coeffs = np.asarray(coeffs, np.int64)
    n = len(coeffs)
    if np.abs(coeffs).max(initial=0) > 99:
        raise ValueError("coefficients must be between -99 and 99 to be written")
    slots = np.full((n, POWERS, TERM_WIDTH), PAD, np.int64)
    top = degree(coeffs)
    for k in range(POWERS):                                   # one column of terms at a time, all rows
        c = coeffs[:, POWERS - 1 - k]
        power = POWERS - 1 - k
        present = c != 0
        first = power == top
        size = np.abs(c)
        slots[:, k, 0] = np.where(c < 0, MINUS, np.where(first, PAD, PLUS))
        show_number = (size != 1) | (power == 0)
        slots[:, k, 1] = np.where(show_number & (size >= 10), ZERO + size // 10, PAD)
        slots[:, k, 2] = np.where(show_number, ZERO + size % 10, PAD)
        if power >= 1:
            slots[:, k, 3] = X
        if power >= 2:
            slots[:, k, 4], slots[:, k, 5] = CARET, ZERO + power
        slots[~present, k] = PAD
    flat = slots.reshape(n, POWERS * TERM_WIDTH)
    zero_polynomial = ~(coeffs != 0).any(axis=1)
    flat[zero_polynomial, 0] = ZERO
    order = np.argsort(flat == PAD, axis=1, kind="stable")     # move every token left, keeping their order
    tokens = np.take_along_axis(flat, order, axis=1)
    if (tokens[:, width:] != PAD).any():
        raise ValueError(f"a polynomial needs more than {width} tokens")
    return tokens[:, :width].astype(np.uint8)


def to_text(tokens) -> list[str]:
    """(n, T) tokens -> the strings they spell, control tokens left out (for printing a few rows)."""
    return ["".join(VOCAB[t] for t in row if t > END) for row in np.asarray(tokens)]


def from_text(texts) -> np.ndarray:
    """Strings -> (n, T) tokens (T the longest, padded); raises ValueError naming a character not in the
    vocabulary. Spaces are dropped."""
    rows = ["".join(text.split()) for text in texts]
    for text in rows:
        unknown = sorted(set(text) - set(TOKEN_ID) )
        if unknown:
            raise ValueError(f"unknown character {unknown[0]!r} in {text!r}: use digits, x, +, - and ^")
    width = max([len(r) for r in rows] + [1])
    tokens = np.full((len(rows), width), PAD, np.uint8)
    for i, text in enumerate(rows):                            # only for text typed by a person
        tokens[i, :len(text)] = [TOKEN_ID[c] for c in text]
    return tokens


def parse(tokens, max_power: int = MAX_DEGREE) -> tuple[np.ndarray, np.ndarray]:
    """Read polynomials back: (n, T) tokens (each row ends at its first padding or end token) ->
    (coefficients (n, max_power + 1) int64, readable (n,) bool). Any correct spelling reads, canonical or
    not (``1x^1``, ``+3``, ``x^0``), so "exact" can mean "the same polynomial". Unreadable (coefficients
    left 0): an empty row, a power written twice or above ``max_power``, a coefficient of more than three
    digits, anything that is not a sum of terms ``[sign][digits][x[^digit]]``. A loop over the T token
    positions, each step on every row at once."""
    tokens = np.asarray(tokens, np.int64)
    n, width = tokens.shape
    rows = np.arange(n)
    coeffs = np.zeros((n, max_power + 1), np.int64)
    seen = np.zeros((n, max_power + 1), bool)
    ok, done = np.ones(n, bool), np.zeros(n, bool)
    # where each row is: 0 nothing read, 1 after a sign, 2 in the coefficient, 3 after x, 4 after ^, 5 after the power
    state = np.zeros(n, np.int64)
    sign, number, digit_count, power = np.ones(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    for t in range(width + 1):
        token = tokens[:, t] if t < width else np.full(n, PAD)
        live = ok & ~done
        stop = (token == PAD) | (token == END)
        is_sign = (token == PLUS) | (token == MINUS)
        is_digit = (token >= ZERO) & (token <= ZERO + 9)
        allowed = ((is_sign & np.isin(state, (0, 2, 3, 5))) | (is_digit & np.isin(state, (0, 1, 2, 4)))
                   | ((token == X) & np.isin(state, (0, 1, 2))) | ((token == CARET) & (state == 3))
                   | (stop & np.isin(state, (2, 3, 5))))
        bad = live & (~allowed | (is_digit & (state == 2) & (digit_count >= 3)))
        # a sign or the end closes the term just read: add it
        closing = live & ~bad & (stop | is_sign) & np.isin(state, (2, 3, 5))
        term_power = np.select([state == 2, state == 3], [0, 1], power)
        index = np.minimum(term_power, max_power)
        bad |= closing & ((term_power > max_power) | seen[rows, index])
        add = closing & ~bad
        coeffs[add, index[add]] = (sign * np.where(digit_count > 0, number, 1))[add]
        seen[add, index[add]] = True
        ok &= ~bad
        live &= ~bad
        done |= live & stop
        # move on
        starts = live & is_sign
        sign = np.where(starts, np.where(token == MINUS, -1, 1), sign)
        number, digit_count = np.where(starts, 0, number), np.where(starts, 0, digit_count)
        in_number = live & is_digit & (state <= 2)
        number = np.where(in_number, 10 * number + token - ZERO, number)
        digit_count = digit_count + in_number
        is_power = live & is_digit & (state == 4)
        power = np.where(is_power, token - ZERO, power)
        state = np.select([starts, in_number, live & (token == X), live & (token == CARET), is_power],
                          [1, 2, 3, 4, 5], state)
    coeffs[~ok] = 0
    return coeffs, ok
