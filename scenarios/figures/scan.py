"""Figures of a finished scan, from its saved files only.

A scan directory (``summary.json`` of :func:`scenarios.experiments.scan.summarise`
and ``runs/<key>/`` of the E/I runs) gives: accuracy vs sleep ratio with error
bars over seeds (one line per value of the other grid axes, with the raw-pixel
and plasticity-off baselines), the noise x ratio heatmap when ``sigma`` was
scanned, the total weight over time with and without sleep, a raster of wake
and sleep activity, and a 2-D PCA embedding of the excitatory responses to the
test images.

All plot functions take ``ax=None`` and return the axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.figures.ei import plot_raster, plot_total_weight
from scenarios.figures.style import new_axes, save_figure, style

__all__ = ["plot_accuracy_vs_ratio", "plot_noise_ratio_heatmap", "plot_embedding", "plot", "scan_figures"]

#: Columns of a summary row that are no grid axis.
_NOT_AXES = ("arm", "ratio", "accuracy_mean", "accuracy_sd", "n_seeds", "achieved_ratio", "seeds")


def _sleep_rows(summary: dict) -> tuple[list[dict], list[str]]:
    """The summary rows of the sleep arm and the names of the extra grid axes."""
    table = [t for t in summary["table"] if t["arm"] == "sleep"]
    extra = [k for k in (table[0] if table else {}) if k not in _NOT_AXES]
    return table, extra


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def plot_accuracy_vs_ratio(summary: dict, ax=None):
    """Test accuracy (%) vs the *achieved* sleep ratio, mean ± sd over seeds, with the baselines.

    The x-axis is the sleep ratio reached over training (each point at its
    mean over seeds, labelled with the requested ratio), not the requested
    budget. With a protocol scan on a dataset the paper reports, the paper's
    curve is drawn beside (at its nominal ratios).

    Parameters
    ----------
    summary : dict
        Contents of a scan's ``summary.json``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    table, extra = _sleep_rows(summary)
    ax = new_axes(ax, (4.0, 3.0))
    series = {}
    for t in table:
        label = ", ".join(f"{k}={_fmt(t[k])}" for k in extra) or "STDP + sleep"
        series.setdefault(label, []).append(t)
    for label, ts in series.items():
        ts = sorted(ts, key=lambda t: t["ratio"])
        x = [t.get("achieved_ratio", t["ratio"]) for t in ts]
        ax.errorbar(x, [100 * t["accuracy_mean"] for t in ts],
                    yerr=[100 * (t["accuracy_sd"] or 0) for t in ts], marker="o", label=label,
                    capsize=2)
        if len(series) <= 3:
            for xi, t in zip(x, ts):
                ax.annotate(f"{t['ratio']:g}", (xi, 100 * t["accuracy_mean"]), fontsize=6,
                            textcoords="offset points", xytext=(3, 3), color="0.35")
    paper = summary.get("paper")
    if paper:
        r = sorted(float(k) for k in paper)
        ax.plot(r, [paper[str(k)] if str(k) in paper else paper[k] for k in r], "s--", color="0.45",
                ms=4, lw=1, label="paper (nominal ratio)")
    if summary.get("pixel_baseline") is not None:
        ax.axhline(100 * summary["pixel_baseline"], color="0.3", ls="--", lw=1, label="raw pixels")
    frozen = [t for t in summary["table"] if t["arm"] == "frozen"]
    if frozen:
        ax.axhline(100 * frozen[0]["accuracy_mean"], color="0.6", ls=":", lw=1,
                   label="plasticity off")
    ax.set_xlabel("achieved sleep ratio (training; labels: requested)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{summary['config']['dataset']}: accuracy vs sleep ratio")
    ax.legend(fontsize=7)
    return ax


def plot_noise_ratio_heatmap(summary: dict, ax=None):
    """Mean accuracy (%) over sleep noise ``sigma`` (rows) x sleep ratio (columns).

    Parameters
    ----------
    summary : dict
        Contents of a scan's ``summary.json`` with ``sigma`` as a grid axis.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    table, _ = _sleep_rows(summary)
    ratios = sorted({t["ratio"] for t in table})
    sigmas = sorted({t["sigma"] for t in table})
    M = np.full((len(sigmas), len(ratios)), np.nan)
    for t in table:
        M[sigmas.index(t["sigma"]), ratios.index(t["ratio"])] = 100 * t["accuracy_mean"]
    ax = new_axes(ax, (4.0, 3.2))
    im = ax.imshow(M, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    ax.set_yticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
    for (i, j), v in np.ndenumerate(M):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xlabel("sleep ratio")
    ax.set_ylabel("noise sigma (mV)")
    ax.figure.colorbar(im, ax=ax, label="accuracy (%)")
    ax.set_title("noise x sleep ratio")
    return ax


def _test_responses(arrays: dict, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    if "test_rows" in arrays:  # a protocol run records the read-out rows only
        rows = arrays["test_rows"]
        return arrays["counts_exc"][rows].astype(float), arrays["labels"][rows]
    n_train, n_ro = meta["n_train"], meta["n_readout_train"]
    return arrays["counts_exc"][n_train + n_ro:].astype(float), arrays["labels"][n_train + n_ro:]


def plot_embedding(arrays: dict, meta: dict, ax=None):
    """First two principal components of the standardised E spike counts of the test images.

    Parameters
    ----------
    arrays, meta : dict
        ``arrays.npz`` (with ``counts_exc``) and ``result.json`` of one run.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X, y = _test_responses(arrays, meta)
    Z = PCA(n_components=2, random_state=0).fit_transform(StandardScaler().fit_transform(X))
    ax = new_axes(ax, (3.6, 3.2))
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=5, lw=0)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"excitatory responses to test images\n(ratio {meta['sleep_params']['sleep_ratio']}, "
                 f"seed {meta['seed']})")
    ax.figure.colorbar(sc, ax=ax, label="class")
    return ax


def plot(result_dir, out_dir=None) -> list[Path]:
    """All figures of a finished scan directory.

    Parameters
    ----------
    result_dir : path-like
        The scan directory (``summary.json`` and ``runs/``).
    out_dir : path-like, optional
        Where the figures go (default ``result_dir``).

    Returns
    -------
    list of Path
        The files written (PNG and PDF each).
    """
    from scenarios.runs.results import ResultFileError, load_arrays, load_result

    directory = Path(result_dir)
    out_dir = Path(out_dir) if out_dir else directory
    summary = load_result(directory / "summary.json")
    table, extra = _sleep_rows(summary)
    written = []
    with style():
        ax = plot_accuracy_vs_ratio(summary)
        written += save_figure(ax.figure, out_dir / "accuracy_vs_sleep_ratio")

        if "sigma" in extra:
            ax = plot_noise_ratio_heatmap(summary)
            written += save_figure(ax.figure, out_dir / "noise_ratio_heatmap")

        # example runs: total weight with and without sleep, raster, embedding
        runs = sorted((directory / "runs").glob("*/result.json"))
        try:
            metas = {r.parent.name: load_result(r) for r in runs}
        except ResultFileError as exc:
            raise ResultFileError(f"{exc}; run the scan command again, which runs damaged points again "
                                  "(keeping the bad file aside), then make the figures") from None
        seed0 = min((m["point"]["seed"] for m in metas.values()), default=None)
        ex = {}
        for name, m in metas.items():
            p = m["point"]
            if p["seed"] == seed0 and p["arm"] == "sleep" and all(
                    p.get(k) == table[0].get(k) for k in extra):
                ex[p["ratio"]] = name
        if ex:
            import matplotlib.pyplot as plt

            ratios = sorted(ex)
            pick = [ratios[0]] + ([ratios[-1]] if len(ratios) > 1 else [])
            fig, axes = plt.subplots(1, len(pick), figsize=(4.2 * len(pick), 2.8), sharey=True)
            for a, r in zip(np.atleast_1d(axes), pick):
                meta, arrays = load_result(directory / "runs" / ex[r]), load_arrays(directory / "runs" / ex[r])
                plot_total_weight(arrays, meta, ax=a)
                a.set_title(f"sleep ratio {r:g}")
            written += save_figure(fig, out_dir / "total_weight_with_without_sleep")
            meta, arrays = (load_result(directory / "runs" / ex[ratios[-1]]),
                            load_arrays(directory / "runs" / ex[ratios[-1]]))
            eps = meta["sleep"]["episodes"]
            if eps and "raster_exc_t" in arrays:
                ep = eps[min(1, len(eps) - 1)]
                ax = plot_raster(arrays, max(0, ep["start"] - 1.0), ep["end"] + 1.0, eps)
                ax.set_title(f"wake and sleep activity (ratio {ratios[-1]:g}, seed {seed0})")
                written += save_figure(ax.figure, out_dir / "raster_wake_sleep")
            if "counts_exc" in arrays and _test_responses(arrays, meta)[0].shape[0] >= 3:
                ax = plot_embedding(arrays, meta)
                written += save_figure(ax.figure, out_dir / "embedding_exc_pca")
    return written


#: The earlier name of :func:`plot`.
scan_figures = plot
