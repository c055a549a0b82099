"""Figures of a long-horizon study (``sleep-snn horizon``), from its saved files only.

``summary.json`` gives the accuracy of every probe block against the training
images seen (mean ± sd over seeds, one line per sleep condition); the runs'
``arrays.npz`` give the total weight per pathway against images seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scenarios.figures.ei import PATHWAY_LABELS
from scenarios.figures.style import PALETTE, new_axes, save_figure, style

__all__ = ["plot_accuracy_vs_images", "plot_weights_vs_images", "plot"]


def plot_accuracy_vs_images(summary: dict, ax=None):
    """Probe accuracy (%) against training images seen, one line per condition (mean ± sd)."""
    ax = new_axes(ax, (4.6, 3.0))
    for k, (c, cur) in enumerate(summary["curves"].items()):
        x = np.asarray(cur["images_seen"])
        m = 100 * np.asarray(cur["accuracy_mean"])
        s = 100 * np.nan_to_num(np.asarray(cur["accuracy_sd"], dtype=float))
        color = PALETTE[k % len(PALETTE)]
        ax.plot(x, m, marker="o", ms=3, color=color,
                label=f"{c} (sleep {100 * cur['training_ratio']:.1f} %)")
        ax.fill_between(x, m - s, m + s, color=color, alpha=0.2, lw=0)
    ax.set_xlabel("training images seen")
    ax.set_ylabel("probe test accuracy (%)")
    ax.legend(fontsize=7)
    return ax


def plot_weights_vs_images(runs: dict, ax=None):
    """Total weight per pathway (relative to the start) against images seen, one panel per pathway.

    Parameters
    ----------
    runs : dict
        condition -> list of ``arrays.npz`` contents (one per seed).
    ax : sequence of 3 axes, optional
    """
    import matplotlib.pyplot as plt

    pathways = ("inp_exc", "exc_exc", "inh_exc")
    if ax is None:
        _, axes = plt.subplots(1, 3, figsize=(10.5, 2.8))
    else:
        axes = ax
    for k, (c, arrs) in enumerate(runs.items()):
        color = PALETTE[k % len(PALETTE)]
        for a, p in zip(axes, pathways):
            for j, arr in enumerate(arrs):
                W = np.asarray(arr[f"W_{p}"])
                if len(W) == 0 or W[0] == 0:
                    continue
                a.plot(arr["weights_seen"], W / W[0], color=color, lw=0.8, alpha=0.8,
                       label=c if j == 0 else None)
    for a, p in zip(axes, pathways):
        a.set_title(PATHWAY_LABELS[p])
        a.set_xlabel("training images seen")
    axes[0].set_ylabel("total weight / start")
    axes[0].legend(fontsize=7)
    return axes


def plot(result_dir, out_dir=None) -> list[Path]:
    """All figures of a long-horizon directory (``summary.json``, ``runs/*/``)."""
    from scenarios.runs.results import load_arrays

    directory = Path(result_dir)
    out_dir = Path(out_dir) if out_dir else directory
    summary = json.loads((directory / "summary.json").read_text())
    runs: dict = {}
    for res in sorted((directory / "runs").glob("*/result.json")):
        meta = json.loads(res.read_text())
        runs.setdefault(meta["point"]["condition"], []).append(load_arrays(res.parent))
    written = []
    with style():
        ax = plot_accuracy_vs_images(summary)
        ax.set_title("accuracy along training")
        written += save_figure(ax.figure, out_dir / "accuracy_vs_images_seen")
        axes = plot_weights_vs_images(runs)
        written += save_figure(axes[0].figure, out_dir / "total_weight_vs_images_seen")
    return written
