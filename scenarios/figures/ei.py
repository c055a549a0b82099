"""Figures of an E/I run from its saved files (never from a live run).

From ``result.json`` + ``arrays.npz`` of a run of :func:`scenarios.experiments.ei.run_ei`
(``"kind": "ei"``): raster of the first seconds (wake and, when the network
slept, around the first episode), weight histograms per pathway, total weight
over time with sleep episodes shaded.

All plot functions take ``ax=None`` and return the axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.figures.style import new_axes, save_figure, style

__all__ = ["plot_raster", "plot_weight_histograms", "plot_total_weight", "plot", "ei_figures"]

PATHWAY_LABELS = {"inp_exc": "input→E", "exc_exc": "E→E", "exc_inh": "E→I", "inh_exc": "I→E"}


def _shade_episodes(ax, episodes, t_max=None, label=True):
    for k, ep in enumerate(episodes):
        if ep.get("end") is None:
            continue
        if t_max is not None and ep["start"] > t_max:
            break
        ax.axvspan(ep["start"], ep["end"], color="0.85", lw=0,
                   label="sleep" if (label and k == 0) else None, zorder=0)


def plot_raster(arrays: dict, t0: float, t1: float, episodes=(), ax=None, n_exc=None):
    """Spike raster of the recorded E (blue) and I (red) neurons between ``t0`` and ``t1`` (s)."""
    ax = new_axes(ax, (5.0, 2.6))
    offset = 0
    for pop, color in (("exc", "#0072B2"), ("inh", "#D55E00")):
        t = arrays.get(f"raster_{pop}_t")
        i = arrays.get(f"raster_{pop}_i")
        if t is None or len(t) == 0 and i is None:
            continue
        sel = (t >= t0) & (t < t1)
        ax.plot(t[sel], i[sel] + offset, "|", color=color, ms=2, mew=0.6,
                label=f"{pop.upper()} ({int(i.max()) + 1 if len(i) else 0} neurons)")
        offset += (int(i.max()) + 1) if len(i) else 0
    _shade_episodes(ax, episodes)
    ax.set_xlim(t0, t1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    ax.legend(loc="upper right", fontsize=7)
    return ax


def plot_weight_histograms(arrays: dict, ax=None):
    """Histograms of the final weights of each pathway (one axes per pathway if ``ax`` is None)."""
    import matplotlib.pyplot as plt

    names = [p for p in ("inp_exc", "exc_exc", "exc_inh", "inh_exc") if f"w_{p}" in arrays]
    if ax is None:
        _, axes = plt.subplots(1, len(names), figsize=(2.0 * len(names), 2.2), sharey=False)
    else:
        axes = np.atleast_1d(ax)
    for a, p in zip(np.atleast_1d(axes), names):
        a.hist(arrays[f"w_{p}"], bins=40, color="#0072B2")
        a.set_title(PATHWAY_LABELS[p])
        a.set_xlabel("weight")
    np.atleast_1d(axes)[0].set_ylabel("synapses")
    return axes


def plot_total_weight(arrays: dict, meta: dict, ax=None, pathways=None, label_prefix=""):
    """Total weight per plastic pathway over time, relative to its start, sleep shaded."""
    ax = new_axes(ax, (5.0, 2.6))
    t = arrays["weights_t"]
    pathways = pathways or ("inp_exc", "exc_exc", "inh_exc")
    for p in pathways:
        w = arrays.get(f"W_{p}")
        if w is None or len(w) == 0 or w[0] == 0:
            continue
        ax.plot(t, w / w[0], label=f"{label_prefix}{PATHWAY_LABELS[p]}")
    episodes = meta.get("sleep", {}).get("episodes", [])
    _shade_episodes(ax, episodes)
    sp = meta.get("sleep_params", {})
    if sp.get("mode") != "off" and meta.get("sleep", {}).get("n_episodes", 0):
        ax.axhline(float(sp.get("alpha_trig", 1.1)), color="0.4", ls="--", lw=0.8)
        ax.axhline(float(sp.get("alpha_base", 1.0)), color="0.4", ls=":", lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("total weight / start")
    ax.legend(fontsize=7)
    return ax


def load(directory):
    from scenarios.runs.results import load_arrays, load_result

    return load_result(directory), load_arrays(directory)


def plot(result_dir, out_dir=None) -> list[Path]:
    """All figures of one E/I run directory.

    Parameters
    ----------
    result_dir : path-like
        Directory with ``result.json`` and ``arrays.npz``.
    out_dir : path-like, optional
        Where the figures go (default ``result_dir``).

    Returns
    -------
    list of Path
        The files written (``raster``, ``raster_sleep`` when the network slept,
        ``weight_histograms``, ``total_weight``; PNG and PDF each).
    """
    import matplotlib.pyplot as plt

    directory = Path(result_dir)
    out_dir = Path(out_dir) if out_dir else directory
    meta, arrays = load(directory)
    written = []
    episodes = meta.get("sleep", {}).get("episodes", [])
    with style():
        ax = plot_raster(arrays, 0.0, min(3.0, meta["sim_time_s"]), episodes)
        ax.set_title(f"{meta['dataset']}: first seconds of training")
        written += save_figure(ax.figure, out_dir / "raster")
        if episodes:
            ep = episodes[0]
            t0 = max(0.0, ep["start"] - 1.0)
            t1 = (ep["end"] or ep["start"]) + 1.0
            ax = plot_raster(arrays, t0, t1, episodes)
            ax.set_title("wake and sleep around the first episode")
            written += save_figure(ax.figure, out_dir / "raster_sleep")
        axes = plot_weight_histograms(arrays)
        plt.gcf().suptitle("final weights", fontsize=9)
        written += save_figure(np.atleast_1d(axes)[0].figure, out_dir / "weight_histograms")
        ax = plot_total_weight(arrays, meta)
        ax.set_title(f"total weight (sleep ratio {meta['sleep_params']['sleep_ratio']})")
        written += save_figure(ax.figure, out_dir / "total_weight")
    return written


#: The earlier name of :func:`plot`.
ei_figures = plot
