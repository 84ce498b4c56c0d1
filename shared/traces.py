"""What the model writes before the answer: two trace formats for 3-digit + - * // % (notebook 10).

Both start from notebook 08's 9-character prompt ``AAA??BBB=`` and share its 17-token vocabulary. Every
number in an answer is written least significant digit first and zero-padded to a fixed width, so each
character sits at a fixed place and every answer can be read back without a parser.

``reference`` is notebook 08's format: a sign, then six result digits each followed by two carry digits
(the running column carry of long multiplication for ``*``, ``00`` otherwise). 19 characters for every
operation.

``worked`` writes down what a person would, one small step per character:

- ``+``  the sum, 4 digits (notebook 08 already answers every addition right without help).
- ``-``  first, for hundreds, tens and units, how the digits of a and b compare (``+`` a's is larger,
  ``-`` smaller, ``=`` equal); the sign is then the first of those that is not ``=``; then the sign and
  |a - b| in 3 digits. 7 characters. (Every subtraction that 08 got wrong, it got wrong at the sign.)
- ``*``  long multiplication column by column: for column k = i + j, each digit product a_i * b_j (2
  digits), then the column total (those products plus the carry in, 3 digits, so its first digit is the
  result digit and the rest is the carry out); the last column is the final carry, 1 digit. 34 characters.
- ``//`` and ``%`` are one problem, long division, so they share one prompt (operator field ``/ ``) and
  one answer: the table b, 2b, ..., 9b (4 digits each), then three steps, from the hundreds digit of a
  down: the running value c (step s has s digits: the last remainder times ten plus the next digit of a),
  the quotient digit q = c // b (the largest multiple in the table that fits), and the remainder c - q b
  (s digits). ``//`` reads the three quotient digits, ``%`` the last remainder. 51 characters.

Two variants of ``worked`` change only the long division, to take its two hardest characters apart (the
shipped ``worked`` model's first wrong character on a division is the remainder's tens at step 3 in 55% of
its wrong problems and the quotient digit in 42%):

- ``worked-product``: each step also copies q b from the table (s digits) before the remainder, so every
  remainder digit is a subtraction of two digits written just before it. 57 characters.
- ``worked-fits``: as ``worked-product``, and before the quotient digit each step writes, for k = 1..9,
  whether k b fits into the running value (``+`` it does, ``-`` it does not), so each character compares
  one number of the table with c, and q is the number of ``+``. 84 characters.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import arithmetic
from .arithmetic import OPERATIONS, PROMPT_LEN, TOKEN_ID, VOCAB, apply_operation
from .data import as_operands

ZERO = TOKEN_ID["0"]
PAD = TOKEN_ID[" "]          # after a short answer, rows are padded with spaces (never in the loss)
SIGN = {1: TOKEN_ID["+"], 0: TOKEN_ID["="], -1: TOKEN_ID["-"]}


def digits(values, count: int) -> np.ndarray:
    """Non-negative ints (N,) -> their decimal digits (N, count), least significant first."""
    return (np.asarray(values, np.int64)[:, None] // 10 ** np.arange(count)) % 10


def value(digit_tokens) -> np.ndarray:
    """Digit tokens (N, count), least significant first -> the ints they spell (N,)."""
    d = np.asarray(digit_tokens, np.int64) - ZERO
    return (d * 10 ** np.arange(d.shape[1])).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class Format:
    """A trace format: how each operation's prompt and answer are written.

    ``operator_field[op]`` is the 2-character operator in the prompt; ``answer_len[op]`` the number of
    answer characters. Rows are padded to ``seq_len`` = prompt + the longest answer."""
    name: str
    operator_field: dict
    answer_len: dict
    division_extras: tuple = ()     # what each long-division step writes besides c, q and the remainder

    @property
    def seq_len(self) -> int:
        return PROMPT_LEN + max(self.answer_len.values())

    def answer_masks(self) -> np.ndarray:
        """bool (5, seq_len - 1): which targets ``y = row[1:]`` are answer characters, per operation."""
        position = np.arange(self.seq_len - 1)
        lengths = np.array([self.answer_len[op] for op in OPERATIONS])
        return (position >= PROMPT_LEN - 1) & (position < PROMPT_LEN - 1 + lengths[:, None])


REFERENCE = Format("reference", dict(arithmetic.OPERATOR_FIELD), {op: arithmetic.ANSWER_LEN for op in OPERATIONS})
WORKED = Format("worked", {"+": "+ ", "-": "- ", "*": "* ", "//": "/ ", "%": "/ "},
                {"+": 4, "-": 7, "*": 34, "//": 51, "%": 51})
WORKED_PRODUCT = dataclasses.replace(WORKED, name="worked-product", division_extras=("product",),
                                     answer_len={**WORKED.answer_len, "//": 57, "%": 57})
WORKED_FITS = dataclasses.replace(WORKED, name="worked-fits", division_extras=("fits", "product"),
                                  answer_len={**WORKED.answer_len, "//": 84, "%": 84})
FORMATS = {f.name: f for f in (REFERENCE, WORKED)}                      # notebook 10's comparison
DIVISION_VARIANTS = {f.name: f for f in (WORKED_PRODUCT, WORKED_FITS)}    # worked, long division changed


def get_format(name: str) -> Format:
    known = {**FORMATS, **DIVISION_VARIANTS}
    if name not in known:
        raise ValueError(f"unknown trace format {name!r}: choose one of {tuple(known)}")
    return known[name]


# ------------------------------------------------------------------ the worked answers, one builder each

def _worked_add(a, b):
    return digits(a + b, 4)


def _worked_subtract(a, b):
    compare = np.sign(digits(a, 3) - digits(b, 3))[:, ::-1]              # hundreds, tens, units
    sign = np.where(a >= b, TOKEN_ID["+"], TOKEN_ID["-"])
    symbols = np.select([compare > 0, compare < 0], [SIGN[1], SIGN[-1]], SIGN[0])
    return np.concatenate([symbols - ZERO, sign[:, None] - ZERO, digits(np.abs(a - b), 3)], axis=1)


# (i, j) digit pairs of each column k = i + j, i ascending: the order the products are written in
COLUMNS = [[(i, k - i) for i in range(3) if 0 <= k - i <= 2] for k in range(5)]


def _worked_multiply(a, b):
    a_digits, b_digits = digits(a, 3), digits(b, 3)
    parts, carry = [], np.zeros(len(a), np.int64)
    for pairs in COLUMNS:                                                 # five columns, all rows at once
        products = [a_digits[:, i] * b_digits[:, j] for i, j in pairs]
        total = sum(products) + carry
        parts += [digits(p, 2) for p in products] + [digits(total, 3)]
        carry = total // 10
    parts.append(carry[:, None])                                          # column 5: the final carry
    return np.concatenate(parts, axis=1)


def division_layout(fmt: Format) -> list[dict]:
    """Where each part of the three long-division steps sits in a worked answer: for step 1, 2, 3 a dict
    ``{part: slice}`` with parts "running", "fits" (if written), "quotient", "product" (if written),
    "remainder", in the order they are written. The table of multiples fills characters 0-35."""
    steps, start = [], 36
    for step in (1, 2, 3):
        widths = {"running": step, "fits": 9, "quotient": 1, "product": step, "remainder": step}
        parts = [part for part in widths if part not in ("fits", "product") or part in fmt.division_extras]
        places = {}
        for part in parts:
            places[part] = slice(start, start + widths[part])
            start += widths[part]
        steps.append(places)
    return steps


def _worked_divide(a, b, extras=()):
    table = [digits(k * b, 4) for k in range(1, 10)]
    a_digits = digits(a, 3)
    parts, remainder = table, np.zeros(len(a), np.int64)
    for step in range(1, 4):                                              # hundreds, tens, units of a
        running = 10 * remainder + a_digits[:, 3 - step]
        quotient_digit = running // b
        remainder = running - quotient_digit * b
        parts.append(digits(running, step))
        if "fits" in extras:                                              # does k*b fit, k = 1..9
            fits = np.arange(1, 10) * b[:, None] <= running[:, None]
            parts.append(np.where(fits, SIGN[1], SIGN[-1]) - ZERO)
        parts.append(quotient_digit[:, None])
        if "product" in extras:
            parts.append(digits(quotient_digit * b, step))
        parts.append(digits(remainder, step))
    return np.concatenate(parts, axis=1)


_WORKED = {"+": _worked_add, "-": _worked_subtract, "*": _worked_multiply, "//": _worked_divide, "%": _worked_divide}

# where the result digits of a worked multiplication sit: each column total's first digit
PRODUCT_TOTAL_PLACES = [int(p) for p in np.cumsum([2 * len(pairs) for pairs in COLUMNS]) + 3 * np.arange(5)]


def make_rows(fmt: Format, a, b, op: str) -> np.ndarray:
    """Operand arrays (N,) in 0-999 -> token rows uint8 (N, fmt.seq_len): prompt, answer, space padding."""
    a, b = as_operands(a, b)
    if fmt is REFERENCE:
        return arithmetic.make_rows(a, b, op)
    rows = np.full((len(a), fmt.seq_len), PAD, np.uint8)
    rows[:, :PROMPT_LEN] = arithmetic.make_rows(a, b, op)[:, :PROMPT_LEN]   # checks the operands and op
    rows[:, 3:5] = [TOKEN_ID[c] for c in fmt.operator_field[op]]
    answer = _worked_divide(a, b, fmt.division_extras) if op in ("//", "%") else _WORKED[op](a, b)
    rows[:, PROMPT_LEN:PROMPT_LEN + fmt.answer_len[op]] = answer + ZERO
    return rows


def read_result(fmt: Format, answer_ids, op: str) -> np.ndarray:
    """Answer tokens (N, >= fmt.answer_len[op]) -> the integers they spell (N,)."""
    answer_ids = np.asarray(answer_ids)
    if fmt is REFERENCE:
        return arithmetic.read_result(answer_ids[:, :arithmetic.ANSWER_LEN])
    if op == "+":
        return value(answer_ids[:, :4])
    if op == "-":
        magnitude = value(answer_ids[:, 4:7])
        return np.where(answer_ids[:, 3] == TOKEN_ID["-"], -magnitude, magnitude)
    if op == "*":
        result_digits = [answer_ids[:, [place]] for place in PRODUCT_TOTAL_PLACES] + [answer_ids[:, [33]]]
        return value(np.concatenate(result_digits, axis=1))
    layout = division_layout(fmt)
    if op == "//":
        return value(answer_ids[:, [layout[step]["quotient"].start for step in (2, 1, 0)]])
    return value(answer_ids[:, layout[2]["remainder"]])


def readable(fmt: Format, answer_ids, op: str) -> np.ndarray:
    """bool (N,): every character the reader uses is a digit (or a sign where a sign belongs)."""
    answer_ids = np.asarray(answer_ids)[:, :fmt.answer_len[op]]
    if fmt is REFERENCE:
        return arithmetic.readable(answer_ids)
    is_digit = answer_ids <= TOKEN_ID["9"]
    if op == "-":
        signs = np.isin(answer_ids[:, :4], list(SIGN.values()))
        return signs.all(axis=1) & (answer_ids[:, 3] != SIGN[0]) & is_digit[:, 4:].all(axis=1)
    if op in ("//", "%") and "fits" in fmt.division_extras:
        flags = np.zeros(answer_ids.shape[1], bool)
        for step in division_layout(fmt):
            flags[step["fits"]] = True
        fits_ok = np.isin(answer_ids[:, flags], [SIGN[1], SIGN[-1]]).all(axis=1)
        return fits_ok & is_digit[:, ~flags].all(axis=1)
    return is_digit.all(axis=1)


_ALL_ROWS_KEPT: list = []     # [(format, what all_rows returned)] for the two formats built most recently


def all_rows(fmt: Format):
    """Every problem (b = 0 omitted for // and %), 4,998,000 rows grouped by operation in OPERATIONS
    order. Returns (rows uint8 (N, fmt.seq_len), a int16 (N,), b int16 (N,), op index uint8 (N,)), read-only.

    Building them takes seconds (about 8 s for the worked format on 2 CPU cores) and notebook 10 trains
    a dozen runs from them, so the arrays of the two formats built last are kept (0.3 GB for the worked
    format) and returned again; they are read-only, so no caller can change what the next one gets."""
    for kept_fmt, kept in _ALL_ROWS_KEPT:
        if kept_fmt == fmt:
            return kept
    built = _build_all_rows(fmt)
    for array in built:
        array.flags.writeable = False
    _ALL_ROWS_KEPT[:] = [(fmt, built)] + _ALL_ROWS_KEPT[:1]
    return built


def _build_all_rows(fmt: Format):
    """``all_rows`` without keeping: the arrays built afresh."""
    grid_a, grid_b = np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij")
    grid_a, grid_b = grid_a.ravel(), grid_b.ravel()
    parts = []
    for index, op in enumerate(OPERATIONS):
        keep = grid_b != 0 if op in ("//", "%") else slice(None)
        a, b = grid_a[keep], grid_b[keep]
        parts.append((make_rows(fmt, a, b, op), a.astype(np.int16), b.astype(np.int16), np.full(len(a), index, np.uint8)))
    return tuple(np.concatenate(column) for column in zip(*parts))


def spell(fmt: Format, a: int, b: int, op: str) -> list[tuple[str, str]]:
    """One problem's answer, character by character, with what each character is:
    ``[("5", "units of 3*5 = 15"), ...]``. For the worked examples in notebook 10 and ``--show-work``."""
    answer = make_rows(fmt, np.array([a]), np.array([b]), op)[0, PROMPT_LEN:PROMPT_LEN + fmt.answer_len[op]]
    return list(zip((VOCAB[t] for t in answer), describe(fmt, op, a, b)))


def describe(fmt: Format, op: str, a: int, b: int) -> list[str]:
    """What each answer character of ``a op b`` is, in words (a list of fmt.answer_len[op] strings)."""
    if fmt is REFERENCE:
        return ["sign"] + [f"{kind} of column {k}" for k in range(6) for kind in ("result digit", "carry tens", "carry units")]
    place = ["units", "tens", "hundreds", "thousands"]
    if op == "+":
        return [f"{place[k]} of the sum" for k in range(4)]
    if op == "-":
        return [f"{p} digits compared" for p in ("hundreds", "tens", "units")] + ["sign"] + \
               [f"{place[k]} of |a-b|" for k in range(3)]
    if op == "*":
        words = []
        for k, pairs in enumerate(COLUMNS):
            for i, j in pairs:
                words += [f"{place[n]} of a{i}*b{j}" for n in range(2)]
            words += [f"column {k} total, {place[n]}" for n in range(3)]
        return words + ["column 5: the final carry"]
    words = [f"{place[n]} of {k}*b" for k in range(1, 10) for n in range(4)]
    for step, layout in enumerate(division_layout(fmt), start=1):
        for part in layout:
            if part == "fits":
                words += [f"step {step}: does {k}*b fit" for k in range(1, 10)]
            elif part == "quotient":
                words += [f"step {step}: quotient digit"]
            else:
                name = {"running": "running value", "product": "quotient digit * b", "remainder": "remainder"}[part]
                words += [f"step {step}: {place[n]} of the {name}" for n in range(step)]
    return words


def show_work(fmt: Format, a: int, op: str, b: int, answer_ids) -> str:
    """What the model wrote for ``a op b`` (answer tokens (>= fmt.answer_len[op],)), laid out the way a
    person writes the working on paper. Every number shown is read from the model's own characters."""
    ids = np.asarray(answer_ids)[:fmt.answer_len[op]]
    text = "".join(VOCAB[t] for t in ids)
    number = lambda chars: chars[::-1].lstrip("0") or "0"           # least significant first -> as read
    if fmt is REFERENCE:
        columns = "  ".join(f"{text[1 + 3 * k]}|{text[2 + 3 * k:4 + 3 * k]}" for k in range(6))
        return f"  {a} {op} {b}: sign {text[0]}, then per column digit|carry: {columns}"
    if op == "+":
        return f"  {a} + {b}: sum written units first {text} -> {number(text)}"
    if op == "-":
        return (f"  {a} - {b}: digits compared (hundreds, tens, units) {text[0]} {text[1]} {text[2]} -> sign {text[3]};"
                f" |a-b| written units first {text[4:7]} -> {number(text[4:7])}")
    if op == "*":
        a_digits, b_digits = digits([a], 3)[0], digits([b], 3)[0]
        lines, place = [f"  {a} * {b}: long multiplication, one column per power of ten (a_i * b_j goes to column i+j)"], 0
        for k, pairs in enumerate(COLUMNS):
            products = []
            for i, j in pairs:
                products.append(f"{a_digits[i]}*{b_digits[j]}={number(text[place:place + 2])}")
                place += 2
            total = text[place:place + 3]
            place += 3
            lines.append(f"  column {k}: {'  '.join(products):<30} total with carry in {number(total):>3}"
                         f" -> digit {total[0]}, carry {number(total[1:])}")
        lines.append(f"  column 5: final carry {text[33]}")
        return "\n".join(lines)
    table = "  ".join(f"{k}x={number(text[4 * (k - 1):4 * k])}" for k in range(1, 10))
    lines = [f"  {a} {op} {b}: long division by {b}", f"  multiples of {b}: {table}"]
    layout = division_layout(fmt)
    for step, places in enumerate(layout, start=1):
        running, quotient_digit = text[places["running"]], text[places["quotient"]]
        fits = f" fits? {text[places['fits']]};" if "fits" in places else ""
        product = f" {quotient_digit}*{b} = {number(text[places['product']])}," if "product" in places else ""
        lines.append(f"  step {step}: bring down the {('hundreds', 'tens', 'units')[step - 1]} digit -> {number(running):>3};"
                     f"{fits} {quotient_digit} times {b} fits,{product} remainder {number(text[places['remainder']])}")
    quotient = "".join(text[places["quotient"]] for places in layout).lstrip("0") or "0"
    lines.append(f"  quotient {quotient}, remainder {number(text[layout[2]['remainder']])}")
    return "\n".join(lines)
