"""The figures the notebooks save: matplotlib, one PNG per figure with a stable name."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from . import runtime


def save(fig, name: str):
    """Save ``fig`` as ``figures/<name>`` (a temporary folder in quick mode) and return the path."""
    path = runtime.figure_path(name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_loss_curves(histories: dict, name: str, title: str, metric: str = "loss", floor: float | None = None):
    """Train (dashed) and test (solid) loss per epoch for each labelled run, on one log-scale plot.

    histories: ``{label: History}``. metric ``"loss"`` plots each run's own loss kind;
    ``"answer"`` plots the test loss on answer tokens only, which compares runs with different losses.
    ``floor``: the lowest loss any model can reach on this data, drawn as a dotted line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for (label, history), color in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        if metric == "answer":
            ax.plot(history.epoch, history.test_answer_loss, color=color, label=f"{label}: test, answer tokens")
        else:
            ax.plot(history.epoch, history.train_loss, "--", color=color, label=f"{label}: train")
            ax.plot(history.epoch, history.test_loss, color=color, label=f"{label}: test")
    if floor is not None:
        ax.axhline(floor, color="black", linestyle=":", label=f"floor: {floor:.4f}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats, log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    path = save(fig, name)
    plt.show()
    return path


def plot_accuracy_curves(histories: dict, name: str, title: str, x: str = "epoch", test_size: int | None = None):
    """Exact-answer test accuracy per epoch (``x="epoch"``) or against wall seconds (``x="seconds"``), and
    beside it the share of wrong answers on a log scale, which shows the last few percent that a linear
    accuracy axis flattens. A run with no wrong answer is drawn at half of one problem (``test_size``
    rows; 0.01% if not given), below the dotted "one wrong" line."""
    fig, (ax, ax_wrong) = plt.subplots(1, 2, figsize=(12, 4))
    floor = 50.0 / test_size if test_size else 0.01
    for label, history in histories.items():
        accuracy = 100 * np.asarray(history.test_accuracy)
        line, = ax.plot(getattr(history, x), accuracy, marker=".", label=label)
        ax_wrong.semilogy(getattr(history, x), np.maximum(100 - accuracy, floor), marker=".", color=line.get_color())
    if test_size:
        ax_wrong.axhline(100.0 / test_size, color="grey", linestyle=":", label="one wrong answer")
        ax_wrong.legend(fontsize=8)
    for axis in (ax, ax_wrong):
        axis.set_xlabel("epoch" if x == "epoch" else "wall time (s, compile included)")
        axis.grid(True, alpha=0.3)
    ax.set_ylabel("exact-answer test accuracy (%)")
    ax.set_ylim(0, 101)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax_wrong.set_ylabel("wrong answers (% of the test set, log)")
    ax_wrong.set_title("the last few percent")
    path = save(fig, name)
    plt.show()
    return path
