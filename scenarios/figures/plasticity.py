"""Figures of a plasticity result (``sleep-snn plasticity``), from its ``result.json``.

* ``plasticity_curves``: seed 003's plasticity measure, the accuracy on task
  ``k`` right after learning it, vs ``k`` (:func:`plot_new_task_accuracy`); the
  average accuracy on the tasks seen so far (:func:`plot_average_accuracy`);
  the sharpness on the new task (:func:`plot_sharpness`); all mean ± sd over
  trials;
* ``plasticity_matrices``: the trial-mean accuracy matrix of every arm
  (:func:`plot_matrix`).

The result is written by :mod:`scenarios.experiments.plasticity`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.runs import labels
from scenarios.figures.style import open_for_plot, save_figure, style

__all__ = ["ARM_LABELS", "ARM_STYLES", "plot_new_task_accuracy", "plot_average_accuracy", "plot_sharpness",
           "plot_matrix", "plot"]

#: Legend labels of the arms (the same as the result table's).
ARM_LABELS = labels.PLASTICITY_ARMS
#: Line styles of the arms.
ARM_STYLES = {
    "sgd": {"color": "#000000", "linestyle": "-", "marker": "o"},
    "sam": {"color": "#0072B2", "linestyle": ":", "marker": "^"},
    "gnp": {"color": "#009E73", "linestyle": "-.", "marker": "v"},
    "src": {"color": "#D55E00", "linestyle": "--", "marker": "s"},
}


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _band(ax, arr: np.ndarray, arm: str, label: str, scale: float = 100.0):
    arr = np.asarray(arr, dtype=np.float64) * scale
    x = np.arange(1, arr.shape[1] + 1)
    mean = np.nanmean(arr, axis=0)
    st = ARM_STYLES[arm]
    ax.plot(x, mean, label=label, markersize=3.5, linewidth=1.5, **st)
    if arr.shape[0] > 1:
        sd = np.nanstd(arr, axis=0, ddof=1)
        ax.fill_between(x, mean - sd, mean + sd, color=st["color"], alpha=0.12, linewidth=0)
    _integer_ticks(ax)


def plot_new_task_accuracy(result: dict, ax=None):
    """Seed 003's figure: accuracy on task k right after learning it, vs k (mean ± sd over trials)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for arm in result["arms"]:
        _band(ax, [tr["arms"][arm]["new_task_accuracy"] for tr in result["trials"]], arm, ARM_LABELS[arm])
    ax.set_xlabel("task index")
    ax.set_ylabel("new-task test accuracy (%)")
    ax.grid(alpha=0.3)
    return ax


def plot_average_accuracy(result: dict, ax=None):
    """Average accuracy over the tasks seen so far, after each task (mean ± sd)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for arm in result["arms"]:
        rows = []
        for tr in result["trials"]:
            acc = np.asarray(tr["arms"][arm]["acc_matrix"], dtype=np.float64)
            rows.append([np.nanmean(acc[k, : k + 1]) for k in range(acc.shape[0])])
        _band(ax, rows, arm, ARM_LABELS[arm])
    ax.set_xlabel("after task")
    ax.set_ylabel("avg. accuracy on seen tasks (%)")
    ax.grid(alpha=0.3)
    return ax


def plot_sharpness(result: dict, ax=None, measure: str = "sharpness_seed000"):
    """Sharpness on the new task's training images right after learning it, vs task index."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for arm in result["arms"]:
        if measure not in result["trials"][0]["arms"][arm]:
            continue
        _band(ax, [tr["arms"][arm][measure] for tr in result["trials"]], arm, ARM_LABELS[arm], scale=1.0)
    ax.set_xlabel("task index")
    ax.set_ylabel("S(θ; ε) on new task" if measure == "sharpness_seed000" else "top Hessian eigenvalue")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return ax


def plot_matrix(result: dict, arm: str, ax=None):
    """Trial-mean accuracy matrix ``acc[after task k, on task j]`` of one arm as a heat map."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3))
    acc = np.mean([np.asarray(tr["arms"][arm]["acc_matrix"], dtype=np.float64) for tr in result["trials"]], axis=0)
    im = ax.imshow(100 * acc, vmin=0, vmax=100, cmap="viridis", origin="upper")
    T = acc.shape[0]
    ax.set_xticks(range(T))
    ax.set_xticklabels([str(k + 1) for k in range(T)], fontsize=6)
    ax.set_yticks(range(T))
    ax.set_yticklabels([str(k + 1) for k in range(T)], fontsize=6)
    ax.set_xlabel("test on task")
    ax.set_ylabel("after task")
    ax.set_title(ARM_LABELS[arm], fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy (%)")
    return ax


def plot(result_dir, out_dir=None) -> list[Path]:
    """Read ``result.json``; write ``plasticity_curves`` and ``plasticity_matrices`` (PNG + PDF)."""
    with style():
        return _plot(result_dir, out_dir)


def _plot(result_dir, out_dir=None) -> list[Path]:
    result, out = open_for_plot(result_dir, out_dir)
    import matplotlib.pyplot as plt

    cfg = result["config"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
    plot_new_task_accuracy(result, ax=axes[0])
    plot_average_accuracy(result, ax=axes[1])
    plot_sharpness(result, ax=axes[2])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=8)
    fig.suptitle(f"Plasticity, {cfg['setting']} setting, {cfg['dataset']} ({cfg['tasks']} tasks, "
                 f"mean ± sd over {len(result['trials'])} trials)", fontsize=9)
    paths = save_figure(fig, out / "plasticity_curves")
    arms = result["arms"]
    fig, axes = plt.subplots(1, len(arms), figsize=(3.6 * len(arms), 3.2), squeeze=False, constrained_layout=True)
    for i, arm in enumerate(arms):
        plot_matrix(result, arm, ax=axes[0, i])
    paths += save_figure(fig, out / "plasticity_matrices")
    return paths
