"""Figures of a class-incremental STDP study (``sleep-snn stdp-incremental``), from ``summary.json`` only.

One stage x task accuracy matrix per sleep condition (mean over seeds), and the
feature drift: the accuracy on task 1 of a read-out fitted right after task 1,
after each later task.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scenarios.figures.style import PALETTE, heatmap, new_axes, save_figure, style

__all__ = ["plot_matrices", "plot_drift", "plot"]


def plot_matrices(summary: dict, axes=None):
    """Accuracy matrices (stage rows, task columns), one panel per condition."""
    import matplotlib.pyplot as plt

    conds = list(summary["conditions"])
    if axes is None:
        _, axes = plt.subplots(1, len(conds), figsize=(3.0 * len(conds), 2.8))
    axes = np.atleast_1d(axes)
    for a, c in zip(axes, conds):
        d = summary["conditions"][c]
        f = d["forgetting"][0]
        heatmap(100 * np.asarray(d["acc_mean"], dtype=float), ax=a, vmin=0, vmax=100, cmap="viridis",
                colorbar=a is axes[-1], annotate=True, fmt="{:.0f}",
                title=f"{c}: forgetting {100 * f:.1f} pts")
        n = len(d["acc_mean"])
        a.set_xticks(range(n))
        a.set_xticklabels([f"T{t + 1}" for t in range(n)])
        a.set_yticks(range(n))
        a.set_yticklabels([f"after T{s + 1}" for s in range(n)])
    return axes


def plot_drift(summary: dict, ax=None):
    """Task-1 accuracy of the read-out fitted after task 1, against the tasks learned since."""
    ax = new_axes(ax, (3.6, 2.8))
    for k, (c, d) in enumerate(summary["conditions"].items()):
        m = 100 * np.asarray(d["drift_mean"], dtype=float)
        s = 100 * np.nan_to_num(np.asarray(d["drift_sd"], dtype=float))
        x = np.arange(1, len(m) + 1)
        ax.errorbar(x, m, yerr=s, marker="o", capsize=2, color=PALETTE[k % len(PALETTE)], label=c)
    ax.set_xlabel("tasks learned")
    ax.set_ylabel("task-1 accuracy, read-out from after task 1 (%)")
    ax.legend(fontsize=7)
    return ax


def plot(result_dir, out_dir=None) -> list[Path]:
    directory = Path(result_dir)
    out_dir = Path(out_dir) if out_dir else directory
    summary = json.loads((directory / "summary.json").read_text())
    written = []
    with style():
        axes = plot_matrices(summary)
        written += save_figure(axes[0].figure, out_dir / "stage_task_accuracy")
        ax = plot_drift(summary)
        ax.set_title("feature drift")
        written += save_figure(ax.figure, out_dir / "feature_drift")
    return written
