"""Figures of a class-incremental SRC run, drawn from its saved ``result.json``.

The figures of Tadros et al., Nat. Commun. 13:7742 (2022) for the protocol of
:mod:`scenarios.experiments.incremental`:

* ``incremental_stages``: accuracy on every task after each training (T) and
  sleep (S) phase (the paper's Fig. 2), one panel per arm with stages;
* ``incremental_correlation``: class-by-class correlation of the
  class-averaged activations of the hidden layers before and after sleep
  (Fig. 4);
* ``incremental_summary``: final accuracy per arm (Table 1) with the
  individual trials.

Every label comes from the saved result (arm labels from its ``table``).
Each ``plot_*`` function draws one panel, takes ``ax=None`` and returns the
axes; :func:`plot` writes the three figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scenarios.figures import style as plotting
from scenarios.runs.stats import mean_sd

__all__ = ["plot", "plot_stages", "plot_class_correlation", "plot_summary", "stage_stats"]


def _arm_label(result: dict, arm: str) -> str:
    return next((r["label"] for r in result["table"] if r["arm"] == arm), arm)


def _task_labels(result: dict) -> list[str]:
    return [f"Task {t + 1} ({','.join(map(str, c))})" for t, c in enumerate(result["tasks"])]


def stage_stats(result: dict, arm: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd over trials of the accuracy matrix ``acc[stage, task]`` of ``arm``.

    The sd is NaN everywhere with a single trial.
    """
    return mean_sd([t["arms"][arm]["acc"] for t in result["trials"]], axis=0)


def plot_stages(result: dict, arm: str, ax=None, legend: bool = False):
    """Accuracy on every task after each stage of ``arm`` (Fig. 2): bars = mean, error bars = sd.

    With a parallel arm in the result, its mean final accuracy is a dotted line.
    """
    ax = plotting.new_axes(ax, (7.0, 2.5))
    mu, sd = stage_stats(result, arm)
    plotting.grouped_bars(mu, sd, result["stage_labels"][arm], _task_labels(result), ax=ax,
                          ylabel="accuracy", ylim=(0, 1.02), legend=legend)
    title = _arm_label(result, arm)
    if "parallel" in result["arms"]:
        par = np.mean([t["arms"]["parallel"]["overall"][-1] for t in result["trials"]])
        ax.axhline(par, color="0.5", lw=0.8, ls=":")
        title += f"  (dotted: parallel {100 * par:.1f}%)"
    ax.set_title(title, loc="left")
    return ax


def plot_class_correlation(result: dict, stage: str, layer: str, n_classes: int | None = None, ax=None,
                           colorbar: bool = True, trial: int = 0):
    """Correlation between the class-averaged activations of ``layer`` after ``stage`` (Fig. 4).

    Parameters
    ----------
    result : dict
        A saved result whose SRC arm recorded correlations.
    stage : str
        Stage label of the SRC arm, e.g. ``"T2"`` or ``"S2"``.
    layer : str
        ``"layer1"``, ``"layer2"``, ...
    n_classes : int, optional
        Show the first ``n_classes`` classes only (default: all).
    ax : matplotlib axes, optional
    colorbar : bool
    trial : int
        Trial index (default the first).
    """
    ax = plotting.new_axes(ax, (2.8, 2.6))
    src = result["trials"][trial]["arms"]["src"]
    info = src["correlations"][src["stages"].index(stage)][layer]
    all_classes = [str(c) for g in result["tasks"] for c in g]
    n = len(all_classes) if n_classes is None else n_classes
    c = np.array(info["class_corr"], dtype=float)[:n, :n]
    plotting.heatmap(c, ax=ax, labels=all_classes[:n],
                     title=f"{layer}, after {stage}\nwithin {info['within']:.2f}, "
                           f"between {info['between']:.2f}",
                     colorbar=colorbar)
    return ax


def plot_summary(result: dict, ax=None):
    """Final accuracy per arm (Table 1): bars = mean over trials, error bars = sd, dots = trials."""
    ax = plotting.new_axes(ax, (4.6, 2.8))
    rows = result["table"]
    x = np.arange(len(rows))
    means = [r["mean"] for r in rows]
    sds = [r["sd"] if r["sd"] is not None else 0.0 for r in rows]
    ax.bar(x, means, 0.6, yerr=sds, color=[plotting.PALETTE[i % len(plotting.PALETTE)] for i in x])
    for i, r in enumerate(rows):
        ax.plot(np.full(len(r["values"]), i), r["values"], "k.", ms=3)
        ax.text(i, r["mean"] + 0.03, f"{100 * r['mean']:.1f}", ha="center", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([r["label"].replace(" + ", "\n+ ").replace(" training", "") for r in rows])
    ax.set_ylabel(f"final {result['sizes']['eval_split']} accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{result.get('dataset_name', result['dataset'])}, {len(result['seeds'])} trial(s)",
                 loc="left")
    return ax


def plot(result_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
         prefix: str = "incremental_") -> list[Path]:
    """Draw the figures of a saved run (reads ``result_dir/result.json``).

    Figures (PNG + PDF, names prefixed with ``prefix``):

    * ``stages``: accuracy on every task after each stage (paper Fig. 2), one
      panel per arm with stages (sequential, SRC, rehearsal, rehearsal + SRC);
      bars = mean over trials, error bars = sd;
    * ``correlation``: class-by-class correlation of the class-averaged
      activations of hidden layers 1 and 2, before and after the last sleep
      and after task 2 / sleep 2 (paper Fig. 4), first trial;
    * ``summary``: final accuracy per arm (Table 1) with the individual trials.

    Parameters
    ----------
    result_dir : path-like
    out_dir : path-like, optional
        Where to write (default ``result_dir``).
    prefix : str

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    import matplotlib.pyplot as plt

    result, out_dir = plotting.open_for_plot(result_dir, out_dir)
    written: list[Path] = []
    tasks = result["tasks"]
    staged = [a for a in result["arms"] if a != "parallel"]
    with plotting.style():
        if staged:
            fig, axes = plt.subplots(len(staged), 1, figsize=(7.0, 2.1 * len(staged) + 0.4), squeeze=False)
            for ax, arm in zip(axes[:, 0], staged):
                plot_stages(result, arm, ax=ax)
            handles, labels = axes[0, 0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
            fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
            written += plotting.save_figure(fig, out_dir / f"{prefix}stages")

        first = result["trials"][0]["arms"].get("src", {})
        corr = first.get("correlations")
        if corr:
            n_all = sum(len(g) for g in tasks)
            pairs = []
            n = len(tasks)
            if n >= 2:
                pairs.append(("T2", "S2", 4))
            pairs.append((f"T{n}", f"S{n}", n_all))
            layers = sorted(corr[0].keys())
            fig, axes = plt.subplots(len(pairs) * len(layers), 2,
                                     figsize=(5.6, 2.6 * len(pairs) * len(layers)), squeeze=False)
            row = 0
            for before, after, n_cls in pairs:
                for layer in layers:
                    for col, st in enumerate((before, after)):
                        plot_class_correlation(result, st, layer, n_cls, ax=axes[row, col], colorbar=col == 1)
                    row += 1
            fig.tight_layout()
            written += plotting.save_figure(fig, out_dir / f"{prefix}correlation")

        fig, ax = plt.subplots(figsize=(4.6, 2.8))
        plot_summary(result, ax=ax)
        fig.tight_layout()
        written += plotting.save_figure(fig, out_dir / f"{prefix}summary")
    return written
