"""Three-digit arithmetic (+ - * // %) in the fixed-width carry-trace format of notebook 08.

Every example is 28 characters from a 17-token vocabulary (space is a real token):

    123+  45=+800600100000000000        123 + 45 = 168
    999* 999=+108017026818909900        999 * 999 = 998001
    AAA??BBB=S d cc d cc d cc d cc d cc d cc

``AAA`` and ``BBB`` are the operands right-aligned with spaces, ``??`` the two-character operator field
(``+ ``, ``- ``, ``* ``, ``% ``, ``//``), then the sign ``S`` and six chunks, one per result digit from
the least significant up (zero-padded), each followed by two carry-trace digits: the running column
carry of long multiplication for ``*`` (column k's sum of digit products plus the carry in, divided by
10), ``00`` for the other operations. The answer is the last 19 characters.
"""
from __future__ import annotations

import numpy as np

VOCAB = "0123456789 +-*%/="
TOKEN_ID = {char: i for i, char in enumerate(VOCAB)}
OPERATIONS = ("+", "-", "*", "//", "%")
OPERATOR_FIELD = {"+": "+ ", "-": "- ", "*": "* ", "//": "//", "%": "% "}
PROMPT_LEN, ANSWER_LEN = 9, 19
SEQ_LEN = PROMPT_LEN + ANSWER_LEN  # 28
RESULT_DIGITS = 6
MAX_OPERAND = 999

_ID_OF_BYTE = np.full(256, -1, dtype=np.int8)
_ID_OF_BYTE[np.frombuffer(VOCAB.encode(), np.uint8)] = np.arange(len(VOCAB))


def encode(texts) -> np.ndarray:
    """Strings of equal length -> uint8 token ids ``(N, L)``. ValueError on a character outside VOCAB."""
    texts = list(texts)
    width = len(texts[0]) if texts else 0
    if any(len(t) != width for t in texts):
        raise ValueError("encode expects strings of equal length")
    raw = np.frombuffer("".join(texts).encode("ascii", errors="replace"), np.uint8).reshape(len(texts), width)
    ids = _ID_OF_BYTE[raw]
    if (ids < 0).any():
        bad = chr(raw[ids < 0][0])
        raise ValueError(f"character {bad!r} is not in the vocabulary {VOCAB!r}")
    return ids.astype(np.uint8)


def decode(ids) -> str:
    """Token ids ``(L,)`` -> the string they spell."""
    return "".join(VOCAB[i] for i in np.asarray(ids))


def _digits(values: np.ndarray, count: int) -> np.ndarray:
    """Non-negative ints (N,) -> their decimal digits (N, count), least significant first."""
    return (values[:, None] // 10 ** np.arange(count)) % 10


def _operand_tokens(values: np.ndarray) -> np.ndarray:
    """Ints 0-999 (N,) -> three tokens each, right-aligned with spaces: (N, 3)."""
    digits = _digits(values, 3)[:, ::-1]                       # most significant first
    length = 1 + (values >= 10) + (values >= 100)              # digits to show; 0 shows as "0"
    significant = np.arange(3)[::-1][None, :] < length[:, None]
    return np.where(significant, digits + TOKEN_ID["0"], TOKEN_ID[" "])


def carry_trace(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Long multiplication column by column, for operand arrays (N,).

    Returns (result digits (N, 6), carries (N, 6)), least significant column first: column k sums
    ``a_i * b_j`` over ``i + j = k`` plus the carry in; its digit is the sum mod 10 and its carry the sum
    // 10. Carries stay below 27, so two characters always hold them."""
    a_digits, b_digits = _digits(a, 3), _digits(b, 3)
    products = a_digits[:, :, None] * b_digits[:, None, :]      # (N, 3, 3), [i, j] -> column i + j
    column = np.add.outer(np.arange(3), np.arange(3))
    column_sums = np.stack([products[:, column == k].sum(axis=1) for k in range(RESULT_DIGITS)], axis=1)
    digits = np.empty_like(column_sums)
    carries = np.empty_like(column_sums)
    carry = np.zeros(len(a), column_sums.dtype)
    for k in range(RESULT_DIGITS):                              # six columns, each over all rows at once
        total = column_sums[:, k] + carry
        digits[:, k], carries[:, k] = total % 10, total // 10
        carry = carries[:, k]
    return digits, carries


def apply_operation(a: np.ndarray, b: np.ndarray, op: str) -> np.ndarray:
    """The true result of ``a op b`` for arrays (N,); ``//`` and ``%`` are Python's floor division/modulo."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}: choose one of {OPERATIONS}")
    if op in ("//", "%") and np.any(b == 0):
        raise ValueError(f"{op} by zero")
    return {"+": np.add, "-": np.subtract, "*": np.multiply, "//": np.floor_divide, "%": np.mod}[op](a, b)


def make_rows(a, b, op: str) -> np.ndarray:
    """Operand arrays (N,) in 0-999 -> token rows in the carry-trace format, uint8 (N, 28)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("a and b must be 1-D arrays of one shape")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) > MAX_OPERAND):
        raise ValueError(f"operands must be in 0-{MAX_OPERAND}")
    result = apply_operation(a, b, op)
    n = len(a)
    rows = np.empty((n, SEQ_LEN), np.uint8)
    rows[:, 0:3] = _operand_tokens(a)
    rows[:, 3:5] = [TOKEN_ID[c] for c in OPERATOR_FIELD[op]]
    rows[:, 5:8] = _operand_tokens(b)
    rows[:, 8] = TOKEN_ID["="]
    rows[:, 9] = np.where(result < 0, TOKEN_ID["-"], TOKEN_ID["+"])
    if op == "*":
        digits, carries = carry_trace(a, b)
    else:
        digits, carries = _digits(np.abs(result), RESULT_DIGITS), np.zeros((n, RESULT_DIGITS), np.int64)
    rows[:, 10::3] = digits + TOKEN_ID["0"]
    rows[:, 11::3] = carries // 10 + TOKEN_ID["0"]
    rows[:, 12::3] = carries % 10 + TOKEN_ID["0"]
    return rows


def all_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair for every operation (b = 0 omitted for // and %): 4,998,000 rows.

    Returns (rows uint8 (N, 28), a (N,), b (N,), operation index into OPERATIONS (N,) uint8)."""
    grid_a, grid_b = np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij")
    grid_a, grid_b = grid_a.ravel(), grid_b.ravel()
    parts = []
    for index, op in enumerate(OPERATIONS):                    # five operations, each vectorised
        keep = grid_b != 0 if op in ("//", "%") else slice(None)
        a, b = grid_a[keep], grid_b[keep]
        parts.append((make_rows(a, b, op), a.astype(np.int16), b.astype(np.int16), np.full(len(a), index, np.uint8)))
    return tuple(np.concatenate(column) for column in zip(*parts))


def read_result(answer_ids) -> np.ndarray:
    """Answer tokens (N, 19) -> the integers they spell (N,), reading the sign and the six result digits."""
    answer_ids = np.asarray(answer_ids).astype(np.int64)
    digits = answer_ids[:, 1::3] - TOKEN_ID["0"]               # (N, 6), least significant first
    value = (digits * 10 ** np.arange(RESULT_DIGITS)).sum(axis=1)
    return np.where(answer_ids[:, 0] == TOKEN_ID["-"], -value, value)
