"""Figures of a class-incremental SRC run, drawn from its saved ``result.json``.

The figures of Tadros et al., Nat. Commun. 13:7742 (2022) for the protocol of
:mod:`scenarios.experiments.incremental`:

* ``incremental_stages``: accuracy on every task after each training (T) and
  sleep (S) phase (the paper's Fig. 2), one panel per arm with stages;
* ``incremental_correlation``: class-by-class correlation of the
  class-averaged activations of the hidden layers before and after sleep
  (Fig. 4);
* ``incremental_summary``: final accuracy per arm (Table 1) with the
  individual trials;
* ``incremental_icarl``: iCaRL and iCaRL + SRC against the memory size K
  (Table 2), when the run has both;
* ``incremental_sleep_every`` (:func:`plot_sleep_every_dirs`, from several
  runs that differ in ``sleep_every``): final accuracy against how many tasks
  pass between two sleeps.

Every label comes from the saved result (arm labels from its ``table``).
Each ``plot_*`` function draws one panel, takes ``ax=None`` and returns the
axes; :func:`plot` writes the figures of one run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scenarios.figures import style as plotting
from scenarios.runs.stats import mean_sd

__all__ = ["plot", "plot_stages", "plot_class_correlation", "plot_summary", "plot_memory", "plot_sleep_every",
           "plot_sleep_every_dirs", "stage_stats", "staged_keys"]


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


def staged_keys(result: dict) -> list[str]:
    """Runs drawn stage by stage, in table order: all but the parallel arm, iCaRL at its smallest K only."""
    rows = {r["arm"]: r for r in result["table"]}
    keys = [r["arm"] for r in result["table"] if r["arm"] in result["arms"]]
    keys += [k for k in result["arms"] if k not in rows]
    keys = [k for k in keys if rows.get(k, {}).get("method", k) != "parallel"]
    sizes = sorted({r["memory"] for r in rows.values() if r.get("memory") is not None})
    return [k for k in keys if rows.get(k, {}).get("memory") in (None, sizes[0] if sizes else None)]


def plot_memory(result: dict, ax=None):
    """Table 2: final accuracy of iCaRL and iCaRL + SRC against the memory size K (mean ± sd, dots = trials)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax = plotting.new_axes(ax, (3.4, 2.6))
    for i, method in enumerate(("icarl", "icarl_src")):
        rows = sorted((r for r in result["table"] if r.get("method") == method), key=lambda r: r["memory"])
        if not rows:
            continue
        k = np.array([r["memory"] for r in rows], dtype=float)
        m = np.array([r["mean"] for r in rows])
        sd = np.array([r["sd"] if r["sd"] is not None else 0.0 for r in rows])
        label = rows[0]["label"].split(" (K")[0]
        ax.errorbar(k * (1.03 if i else 0.97), 100 * m, yerr=100 * sd, fmt="-o", ms=3, capsize=2, label=label,
                    color=plotting.PALETTE[i])
        for kk, r in zip(k, rows):
            ax.plot(np.full(len(r["values"]), kk * (1.03 if i else 0.97)), 100 * np.asarray(r["values"]), ".",
                    ms=2, color=plotting.PALETTE[i])
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["memory"] for r in result["table"] if r.get("memory")}))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("memory K (exemplars)")
    ax.set_ylabel(f"final {result['sizes']['eval_split']} accuracy (%)")
    ax.legend(frameon=False)
    ax.set_title(f"{result.get('dataset_name', result['dataset'])}, protocol "
                 f"{result['config'].get('protocol', 'code')}, {len(result['seeds'])} trial(s)", loc="left")
    return ax


def plot_sleep_every(results: list[dict], ax=None):
    """Final accuracy of every sleeping run against ``sleep_every`` (mean ± sd over trials, dots = trials).

    The arms without sleep (same in every run) are dotted lines at their mean.
    """
    ax = plotting.new_axes(ax, (3.6, 2.6))
    results = sorted(results, key=lambda r: r["config"].get("sleep_every", 1))
    every = [r["config"].get("sleep_every", 1) for r in results]
    keys = [row["arm"] for row in results[0]["table"]]
    color = 0
    for key in keys:
        rows = [next((row for row in r["table"] if row["arm"] == key), None) for r in results]
        if any(row is None for row in rows):
            continue
        sleeping = "S" in "".join(results[0]["stage_labels"].get(key, []))
        c = plotting.PALETTE[color % len(plotting.PALETTE)]
        color += 1
        if sleeping:
            m = np.array([row["mean"] for row in rows])
            sd = np.array([row["sd"] if row["sd"] is not None else 0.0 for row in rows])
            ax.errorbar(every, 100 * m, yerr=100 * sd, fmt="-o", ms=3, capsize=2, color=c, label=rows[0]["label"])
            for e, row in zip(every, rows):
                ax.plot(np.full(len(row["values"]), e), 100 * np.asarray(row["values"]), ".", ms=2, color=c)
        else:
            ax.axhline(100 * np.mean([row["mean"] for row in rows]), color=c, lw=0.8, ls=":", label=rows[0]["label"])
    n_tasks = len(results[0]["tasks"])
    ax.set_xticks(every)
    ax.set_xlabel(f"sleep after every n tasks (and after task {n_tasks})")
    ax.set_ylabel(f"final {results[0]['sizes']['eval_split']} accuracy (%)")
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(f"{results[0].get('dataset_name', results[0]['dataset'])}, protocol "
                 f"{results[0]['config'].get('protocol', 'code')}", loc="left")
    return ax


def plot_sleep_every_dirs(result_dirs, out_dir, name: str = "incremental_sleep_every") -> list[Path]:
    """:func:`plot_sleep_every` of the saved runs in ``result_dirs``; writes ``name`` (PNG + PDF) to ``out_dir``."""
    import matplotlib.pyplot as plt

    from scenarios.runs.results import load_result

    results = [load_result(d) for d in result_dirs]
    with plotting.style():
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        plot_sleep_every(results, ax=ax)
        fig.tight_layout()
        return plotting.save_figure(fig, Path(out_dir) / name)


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
    ax.set_xticklabels([r["label"].replace(" + ", "\n+ ").replace(" training", "").replace(" (K = ", "\nK=")
                        .rstrip(")") for r in rows], fontsize=6 if len(rows) > 6 else None)
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
    staged = staged_keys(result)
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

        fig, ax = plt.subplots(figsize=(max(4.6, 0.55 * len(result["table"])), 2.8))
        plot_summary(result, ax=ax)
        fig.tight_layout()
        written += plotting.save_figure(fig, out_dir / f"{prefix}summary")

        methods = {r.get("method") for r in result["table"]}
        if {"icarl", "icarl_src"} <= methods:
            fig, ax = plt.subplots(figsize=(3.6, 2.8))
            plot_memory(result, ax=ax)
            fig.tight_layout()
            written += plotting.save_figure(fig, out_dir / f"{prefix}icarl")
    return written
