"""The figures the notebooks save: matplotlib, one PNG per figure with a stable name."""
from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from . import runtime

# Okabe-Ito: a palette that stays distinguishable with the common forms of colour blindness
COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def save(fig, name: str):
    """Save ``fig`` as ``figures/<name>`` (a temporary folder in quick mode) and return the path."""
    path = runtime.figure_path(name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_loss_curves(histories: dict, name: str, title: str, metric: str = "loss", floor: float | None = None):
    """Train (dashed) and test (solid) loss per epoch for each labelled run, on one log-scale plot.

    histories: ``{label: History}``, or ``{label: [History, ...]}`` for a run on several seeds, drawn as
    the mean over seeds with the min-max range shaded. metric ``"loss"`` plots each run's own loss kind;
    ``"answer"`` plots the test loss on answer tokens only, which compares runs with different losses.
    ``floor``: the lowest loss any model can reach on this data, drawn as a dotted line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for (label, runs), color in zip(histories.items(), COLORS):
        runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
        seeds = f" ({len(runs)} seeds)" if len(runs) > 1 else ""
        curves = [("test_answer_loss", "-", "test, answer tokens")] if metric == "answer" else \
                 [("train_loss", "--", "train"), ("test_loss", "-", "test")]
        for field, style, what in curves:
            values = np.array([getattr(history, field) for history in runs])        # (seeds, epochs)
            epochs = runs[0].epoch
            ax.plot(epochs, values.mean(axis=0), style, color=color, label=f"{label}: {what}{seeds}")
            if len(runs) > 1:
                ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)
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


def plot_accuracy_curves(histories: dict, name: str, title: str, x: str = "epoch", test_size: int | None = None,
                         ylim: tuple = (0, 101)):
    """Exact-answer test accuracy per epoch (``x="epoch"``) or against wall seconds (``x="seconds"``), and
    beside it the share of wrong answers on a log scale, which shows the last few percent that a linear
    accuracy axis flattens. A run with no wrong answer is drawn at half of one problem (``test_size``
    rows; 0.01% if not given), below the dotted "one wrong" line. ``{label: [History, ...]}`` draws one line
    per seed in the label's colour. ``ylim``: the accuracy axis's range (default 0-101%)."""
    fig, (ax, ax_wrong) = plt.subplots(1, 2, figsize=(12, 4))
    floor = 50.0 / test_size if test_size else 0.01
    for (label, runs), color in zip(histories.items(), COLORS):
        runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
        for i, history in enumerate(runs):
            accuracy = 100 * np.asarray(history.test_accuracy)
            seeds = f" ({len(runs)} seeds)" if len(runs) > 1 else ""
            ax.plot(getattr(history, x), accuracy, marker=".", color=color, label=label + seeds if i == 0 else None)
            ax_wrong.semilogy(getattr(history, x), np.maximum(100 - accuracy, floor), marker=".", color=color)
    if test_size:
        ax_wrong.axhline(100.0 / test_size, color="grey", linestyle=":", label="one wrong answer")
        ax_wrong.legend(fontsize=8)
    for axis in (ax, ax_wrong):
        axis.set_xlabel("epoch" if x == "epoch" else "wall time (s, compile included)")
        axis.grid(True, alpha=0.3)
    ax.set_ylabel("exact-answer test accuracy (%)")
    ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax_wrong.set_ylabel("wrong answers (% of the test set, log)")
    ax_wrong.set_title("the last few percent")
    path = save(fig, name)
    plt.show()
    return path
