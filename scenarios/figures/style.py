"""Shared matplotlib style and small plot helpers for the scenario figures.

Every scenario writes its figures through this module so that they look
alike: one style (:func:`style` as a context manager, or :func:`apply_style`
globally), one writer (:func:`save_figure`, PNG and PDF side by side) and a
few generic plot functions. Each plot function takes ``ax=None`` (a new
figure and axes are created when it is None) and returns the axes it drew
on, so figures can be composed freely.

Nothing here knows about a particular experiment; the scenarios pass plain
arrays and labels.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scenarios.runs.results import load_result  # noqa: E402

__all__ = [
    "open_for_plot",
    "PALETTE",
    "RC",
    "apply_style",
    "style",
    "new_axes",
    "save_figure",
    "grouped_bars",
    "heatmap",
    "errorbar_lines",
    "histograms",
]

#: Colour cycle (Okabe–Ito, colour-blind safe), used for series in order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
           "#56B4E9", "#F0E442", "#000000", "#999999")

#: rcParams of the shared style.
RC = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "image.cmap": "viridis",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


def apply_style() -> None:
    """Apply the shared style globally (``matplotlib.rcParams.update``)."""
    matplotlib.rcParams.update(RC)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context manager: the shared style inside, the previous rcParams restored after."""
    with matplotlib.rc_context(RC):
        yield


def new_axes(ax=None, figsize: tuple = (4.0, 3.0)):
    """Return ``ax`` or, if None, the axes of a new figure of ``figsize`` inches."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def save_figure(fig, path_without_ext, formats: Sequence[str] = ("png", "pdf"),
                close: bool = True) -> list[Path]:
    """Write a figure as ``path_without_ext.png`` and ``.pdf`` (parents created).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_without_ext : str or path-like
        Output path without extension (an extension given anyway is replaced).
    formats : sequence of str
        File formats (extensions) to write.
    close : bool
        Close the figure afterwards (frees memory in long scripts).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    base = Path(path_without_ext)
    if base.suffix.lower().lstrip(".") in {"png", "pdf", "svg", "jpg", "jpeg", "eps"}:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        path = base.with_name(base.name + "." + fmt)
        fig.savefig(path, format=fmt)
        out.append(path)
    if close:
        plt.close(fig)
    return out


def grouped_bars(values, errors=None, group_labels: Sequence[str] | None = None,
                 series_labels: Sequence[str] | None = None, ax=None,
                 colors: Sequence[str] | None = None, width: float = 0.8,
                 ylabel: str | None = None, ylim: tuple | None = None, legend: bool = True):
    """Grouped bar chart: ``values[g, s]`` is the bar of series ``s`` in group ``g``.

    Parameters
    ----------
    values : array_like, shape (n_groups, n_series)
        Bar heights; NaN bars are not drawn.
    errors : array_like, same shape, optional
        Symmetric error bars (e.g. standard deviations); NaN = none.
    group_labels, series_labels : sequence of str, optional
        Tick labels of the groups, legend labels of the series.
    ax : matplotlib.axes.Axes, optional
    colors : sequence of str, optional
        One colour per series (default: :data:`PALETTE`).
    width : float
        Total width of a group (0..1).
    ylabel : str, optional
    ylim : (float, float), optional
    legend : bool
        Draw a legend when ``series_labels`` are given.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax)
    v = np.atleast_2d(np.asarray(values, dtype=float))
    n_groups, n_series = v.shape
    e = None if errors is None else np.atleast_2d(np.asarray(errors, dtype=float))
    colors = list(colors) if colors is not None else [PALETTE[i % len(PALETTE)] for i in range(n_series)]
    bw = width / n_series
    x = np.arange(n_groups)
    for s in range(n_series):
        pos = x - width / 2 + (s + 0.5) * bw
        ok = ~np.isnan(v[:, s])
        err = None
        if e is not None and not np.all(np.isnan(e[ok, s])):
            err = np.where(np.isnan(e[ok, s]), 0.0, e[ok, s])
        ax.bar(pos[ok], v[ok, s], bw, yerr=err, color=colors[s % len(colors)],
               label=None if series_labels is None else series_labels[s],
               error_kw={"elinewidth": 0.8})
    ax.set_xticks(x)
    if group_labels is not None:
        ax.set_xticklabels(group_labels)
    if ylabel:
        ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if legend and series_labels is not None:
        ax.legend(ncol=min(n_series, 5), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    return ax


def heatmap(matrix, ax=None, labels: Sequence[str] | None = None, vmin: float | None = -1.0,
            vmax: float | None = 1.0, cmap: str = "RdBu_r", colorbar: bool = True,
            title: str | None = None, annotate: bool = False, fmt: str = "{:.2f}"):
    """Show a matrix (e.g. a correlation matrix) with labelled rows and columns.

    Parameters
    ----------
    matrix : array_like, shape (n, m)
    ax : matplotlib.axes.Axes, optional
    labels : sequence of str, optional
        Labels of rows and (if square) columns.
    vmin, vmax : float, optional
        Colour limits (default -1..1 for correlations).
    cmap : str
    colorbar : bool
    title : str, optional
    annotate : bool
        Write each value into its cell.
    fmt : str
        Format of the annotations.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax, figsize=(3.2, 3.0))
    m = np.asarray(matrix, dtype=float)
    im = ax.imshow(m, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    if labels is not None:
        ax.set_yticks(range(m.shape[0]))
        ax.set_yticklabels(labels[: m.shape[0]])
        if m.shape[0] == m.shape[1]:
            ax.set_xticks(range(m.shape[1]))
            ax.set_xticklabels(labels[: m.shape[1]])
    if annotate:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=6)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def errorbar_lines(x, means, sds=None, labels: Sequence[str] | None = None, ax=None,
                   xlabel: str | None = None, ylabel: str | None = None, linestyles=None,
                   colors: Sequence[str] | None = None, markers: Sequence[str] | None = None,
                   ylim: tuple | None = None, legend: bool = True):
    """Several series against a common x with error bars.

    Parameters
    ----------
    x : array_like, shape (n,)
    means : array_like, shape (n_series, n)
    sds : array_like, shape (n_series, n), optional
    labels : sequence of str, optional
    ax : matplotlib.axes.Axes, optional
    xlabel, ylabel : str, optional
    linestyles, colors, markers : sequences, optional
        One entry per series.
    ylim : (float, float), optional
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax)
    mu = np.atleast_2d(np.asarray(means, dtype=float))
    sd = None if sds is None else np.atleast_2d(np.asarray(sds, dtype=float))
    for s in range(mu.shape[0]):
        ax.errorbar(x, mu[s], yerr=None if sd is None else sd[s],
                    label=None if labels is None else labels[s],
                    linestyle=None if linestyles is None else linestyles[s],
                    color=None if colors is None else colors[s],
                    marker="o" if markers is None else markers[s])
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if legend and labels is not None:
        ax.legend()
    return ax


def histograms(samples: Sequence, labels: Sequence[str] | None = None, ax=None, bins=30,
               colors: Sequence[str] | None = None, range_: tuple | None = None,
               xlabel: str | None = None, density: bool = False, alpha: float = 0.55,
               legend: bool = True):
    """Overlaid histograms of several samples on shared bins.

    Parameters
    ----------
    samples : sequence of array_like
        One 1-D sample per series (empty samples are skipped).
    labels : sequence of str, optional
    ax : matplotlib.axes.Axes, optional
    bins : int or array_like
        Number of bins or bin edges (shared by all samples).
    colors : sequence of str, optional
    range_ : (float, float), optional
        Range of the bins (default: pooled min..max).
    xlabel : str, optional
    density : bool
    alpha : float
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax)
    arrays = [np.asarray(s, dtype=float).ravel() for s in samples]
    pooled = np.concatenate([a for a in arrays if a.size]) if any(a.size for a in arrays) else np.zeros(1)
    if np.isscalar(bins) or np.ndim(bins) == 0:
        lo, hi = range_ if range_ is not None else (float(pooled.min()), float(pooled.max()))
        if hi <= lo:
            hi = lo + 1e-9
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    for k, a in enumerate(arrays):
        if not a.size:
            continue
        ax.hist(a, bins=edges, alpha=alpha, density=density,
                color=None if colors is None else colors[k % len(colors)],
                label=None if labels is None else labels[k])
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel("density" if density else "count")
    if legend and labels is not None:
        ax.legend()
    return ax


def open_for_plot(result_dir: str | Path, out_dir: str | Path | None = None) -> tuple[dict, Path]:
    """Select a non-interactive matplotlib backend, read a result and resolve the figure directory.

    Parameters
    ----------
    result_dir : str or Path
        A result directory or its ``result.json``.
    out_dir : str or Path, optional
        Figure directory; default the result's directory.

    Returns
    -------
    result : dict
        The result.
    out : Path
        Where the figures go.
    """
    matplotlib.use("Agg", force=False)
    result = load_result(result_dir)
    if out_dir is not None:
        return result, Path(out_dir)
    p = Path(result_dir)
    return result, (p if p.is_dir() else p.parent)
