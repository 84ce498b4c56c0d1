"""A calculator you can call: ``python -m shared.calc "123*45"`` prints ``5535``.

The model is notebook 10's 3.2M-parameter one, trained on a GPU, which writes its working before each answer
(``--show-work`` prints it, laid out as on paper) and was wrong on 333 of the 4,998,000 problems, all of them
divisions (see the README); 08's loads with ``--checkpoint shared/checkpoints/calculator`` (its ``--show-work``
is its carry trace), notebook 10's best 0.2M model with ``--checkpoint shared/checkpoints/calculator10_rounds_mean``. Compiled programs are
kept in a cache folder (``$CATCULATOR_CACHE``, default ``~/.cache/catculator``), so only the first call
compiles. Problems come as arguments (one answer per line) or, with no arguments, one per line on stdin. Spaces
anywhere are fine; operators are ``+ - * // %``; operands are whole numbers 0-999. A bad problem prints
one line on stderr (in stdin mode, ``line N: ...``) and an empty line on stdout, so answers stay aligned
with the input; the others are still answered. Exit status: 0 if every problem was answered, 1 if any
was bad, 2 if the checkpoint could not be loaded.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys

import numpy as np

from . import arithmetic, traces

CHECKPOINTS = pathlib.Path(__file__).resolve().parent / "checkpoints"
CHECKPOINT_08 = CHECKPOINTS / "calculator"            # notebook 08's model, in its carry-trace format
CHECKPOINT_10 = CHECKPOINTS / "calculator10_large_polish"   # notebook 10: the 3.2M model trained on a GPU, worked traces: what the calculator uses
CHECKPOINT_10_SMALL = CHECKPOINTS / "calculator10_rounds_mean"   # notebook 10: the best 0.2M model, trained on the CPU
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


def use_compilation_cache() -> None:
    """Keep compiled programs on disk, so a new process skips XLA compilation (0.4.30+ options)."""
    import jax

    folder = pathlib.Path(os.environ.get("CATCULATOR_CACHE", pathlib.Path.home() / ".cache" / "catculator"))
    jax.config.update("jax_compilation_cache_dir", str(folder / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


class Calculator:
    """A trained model loaded from a checkpoint, answering problems in batches with cached decoding.
    The checkpoint's metadata names its trace format (``traces.FORMATS``; none: notebook 08's)."""

    def __init__(self, path=CHECKPOINT_10):
        import jax

        from . import checkpoint, model

        self.config, self.info = checkpoint.load_config(path)
        self.format = traces.get_format(self.info.get("format", "reference"))
        shapes = jax.eval_shape(lambda key: model.init_params(key, self.config), jax.random.key(0))   # traced, not run
        template = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
        self.params = checkpoint.load(path, template)

    def write(self, problems: list[tuple[int, str, int]]) -> np.ndarray:
        """What the model writes after each prompt: answer tokens (N, the format's longest answer).
        Batches are padded to a multiple of 8 rows so that few shapes are ever compiled."""
        import jax.numpy as jnp

        from .evaluate import greedy_decode_cached

        a = np.array([p[0] for p in problems])
        ops = np.array([p[1] for p in problems])
        b = np.array([p[2] for p in problems])
        prompts = np.zeros((-(-len(problems) // 8) * 8, arithmetic.PROMPT_LEN), np.int32)
        for op in set(ops.tolist()):                              # one vectorised call per operation
            chosen = np.flatnonzero(ops == op)
            prompts[chosen] = traces.make_rows(self.format, a[chosen], b[chosen], op)[:, :arithmetic.PROMPT_LEN]
        steps = self.format.seq_len - arithmetic.PROMPT_LEN
        return np.asarray(greedy_decode_cached(self.params, self.config, jnp.asarray(prompts), steps))[:len(problems)]

    def answer(self, problems: list[tuple[int, str, int]], written=None) -> list[int | None]:
        """Answers for parsed problems, in order; None where the model wrote something unreadable.
        ``written``: what ``write`` returned for these problems, if already decoded."""
        if not problems:
            return []
        written = self.write(problems) if written is None else written
        answers = []
        for (a, op, b), row in zip(problems, written):
            ok = traces.readable(self.format, row[None], op)[0]
            answers.append(int(traces.read_result(self.format, row[None], op)[0]) if ok else None)
        return answers


def parse_lines(lines, parse_one, from_stdin: bool):
    """Parse each line with ``parse_one``; a ValueError prints one line on stderr (``line N: ...`` in stdin
    mode) and leaves None in its place, so answers stay aligned. Returns (parsed, exit status 0 or 1).
    The command-line contract shared with ``shared.derive``."""
    parsed, status = [], 0
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(parse_one(line))
        except ValueError as error:
            parsed.append(None)
            print(f"line {number}: {error}" if from_stdin else str(error), file=sys.stderr)
            status = 1
    return parsed, status


def split_arguments(argv: list[str], valued: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(options, problems): argparse would read ``-3+4`` or ``-3x^2`` as an unknown option, so every argument
    is a problem, in order, for the problem parser to judge, except ``-h``, anything starting with ``--``
    (``--show-work``, ``--checkpoint=PATH``, or a misspelt option for argparse to refuse) and the value that
    follows an option of ``valued`` (``--checkpoint PATH``). Shared with ``shared.derive``."""
    options, problems, i = [], [], 0
    while i < len(argv):
        if argv[i] in valued:
            options += argv[i:i + 2]
            i += 1
        elif argv[i] == "-h" or argv[i].startswith("--"):
            options.append(argv[i])
        else:
            problems.append(argv[i])
        i += 1
    return options, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.calc", description=__doc__.splitlines()[0])
    parser.add_argument("problems", nargs="*", help='problems such as "123*45"; none: read stdin, one per line')
    parser.add_argument("--checkpoint", default=str(CHECKPOINT_10), help="checkpoint path (without suffix); "
                        "default notebook 10's 3.2M model")
    parser.add_argument("--show-work", action="store_true", help="print what the model wrote before each answer")
    options, problems = split_arguments(sys.argv[1:] if argv is None else list(argv), valued=("--checkpoint",))
    args = parser.parse_args(options)
    args.problems = problems
    from_stdin = not args.problems
    lines = sys.stdin.read().splitlines() if from_stdin else args.problems

    parsed, status = parse_lines(lines, parse, from_stdin)
    use_compilation_cache()
    try:
        calculator = Calculator(args.checkpoint)
    except ValueError as error:
        print(f"cannot load the model: {error}", file=sys.stderr)
        return 2
    good = [p for p in parsed if p is not None]
    written = calculator.write(good) if good else []
    answers = iter(zip(calculator.answer(good, written), written))
    for problem in parsed:
        if problem is None:
            print()
            continue
        value, row = next(answers)
        if args.show_work:
            print(traces.show_work(calculator.format, *problem, row))
        if value is None:
            print("the model wrote an unreadable answer", file=sys.stderr)
            status = 1
        print("" if value is None else value)
    return status


if __name__ == "__main__":
    sys.exit(main())
