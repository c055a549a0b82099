"""Figures of a "Patches" run (Tadros et al. 2022, Fig. 1), drawn from its saved ``result.json``.

* ``patches_accuracy``: accuracy on all four images and on the task-1 images
  against the pixel overlap, after task 1, after task 2 and after sleep
  (Fig. 1B);
* ``patches_weights``: histograms of the weights from task-1-unique,
  task-2-unique and shared pixels onto the task-1 and task-2 output neurons,
  after each stage (Fig. 1D), for one overlap and the first trial.

The pixel categories of Fig. 1D are computed here from the saved images
(:func:`connection_categories`, :func:`weights_by_category`). Each
``plot_*`` function draws one panel, takes ``ax=None`` and returns the axes;
:func:`plot` writes the figures of :mod:`scenarios.experiments.patches`'s
saved result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from scenarios.figures import style as plotting
from scenarios.runs.stats import mean_sd

__all__ = ["CATEGORIES", "CATEGORY_LABELS", "connection_categories", "weights_by_category", "plot",
           "plot_accuracy", "plot_weight_histograms"]

#: Pixel categories of Fig. 1D, in plotting order.
CATEGORIES = ("task1_unique", "task2_unique", "shared", "background")
CATEGORY_LABELS = {"task1_unique": "T1-unique pixels", "task2_unique": "T2-unique pixels",
                   "shared": "shared pixels", "background": "background"}
#: Image indices of task 1 and task 2 (output neuron index = image index).
TASKS = ((0, 1), (2, 3))
#: Legend labels of the stages.
STAGE_LABELS = {"T1": "after T1", "T2": "after T2", "SRC": "after SRC"}


def connection_categories(images: np.ndarray, tasks: Sequence[Sequence[int]] = TASKS) -> dict:
    """Boolean pixel masks of the Fig. 1D categories.

    Parameters
    ----------
    images : array_like, shape (n_images, n_pixels)
        Binary images (> 0 = on).
    tasks : pair of sequences of int
        Image indices of task 1 and task 2.

    Returns
    -------
    dict of str -> numpy.ndarray of bool, shape (n_pixels,)
        ``shared``: on in every image; ``task1_unique``: on in some task-1
        image, not shared, and off in every task-2 image; ``task2_unique``
        likewise; ``background``: off in every image. Pixels on in images of
        both tasks without being shared by all (impossible for the generated
        patches) fall in none of the categories.
    """
    x = np.asarray(images) > 0
    t1 = x[list(tasks[0])].any(axis=0)
    t2 = x[list(tasks[1])].any(axis=0)
    shared = x.all(axis=0)
    return {
        "task1_unique": t1 & ~t2 & ~shared,
        "task2_unique": t2 & ~t1 & ~shared,
        "shared": shared,
        "background": ~x.any(axis=0),
    }


def weights_by_category(weights: np.ndarray, masks: dict, tasks: Sequence[Sequence[int]] = TASKS) -> dict:
    """Split a weight matrix ``(n_out, n_pixels)`` by pixel category and output task.

    Returns
    -------
    dict
        ``{"task1_out": {category: 1-D array}, "task2_out": {...}}``: all
        weights from the pixels of the category onto the output neurons of
        that task (output neuron index = image index).
    """
    w = np.asarray(weights)
    out = {}
    for t, outs in enumerate(tasks):
        out[f"task{t + 1}_out"] = {c: w[np.ix_(list(outs), np.flatnonzero(masks[c]))].ravel()
                                   for c in CATEGORIES}
    return out



def _stages(result: dict) -> list[str]:
    """The recorded stages, in order (``T1``, ``T2``, ``SRC``)."""
    return list(result["runs"][0]["acc"])


def plot_accuracy(result: dict, key: str = "all", ax=None, legend: bool = True):
    """Accuracy against the overlap after every stage: mean over trials, error bars = sd (Fig. 1B).

    Parameters
    ----------
    result : dict
        A saved patches result.
    key : {"all", "task1", "task2"}
        Which images: all four, those of task 1 or of task 2.
    ax : matplotlib axes, optional
    legend : bool
    """
    from matplotlib.ticker import MaxNLocator

    ax = plotting.new_axes(ax, (3.8, 2.9))
    ovs = result["config"]["overlaps"]
    stages = _stages(result)
    mu, sd = [], []
    for s in stages:
        m_s, s_s = [], []
        for ov in ovs:
            m, sd_ov = mean_sd([r["acc"][s][key] for r in result["runs"] if r["overlap"] == ov])
            m_s.append(m)
            s_s.append(0.0 if np.isnan(sd_ov) else sd_ov)  # no error bar with one trial
        mu.append(m_s)
        sd.append(s_s)
    plotting.errorbar_lines(ovs, mu, sd, labels=[STAGE_LABELS.get(s, s) for s in stages], ax=ax,
                            xlabel="overlapping pixels", ylabel="accuracy",
                            linestyles=["--", "--", "-"], ylim=(-0.02, 1.05), legend=legend)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax


def plot_weight_histograms(run: dict, stage: str, task_out: str, ax=None, bins=30, legend: bool = False):
    """Histograms of the weights onto one task's output neurons after ``stage``, by pixel category (Fig. 1D).

    Parameters
    ----------
    run : dict
        One saved run (an entry of the result's ``runs``) with ``weights`` and ``images``.
    stage : str
        ``"T1"``, ``"T2"`` or ``"SRC"``.
    task_out : {"task1_out", "task2_out"}
        Onto the output neurons of task 1 or of task 2.
    ax : matplotlib axes, optional
    bins : int or array_like
    legend : bool

    Background weights are left out.
    """
    ax = plotting.new_axes(ax, (3.2, 2.0))
    masks = connection_categories(np.array(run["images"]))
    cats = weights_by_category(np.array(run["weights"][stage]), masks)
    show = [c for c in CATEGORIES if c != "background"]
    plotting.histograms([cats[task_out][c] for c in show], [CATEGORY_LABELS[c] for c in show],
                        ax=ax, bins=bins,
                        colors=[plotting.PALETTE[2], plotting.PALETTE[1], plotting.PALETTE[3]],
                        legend=legend)
    return ax


def plot(result_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
         prefix: str = "patches_", hist_overlap: int | None = None) -> list[Path]:
    """Figures of a saved run: accuracy vs overlap (Fig. 1B) and weight histograms (Fig. 1D).

    Parameters
    ----------
    result_dir : path-like
        Directory with ``result.json``.
    out_dir : path-like, optional
        Where to write (default ``result_dir``).
    prefix : str
    hist_overlap : int, optional
        Overlap of the weight histograms (default: 14 if it was run, else the
        median overlap), first trial.

    Returns
    -------
    list of pathlib.Path
    """
    import matplotlib.pyplot as plt

    result, out_dir = plotting.open_for_plot(result_dir, out_dir)
    stages = _stages(result)
    written: list[Path] = []
    with plotting.style():
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.9))
        for ax, key, title in ((axes[0], "all", "all four images (Fig. 1B)"),
                               (axes[1], "task1", "task 1 images")):
            plot_accuracy(result, key, ax=ax, legend=ax is axes[0])
            ax.set_title(title, loc="left")
        fig.tight_layout()
        written += plotting.save_figure(fig, out_dir / f"{prefix}accuracy")

        with_w = [r for r in result["runs"] if "weights" in r]
        if with_w:
            have = sorted({r["overlap"] for r in with_w})
            ov = hist_overlap if hist_overlap in have else (14 if 14 in have else have[len(have) // 2])
            r = next(r for r in with_w if r["overlap"] == ov)
            fig, axes = plt.subplots(3, 2, figsize=(6.4, 6.0), sharex=True)
            all_w = np.concatenate([np.ravel(r["weights"][s]) for s in stages])
            edges = np.linspace(all_w.min(), all_w.max(), 31)
            for i, s in enumerate(stages):
                for j, tk in enumerate(("task1_out", "task2_out")):
                    plot_weight_histograms(r, s, tk, ax=axes[i, j], bins=edges, legend=(i == 0 and j == 0))
                    axes[i, j].set_title(f"after {s}: onto task-{j + 1} outputs", loc="left")
                    if i == 2:
                        axes[i, j].set_xlabel("weight")
            fig.suptitle(f"overlap {ov}, seed {r['seed']} ({result['config']['n_on']} on-pixels; "
                         "background weights omitted)", fontsize=8)
            fig.tight_layout()
            written += plotting.save_figure(fig, out_dir / f"{prefix}weights")
    return written
