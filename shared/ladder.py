"""The ablation ladder of notebooks 02-06: each rung changes exactly one thing in the rung before.

All rungs share the data split, the batch size, the schedule (linear warmup then cosine decay) and the
budget in epochs, so a difference between two rungs is the one change's doing. Each rung trains on
``SEEDS`` side by side (``train.train_seeds``, one ``jax.vmap``-ed program) and reports the mean and the
spread over them: on 2,800 test problems, one seed's result moves by a few problems from seed to seed.
Each notebook trains its own rung only and saves it; the next notebook loads it (``load``) to compare.
"""
from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np

from . import evaluate, plots, results, runtime, train
from .model import ModelConfig, count_params
from .train import TrainConfig

EPOCHS = 30
SEEDS = (0, 1, 2)
BASE_TRAIN = TrainConfig(optimizer="sgd", learning_rate=1.0, schedule="cosine", warmup_steps=100,
                         grad_clip=1.0, batch_size=32, epochs=EPOCHS, loss="per_token", seed=0)
BASE_MODEL = ModelConfig()  # the blog's: d_model 64, 4 layers, 8 heads of 8, d_ff 256, no positions

# rung name -> (what changes, model config, train config)
RUNGS: dict[str, tuple[str, ModelConfig, TrainConfig]] = {}
# rung name -> the notebook that trains it, which saves it as figures/<name>_results.json
RESULTS_FILE = {"sgd": "02_sgd", "adam": "03_adam", "rope": "04_rope", "tied": "05_tied", "masked": "06_masked"}


def _add(name: str, change: str, model_changes: dict | None = None, train_changes: dict | None = None):
    previous = list(RUNGS.values())[-1] if RUNGS else (None, BASE_MODEL, BASE_TRAIN)
    RUNGS[name] = (change, dataclasses.replace(previous[1], **(model_changes or {})),
                   dataclasses.replace(previous[2], **(train_changes or {})))


_add("sgd", "plain SGD, p - lr * g")
_add("adam", "AdamW instead of SGD", train_changes={"optimizer": "adamw", "learning_rate": 3e-3, "weight_decay": 0.1})
_add("rope", "rotary position embeddings", model_changes={"pos_encoding": "rope"})
_add("tied", "unembedding tied to the embedding", model_changes={"tied_embeddings": True})
_add("masked", "loss on the answer tokens only", train_changes={"loss": "masked"})


def rung(name: str, epochs: int | None = None) -> tuple[ModelConfig, TrainConfig]:
    """The (model, train) configs of a rung, optionally with a different budget (quick mode)."""
    if name not in RUNGS:
        raise ValueError(f"unknown rung {name!r}: choose one of {list(RUNGS)}")
    _, model_config, train_config = RUNGS[name]
    if epochs is not None:
        train_config = dataclasses.replace(train_config, epochs=epochs)
    return model_config, train_config


def diff(before: str, after: str) -> str:
    """The config fields that differ between two rungs, one per line: ``field: old -> new``."""
    lines = []
    for old, new in zip(RUNGS[before][1:], RUNGS[after][1:]):
        for field in dataclasses.fields(old):
            if getattr(old, field.name) != getattr(new, field.name):
                lines.append(f"{field.name}: {getattr(old, field.name)!r} -> {getattr(new, field.name)!r}")
    return "\n".join(lines)


@dataclasses.dataclass
class Result:
    """One rung on every seed: ``summary`` (the numbers below), one ``History`` per seed, and the trained
    parameters with a leading seed axis (``None`` when the result was loaded from its file)."""
    name: str
    summary: dict
    histories: list
    params: dict | None = None

    def seed_params(self, index: int = 0) -> dict:
        """The parameters of the ``index``-th seed (a trained result only)."""
        if self.params is None:
            raise ValueError(f"rung {self.name!r} was loaded from its results file, which holds no parameters")
        return jax.tree.map(lambda leaf: leaf[index], self.params)


def summarise(params_count: int, epochs: int, seeds, histories, hardware: str) -> dict:
    """Per-seed final numbers and their mean, min and max: ``{"seeds", "params", "epochs", "per_seed":
    {metric: [one per seed]}, "mean": {...}, "min": {...}, "max": {...}, "seconds", "hardware"}``;
    ``seconds`` is the wall time of all seeds trained together, compile included."""
    per_seed = {metric: [getattr(history, metric)[-1] for history in histories]
                for metric in ("train_loss", "test_loss", "test_answer_loss", "test_accuracy")}
    return {"seeds": list(seeds), "params": params_count, "epochs": epochs, "per_seed": per_seed,
            "mean": {k: float(np.mean(v)) for k, v in per_seed.items()},
            "min": {k: float(np.min(v)) for k, v in per_seed.items()},
            "max": {k: float(np.max(v)) for k, v in per_seed.items()},
            "seconds": histories[0].seconds[-1], "hardware": hardware}


def run(name: str, train_split, test_split, epochs: int | None = None, seeds=SEEDS) -> Result:
    """Train rung ``name`` on every seed at once (with a tqdm bar) and summarise it."""
    model_config, train_config = rung(name, epochs)
    params, histories = train.train_seeds(model_config, train_config, train_split, test_split, seeds)
    summary = summarise(count_params(jax.tree.map(lambda leaf: leaf[0], params)), train_config.epochs, seeds,
                        histories, runtime.hardware_line())
    return Result(name, summary, histories, params)


def save(result: Result, test_size: int):
    """Write the rung's summary and histories to ``figures/<notebook>_results.json`` (a temporary folder in
    quick mode) for the next notebook to ``load``; return the path."""
    summary = dict(result.summary, test_size=test_size)
    return results.save(f"{RESULTS_FILE[result.name]}_results",
                        {"rung": result.name, "summary": summary,
                         "histories": [dataclasses.asdict(history) for history in result.histories]})


def load(name: str) -> Result:
    """The rung ``name`` as its notebook's last full run saved it (``figures/<notebook>_results.json`` in
    the repository), without its parameters. Quick mode reads the same committed file."""
    path = runtime.REPO_ROOT / "figures" / f"{RESULTS_FILE[name]}_results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path.name} not found: run notebook {RESULTS_FILE[name][:2]} in full mode first")
    saved = json.loads(path.read_text())
    if saved.get("rung") != name:
        raise ValueError(f"{path.name} holds rung {saved.get('rung')!r}, not {name!r}: rerun notebook "
                         f"{RESULTS_FILE[name][:2]} in full mode")
    return Result(name, saved["summary"], [train.History(**history) for history in saved["histories"]])


def table(rungs: list[Result]) -> str:
    """One row per rung: the mean over seeds of the final losses and exact accuracy, the accuracy's range,
    the wrong answers of each seed and the wall time."""
    header = (f"{'rung':<8}{'params':>9}{'seeds':>6}{'train':>8}{'test':>8}{'test ans':>10}{'exact %':>9}"
              f"{'min-max %':>15}  {'wrong per seed':<16}{'wall s':>7}")
    lines = [header, "-" * len(header)]
    for result in rungs:
        s = result.summary
        wrong = " / ".join(str(n) for n in wrong_answers(s))
        spread = f"{100 * s['min']['test_accuracy']:.2f}-{100 * s['max']['test_accuracy']:.2f}"
        lines.append(f"{result.name:<8}{s['params']:>9,}{len(s['seeds']):>6}{s['mean']['train_loss']:>8.4f}"
                     f"{s['mean']['test_loss']:>8.4f}{s['mean']['test_answer_loss']:>10.2e}"
                     f"{100 * s['mean']['test_accuracy']:>9.2f}{spread:>15}  {wrong:<16}{s['seconds']:>7.0f}")
    lines.append("(means over the seeds; wall time: all seeds trained together, compile included)")
    lines.append(f"hardware: {rungs[-1].summary['hardware']}")
    return "\n".join(lines)


def wrong_answers(summary: dict, test_size: int = 2800) -> list[int]:
    """The number of test problems each seed got wrong."""
    test_size = summary.get("test_size", test_size)
    return [int(round((1 - accuracy) * test_size)) for accuracy in summary["per_seed"]["test_accuracy"]]


def report(result: Result, notebook: str, title: str, test_size: int, before: Result | None = None,
           metric: str = "loss", floor: float | None = None):
    """For the rung ``result`` (trained here), beside the rung ``before`` it changes (loaded), if given:
    print the table, plot the loss curves (mean over seeds, min-max shaded) to ``figures/<notebook>.png``
    with the data's loss ``floor`` as a dotted line (if given), print the blog's problems as seed 0 of
    ``result`` decodes them, and save ``result`` for the next notebook to ``load``."""
    rungs = [before, result] if before is not None else [result]
    print(table(rungs))
    plots.plot_loss_curves({r.name: r.histories for r in rungs}, f"{notebook}.png", title, metric, floor)
    seed = result.summary["seeds"][0]
    print(f"\n{result.name}, seed {seed}:\n" + evaluate.sample_table(result.seed_params(0), rung(result.name)[0]))
    save(result, test_size)


def what_changed(before: Result, after: Result) -> str:
    """One line per reported number: its mean over seeds before and after the change (for losses, how many
    times lower or higher), and whether the seeds' ranges of exact accuracy overlap."""
    old, new = before.summary, after.summary
    lines = [f"{before.name} -> {after.name} (means over {len(old['seeds'])} and {len(new['seeds'])} seeds)"]
    old_loss, new_loss = rung(before.name)[1].loss, rung(after.name)[1].loss
    for key, label in (("train_loss", "train loss"), ("test_loss", "test loss"),
                       ("test_answer_loss", "answer-token test loss")):
        ratio = old["mean"][key] / new["mean"][key]
        change = f"{ratio:.2f}x lower" if ratio >= 1 else f"{1 / ratio:.2f}x higher"
        if key != "test_answer_loss" and old_loss != new_loss:
            change = f"{old_loss} vs {new_loss} loss: not comparable"
        lines.append(f"  {label:<24} {old['mean'][key]:.4g} -> {new['mean'][key]:.4g}  ({change})")
    lines.append(f"  {'exact accuracy':<24} {100 * old['mean']['test_accuracy']:.2f}% -> "
                 f"{100 * new['mean']['test_accuracy']:.2f}%")
    lines.append(f"  {'wrong answers per seed':<24} {' / '.join(map(str, wrong_answers(old)))} -> "
                 f"{' / '.join(map(str, wrong_answers(new)))}")
    if new["min"]["test_accuracy"] > old["max"]["test_accuracy"]:
        verdict = "every seed after the change beats every seed before it"
    elif new["max"]["test_accuracy"] < old["min"]["test_accuracy"]:
        verdict = "every seed after the change is worse than every seed before it"
    else:
        verdict = "the seeds' ranges overlap: no clear difference in exact accuracy"
    lines.append(f"  {'':<24} {verdict}")
    lines.append(f"  {'parameters':<24} {old['params']:,} -> {new['params']:,}")
    lines.append(f"  {'wall time, all seeds':<24} {old['seconds']:.0f} s -> {new['seconds']:.0f} s")
    return "\n".join(lines)
