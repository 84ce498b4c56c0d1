"""A calculator you can call: ``python -m shared.calc "123*45"`` prints ``5535``.

Problems come as arguments (one answer per line) or, with no arguments, one per line on stdin. Spaces
anywhere are fine; operators are ``+ - * // %``; operands are whole numbers 0-999. A bad problem prints
one line on stderr (in stdin mode, ``line N: ...``) and an empty line on stdout, so answers stay aligned
with the input; the others are still answered. Exit status: 0 if every problem was answered, 1 if any
was bad, 2 if the checkpoint could not be loaded.
"""
from __future__ import annotations

import argparse
import pathlib
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np

from . import arithmetic, checkpoint, model
from .evaluate import greedy_decode_cached

DEFAULT_CHECKPOINT = pathlib.Path(__file__).resolve().parent / "checkpoints" / "calculator"
_PROBLEM = re.compile(r"(\d+)(\+|-|\*|//|%)(\d+)")
_ALLOWED = set("0123456789+-*/% ")


def parse(text: str) -> tuple[int, str, int]:
    """``"123 * 45"`` -> ``(123, "*", 45)``. Raises ValueError with a message a person can act on."""
    compact = "".join(text.split())
    if not compact:
        raise ValueError("empty problem")
    unknown = sorted(set(compact) - _ALLOWED)
    if unknown:
        raise ValueError(f"unknown character {unknown[0]!r} in {text.strip()!r}")
    if compact.startswith("-") and _PROBLEM.fullmatch(compact[1:]):
        raise ValueError(f"negative operands are not supported: {text.strip()!r}")
    match = _PROBLEM.fullmatch(compact)
    if not match:
        raise ValueError(f"cannot read {text.strip()!r}: expected a number, an operator (+ - * // %) and a number")
    a, op, b = int(match[1]), match[2], int(match[3])
    for operand in (a, b):
        if operand > arithmetic.MAX_OPERAND:
            raise ValueError(f"operand {operand} is out of range: operands must be 0-{arithmetic.MAX_OPERAND}")
    if op in ("//", "%") and b == 0:
        raise ValueError(f"{'division' if op == '//' else 'modulo'} by zero in {text.strip()!r}")
    return a, op, b


def format_problem(a: int, op: str, b: int) -> str:
    """``(123, "*", 45)`` -> ``"123*45"``, which ``parse`` reads back."""
    return f"{a}{op}{b}"


class Calculator:
    """A trained model loaded from a checkpoint, answering problems in batches with cached decoding."""

    def __init__(self, path=DEFAULT_CHECKPOINT):
        self.config, self.info = checkpoint.load_config(path)
        self.params = checkpoint.load(path, model.init_params(jax.random.key(0), self.config))

    def answer(self, problems: list[tuple[int, str, int]]) -> list[int | None]:
        """Answers for parsed problems, in order; None where the model wrote something unreadable."""
        if not problems:
            return []
        a = np.array([p[0] for p in problems])
        ops = np.array([p[1] for p in problems])
        b = np.array([p[2] for p in problems])
        prompts = np.zeros((len(problems), arithmetic.PROMPT_LEN), np.int32)
        for op in set(ops.tolist()):                              # one vectorised call per operation
            chosen = ops == op
            prompts[chosen] = arithmetic.make_rows(a[chosen], b[chosen], op)[:, :arithmetic.PROMPT_LEN]
        answer_ids = np.asarray(greedy_decode_cached(self.params, self.config, jnp.asarray(prompts),
                                                     arithmetic.ANSWER_LEN))
        readable = arithmetic.readable(answer_ids)
        values = arithmetic.read_result(answer_ids)
        return [int(v) if ok else None for v, ok in zip(values, readable)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.calc", description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", help='problems such as "123*45"; none: read stdin, one per line')
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint path (without suffix)")
    args = parser.parse_args(argv)
    from_stdin = not args.problems
    lines = sys.stdin.read().splitlines() if from_stdin else args.problems

    parsed, status = [], 0
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(parse(line))
        except ValueError as error:
            parsed.append(None)
            print(f"line {number}: {error}" if from_stdin else str(error), file=sys.stderr)
            status = 1
    try:
        calculator = Calculator(args.checkpoint)
    except ValueError as error:
        print(f"cannot load the model: {error}", file=sys.stderr)
        return 2
    answers = iter(calculator.answer([p for p in parsed if p is not None]))
    for problem in parsed:
        if problem is None:
            print()
            continue
        value = next(answers)
        if value is None:
            print("the model wrote an unreadable answer", file=sys.stderr)
            status = 1
        print("" if value is None else value)
    return status


if __name__ == "__main__":
    sys.exit(main())
