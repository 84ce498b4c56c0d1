"""Notebook 10's experiments: which trace format to train on, the shipped calculator, and its exhaustive check.

    python -m shared.trace_study compare [--quick]      # the format comparison -> figures/10_compare.json
    python -m shared.trace_study ship [--quick]         # first training run -> shared/checkpoints/calculator10_first
    python -m shared.trace_study exhaustive --model first   # all 4,998,000 problems -> figures/10_exhaustive_first.json
    python -m shared.trace_study focus [--quick]        # second run, where it is wrong -> shared/checkpoints/calculator10
    python -m shared.trace_study exhaustive [--quick]   # the second run's model on all problems -> figures/10_exhaustive.json
    python -m shared.trace_study divisors [--quick]     # third run, small divisors drawn more often -> calculator10_divisors
    python -m shared.trace_study exhaustive --model divisors   # ... checked -> figures/10_exhaustive_divisors.json
    python -m shared.trace_study errors [--quick]       # fourth run, each divisor drawn by its wrong rate -> calculator10_errors
    python -m shared.trace_study exhaustive --model errors     # ... checked -> figures/10_exhaustive_errors.json
    python -m shared.trace_study again [--quick]       # fifth run, each problem the fourth got wrong drawn 16 more times
                                                         # -> calculator10_again
    python -m shared.trace_study exhaustive --model again      # ... checked -> figures/10_exhaustive_again.json
    python -m shared.trace_study polish [--quick]      # the mean of the fourth and fifth runs' weights -> calculator10_mean,
                                                         # then a sixth run from it, gently -> calculator10_polish
    python -m shared.trace_study exhaustive --model mean       # ... checked (not run: notebook 10 estimates it)
    python -m shared.trace_study exhaustive --model polish     # ... checked -> figures/10_exhaustive_polish.json
    python -m shared.trace_study polish2 [--quick]     # the sixth run's recipe again, from its model -> calculator10_polish2
    python -m shared.trace_study exhaustive --model polish2    # ... checked -> figures/10_exhaustive_polish2.json
    python -m shared.trace_study polish3 [--quick]     # and again, each round from the one before (the eighth run;
    python -m shared.trace_study exhaustive --model polish3 --ops // %   # then polish4, polish5), divisions checked
    python -m shared.trace_study rounds-mean          # the mean of the last three rounds' weights -> calculator10_rounds_mean
    python -m shared.trace_study exhaustive --model rounds-mean --ops // %            # the calculator's model: divisions,
    python -m shared.trace_study exhaustive --model rounds-mean --ops '*' - + --add   # then the rest, added to its files
    python -m shared.trace_study division-study [--quick]   # three ways to write long division -> figures/10_division_study.json
    python -m shared.trace_study long-division [--format F]  # the second run's model, division as F -> calculator10_division
    python -m shared.trace_study exhaustive --model division   # ... checked on all problems -> figures/10_exhaustive_division.json
    python -m shared.trace_study large --minutes M [--out DIR]   # a 3.2M-parameter model from scratch, for a GPU
    python -m shared.trace_study exhaustive --model large --batch 20000 [--out DIR]   # -> calculator10_large, checked
    python -m shared.trace_study large-polish [--out DIR]   # on from it, gently, its wrong problems drawn more
    python -m shared.trace_study large-mean [--out DIR]     # the mean of the two -> calculator10_large_mean

With ``--quick`` every step runs tiny and writes to a temporary folder, never to a tracked file.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import arithmetic, checkpoint, runtime, traces
from .arithmetic import OPERATIONS, PROMPT_LEN, Recipe, _recipe
from .evaluate import greedy_decode_cached
from .model import count_params, init_params

# Two studies, each on the operations one trace is about, at equal steps, batch, model and seeds.
STUDIES = {"multiplication": {"*": 1.0}, "division": {"//": 0.5, "%": 0.5}}
COMPARE_STEPS, COMPARE_CHUNK, COMPARE_SEEDS = 500, 100, (0, 1)
VALIDATION_ROWS = 4000            # validation sample scored during training (per study or run)
QUICK_BATCH, QUICK_VALIDATION_ROWS = 32, 1000   # quick mode's 0.2M runs: seconds each on a CPU

# The shipped calculator: the comparison's model, trained longer on every operation (the first run) ...
SHIP_WEIGHTS = (("+", 0.05), ("-", 0.10), ("*", 0.35), ("//", 0.25), ("%", 0.25))
SHIP_STEPS, SHIP_CHUNK = 10000, 500
# ... then trained on where the first run's exhaustive check found it wrong: + and the division rows get
# most of each batch (// and % share their rows, so .3 + .3 is 60% division rows), * and - keep a share.
FOCUS_WEIGHTS = (("+", 0.20), ("-", 0.05), ("*", 0.15), ("//", 0.30), ("%", 0.30))
FOCUS_STEPS, FOCUS_LEARNING_RATE = 6000, 1e-3
OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "//": "floordiv", "%": "mod"}
CHECKPOINTS = runtime.REPO_ROOT / "shared" / "checkpoints"
FIRST_CHECKPOINT, CHECKPOINT = CHECKPOINTS / "calculator10_first", CHECKPOINTS / "calculator10"


def recipe_for(fmt: traces.Format, op_weights, steps: int, name: str) -> Recipe:
    """A 0.2M-parameter decoder (d 64, 4 layers, 4 heads, learned positions; AdamW 2e-3, warmup + cosine,
    batch 128), sized for the longest answer among the operations of ``op_weights``
    (``((op, weight), ...)``) in ``fmt``."""
    seq_len = PROMPT_LEN + max(fmt.answer_len[op] for op, _ in op_weights)
    recipe = _recipe(name, d_model=64, n_layers=4, n_heads=4, batch_size=128, steps=steps,
                     learning_rate=2e-3, warmup_steps=min(300, max(1, steps // 10)), seq_len=seq_len)
    return dataclasses.replace(recipe, op_weights=tuple(op_weights))


def quick_sized(recipe: Recipe, quick: bool) -> Recipe:
    """``recipe`` with quick mode's batch (at most ``QUICK_BATCH``) when ``quick``; else ``recipe`` itself."""
    if not quick:
        return recipe
    return dataclasses.replace(recipe, train=dataclasses.replace(
        recipe.train, batch_size=min(recipe.train.batch_size, QUICK_BATCH)))


@dataclasses.dataclass
class Problems:
    """Every problem in one format, cut to the longest answer the chosen operations need."""
    fmt: traces.Format
    rows: np.ndarray        # (N, T) uint8
    a: np.ndarray
    b: np.ndarray
    op_index: np.ndarray    # (N,) into OPERATIONS

    @classmethod
    def build(cls, fmt: traces.Format, ops=OPERATIONS):
        rows, a, b, op_index = traces.all_rows(fmt)
        keep = np.isin(op_index, [OPERATIONS.index(op) for op in ops])
        seq_len = PROMPT_LEN + max(fmt.answer_len[op] for op in ops)
        return cls(fmt, rows[keep, :seq_len], a[keep], b[keep], op_index[keep])

    def answer_masks(self) -> np.ndarray:
        return self.fmt.answer_masks()[:, :self.rows.shape[1] - 1]


def split(problems: Problems, validation_rows: int, seed: int = 0):
    """(train_keep (N,) bool, validation rows (n, T), validation op index (n,)): a seeded held-out
    sample of (prompt, a, b) keys; training keeps every row whose key is not held out. ``//`` and ``%`` rows of the worked format are
    the same rows, so a pair (a, b) held out for one is held out for both."""
    pair = problems.a.astype(np.int64) * 1000 + problems.b
    division = np.isin(problems.op_index, [OPERATIONS.index("//"), OPERATIONS.index("%")])
    group = np.where(division, OPERATIONS.index("//"), problems.op_index).astype(np.int64)
    key = group * 1_000_000 + pair                               # one key per (prompt kind, a, b)
    present = np.zeros(len(OPERATIONS) * 1_000_000, bool)       # np.unique(key), sorted, in O(N)
    present[key] = True
    unique_keys = np.flatnonzero(present)
    held = np.random.default_rng(seed).choice(unique_keys, min(validation_rows, len(unique_keys)), replace=False)
    is_held = np.isin(key, held)
    val = np.flatnonzero(is_held)
    val = val[np.random.default_rng(seed + 1).permutation(len(val))][:validation_rows]
    return ~is_held, problems.rows[val], problems.op_index[val]


def train_format(problems: Problems, recipe: Recipe, seed: int, chunk: int, progress=True, start_params=None,
                 row_copies=None, validation_rows: int | None = None, quick: bool = False):
    """Train ``recipe`` on ``problems`` (``validation_rows`` pairs held out and scored after each chunk),
    from ``start_params`` if given. ``row_copies`` (N,) int: how many times each problem is in the training
    set (default once each), so that the rows of one operation can be drawn unevenly. ``validation_rows``
    defaults to ``VALIDATION_ROWS`` (``QUICK_VALIDATION_ROWS`` when ``quick``). Returns (state, history)."""
    if validation_rows is None:
        validation_rows = QUICK_VALIDATION_ROWS if quick else VALIDATION_ROWS
    train_keep, val_rows, val_ops = split(problems, validation_rows)
    train_index = np.flatnonzero(train_keep)
    if row_copies is not None:
        train_index = np.repeat(train_index, row_copies[train_index])      # keeps rows grouped by operation
    weights = dict(recipe.op_weights)
    data = arithmetic.device_data(problems.rows[train_index], problems.op_index[train_index], weights,
                                  problems.answer_masks())
    return arithmetic.run_training(recipe, data, val_rows, val_ops, chunk, seed=seed, progress=progress,
                                   start_params=start_params)


def compare(out: pathlib.Path, quick: bool = False) -> dict:
    """Every (study, format, seed) run at equal budget; writes and returns ``{run name: history}``."""
    steps, chunk = (10, 10) if quick else (COMPARE_STEPS, COMPARE_CHUNK)
    results = {}
    for study, weights in STUDIES.items():
        for fmt in traces.FORMATS.values():
            problems = Problems.build(fmt, tuple(weights))
            recipe = quick_sized(recipe_for(fmt, tuple(weights.items()), steps, f"{study}/{fmt.name}"), quick)
            for seed in COMPARE_SEEDS[:1] if quick else COMPARE_SEEDS:
                state, history = train_format(problems, recipe, seed, chunk, quick=quick)
                history["params"] = count_params(state[0])
                results[f"{study}/{fmt.name}/seed{seed}"] = history
                (out / "10_compare.json").write_text(json.dumps(results) + "\n")
    return results


def ship(checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False):
    """The first training run of the shipped calculator, in the worked format; saves the checkpoint and
    ``out/10_ship_history.json``."""
    steps, chunk = (20, 10) if quick else (SHIP_STEPS, SHIP_CHUNK)
    problems = Problems.build(traces.WORKED)
    recipe = quick_sized(recipe_for(traces.WORKED, SHIP_WEIGHTS, steps, "calculator10"), quick)
    start = time.perf_counter()
    state, history = train_format(problems, recipe, seed=0, chunk=chunk, quick=quick)
    minutes = (time.perf_counter() - start) / 60
    params = state[0]
    info = {"format": "worked", "recipe": dataclasses.asdict(recipe.train), "steps": steps,
            "op_weights": dict(SHIP_WEIGHTS), "train_minutes": minutes, "params": count_params(params),
            "train_flops": arithmetic.train_flops(recipe, count_params(params)), "hardware": runtime.hardware_line()}
    checkpoint.save(checkpoint_path, params, recipe.model, **info)
    (out / "10_ship_history.json").write_text(json.dumps({**info, "history": history}) + "\n")
    return params, recipe.model, history, info


def load_model(path: pathlib.Path):
    """(params, config, info) of a checkpoint."""
    config, info = checkpoint.load_config(path)
    return checkpoint.load(path, init_params(jax.random.key(0), config)), config, info


def focus(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False):
    """Go on training the first run's model with ``FOCUS_WEIGHTS`` (a fresh AdamW, warmup and cosine decay
    from ``FOCUS_LEARNING_RATE``, the same validation pairs held out); saves the checkpoint and
    ``out/10_focus_history.json``."""
    steps = 20 if quick else FOCUS_STEPS
    return go_on(start_path, checkpoint_path, out / "10_focus_history.json", traces.WORKED,
                 gentle_recipe(traces.WORKED, FOCUS_WEIGHTS, steps), seed=1, quick=quick)


def gentle_recipe(fmt: traces.Format, op_weights, steps: int, learning_rate: float = FOCUS_LEARNING_RATE) -> Recipe:
    """The 0.2M model's recipe (``recipe_for``) for going on from a trained model: every operation written in
    ``fmt``, sampled by ``op_weights``, warmup and cosine decay from ``learning_rate``."""
    recipe = recipe_for(fmt, op_weights, steps, f"calculator10 {fmt.name}")
    return dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, learning_rate=learning_rate))


def go_on(start_path: pathlib.Path, checkpoint_path: pathlib.Path, history_path: pathlib.Path, fmt: traces.Format,
          recipe: Recipe, seed: int, quick: bool = False, chunk: int = SHIP_CHUNK, divisor_copies=None,
          extra_by_divisor=None, extra_rows=None, notes: dict | None = None):
    """Go on training the model at ``start_path`` with ``recipe`` (a fresh optimizer; its op weights, steps
    and schedule) on every operation written in ``fmt`` (which may write longer answers: new positions are
    added); ``divisor_copies`` as ``DIVISOR_COPIES`` (default: every row once) and ``extra_by_divisor`` as in
    ``copies_by_divisor``; ``extra_rows`` (N,) int: more copies of single problems (``extra_copies_for_wrong``);
    ``notes`` go into the saved info. Saves the checkpoint and its history to ``history_path``."""
    chunk = 10 if quick else min(chunk, recipe.steps)
    recipe = quick_sized(recipe, quick)
    start_params, config, first = load_model(start_path)
    problems = Problems.build(fmt)
    start_params, config = extend_positions(start_params, config, recipe.model.max_len)
    if recipe.model != config:
        raise ValueError(f"{start_path} holds a different model: {config}")
    start = time.perf_counter()
    row_copies = None if divisor_copies is None else copies_by_divisor(problems, divisor_copies, extra_by_divisor)
    if extra_rows is not None:
        row_copies = (1 if row_copies is None else row_copies) + extra_rows(problems)
    state, history = train_format(problems, recipe, seed=seed, chunk=chunk, start_params=start_params,
                                  row_copies=row_copies, quick=quick)
    minutes = (time.perf_counter() - start) / 60
    params = state[0]
    flops = arithmetic.train_flops(recipe, count_params(params))
    info = {"format": fmt.name, "recipe": dataclasses.asdict(recipe.train), "steps": first["steps"] + recipe.steps,
            "focus_steps": recipe.steps, "op_weights": dict(recipe.op_weights), "continued_from": start_path.name,
            "divisor_copies": divisor_copies, **(notes or {}),
            "focus_minutes": minutes, "train_minutes": first["train_minutes"] + minutes,
            "params": count_params(params), "train_flops": first["train_flops"] + flops,
            "hardware": runtime.hardware_line()}
    checkpoint.save(checkpoint_path, params, recipe.model, **info)
    history_path.write_text(json.dumps({**info, "history": history}) + "\n")
    return params, recipe.model, history, info


# The third run: the second's exhaustive check found division wrong on 21% of problems with a divisor below
# 100 but 0.2% of those with a divisor from 334 up, and a uniform draw gives divisors below 100 only 10% of
# the division rows (below 10: 0.9%). So the division rows are drawn by the size of their divisor: a row
# whose divisor has one digit is in the training set 16 times, two digits 4 times, three digits once
# (shares 10%, 26%, 64% of division rows).
DIVISOR_COPIES = {1: 16, 2: 4, 3: 1}
DIVISORS_WEIGHTS = (("+", 0.10), ("-", 0.05), ("*", 0.25), ("//", 0.30), ("%", 0.30))
DIVISORS_STEPS = 6000
DIVISORS_CHECKPOINT = CHECKPOINTS / "calculator10_divisors"


def copies_by_divisor(problems: Problems, copies: dict = DIVISOR_COPIES, extra_by_divisor=None) -> np.ndarray:
    """(N,) int: how many times each problem goes into the training set: ``copies[number of digits of b]``
    (plus ``extra_by_divisor[b]`` if given, a (1000,) int array) for a ``//`` or ``%`` row, 1 for every other row."""
    division = np.isin(problems.op_index, [OPERATIONS.index("//"), OPERATIONS.index("%")])
    divisor_digits = np.where(problems.b >= 100, 3, np.where(problems.b >= 10, 2, 1))
    by_digits = np.array([0] + [copies[d] for d in (1, 2, 3)])
    extra = 0 if extra_by_divisor is None else np.asarray(extra_by_divisor)[problems.b]
    return np.where(division, by_digits[divisor_digits] + extra, 1)


def divisors(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False):
    """The third run: go on training ``start_path`` (the second run's model) with ``DIVISORS_WEIGHTS`` and
    small divisors drawn more often (``DIVISOR_COPIES``); saves the checkpoint and ``out/10_divisors_history.json``."""
    steps = 20 if quick else DIVISORS_STEPS
    return go_on(start_path, checkpoint_path, out / "10_divisors_history.json", traces.WORKED,
                 gentle_recipe(traces.WORKED, DIVISORS_WEIGHTS, steps), seed=4, quick=quick, divisor_copies=DIVISOR_COPIES)


# The fourth run follows the errors: the third run's exhaustive check counts, for every divisor b, how many of
# its 1,000 divisions were wrong (0 to 30%, spread over 891 divisors, most of them two-digit or ending in 6-9).
# Each division row goes into the training set ERRORS_COPIES[digits of b] + round(ERRORS_PER_RATE * wrong rate
# of b) times, so a divisor that was wrong 30% of the time is drawn 30 more times; 7% of the division draws are
# problems the third run got wrong (1.75% in a uniform draw). The rates are whole-divisor counts over every
# problem, validation pairs included (4,000 of the 4,998,000).
ERRORS_COPIES = {1: 8, 2: 4, 3: 1}
ERRORS_PER_RATE = 100
ERRORS_WEIGHTS = (("+", 0.05), ("-", 0.05), ("*", 0.20), ("//", 0.35), ("%", 0.35))
ERRORS_STEPS = 6000
ERRORS_CHECKPOINT = CHECKPOINTS / "calculator10_errors"
ERRORS_SOURCE = runtime.REPO_ROOT / "figures" / "10_wrong_divisors.npz"


def extra_copies_from_errors(wrong_path: pathlib.Path = ERRORS_SOURCE, per_rate: float = ERRORS_PER_RATE) -> np.ndarray:
    """(1000,) int: extra training copies for each divisor b, ``round(per_rate * wrong rate of b)``, from the
    ``//`` problems an exhaustive check (``10_wrong*.npz``) found wrong; b = 0 gets none."""
    with np.load(wrong_path) as wrong:
        wrong_rate = np.bincount(wrong["floordiv_b"], minlength=1000) / 1000
    extra = np.rint(per_rate * wrong_rate).astype(np.int64)
    extra[0] = 0
    return extra


def errors(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False):
    """The fourth run: go on training ``start_path`` (the third run's model) with ``ERRORS_WEIGHTS`` and each
    division row drawn by its divisor's wrong rate (``extra_copies_from_errors``); saves the checkpoint and
    ``out/10_errors_history.json``."""
    steps = 20 if quick else ERRORS_STEPS
    return go_on(start_path, checkpoint_path, out / "10_errors_history.json", traces.WORKED,
                 gentle_recipe(traces.WORKED, ERRORS_WEIGHTS, steps), seed=5, quick=quick, divisor_copies=ERRORS_COPIES,
                 extra_by_divisor=extra_copies_from_errors(),
                 notes={"extra_copies_per_wrong_rate": ERRORS_PER_RATE, "errors_from": ERRORS_SOURCE.name})


# The fifth run follows the errors problem by problem: the fourth run's exhaustive check left 7,081 division
# problems wrong, spread over most divisors (none above 7%), so a per-divisor draw no longer singles them out
# (1.4% of division draws would be wrong problems). Instead every problem the fourth run got wrong goes into
# the training set AGAIN_EXTRA_PER_WRONG more times, 8% of the division draws; one-digit divisors go back to 16
# copies (the fourth run drew them at 8 and their wrong rate rose from 0.04% to 0.94%).
AGAIN_COPIES = {1: 16, 2: 4, 3: 1}
AGAIN_EXTRA_PER_WRONG = 16
AGAIN_STEPS = 6000
AGAIN_CHECKPOINT = CHECKPOINTS / "calculator10_again"
AGAIN_SOURCE = runtime.REPO_ROOT / "figures" / "10_wrong_errors.npz"


def extra_copies_for_wrong(problems: Problems, wrong_path: pathlib.Path = AGAIN_SOURCE,
                           extra: int = AGAIN_EXTRA_PER_WRONG) -> np.ndarray:
    """(N,) int: ``extra`` for every problem of ``problems`` that the exhaustive check in ``wrong_path``
    (``10_wrong*.npz``, the wrong (a, b) of each operation it checked) found wrong, 0 for the others."""
    extra_rows = np.zeros(len(problems.a), np.int64)
    key = problems.a.astype(np.int64) * 1000 + problems.b
    with np.load(wrong_path) as wrong:
        for op, name in OP_NAMES.items():
            if f"{name}_a" not in wrong:                   # a check of some operations only
                continue
            wrong_keys = wrong[f"{name}_a"].astype(np.int64) * 1000 + wrong[f"{name}_b"]
            is_wrong = (problems.op_index == OPERATIONS.index(op)) & np.isin(key, wrong_keys)
            extra_rows[is_wrong] = extra
    return extra_rows


def again(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False,
          wrong_path: pathlib.Path = AGAIN_SOURCE):
    """The fifth run: go on training ``start_path`` (the fourth run's model) with ``ERRORS_WEIGHTS``, small
    divisors drawn as in the third run and every problem the fourth run got wrong (``wrong_path``) drawn
    ``AGAIN_EXTRA_PER_WRONG`` more times; saves the checkpoint and ``out/10_again_history.json``."""
    steps = 20 if quick else AGAIN_STEPS
    return go_on(start_path, checkpoint_path, out / "10_again_history.json", traces.WORKED,
                 gentle_recipe(traces.WORKED, ERRORS_WEIGHTS, steps), seed=6, quick=quick, divisor_copies=AGAIN_COPIES,
                 extra_rows=lambda problems: extra_copies_for_wrong(problems, wrong_path),
                 notes={"extra_copies_per_wrong_problem": AGAIN_EXTRA_PER_WRONG, "errors_from": wrong_path.name})


# The mean model is not trained: it is a weighted mean of the fourth and fifth runs' weights. The fifth went
# on from the fourth, so both sit on one training path, and each fixed divisions the other got wrong (6,022 of
# the fourth's 7,081 were right in the fifth, which had 7,692 new ones). A first probe scored the 14,773 division
# problems that either got wrong, plus 38,607 random others, with the fifth's share at 0, .3, .5, .7 and 1:
# 7,081 + 0, 5,075 + 14, 5,102 + 19, 5,913 + 17 and 8,751 + 0 wrong, so the mean takes .4 (notebook 10 redoes
# this sweep). Averaging weights along one training path is what stochastic weight averaging does
# (Izmailov et al. 2018).
MEAN_OF = ((ERRORS_CHECKPOINT, 0.6), (AGAIN_CHECKPOINT, 0.4))
MEAN_CHECKPOINT = CHECKPOINTS / "calculator10_mean"
# The sixth run goes on from the mean, gently: a peak learning rate of 2e-4 (the earlier runs: 1e-3, which
# undid what the run before had learned), every problem the fourth or fifth run got wrong drawn 16 more times.
POLISH_STEPS, POLISH_LEARNING_RATE = 4000, 2e-4
POLISH_CHECKPOINT = CHECKPOINTS / "calculator10_polish"
POLISH_SOURCES = (AGAIN_SOURCE, runtime.REPO_ROOT / "figures" / "10_wrong_again.npz")
# Each later gentle round is the sixth once more, from the round before's model, with the problems every
# earlier round got wrong added (round 2 is the seventh run, round 3 the eighth, ...).
POLISH_ROUNDS = 5


def polish_name(round_: int) -> str:
    """``"polish"`` for the first gentle round (the sixth run), ``"polish<n>"`` for round n."""
    return "polish" if round_ == 1 else f"polish{round_}"


def polish_checkpoint(round_: int, folder: pathlib.Path = CHECKPOINTS) -> pathlib.Path:
    return folder / f"calculator10_{polish_name(round_)}"


def polish_sources(round_: int) -> tuple:
    """The exhaustive checks whose wrong problems round ``round_`` draws more often: the fourth and fifth
    runs' and every earlier round's."""
    return POLISH_SOURCES + tuple(runtime.REPO_ROOT / "figures" / f"10_wrong_{polish_name(k)}.npz"
                                  for k in range(1, round_))


# Each round fixes about half or more of the divisions the round before got wrong and breaks a thousand or
# more others, so the rounds level off (exhaustive checks, rounds 1-5: 4,209, 2,801, 2,431, 2,135, 2,155 wrong). Averaging the
# last rounds' weights keeps more of what each fixed. Probe on the 7,465 divisions some round got wrong plus
# 38,905 random others (none of which any mean got wrong): round 5 alone 2,155 wrong, the mean of rounds 4-5
# 1,782, of rounds 3-5 1,735, of rounds 2-5 1,736 (notebook 10 shows these counts).
ROUNDS_MEAN_OF = (3, 4, 5)
ROUNDS_MEAN_CHECKPOINT = CHECKPOINTS / "calculator10_rounds_mean"


def rounds_mean(rounds=ROUNDS_MEAN_OF, checkpoint_path: pathlib.Path = ROUNDS_MEAN_CHECKPOINT,
                folder: pathlib.Path = CHECKPOINTS):
    """The equal-weight mean of the gentle rounds ``rounds`` (their checkpoints in ``folder``), saved as by
    ``mean_model``."""
    return mean_model(tuple((polish_checkpoint(round_, folder), 1 / len(rounds)) for round_ in rounds),
                      checkpoint_path)


def mean_model(sources=MEAN_OF, checkpoint_path: pathlib.Path = MEAN_CHECKPOINT):
    """Save and return (params, config, info) of the weighted mean of the models in ``sources``
    (``((checkpoint path, weight), ...)``, weights summing to 1, one model config); its training record
    (steps, minutes, FLOPs) is the last source's, whose run went on from the others."""
    models = [load_model(path) for path, _ in sources]
    if any(config != models[0][1] for _, config, _ in models):
        raise ValueError("mean_model: the checkpoints hold different model configs")
    weights = [weight for _, weight in sources]
    params = jax.tree_util.tree_map(lambda *leaves: sum(w * leaf for w, leaf in zip(weights, leaves)),
                                    *[params for params, _, _ in models])
    info = {**models[-1][2], "mean_of": {path.name: weight for path, weight in sources}}
    info.pop("focus_minutes", None)
    checkpoint.save(checkpoint_path, params, models[0][1], **info)
    return params, models[0][1], info


def polish(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, quick: bool = False,
           wrong_paths=POLISH_SOURCES, name: str = "polish", seed: int = 7):
    """The sixth run (and, with ``name="polish2"``, the seventh): go on training ``start_path`` at
    ``POLISH_LEARNING_RATE`` with ``ERRORS_WEIGHTS``, small divisors as in the fifth run and every problem
    wrong in any of ``wrong_paths`` drawn ``AGAIN_EXTRA_PER_WRONG`` more times; saves the checkpoint and
    ``out/10_{name}_history.json``."""
    steps = 20 if quick else POLISH_STEPS

    def extra_rows(problems):
        return np.max([extra_copies_for_wrong(problems, path) for path in wrong_paths], axis=0)

    return go_on(start_path, checkpoint_path, out / f"10_{name}_history.json", traces.WORKED,
                 gentle_recipe(traces.WORKED, ERRORS_WEIGHTS, steps, POLISH_LEARNING_RATE), seed=seed, quick=quick,
                 divisor_copies=AGAIN_COPIES, extra_rows=extra_rows,
                 notes={"extra_copies_per_wrong_problem": AGAIN_EXTRA_PER_WRONG,
                        "errors_from": [path.name for path in wrong_paths]})


# Does writing more of the long division help? The shipped model, trained on division rows only in each
# of the three ways to write it (same steps, batch, learning rate and seed; ``traces.DIVISION_VARIANTS``).
DIVISION_FORMATS = (traces.WORKED, traces.WORKED_PRODUCT, traces.WORKED_FITS)
DIVISION_STEPS, DIVISION_CHUNK = 1000, 100
# ... and the shipped model trained on, every operation, with division written the chosen way.
LONG_DIVISION_WEIGHTS = (("+", 0.05), ("-", 0.05), ("*", 0.20), ("//", 0.35), ("%", 0.35))
LONG_DIVISION_STEPS = 3000
DIVISION_CHECKPOINT = CHECKPOINTS / "calculator10_division"


def extend_positions(params, config, max_len: int, seed: int = 0):
    """A learned-position model made ready for longer rows: (params, config) with ``max_len`` positions;
    the new positions start as a fresh model's would (normal, std 0.02), the trained ones are kept."""
    if config.pos_encoding != "learned" or max_len <= config.max_len:
        return params, config
    extra = 0.02 * jax.random.normal(jax.random.key(seed), (max_len - config.max_len, config.d_model))
    params = {**params, "pos_embed": jnp.concatenate([params["pos_embed"], extra])}
    return params, dataclasses.replace(config, max_len=max_len)


def division_study(start_path: pathlib.Path, out: pathlib.Path, quick: bool = False) -> dict:
    """Train the model at ``start_path`` on // and % only, once per format in ``DIVISION_FORMATS``;
    writes and returns ``{format name: history}`` (``out/10_division_study.json``)."""
    steps, chunk = (10, 10) if quick else (DIVISION_STEPS, DIVISION_CHUNK)
    start_params, config, _ = load_model(start_path)
    weights = (("//", 0.5), ("%", 0.5))
    results = {}
    for fmt in DIVISION_FORMATS:
        problems = Problems.build(fmt, ("//", "%"))
        recipe = quick_sized(recipe_for(fmt, weights, steps, f"division/{fmt.name}"), quick)
        recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, learning_rate=FOCUS_LEARNING_RATE))
        params, _ = extend_positions(start_params, config, recipe.model.max_len)
        _, history = train_format(problems, recipe, seed=2, chunk=chunk, start_params=params, quick=quick)
        results[fmt.name] = {**history, "seq_len": fmt.seq_len, "answer_len": fmt.answer_len["//"]}
        (out / "10_division_study.json").write_text(json.dumps(results) + "\n")
    return results


# A larger model for an accelerator: the 0.2M model's division stalled near 99.8% (1,735 wrong) after ten CPU
# runs, so a model with 16 times the parameters and 8 times the batch trains from scratch in one run, in the
# same worked format, op weights and small-divisor draws as the third run: d 256, 4 layers, 8 heads (3.2M
# parameters, a 13 MB checkpoint), batch 1,024,
# AdamW 1e-3 with warmup and cosine decay to the end. How many steps: ``--steps``, or ``--minutes`` times
# what 400 timed steps on the device at hand run (the number chosen is saved with the checkpoint).
LARGE = dict(d_model=256, n_layers=4, n_heads=8, batch_size=1024, learning_rate=1e-3, warmup_steps=500)
LARGE_CHUNK = 200
LARGE_CHECKPOINT = CHECKPOINTS / "calculator10_large"


def large_recipe(steps: int, quick: bool = False) -> Recipe:
    """The larger model's recipe (``LARGE``; quick: the 0.2M model's shape, batch ``QUICK_BATCH``) in the
    worked format."""
    shape = dict(d_model=64, n_layers=4, n_heads=4, batch_size=QUICK_BATCH) if quick else {
        key: LARGE[key] for key in ("d_model", "n_layers", "n_heads", "batch_size")}
    recipe = _recipe("calculator10 large", **shape, steps=steps, learning_rate=LARGE["learning_rate"],
                     warmup_steps=min(LARGE["warmup_steps"], max(1, steps // 10)), seq_len=traces.WORKED.seq_len)
    return dataclasses.replace(recipe, op_weights=DIVISORS_WEIGHTS)


def seconds_per_chunk(problems: Problems, row_copies, chunk: int = LARGE_CHUNK, validation_rows: int = VALIDATION_ROWS,
                      quick: bool = False) -> float:
    """Wall seconds that ``chunk`` steps of the larger recipe and one check of ``validation_rows`` rows take on
    this device: the second of two timed chunks (the first compiles)."""
    _, history = train_format(problems, large_recipe(2 * chunk, quick), seed=99, chunk=chunk, progress=False,
                              row_copies=row_copies, validation_rows=validation_rows)
    return history["seconds"][1] - history["seconds"][0]


def steps_for_minutes(problems: Problems, row_copies, minutes: float, chunk: int = LARGE_CHUNK) -> int:
    """How many steps (a multiple of ``chunk``) of the larger recipe, with its usual checks, fit in ``minutes``
    on this device."""
    return max(1, int(minutes * 60 / seconds_per_chunk(problems, row_copies, chunk))) * chunk


def large(checkpoint_path: pathlib.Path, out: pathlib.Path, steps: int | None = None, minutes: float | None = None,
          quick: bool = False):
    """Train the larger model from scratch for ``steps`` (or as many as fit in ``minutes``); saves the
    checkpoint and ``out/10_large_history.json``."""
    problems = Problems.build(traces.WORKED)
    row_copies = copies_by_divisor(problems, DIVISOR_COPIES)
    chosen_by = "given"
    if quick:
        steps, chunk = 20, 10
    else:
        if steps is None:
            steps, chosen_by = steps_for_minutes(problems, row_copies, minutes), f"fill {minutes} minutes"
        chunk = min(LARGE_CHUNK, steps)
        steps -= steps % chunk
    recipe = large_recipe(steps, quick)
    start = time.perf_counter()
    state, history = train_format(problems, recipe, seed=10, chunk=chunk, row_copies=row_copies, quick=quick)
    minutes_taken = (time.perf_counter() - start) / 60
    params = state[0]
    info = {"format": "worked", "recipe": dataclasses.asdict(recipe.train), "steps": steps, "steps_chosen_to": chosen_by,
            "op_weights": dict(DIVISORS_WEIGHTS), "divisor_copies": DIVISOR_COPIES, "train_minutes": minutes_taken,
            "params": count_params(params), "train_flops": arithmetic.train_flops(recipe, count_params(params)),
            "hardware": runtime.hardware_line()}
    checkpoint.save(checkpoint_path, params, recipe.model, **info)
    (out / "10_large_history.json").write_text(json.dumps({**info, "history": history}) + "\n")
    return params, recipe.model, history, info


# The larger model's exhaustive check left 1,268 wrong divisions (99.873%). As the gentle rounds did for the
# 0.2M model: go on from it at a fifth of the learning rate, division-heavy, small divisors drawn as in the
# fifth run and every problem it got wrong drawn AGAIN_EXTRA_PER_WRONG more times; then the equal mean of the
# two models' weights, since each such round fixes some of the other's errors.
LARGE_POLISH_STEPS, LARGE_POLISH_LEARNING_RATE = 6000, 2e-4


def large_polish(start_path: pathlib.Path, checkpoint_path: pathlib.Path, out: pathlib.Path, wrong_path: pathlib.Path,
                 steps: int = LARGE_POLISH_STEPS, quick: bool = False):
    """Go on training the larger model at ``start_path`` gently (see above), with the problems wrong in
    ``wrong_path`` drawn more often; saves the checkpoint and ``out/10_large_polish_history.json``."""
    steps = 20 if quick else steps
    recipe = large_recipe(steps, quick)
    recipe = dataclasses.replace(recipe, op_weights=ERRORS_WEIGHTS, train=dataclasses.replace(
        recipe.train, learning_rate=LARGE_POLISH_LEARNING_RATE, warmup_steps=min(100, max(1, steps // 10))))
    return go_on(start_path, checkpoint_path, out / "10_large_polish_history.json", traces.WORKED, recipe, seed=11,
                 quick=quick, chunk=LARGE_CHUNK, divisor_copies=AGAIN_COPIES,
                 extra_rows=lambda problems: extra_copies_for_wrong(problems, wrong_path),
                 notes={"extra_copies_per_wrong_problem": AGAIN_EXTRA_PER_WRONG, "errors_from": wrong_path.name})


@functools.lru_cache(maxsize=None)
def _teacher_forced(config):
    """One compiled teacher-forced scorer per model config, reused by every call (each row width compiles
    once), so repeated small checks (notebook 10's weight sweep) do not recompile."""
    return jax.jit(lambda params, rows, mask: arithmetic.teacher_forced(params, config, rows, mask))


def exhaustive(params, config, fmt: traces.Format, batch: int = 4000, pairs=None, progress: bool = True,
               after_each=None, order=OPERATIONS, decode_at_most: int = 2000) -> dict:
    """Teacher-forced exactness on every problem, one operation at a time, each cut to its own answer
    length (the model is causal, so the padding after an answer never changes the answer's logits).
    Prompts that two operations share (``//`` and ``%`` in the worked format) are scored once. The first
    ``decode_at_most`` wrong problems of each operation are then decoded greedily, as the calculator would,
    to record the answer it gives. ``pairs``: (a, b) int arrays to score instead of all 1,000,000 (for tests
    and quick mode). Returns ``{"correct": {op: int}, "total": {op: int}, "examples": {op: [[a, b, the
    calculator's answer or None if unreadable], ...]}, "wrong_a": {op: (n_wrong,)}, "wrong_b": {...}}``. ``after_each(report)`` is called after each
    operation (to save partial results of a long run), in the order ``order``."""
    masks = fmt.answer_masks()
    evaluate = _teacher_forced(config)
    if pairs is None:
        pairs = (g.ravel() for g in np.meshgrid(np.arange(1000), np.arange(1000), indexing="ij"))
    grid_a, grid_b = (np.asarray(g, np.int64) for g in pairs)
    batch = max(1, min(batch, len(grid_a)))               # a small sample is not padded to a full batch
    report = {"correct": {}, "total": {}, "examples": {}, "wrong_a": {}, "wrong_b": {}}
    scored = {}                                            # operator field -> (exact, predicted answers)
    for op in order:
        index = OPERATIONS.index(op)
        keep = grid_b != 0 if op in ("//", "%") else np.ones(len(grid_b), bool)
        a, b = grid_a[keep], grid_b[keep]
        field = fmt.operator_field[op]
        if field not in scored:
            seq_len = PROMPT_LEN + fmt.answer_len[op]
            mask = jnp.asarray(np.broadcast_to(masks[index, :seq_len - 1], (batch, seq_len - 1)))
            exact = []
            for lo in tqdm(range(0, len(a), batch), desc=f"all {op} problems", disable=not progress):
                rows = traces.make_rows(fmt, a[lo:lo + batch], b[lo:lo + batch], op)[:, :seq_len]
                n = len(rows)
                rows = np.pad(rows, ((0, batch - n), (0, 0)), constant_values=traces.PAD)  # one compiled shape
                exact.append(jax.device_get(evaluate(params, rows, mask)[1])[:n])
            scored[field] = np.concatenate(exact)
        exact = scored[field]
        wrong = np.flatnonzero(~exact)
        decoded = wrong[:decode_at_most]
        written = greedy_answers(params, config, fmt, a[decoded], b[decoded], op, batch)
        values, readable = traces.read_result(fmt, written, op), traces.readable(fmt, written, op)
        report["correct"][op] = int(exact.sum())
        report["total"][op] = int(len(exact))
        report["examples"][op] = [[int(a[i]), int(b[i]), int(v) if ok else None] for i, v, ok in zip(decoded, values, readable)]
        report["wrong_a"][op], report["wrong_b"][op] = a[wrong].astype(np.uint16), b[wrong].astype(np.uint16)
        if after_each is not None:
            after_each(report)
    return report


def save_exhaustive(report: dict, out: pathlib.Path, suffix: str = "", **extra) -> None:
    """Write the counts and decoded examples to ``out/10_exhaustive{suffix}.json`` and every wrong problem
    to ``out/10_wrong{suffix}.npz`` (uint16 arrays ``"<name>_a"``, ``"<name>_b"`` per operation checked,
    names as in ``OP_NAMES``)."""
    summary = {key: report[key] for key in ("correct", "total", "examples")}
    (out / f"10_exhaustive{suffix}.json").write_text(json.dumps({**summary, **extra}) + "\n")
    np.savez_compressed(out / f"10_wrong{suffix}.npz", **{f"{OP_NAMES[op]}_{ab}": report[f"wrong_{ab}"][op]
                                                  for op in report["correct"] for ab in ("a", "b")})


def load_exhaustive(out: pathlib.Path, suffix: str = "") -> dict:
    """What ``save_exhaustive`` wrote, as ``exhaustive`` returns it (plus ``seconds``), for the operations
    that check scored."""
    report = json.loads((out / f"10_exhaustive{suffix}.json").read_text())
    with np.load(out / f"10_wrong{suffix}.npz") as wrong:
        for ab in ("a", "b"):
            report[f"wrong_{ab}"] = {op: wrong[f"{OP_NAMES[op]}_{ab}"] for op in report["correct"]}
    return report


def merge_exhaustive(earlier: dict, report: dict) -> dict:
    """``report`` with the operations that only ``earlier`` (another check of the same model) scored added."""
    return {key: {**{op: value for op, value in earlier[key].items() if op not in report["correct"]}, **report[key]}
            for key in ("correct", "total", "examples", "wrong_a", "wrong_b")}


def first_wrong_characters(params, config, fmt: traces.Format, a, b, op: str, batch: int = 4000) -> np.ndarray:
    """Where the model first goes wrong on ``a op b``: a, b (N,) -> (N,) int, the index of the first answer
    character whose teacher-forced prediction is wrong (names in ``traces.describe``), -1 where none is.
    Greedy decoding writes the same characters up to that one, so it is where the calculator slips."""
    length = fmt.answer_len[op]
    seq_len = PROMPT_LEN + length
    evaluate, every_character = _teacher_forced(config), jnp.ones((batch, seq_len - 1), bool)
    first = [np.zeros(0, np.int64)]
    for lo in range(0, len(a), batch):
        rows = traces.make_rows(fmt, a[lo:lo + batch], b[lo:lo + batch], op)[:, :seq_len]
        n = len(rows)
        rows = np.pad(rows, ((0, batch - n), (0, 0)), constant_values=traces.PAD)        # one compiled shape
        predicted = np.asarray(evaluate(params, rows, every_character)[0])[:n, :length]
        wrong = predicted != rows[:n, PROMPT_LEN:]
        first.append(np.where(wrong.any(axis=1), wrong.argmax(axis=1), -1))
    return np.concatenate(first)


def greedy_answers(params, config, fmt: traces.Format, a, b, op: str, batch: int) -> np.ndarray:
    """What greedy decoding (the calculator) writes for ``a op b``: answer tokens (N, fmt.answer_len[op])."""
    steps = fmt.answer_len[op]
    out = [np.zeros((0, steps), np.int32)]
    for lo in range(0, len(a), batch):
        prompts = traces.make_rows(fmt, a[lo:lo + batch], b[lo:lo + batch], op)[:, :PROMPT_LEN]
        out.append(np.asarray(greedy_decode_cached(params, config, jnp.asarray(prompts, jnp.int32), steps)))
    return np.concatenate(out)


def disagreements(params, config, fmt: traces.Format, wrong, n_sample: int, seed: int = 0, batch: int = 4000) -> tuple:
    """Score a model here on every problem that an exhaustive check elsewhere found wrong (``wrong``: the
    arrays of its ``10_wrong*.npz``, ``"<name>_a"``, ``"<name>_b"`` per operation) plus ``n_sample`` random
    problems of each operation (``%`` is scored with ``//`` where ``fmt`` writes both on one row).
    Returns (problems scored, problems whose verdict here differs from that check's)."""
    rng, scored, differ, fields = np.random.default_rng(seed), 0, 0, set()
    for op in OPERATIONS:
        if fmt.operator_field[op] in fields:
            continue
        fields.add(fmt.operator_field[op])
        listed_a, listed_b = (np.asarray(wrong[f"{OP_NAMES[op]}_{ab}"], np.int64) for ab in "ab")
        a = np.concatenate([listed_a, rng.integers(0, 1000, n_sample)])
        b = np.concatenate([listed_b, rng.integers(1, 1000, n_sample)])
        if len(a) == 0:
            continue
        here = exhaustive(params, config, fmt, batch, pairs=(a, b), progress=False, order=(op,), decode_at_most=0)
        wrong_here = set(zip(here["wrong_a"][op].tolist(), here["wrong_b"][op].tolist()))
        differ += len(wrong_here ^ set(zip(listed_a.tolist(), listed_b.tolist())))
        scored += len(set(zip(a.tolist(), b.tolist())))
    return scored, differ


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.trace_study", description=__doc__.splitlines()[0])
    polish_steps = tuple(polish_name(round_) for round_ in range(1, POLISH_ROUNDS + 1))
    parser.add_argument("step", choices=("compare", "ship", "focus", "divisors", "errors", "again") + polish_steps
                        + ("rounds-mean", "division-study", "long-division", "large", "large-polish", "large-mean", "exhaustive"))
    parser.add_argument("--model", choices=("first", "final", "divisors", "errors", "again", "mean") + polish_steps
                        + ("rounds-mean", "division", "large", "large-polish", "large-mean"),
                        default="final",
                        help="exhaustive: check the first run's model, the second (default), the third "
                             "(divisors), the fourth (errors), the fifth (again), the mean of those two (mean), a "
                             "gentle round (polish = the sixth run, polish2 the seventh, ...), the mean of the last "
                             "rounds (rounds-mean), the long-division one or the larger model (large)")
    parser.add_argument("--ops", nargs="+", choices=OPERATIONS, default=("*", "//", "%", "-", "+"),
                        help="exhaustive: the operations to check (default: all five, hardest first)")
    parser.add_argument("--add", action="store_true",
                        help="exhaustive: keep the other operations of this model's earlier check in its files")
    parser.add_argument("--format", default="worked-fits", choices=tuple(traces.DIVISION_VARIANTS),
                        help="long-division: how division is written")
    parser.add_argument("--steps", type=int, help="large: training steps")
    parser.add_argument("--minutes", type=float, help="large: as many steps as fit in this many minutes here")
    parser.add_argument("--batch", type=int, default=4000, help="exhaustive: rows per teacher-forced pass")
    parser.add_argument("--out", help="large, and exhaustive --model large: write the checkpoint and results to "
                                      "this folder instead of shared/checkpoints and figures")
    parser.add_argument("--quick", action="store_true", help="tiny run into a temporary folder (ship, then focus)")
    args = parser.parse_args(argv)
    if args.step == "large" and not args.quick and (args.steps is None) == (args.minutes is None):
        parser.error("large needs one of --steps or --minutes")
    if (args.steps is not None and args.steps < 1) or (args.minutes is not None and args.minutes <= 0):
        parser.error("--steps and --minutes must be positive")
    if args.batch < 1:
        parser.error("--batch must be positive")
    out = (pathlib.Path(args.out) if args.out else
           runtime.scratch_dir("catculator-10-") if args.quick else runtime.REPO_ROOT / "figures")
    runtime.out_dir_or_exit(parser, out)        # checked now, not when the first result is saved
    large_path = out / "calculator10_large" if (args.out or args.quick) else LARGE_CHECKPOINT
    large_polish_path, large_mean_path = (large_path.with_name(large_path.name + suffix) for suffix in ("_polish", "_mean"))
    first, final = (out / "calculator10_first", out / "calculator10") if args.quick else (FIRST_CHECKPOINT, CHECKPOINT)
    print(f"runtime: {runtime.hardware_line()}  writing to {out.name}/", flush=True)
    if args.step == "compare":
        compare(out, args.quick)
    elif args.step == "ship":
        ship(first, out, args.quick)
    elif args.step == "division-study":
        division_study(CHECKPOINT, out, args.quick)
    elif args.step == "long-division":
        steps = 20 if args.quick else LONG_DIVISION_STEPS
        target = out / "calculator10_division" if args.quick else DIVISION_CHECKPOINT
        fmt = traces.get_format(args.format)
        go_on(CHECKPOINT, target, out / "10_division_history.json", fmt, gentle_recipe(fmt, LONG_DIVISION_WEIGHTS, steps),
              seed=3, quick=args.quick)
    elif args.step == "divisors":
        if args.quick:
            ship(first, out, quick=True)
            focus(first, final, out, quick=True)
        divisors(final, out / "calculator10_divisors" if args.quick else DIVISORS_CHECKPOINT, out, args.quick)
    elif args.step in ("errors", "again") or args.step.startswith("polish"):
        third, fourth, fifth, mean = ((out / f"calculator10_{name}" for name in ("divisors", "errors", "again", "mean"))
                                      if args.quick else
                                      (DIVISORS_CHECKPOINT, ERRORS_CHECKPOINT, AGAIN_CHECKPOINT, MEAN_CHECKPOINT))
        if args.quick:
            ship(first, out, quick=True)
            focus(first, final, out, quick=True)
            divisors(final, third, out, quick=True)
        if args.step == "errors" or args.quick:
            errors(third, fourth, out, args.quick)
        if args.step == "again" or (args.quick and args.step.startswith("polish")):
            again(fourth, fifth, out, args.quick)
        if args.step.startswith("polish"):
            last = int(args.step[len("polish"):] or 1)
            folder = out if args.quick else CHECKPOINTS
            if args.quick or last == 1:
                mean_model(((fourth, MEAN_OF[0][1]), (fifth, MEAN_OF[1][1])), mean)
            for round_ in range(1 if args.quick else last, last + 1):   # quick: every round up to this one
                start = mean if round_ == 1 else polish_checkpoint(round_ - 1, folder)
                polish(start, polish_checkpoint(round_, folder), out, args.quick,
                       wrong_paths=polish_sources(round_), name=polish_name(round_), seed=6 + round_)
    elif args.step == "large":
        large(large_path, out, args.steps, args.minutes, args.quick)
    elif args.step == "large-polish":
        if args.quick:   # the tiny model checked on 200 random problems stands in for the first's exhaustive check
            params, config, _, _ = large(large_path, out, quick=True)
            pairs = np.random.default_rng(0).integers(1, 1000, (2, 200))
            save_exhaustive(exhaustive(params, config, traces.WORKED, batch=200, pairs=pairs, progress=False), out, "_large")
        large_polish(large_path, large_polish_path, out, out / "10_wrong_large.npz", quick=args.quick)
    elif args.step == "large-mean":
        mean_model(((large_path, 0.5), (large_polish_path, 0.5)), large_mean_path)
    elif args.step == "rounds-mean":
        rounds_mean(checkpoint_path=out / "calculator10_rounds_mean" if args.quick else ROUNDS_MEAN_CHECKPOINT)
    elif args.step == "focus":
        if args.quick:
            ship(first, out, quick=True)
        focus(first, final, out, args.quick)
    else:
        paths = {"first": first, "final": final, "divisors": DIVISORS_CHECKPOINT, "errors": ERRORS_CHECKPOINT,
                 "again": AGAIN_CHECKPOINT, "mean": MEAN_CHECKPOINT, "division": DIVISION_CHECKPOINT,
                 "rounds-mean": ROUNDS_MEAN_CHECKPOINT, "large": large_path,
                 "large-polish": large_polish_path, "large-mean": large_mean_path,
                 **{name: polish_checkpoint(round_) for round_, name in enumerate(polish_steps, start=1)}}
        params, config, info = load_model(paths[args.model])
        suffix = "" if args.model == "final" else "_" + args.model.replace("-", "_")
        start = time.perf_counter()
        earlier = (load_exhaustive(out, suffix) if args.add else
                   {"seconds": 0.0, **{key: {} for key in ("correct", "total", "examples", "wrong_a", "wrong_b")}})

        def save(report):
            report = merge_exhaustive(earlier, report)
            save_exhaustive(report, out, suffix, seconds=earlier["seconds"] + time.perf_counter() - start,
                            hardware=runtime.hardware_line())
            print({op: f"{report['correct'][op]}/{report['total'][op]}" for op in report["correct"]}, flush=True)

        # the hardest operations first, so that a run stopped early has checked the ones that matter most
        exhaustive(params, config, traces.get_format(info.get("format", "reference")), batch=args.batch,
                   after_each=save, order=tuple(args.ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
