"""Benchmarks for notebook 09: where the time goes, and how close to the hardware.

    python -m shared.bench            # full run: about 40 minutes on a 2-core CPU, writes figures/09_bench.json
    python -m shared.bench --quick    # tiny sizes, about a minute, writes to a temporary folder
    python -m shared.bench --sweep    # the search for a fast time-to-100% recipe, figures/09_time_to_100_sweep.json

Every time is the median of several runs after a warm-up (compile excluded unless it says compile).
FLOPs are counted from the model's shapes (``train_flops_per_token``), a count ``matmul_flops`` checks
exactly against the traced program (XLA's own cost analysis is recorded beside it); the hardware
ceiling is the best of a few large jit-compiled fp32 matmuls.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import arithmetic, calc, checkpoint, data, ladder, model, runtime, train
from .model import ModelConfig


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each measurement is; ``QUICK`` makes the whole run take seconds (for the test and CI)."""
    repeats: int = 5                 # timed runs per measurement (the median is reported)
    matmul_sizes: tuple = (1024, 2048, 4096)   # the peak: the best (n, n) @ (n, n) fp32 matmul
    copy_mib: int = 256              # memory bandwidth: an elementwise op over this many MiB
    step_batches: tuple = (("2-digit (06)", 32), ("3-digit cpu", 128), ("3-digit t4", 256))
    epoch_rows: int | None = None    # 2-digit training rows for the epoch and time-to-100% runs (None: all 7,200)
    decode_rows: int = 20_000        # validation rows for the KV-cache vs full-recompute comparison
    decode_batch: int = 5_000
    seeds: tuple = (0, 1, 2, 3, 4)   # time to 100%: one cold run per seed
    max_epochs: int | None = None    # None: the rung's own budget


# The grid ``python -m shared.bench --sweep`` searches (two seeds per point), and the recipe it found.
SWEEP = {"pos_encoding": ("rope", "learned"), "layers": (1, 2), "batch_and_learning_rate": ((32, 3e-3), (64, 5e-3)),
         "epochs": (6, 10), "warmup_steps": 30, "seeds": (0, 1)}
FAST_POSITIONS = "learned"
FAST_LAYERS = 1
FAST_SCHEDULE = {"batch_size": 32, "learning_rate": 3e-3, "warmup_steps": 30, "epochs": 10}

FULL = Sizes()
QUICK = Sizes(repeats=2, matmul_sizes=(256,), copy_mib=8, step_batches=(("2-digit (06)", 8), ("3-digit cpu", 8)),
              epoch_rows=320, decode_rows=64, decode_batch=32, seeds=(0,), max_epochs=1)


def model_configs() -> dict[str, tuple[ModelConfig, int]]:
    """The series' model sizes: name -> (config, sequence length the model trains on)."""
    return {"2-digit (06)": (ladder.rung("masked")[0], data.SEQ_LEN - 1),
            "3-digit cpu": (arithmetic.RECIPES["cpu"].model, arithmetic.SEQ_LEN - 1),
            "3-digit t4": (arithmetic.RECIPES["t4"].model, arithmetic.SEQ_LEN - 1)}


def timings(fn, *args, repeats: int) -> list[float]:
    """Wall time of ``fn(*args)`` in seconds, ``repeats`` times, after one warm-up run (which compiles);
    each run waits for the result (JAX dispatches asynchronously)."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return times


def timed(fn, *args, repeats: int) -> float:
    """Median of ``timings``: the number every benchmark reports."""
    return statistics.median(timings(fn, *args, repeats=repeats))


def _cost(compiled) -> dict:
    """XLA's own count of a compiled program's FLOPs and bytes accessed (a dict, or one per module in old jax)."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return {"flops": float(cost.get("flops", float("nan"))), "bytes": float(cost.get("bytes accessed", float("nan")))}


def _memory(compiled) -> dict:
    """XLA's compile-time estimate of one program's peak footprint: arguments + outputs + temporaries -
    aliased buffers. Every backend gives it. (A GPU's or TPU's ``memory_stats()["peak_bytes_in_use"]`` is a
    running maximum over the whole process, every array and program so far, so it cannot be put on one step.)"""
    analysis = compiled.memory_analysis()
    estimate = None
    if analysis is not None:
        estimate = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                    + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
    return {"xla_estimate_bytes": estimate}


def matmul_peak(sizes: tuple, repeats: int) -> dict:
    """The ceiling: FLOP/s of a jit-compiled (n, n) @ (n, n) fp32 matmul (2 n^3 FLOPs) for each n in
    ``sizes``; ``flop_per_s`` is the best of them."""
    by_size = {}
    for n in sizes:
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        by_size[n] = 2 * n ** 3 / timed(jax.jit(jnp.matmul), a, b, repeats=repeats)
    return {"flop_per_s_by_n": by_size, "flop_per_s": max(by_size.values())}


def memory_bandwidth(mib: int, repeats: int) -> dict:
    """The other roof: bytes per second of ``x * 2 + 1`` over ``mib`` MiB of fp32 (each byte read once,
    written once)."""
    x = jnp.ones((mib * 2 ** 20 // 4,), jnp.float32)
    seconds = timed(jax.jit(lambda x: x * 2 + 1), x, repeats=repeats)
    return {"mib": mib, "seconds": seconds, "bytes_per_s": 2 * x.nbytes / seconds}


def forward_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Forward-pass FLOPs per token, counted from shapes, 2 FLOPs per multiply-add: every weight a token
    meets in a matmul (4 D^2 + 2 D F per layer, plus D V to unembed) and attention's scores and weighted
    sum over the full T x T that is computed (2 x T x D each per layer). Norms, softmax and GELU are left
    out (a few percent); ``matmul_flops`` checks the count against the traced program."""
    D, F, L, V = config.d_model, config.d_ff, config.n_layers, config.vocab_size
    return 2 * (L * (4 * D * D + 2 * D * F) + D * V) + L * 4 * seq_len * D


def train_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: the backward pass multiplies each matmul's output gradient by both of its
    inputs (two matmuls per forward matmul), so a training step costs 3 x the forward pass."""
    return 3.0 * forward_flops_per_token(config, seq_len)


def _sub_jaxprs(value):
    """The jaxprs held in an equation's parameter (a jaxpr, a closed jaxpr, or a tuple of them)."""
    if isinstance(value, (tuple, list)):
        return [jaxpr for item in value for jaxpr in _sub_jaxprs(item)]
    if hasattr(value, "eqns"):
        return [value.jaxpr if hasattr(value, "jaxpr") else value]
    return []


def matmul_flops(fn, *args) -> float:
    """FLOPs of every matrix multiply (``dot_general``) in the program JAX traces for ``fn(*args)``,
    2 per multiply-add, inside nested jaxprs too; a ``scan`` body counts once per iteration. An exact
    count of what the program asks for, independent of any compiler."""
    def count(jaxpr) -> float:
        total = 0.0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
                lhs_shape = eqn.invars[0].aval.shape
                inner = np.prod([lhs_shape[axis] for axis in lhs_contracting])
                total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * inner
            repeats = eqn.params.get("length", 1) if eqn.primitive.name == "scan" else 1
            for value in eqn.params.values():
                total += repeats * sum(count(sub) for sub in _sub_jaxprs(value))
        return total
    return count(jax.make_jaxpr(fn)(*args).jaxpr)


def random_batch(config: ModelConfig, batch_size: int, seq_len: int) -> dict:
    """A batch of random tokens ``{"x", "y", "answer_mask"}``, each (batch_size, seq_len): speed does not
    depend on the values."""
    tokens = jax.random.randint(jax.random.key(0), (batch_size, seq_len + 1), 0, config.vocab_size)
    return {"x": tokens[:, :-1], "y": tokens[:, 1:], "answer_mask": jnp.ones((batch_size, seq_len), bool)}


def adamw_train_step(config: ModelConfig, batch_size: int):
    """The training step every benchmark times: AdamW with clipping, masked loss. Returns
    ``(train_step, carry)``, ``carry`` being freshly initialised ``(params, opt_state, key)``."""
    train_config = train.TrainConfig(optimizer="adamw", learning_rate=1e-3, weight_decay=0.1, grad_clip=1.0,
                                     batch_size=batch_size, loss="masked")
    optimizer = train.make_optimizer(train_config, 1000)
    params = model.init_params(jax.random.key(0), config)
    return train.make_train_step(config, train_config, optimizer), (params, optimizer.init(params), jax.random.key(1))


def train_step_bench(config: ModelConfig, seq_len: int, batch_size: int, repeats: int) -> dict:
    """Compile time, step time, tokens/s, FLOP/s and memory of one ``adamw_train_step`` at ``batch_size``
    rows of ``seq_len`` tokens."""
    step, carry = adamw_train_step(config, batch_size)
    batch = random_batch(config, batch_size, seq_len)
    start = time.perf_counter()
    compiled = jax.jit(step).lower(carry, batch).compile()
    compile_seconds = time.perf_counter() - start
    all_seconds = timings(compiled, carry, batch, repeats=repeats)
    seconds = statistics.median(all_seconds)
    tokens = batch_size * seq_len
    flops = train_flops_per_token(config, seq_len) * tokens
    return {"batch_size": batch_size, "seq_len": seq_len, "params": model.count_params(carry[0]),
            "compile_seconds": compile_seconds, "step_seconds": seconds, "step_seconds_all": all_seconds,
            "tokens_per_s": tokens / seconds,
            "flops_per_step": flops, "flop_per_s": flops / seconds, "xla": _cost(compiled), **_memory(compiled)}


def scan_vs_unrolled(sizes: Sizes, peak_flop_per_s: float, progress: bool = True) -> dict:
    """``train_step_bench`` for every model size, with layers as a ``lax.scan`` and unrolled."""
    configs = model_configs()
    results = {}
    for name, batch_size in tqdm(sizes.step_batches, desc="train steps", disable=not progress):
        config, seq_len = configs[name]
        results[name] = {}
        for label, scan in (("scan", True), ("unrolled", False)):
            run = train_step_bench(dataclasses.replace(config, scan_layers=scan), seq_len, batch_size, sizes.repeats)
            run["utilisation"] = run["flop_per_s"] / peak_flop_per_s
            results[name][label] = run
    return results


def _first_rows(split: data.Split, rows: int | None) -> data.Split:
    """The first ``rows`` rows of every part of ``split`` (all of them for None): quick mode's small epochs."""
    return data.Split(*(part[:rows] for part in split))


def epoch_loops(sizes: Sizes, progress: bool = True) -> dict:
    """One epoch of the 2-digit masked rung two ways: a jit-compiled ``lax.scan`` over device-resident
    batches (``train.make_epoch_fn``), and the common way, a Python loop that feeds one host batch per
    call to a jit-compiled step. Same steps, same batch size; seconds per epoch, compile excluded."""
    model_config, train_config = ladder.rung("masked")
    train_split, _ = data.make_dataset()
    train_split = _first_rows(train_split, sizes.epoch_rows)
    steps = len(train_split) // train_config.batch_size
    optimizer = train.make_optimizer(train_config, steps * train_config.epochs)
    params = model.init_params(jax.random.key(0), model_config)
    opt_state, key = optimizer.init(params), jax.random.key(1)
    arrays = train.as_device_arrays(train_split)
    run_epoch = train.make_epoch_fn(model_config, train_config, optimizer)
    scan_seconds = timed(run_epoch, params, opt_state, key, arrays, repeats=sizes.repeats)

    step = jax.jit(train.make_train_step(model_config, train_config, optimizer))
    host = {"x": train_split.x, "y": train_split.y, "answer_mask": train_split.answer_mask}   # numpy, on the host
    rng = np.random.default_rng(0)

    def host_fed_epoch(params, opt_state, key):
        order = rng.permutation(len(train_split))[:steps * train_config.batch_size].reshape(steps, -1)
        carry = (params, opt_state, key)
        for rows in order:                         # one host -> device transfer and one dispatch per step
            carry, loss = step(carry, {name: part[rows] for name, part in host.items()})
        return carry

    loop_seconds = timed(host_fed_epoch, params, opt_state, key, repeats=sizes.repeats)
    return {"steps_per_epoch": steps, "batch_size": train_config.batch_size, "scan_seconds": scan_seconds,
            "host_loop_seconds": loop_seconds, "speedup": loop_seconds / scan_seconds}


def decoding(sizes: Sizes, progress: bool = True) -> dict:
    """Problems per second of greedy decoding with the key/value cache and with full recomputation, on the
    first ``decode_rows`` rows of notebook 08's validation split, with notebook 08's checkpoint."""
    config, _ = checkpoint.load_config(calc.CHECKPOINT_08)
    params = checkpoint.load(calc.CHECKPOINT_08, model.init_params(jax.random.key(0), config))
    rows, _, _, _ = arithmetic.all_rows()
    val_rows = rows[arithmetic.validation_split(len(rows))[:sizes.decode_rows]]
    cached, cached_out = arithmetic.rows_per_second(lambda r: arithmetic.decode_cached(params, config, r),
                                                    val_rows, sizes.decode_batch, progress)
    full, full_out = arithmetic.rows_per_second(lambda r: arithmetic.decode_full_recompute(params, config, r),
                                                val_rows, sizes.decode_batch, progress)
    return {"rows": len(val_rows), "cached_problems_per_s": cached, "full_recompute_problems_per_s": full,
            "speedup": cached / full, "same_tokens": bool(np.array_equal(cached_out, full_out))}


def race(recipes: dict, seeds, epoch_rows: int | None = None, max_epochs: int | None = None,
         progress: bool = True, desc: str | None = None, after_recipe=None) -> dict:
    """For each recipe ``name -> (model config, train config, number format)``, once per seed: wall time
    from a cold start (``jax.clear_caches()``, so init and every compile are paid again) until the model
    first scores 100% exact on all 2,800 held-out 2-digit problems, evaluated after every epoch. The same
    split of the same problems for every recipe; ``max_epochs`` caps each recipe's budget (quick mode).
    ``after_recipe(results so far)`` is called after each recipe (to save them, so a run cut off keeps them)."""
    results = {}
    bar = tqdm(total=len(recipes) * len(seeds), desc=desc or "time to 100%", disable=not progress)
    for name, (model_config, train_config, fmt) in recipes.items():
        if max_epochs is not None:
            train_config = dataclasses.replace(train_config, epochs=min(train_config.epochs, max_epochs))
        train_split, test_split = data.make_dataset(fmt=fmt)
        train_split = _first_rows(train_split, epoch_rows)
        runs = []
        for seed in seeds:
            jax.clear_caches()
            _, history = train.train(model_config, dataclasses.replace(train_config, seed=seed), train_split,
                                     test_split, progress=False, stop_at_accuracy=1.0)
            reached = history.first_epoch_at(1.0)
            runs.append({"seed": seed, "epoch": reached and reached[0], "seconds": reached and reached[1],
                         "best_accuracy": max(history.test_accuracy), "curve": history.test_accuracy,
                         "curve_seconds": history.seconds})
            bar.update()
        reached = [run["seconds"] for run in runs if run["seconds"] is not None]
        results[name] = {"runs": runs, "reached": f"{len(reached)} of {len(runs)}",
                         "median_seconds": statistics.median(reached) if len(reached) == len(runs) else None,
                         "params": model.count_params(jax.eval_shape(lambda: model.init_params(jax.random.key(0), model_config))),
                         "layers": model_config.n_layers, "batch_size": train_config.batch_size,
                         "learning_rate": train_config.learning_rate, "epochs": train_config.epochs,
                         "format": dataclasses.asdict(fmt)}
        if after_recipe is not None:
            after_recipe(results)
    bar.close()
    return results


REVERSED = data.NumberFormat(operand_width=2, answer_width=3, reverse_answer=True)   # =057 written as 750


def time_to_100_recipes() -> dict[str, tuple[ModelConfig, train.TrainConfig, data.NumberFormat]]:
    """The recipes raced to 100% in notebook 09, in order, each changing one thing in the one before, so a
    difference between neighbours is that change's doing: notebook 06's masked rung as it is; its answer
    zero-padded and written least significant digit first (the order carries are computed in, notebook
    07); learned absolute positions instead of RoPE (with every number zero-padded, a position says which
    digit of which number a token is); then the schedule and the depth the sweep (``sweep_recipes``) found."""
    model_config, train_config = ladder.rung("masked")
    learned = dataclasses.replace(model_config, pos_encoding=FAST_POSITIONS)
    fast = dataclasses.replace(train_config, **FAST_SCHEDULE)
    return {"06 masked rung": (model_config, train_config, data.BLOG_FORMAT),
            "+ reversed answer": (model_config, train_config, REVERSED),
            f"+ {FAST_POSITIONS} positions": (learned, train_config, REVERSED),
            "+ short schedule": (learned, fast, REVERSED),
            f"+ {FAST_LAYERS} layer{'s' * (FAST_LAYERS > 1)}": (dataclasses.replace(learned, n_layers=FAST_LAYERS), fast, REVERSED)}


def sweep_recipes() -> dict[str, tuple[ModelConfig, train.TrainConfig, data.NumberFormat]]:
    """The grid searched for a fast recipe (``python -m shared.bench --sweep``): the 06 masked rung with the
    reversed answer, at each position encoding, depth, batch size (with a learning rate scaled to it) and
    schedule length of ``SWEEP``."""
    model_config, train_config = ladder.rung("masked")
    recipes = {}
    for positions in SWEEP["pos_encoding"]:
        for layers in SWEEP["layers"]:
            for batch_size, learning_rate in SWEEP["batch_and_learning_rate"]:
                for epochs in SWEEP["epochs"]:
                    recipes[f"{positions}, {layers} layers, batch {batch_size}, lr {learning_rate:g}, {epochs} epochs"] = (
                        dataclasses.replace(model_config, pos_encoding=positions, n_layers=layers),
                        dataclasses.replace(train_config, batch_size=batch_size, learning_rate=learning_rate,
                                            warmup_steps=SWEEP["warmup_steps"], epochs=epochs), REVERSED)
    return recipes


def time_to_100(sizes: Sizes, progress: bool = True, names=None, after_recipe=None) -> dict:
    """``race`` over ``time_to_100_recipes`` (or only those in ``names``, in that order) with the seeds of
    ``sizes``; ``after_recipe`` as in ``race``."""
    recipes = time_to_100_recipes()
    unknown = [name for name in names or () if name not in recipes]
    if unknown:
        raise ValueError(f"no time-to-100% recipe named {unknown}; the recipes are {list(recipes)}")
    if names is not None:
        recipes = {name: recipes[name] for name in names}
    return race(recipes, sizes.seeds, sizes.epoch_rows, sizes.max_epochs, progress, after_recipe=after_recipe)


BENCHMARKS = ("memory_bandwidth", "train_step", "epoch", "decoding", "time_to_100")


def run(sizes: Sizes = FULL, progress: bool = True, path=None, only=BENCHMARKS, earlier: dict | None = None,
        recipes=None) -> dict:
    """The benchmarks named in ``only`` (default: all of ``BENCHMARKS``) after the matmul peak, in one dict
    (what ``save`` writes); with ``path``, saved there after each benchmark (and after each recipe of the
    race to 100%), so a run stopped early keeps what it measured. ``earlier``: the results of an earlier run
    on the same hardware and sizes, to add to: what is not measured again is kept (the race's other recipes
    too), and so is its matmul peak, so that every utilisation in the file is a fraction of one peak.
    ``recipes``: race only these ``time_to_100_recipes``, in this order (default: all)."""
    earlier = earlier or {}
    peak = earlier.get("matmul_peak") or matmul_peak(sizes.matmul_sizes, sizes.repeats)
    results = {**earlier, "hardware": runtime.hardware_line(), "devices": jax.local_device_count(),
               "sizes": dataclasses.asdict(sizes), "matmul_peak": peak}
    earlier_races = earlier.get("time_to_100", {})

    def save_race(races):                       # after each recipe: the earlier races, then this run's so far
        if path is not None:
            save({**results, "time_to_100": {**earlier_races, **races}}, path)

    benchmarks = {"memory_bandwidth": lambda: memory_bandwidth(sizes.copy_mib, sizes.repeats),
                  "train_step": lambda: scan_vs_unrolled(sizes, peak["flop_per_s"], progress),
                  "epoch": lambda: epoch_loops(sizes, progress), "decoding": lambda: decoding(sizes, progress),
                  "time_to_100": lambda: {**earlier_races, **time_to_100(sizes, progress, recipes, save_race)}}
    for name in only:
        results[name] = benchmarks[name]()
        if path is not None:
            save(results, path)
    return results


def sweep(quick: bool = False, progress: bool = True) -> dict:
    """``race`` over every ``sweep_recipes`` point on ``SWEEP["seeds"]`` (about 10 minutes on a 2-core CPU);
    ``quick``: the first point only, on the quick seeds and budget (what the test runs)."""
    recipes, seeds, sizes = sweep_recipes(), SWEEP["seeds"], FULL
    if quick:
        recipes, seeds, sizes = dict(list(recipes.items())[:1]), QUICK.seeds, QUICK
    return {"hardware": runtime.hardware_line(), "grid": SWEEP,
            "races": race(recipes, seeds, sizes.epoch_rows, sizes.max_epochs, progress, desc="sweep")}


def save(results: dict, path=None) -> Path:
    """Write ``results`` as JSON to ``path`` (default: ``09_bench.json`` in ``runtime.output_dir()``)."""
    path = Path(path) if path is not None else runtime.output_dir() / "09_bench.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds; never writes into figures/")
    parser.add_argument("--sweep", action="store_true", help="search the SWEEP grid for a fast time-to-100%% recipe "
                                                              "(about 10 minutes; writes figures/09_time_to_100_sweep.json)")
    parser.add_argument("--out", help="where to write the JSON (default: figures/09_bench.json, or a "
                                      "temporary folder with --quick or in quick mode)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS,
                        help="run these benchmarks only (the matmul peak is always measured or kept)")
    parser.add_argument("--recipes", nargs="+", metavar="NAME", choices=list(time_to_100_recipes()),
                        help="race only these time-to-100%% recipes, in this order (default: all of them: "
                             + "; ".join(time_to_100_recipes()) + ")")
    parser.add_argument("--add", action="store_true",
                        help="add to the results already in the output file (same hardware and sizes)")
    args = parser.parse_args(argv)
    if args.recipes and "time_to_100" not in args.only:
        parser.error("--recipes chooses recipes of the time_to_100 benchmark, which --only leaves out")
    quick = args.quick or runtime.QUICK
    name = "09_time_to_100_sweep.json" if args.sweep else "09_bench.json"
    out = args.out
    if out is None and quick:                   # quick results never overwrite the published ones
        out = runtime.scratch_dir("catculator-bench-") / name
    path = Path(out) if out is not None else runtime.output_dir() / name
    if path.is_dir():
        parser.error(f"--out {path} is a folder: name the JSON file to write")
    runtime.out_dir_or_exit(parser, path.parent)   # checked now, not when the first result is saved
    if args.add and args.sweep:
        parser.error("--add adds to a benchmark run's results; --sweep writes a file of its own")
    sizes = QUICK if quick else FULL
    earlier = None
    if args.add:
        if not path.exists():
            parser.error(f"--add: there are no results at {path} to add to")
        earlier = json.loads(path.read_text())
        if earlier.get("hardware") != runtime.hardware_line():
            parser.error(f"--add: {path.name} was measured on {earlier.get('hardware')!r}, this run is on "
                         f"{runtime.hardware_line()!r}: write to another file")
        if earlier.get("sizes") != json.loads(json.dumps(dataclasses.asdict(sizes))):
            parser.error(f"--add: {path.name} was measured at other sizes (quick or full) than this run: "
                         "write to another file")
    results = sweep(quick) if args.sweep else run(sizes, path=path, only=tuple(args.only), earlier=earlier,
                                                           recipes=args.recipes)
    save(results, path)
    print(f"{results['hardware']}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
