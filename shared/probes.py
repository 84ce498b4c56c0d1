"""Out-of-distribution probes: accuracy over the whole operand grid, and where the errors are.

Used by notebook 07: train on operands <= 50, then ask about 51-99.
"""
from __future__ import annotations

import numpy as np

from . import data as data_lib
from . import evaluate
from .model import ModelConfig


def grid_split(max_operand: int = 99, op: str = "+", fmt: data_lib.NumberFormat = data_lib.BLOG_FORMAT,
               seq_len: int = data_lib.SEQ_LEN) -> data_lib.Split:
    """Every pair ``(a, b)`` with ``0 <= a, b <= max_operand`` as one split, in row-major grid order."""
    return data_lib.Split.from_operands(*data_lib.all_pairs(max_operand), op, seq_len, fmt)


def grid_errors(params, config: ModelConfig, grid: data_lib.Split):
    """Exact-answer correctness and the first wrong answer character over a full ``grid_split``, both
    shaped ``(M + 1, M + 1)`` and indexed ``[a, b]``; first_wrong is -1 where the answer is right."""
    side = int(round(np.sqrt(len(grid))))
    correct, first_wrong = evaluate.answer_errors(params, config, grid)
    return correct.reshape(side, side), first_wrong.reshape(side, side)


def region_of(a, b, limit: int = 50) -> np.ndarray:
    """``"in range"`` (both operands <= limit), ``"one out"`` or ``"both out"``, per pair: shape (N,)."""
    n_out = (np.asarray(a) > limit).astype(int) + (np.asarray(b) > limit)
    return np.array(["in range", "one out", "both out"])[n_out]


def error_breakdown(a, b, correct, first_wrong, limit: int = 50, fmt: data_lib.NumberFormat = data_lib.BLOG_FORMAT) -> dict:
    """Exact-answer accuracy by group, for pairs ``a, b`` (N,) with ``correct`` (N,) and ``first_wrong`` (N,).

    Returns ``{grouping: {group: (count, accuracy)}}`` for the groupings ``region`` (against ``limit``),
    ``carry`` (whether the ones digits carry), ``answer length`` (digits of a + b), and, among wrong
    answers only, ``first wrong character`` (0 = the first character written after ``=``; "end" = the
    closing ``#``), whose 'accuracy' column is the share of the wrong answers."""
    a, b, correct, first_wrong = (np.asarray(v).ravel() for v in (a, b, correct, first_wrong))
    answer_length = np.where(a + b >= 100, 3, np.where(a + b >= 10, 2, 1))    # digits of the true sum
    written_length = np.maximum(answer_length, fmt.answer_width or 0)           # characters before '#'
    groupings = {
        "region": region_of(a, b, limit),
        "carry": np.where((a % 10 + b % 10) >= 10, "ones carry", "no carry"),
        "answer length": np.char.add(answer_length.astype(str), "-digit sum"),
    }
    table = {}
    for grouping, labels in groupings.items():
        table[grouping] = {label: (int((labels == label).sum()), float(correct[labels == label].mean()))
                           for label in sorted(set(labels.tolist()))}
    wrong = ~correct
    if wrong.any():
        position = np.where(first_wrong[wrong] >= written_length[wrong], "end (#)",
                            np.char.add("char ", first_wrong[wrong].astype(str)))
        table["first wrong character"] = {label: (int((position == label).sum()), float((position == label).mean()))
                                          for label in sorted(set(position.tolist()))}
    return table


def format_breakdown(tables: dict) -> str:
    """``{run label: error_breakdown(...)}`` -> one text table, runs side by side as columns."""
    labels = list(tables)
    lines = [f"{'':<30}" + "".join(f"{label:>22}" for label in labels)]
    groupings = dict.fromkeys(g for t in tables.values() for g in t)
    for grouping in groupings:
        lines.append(grouping + (" (share of wrong answers)" if grouping == "first wrong character" else ""))
        groups = sorted({g for t in tables.values() for g in t.get(grouping, {})})
        for group in groups:
            cells = []
            for label in labels:
                count, value = tables[label].get(grouping, {}).get(group, (0, None))
                cells.append("-" if value is None else f"{100 * value:>13.1f}% of {count:>5}")
            lines.append(f"  {group:<28}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)

