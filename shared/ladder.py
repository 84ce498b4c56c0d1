"""The ablation ladder of notebooks 02-06: each rung changes exactly one thing in the rung before.

All rungs share the data split, the seed, the batch size, the schedule (linear warmup then cosine
decay) and the budget in epochs, so a difference between two rungs is the one change's doing.
"""
from __future__ import annotations

import dataclasses

from . import evaluate, plots, results, runtime, train
from .model import ModelConfig
from .train import TrainConfig

EPOCHS = 30
BASE_TRAIN = TrainConfig(optimizer="sgd", learning_rate=0.3, schedule="cosine", warmup_steps=100,
                         grad_clip=1.0, batch_size=32, epochs=EPOCHS, loss="per_token", seed=0)
BASE_MODEL = ModelConfig()  # the blog's: d_model 64, 4 layers, 8 heads of 8, d_ff 256, no positions

# rung name -> (what changes, model config, train config)
RUNGS: dict[str, tuple[str, ModelConfig, TrainConfig]] = {}


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


def run(name: str, train_split, test_split, epochs: int | None = None, stop_at_accuracy=None):
    """Train rung ``name`` on the given splits (with a tqdm bar); return ``(params, history, summary)``,
    ``summary`` being ``evaluate.run_summary`` of the run."""
    model_config, train_config = rung(name, epochs)
    params, history = train.train(model_config, train_config, train_split, test_split,
                                  stop_at_accuracy=stop_at_accuracy)
    return params, history, evaluate.run_summary(params, model_config, history, runtime.hardware_line())


def run_all(names, train_split, test_split, epochs: int | None = None) -> dict:
    """``run`` each rung in ``names`` on the same splits: ``{name: (params, history, summary)}``."""
    return {name: run(name, train_split, test_split, epochs) for name in names}


def report(runs: dict, notebook: str, title: str, metric: str = "loss", floor: float | None = None) -> dict:
    """Print the summary table, plot the loss curves to ``figures/<notebook>.png`` (with the data's loss
    ``floor`` as a dotted line, if given), print the decoded blog problems for each run and save the
    summaries to ``figures/<notebook>_results.json``."""
    summaries = {name: summary for name, (_, _, summary) in runs.items()}
    print(evaluate.summary_table(summaries))
    plots.plot_loss_curves({name: history for name, (_, history, _) in runs.items()}, f"{notebook}.png", title, metric,
                          floor)
    for name, (params, _, _) in runs.items():
        print(f"\n{name}:\n" + evaluate.sample_table(params, rung(name)[0]))
    results.save(f"{notebook}_results", summaries)
    return summaries


def what_changed(summaries: dict, before: str, after: str) -> str:
    """One line per reported number: its value before and after the change, and the ratio of losses."""
    old, new = summaries[before], summaries[after]
    lines = [f"{before} -> {after}"]
    for key, label in (("train_loss", "train loss"), ("test_loss", "test loss"),
                       ("test_answer_loss", "answer-token test loss")):
        lines.append(f"  {label:<24} {old[key]:.4g} -> {new[key]:.4g}  ({old[key] / new[key]:.2f}x lower)")
    lines.append(f"  {'exact accuracy':<24} {100 * old['test_accuracy']:.2f}% -> {100 * new['test_accuracy']:.2f}%")
    lines.append(f"  {'parameters':<24} {old['params']:,} -> {new['params']:,}")
    lines.append(f"  {'wall time':<24} {old['seconds']:.0f} s -> {new['seconds']:.0f} s")
    return "\n".join(lines)
