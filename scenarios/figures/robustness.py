"""Figures of a robustness result (``sleep-snn robustness``), from its ``result.json``.

* ``figure1_curves``: seed 000's Figure 1, accuracy and sharpness vs
  distortion level per distortion type (baseline solid, SRC dashed, SAM
  dotted, GNP dash-dot; mean over trials with ±1 sd bands), :func:`plot_curves`;
* ``figure2_averages``: seed 000's Figure 2, averages over all distortion
  levels, bars with ±1 sd over trials, :func:`plot_averages`;
* ``comparison``: several results side by side (e.g. the MLP and the CNN),
  SRC − baseline accuracy and baseline / SRC sharpness per network, next to
  seed 000's +10 points and ÷3, :func:`plot_comparison`.

The result is written by :mod:`scenarios.experiments.robustness`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from scenarios.runs import labels
from scenarios.runs.stats import mean_sd
from scenarios.figures.style import open_for_plot, save_figure, style

__all__ = ["MODEL_LABELS", "MODEL_STYLES", "MEASURE_LABELS", "plot_curves", "plot_averages", "plot",
           "plot_comparison"]

#: Legend labels of the models (the same as the result table's).
MODEL_LABELS = labels.ROBUSTNESS_MODELS
#: Line styles of seed 000's Figure 1 (baseline solid, SRC dashed) plus SAM and GNP.
MODEL_STYLES = {
    "baseline": {"color": "#000000", "linestyle": "-", "marker": "o"},
    "src": {"color": "#D55E00", "linestyle": "--", "marker": "s"},
    "sam": {"color": "#0072B2", "linestyle": ":", "marker": "^"},
    "gnp": {"color": "#009E73", "linestyle": "-.", "marker": "v"},
}
#: Axis labels of the measures (the same as the result table's).
MEASURE_LABELS = labels.ROBUSTNESS_MEASURES


def _curve(result: dict, model: str, kind: str, measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels (0 = clean first), mean and sd over trials of a measure."""
    levels = [0.0] + list(result["distortions"][kind])
    per_trial = []
    for t in result["trials"]:
        ev = t["eval"][model]
        if measure not in ev["clean"]:
            return np.array(levels), np.full(len(levels), np.nan), np.full(len(levels), np.nan)
        per_trial.append([ev["clean"][measure]] + list(ev[kind][measure]))
    a = np.asarray(per_trial, dtype=np.float64)
    if measure == "accuracy":
        a = 100 * a
    mean, sd = mean_sd(a, axis=0)
    return np.asarray(levels), mean, np.nan_to_num(sd)  # no error bar with one trial


def plot_curves(result: dict, kind: str, measure: str = "accuracy", ax=None, models: Sequence[str] | None = None,
                legend: bool = True):
    """Seed 000 Figure 1 panel: a measure vs distortion level (level 0 = clean), mean ± sd band."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    for m in models or result["models"]:
        x, mean, sd = _curve(result, m, kind, measure)
        st = MODEL_STYLES[m]
        ax.plot(x, mean, label=MODEL_LABELS[m], markersize=3.5, linewidth=1.5, **st)
        if len(result["trials"]) > 1:
            ax.fill_between(x, mean - sd, mean + sd, color=st["color"], alpha=0.12, linewidth=0)
    ax.set_xlabel(f"{kind} level (0 = clean)")
    ax.set_ylabel(MEASURE_LABELS[measure])
    if legend:
        ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return ax


def plot_averages(result: dict, measure: str = "accuracy", ax=None, by_kind: bool = True):
    """Seed 000 Figure 2 panel: bars of a measure averaged over all levels, ±1 sd over trials.

    With ``by_kind`` one group of bars per distortion type plus an "all" group.
    """
    import matplotlib.pyplot as plt

    summ = result.get("summary")
    if summ is None:
        raise ValueError("the result has no 'summary' (results written by sleep-snn robustness always have one)")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    groups = (list(result["distortions"]) if by_kind else []) + ["all"]
    models = result["models"]
    width = 0.8 / len(models)
    scale = 100.0 if measure == "accuracy" else 1.0
    for j, m in enumerate(models):
        means, sds = [], []
        for g in groups:
            st = summ["all_levels"][m][measure] if g == "all" else summ["per_kind"][g][m][measure]
            means.append(np.nan if st["mean"] is None else st["mean"] * scale)
            sds.append(0.0 if st["sd"] is None else st["sd"] * scale)
        x = np.arange(len(groups)) + (j - (len(models) - 1) / 2) * width
        st = MODEL_STYLES[m]
        ax.bar(x, means, width, yerr=sds, capsize=2, label=MODEL_LABELS[m], color=st["color"],
               alpha=0.85 if m != "baseline" else 0.6, edgecolor="black", linewidth=0.5,
               hatch="//" if m == "src" else None)
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(MEASURE_LABELS[measure] + " (avg. over levels)")
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot(result_dir, out_dir=None) -> list[Path]:
    """Read ``result.json`` and write ``figure1_curves`` and ``figure2_averages`` (PNG + PDF)."""
    with style():
        return _plot(result_dir, out_dir)


def _plot(result_dir, out_dir=None) -> list[Path]:
    result, out = open_for_plot(result_dir, out_dir)
    import matplotlib.pyplot as plt

    measures = [q for q in ("accuracy", "sharpness_seed000", "sharpness_sam", "hessian_top")
                if q in result["trials"][0]["eval"]["baseline"]["clean"]]
    kinds = list(result["distortions"])
    paths: list[Path] = []
    fig, axes = plt.subplots(len(measures), len(kinds), figsize=(3.6 * len(kinds), 2.8 * len(measures)),
                             squeeze=False, constrained_layout=True)
    for i, q in enumerate(measures):
        for j, k in enumerate(kinds):
            plot_curves(result, k, q, ax=axes[i, j], legend=False)
            if i < len(measures) - 1:
                axes[i, j].set_xlabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=8)
    cfg = result["config"]
    fig.suptitle(f"{result['dataset']['name']}: accuracy and sharpness under distortions "
                 f"(mean ± sd, {len(result['trials'])} trials; ε={cfg['eps']}, ρ={cfg['rho']}, loss {cfg['loss']})",
                 fontsize=9)
    paths += save_figure(fig, out / "figure1_curves")

    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.2), squeeze=False,
                             constrained_layout=True)
    for i, q in enumerate(measures):
        plot_averages(result, q, ax=axes[0, i])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=8)
    fig.suptitle(f"{result['dataset']['name']}: averages over all distortion levels "
                 f"(bars: mean, error bars: sd over {len(result['trials'])} trials)", fontsize=9)
    paths += save_figure(fig, out / "figure2_averages")
    return paths


def plot_comparison(result_dirs: Sequence, labels_: Sequence[str] | None = None, out_dir=None) -> list[Path]:
    """SRC against the baseline in several results, side by side, next to seed 000's figures.

    Left: accuracy averaged over all distortion levels, baseline and SRC, per
    result (bars: mean, error bars: sd over trials). Middle: the paired
    difference SRC − baseline (points), with seed 000's +10 points dashed.
    Right: baseline / SRC of each sharpness measure, with seed 000's ÷3 dashed
    (log scale). Writes ``comparison.{png,pdf}`` into ``out_dir`` (default:
    the first result's directory).
    """
    from scenarios.runs.results import load_result

    results = [load_result(d) for d in result_dirs]
    if labels_ is None:
        labels_ = [f"{r['config'].get('model', 'mlp').upper()}\n{r['trials'][0]['src']['preset']}\n({r['config']['loss']})"
                   if r["trials"][0].get("src") else r["config"].get("model", "mlp").upper() for r in results]
    out = Path(out_dir if out_dir is not None else Path(result_dirs[0]))
    out.mkdir(parents=True, exist_ok=True)
    with style():
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), constrained_layout=True)
        x = np.arange(len(results))
        for j, m in enumerate(("baseline", "src")):
            means = [100 * r["summary"]["all_levels"][m]["accuracy"]["mean"] for r in results]
            sds = [100 * (r["summary"]["all_levels"][m]["accuracy"]["sd"] or 0.0) for r in results]
            st = MODEL_STYLES[m]
            axes[0].bar(x + (j - 0.5) * 0.38, means, 0.38, yerr=sds, capsize=2, color=st["color"],
                        alpha=0.6 if m == "baseline" else 0.85, edgecolor="black", linewidth=0.5,
                        hatch="//" if m == "src" else None, label=MODEL_LABELS[m])
        axes[0].set_xticks(x)
        axes[0].set_xticklabels(labels_)
        axes[0].set_ylabel("accuracy (%), avg. over levels")
        axes[0].legend(fontsize=7, frameon=False)
        for i, r in enumerate(results):
            d = r["summary"]["src_vs_baseline"]["accuracy"]["difference"]
            per = [100 * v for v in d["per_trial"] if v is not None]
            axes[1].plot([i] * len(per), per, "o", color="#D55E00", alpha=0.5, markersize=4)
            axes[1].errorbar([i], [100 * d["mean"]], yerr=[100 * (d["sd"] or 0.0)], fmt="s", color="black",
                             capsize=3)
        axes[1].axhline(10, color="grey", linestyle="--", linewidth=1, label="seed 000: +10")
        axes[1].axhline(0, color="black", linewidth=0.6)
        axes[1].set_xticks(x)
        axes[1].set_xticklabels(labels_)
        axes[1].set_ylabel("SRC − baseline accuracy (points)")
        axes[1].legend(fontsize=7, frameon=False)
        measures = [q for q in ("sharpness_seed000", "sharpness_sam", "hessian_top")
                    if all(q in r["summary"]["src_vs_baseline"] for r in results)]
        width = 0.8 / max(1, len(measures))
        for k, q in enumerate(measures):
            vals = [r["summary"]["src_vs_baseline"][q]["ratio"] for r in results]
            axes[2].bar(x + (k - (len(measures) - 1) / 2) * width, [v["mean"] for v in vals], width,
                        yerr=[v["sd"] or 0.0 for v in vals], capsize=2, label=MEASURE_LABELS[q],
                        color=("#666666", "#0072B2", "#009E73")[k], edgecolor="black", linewidth=0.5)
        axes[2].axhline(3, color="grey", linestyle="--", linewidth=1, label="seed 000: ÷3")
        axes[2].axhline(1, color="black", linewidth=0.6)
        axes[2].set_yscale("log")
        axes[2].set_xticks(x)
        axes[2].set_xticklabels(labels_)
        axes[2].set_ylabel("baseline / SRC sharpness")
        axes[2].legend(fontsize=7, frameon=False)
        fig.suptitle(f"SRC vs baseline under distortions ({results[0]['dataset']['name']}; mean ± sd over trials)",
                     fontsize=9)
        return save_figure(fig, out / "comparison")
