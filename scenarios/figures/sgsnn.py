"""Figures of an SG-SNN sleep-ratio scan (``sleep-snn sgsnn``), from its saved files.

Reads the scan directory that :mod:`scenarios.experiments.sgsnn` writes
(``result.json`` with ``"kind": "sgsnn"`` and ``runs/*/result.json``) and
draws:

* ``sgsnn_accuracy_vs_ratio``: test accuracy vs sleep ratio (mean ± sd over
  seeds) per SG-SNN arm, with the sleep arm of a finished STDP-SNN ``sleep-snn
  scan`` on the same axes when one is given (:func:`plot_accuracy`);
* ``sgsnn_train_time``: training wall time of one network per arm and sleep
  ratio, wake and sleep stacked (:func:`plot_timing`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from scenarios.runs import labels
from scenarios.runs.stats import mean_sd
from scenarios.figures.style import new_axes, save_figure, style

__all__ = ["ARM_LABELS", "read_stdp_curve", "read_runs", "plot_accuracy", "plot_timing", "plot"]

#: Legend labels of the arms (the same as the scan's table labels).
ARM_LABELS = labels.SGSNN_ARMS


def read_stdp_curve(stdp_scan):
    """``(ratios, means, sds)`` of the STDP-SNN sleep arm from ``DIR2/summary.json`` (or None).

    Parameters
    ----------
    stdp_scan : str or Path or None
        A finished ``sleep-snn scan`` directory.

    Returns
    -------
    tuple of numpy.ndarray or None
        Sleep ratios, mean and sd of the accuracy (fractions; sd NaN for one
        seed); None without a directory or when it has no ``summary.json``.
    """
    if not stdp_scan:
        return None
    path = Path(stdp_scan) / "summary.json"
    if not path.exists():
        print(f"[sgsnn] no {path}: STDP-SNN curve left out", file=sys.stderr)
        return None
    rows = [r for r in json.loads(path.read_text())["table"] if r.get("arm") == "sleep"]
    by: dict = {}
    for r in rows:                        # several rows per ratio (extra grid axes): keep the first
        by.setdefault(float(r["ratio"]), r)
    rs = sorted(by)
    return (np.array(rs), np.array([by[r]["accuracy_mean"] for r in rs], dtype=float),
            np.array([by[r]["accuracy_sd"] if by[r]["accuracy_sd"] is not None else np.nan
                      for r in rs], dtype=float))


def read_runs(result_dir) -> list[dict]:
    """The ``result.json`` of every finished run of a scan directory (``runs/*/``), in key order."""
    return [json.loads(p.read_text()) for p in sorted((Path(result_dir) / "runs").glob("*/result.json"))]


def plot_accuracy(result: dict, stdp=None, ax=None):
    """Accuracy vs sleep ratio (mean ± sd over seeds) per SG-SNN arm, and the STDP-SNN curve.

    Parameters
    ----------
    result : dict
        The scan's ``result.json`` (``table`` rows per arm and ratio).
    stdp : tuple or None
        :func:`read_stdp_curve` of an STDP-SNN scan, drawn dashed.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = result["table"]
    ax = new_axes(ax, (4.2, 3.2))
    for k, arm in enumerate(sorted({t["arm"] for t in table}, key=lambda a: a != "ff")):
        rows = sorted((t for t in table if t["arm"] == arm), key=lambda t: t["ratio"])
        x = np.array([t["ratio"] for t in rows])
        m = 100 * np.array([t["accuracy_mean"] for t in rows], dtype=float)
        s = 100 * np.array([t["accuracy_sd"] if t["accuracy_sd"] is not None else np.nan
                            for t in rows], dtype=float)
        n = max(t["n_seeds"] for t in rows)
        ax.errorbar(x + 0.004 * k, m, yerr=np.nan_to_num(s), marker="o", capsize=3,
                    label=f"{ARM_LABELS.get(arm, arm)} (n={n})")
    if stdp is not None:
        ax.errorbar(stdp[0] - 0.004, 100 * stdp[1], yerr=np.nan_to_num(100 * stdp[2]),
                    marker="s", linestyle="--", capsize=3, color="#009E73",
                    label="STDP-SNN + read-out")
    ax.set_xlabel("sleep ratio")
    ax.set_ylabel("test accuracy (%)")
    ds = sorted({str(c) for c in [(result.get("config") or {}).get("dataset")] if c})
    ax.set_title("accuracy vs sleep ratio" + (f" ({ds[0]})" if ds else ""))
    ax.legend(loc="best")
    return ax


def plot_timing(metas: list[dict], ax=None):
    """Training wall time of one SG-SNN per arm and sleep ratio (mean ± sd over seeds).

    Parameters
    ----------
    metas : list of dict, non-empty
        The runs' ``result.json`` (:func:`read_runs`).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Wake and sleep time stacked (minutes), error bars: sd of the total.
    """
    arms = sorted({m["arm"] for m in metas}, key=lambda a: a != "ff")
    ratios = sorted({m["point"]["ratio"] for m in metas})
    wake = np.full((len(ratios), len(arms)), np.nan)
    sl = np.full_like(wake, np.nan)
    sd = np.full_like(wake, np.nan)
    for i, r in enumerate(ratios):
        for j, a in enumerate(arms):
            ms = [m for m in metas if m["arm"] == a and m["point"]["ratio"] == r]
            if ms:
                tot = [m["wall_seconds"]["train"] for m in ms]
                wake[i, j] = np.mean([m["wall_seconds"]["train"] - m["wall_seconds"]["sleep"]
                                      for m in ms])
                sl[i, j] = np.mean([m["wall_seconds"]["sleep"] for m in ms])
                sd[i, j] = mean_sd(tot)[1]
    m0 = metas[0]
    ax = new_axes(ax, (4.2, 3.2))
    width = 0.8 / len(arms)
    x = np.arange(len(ratios))
    for j, a in enumerate(arms):
        pos = x - 0.4 + (j + 0.5) * width
        ax.bar(pos, wake[:, j] / 60, width, label=f"{ARM_LABELS.get(a, a)}: wake")
        ax.bar(pos, sl[:, j] / 60, width, bottom=wake[:, j] / 60, hatch="//", alpha=0.6,
               label=f"{ARM_LABELS.get(a, a)}: sleep")
        ax.errorbar(pos, (wake[:, j] + sl[:, j]) / 60, yerr=np.nan_to_num(sd[:, j] / 60),
                    fmt="none", color="k", capsize=2)
    ax.axhline(10, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r:g}" for r in ratios])
    ax.set_xlabel("sleep ratio")
    ax.set_ylabel("training time per model (min)")
    ax.set_title(f"one SG-SNN, 1 torch thread: {m0['n_train']} images × "
                 f"{m0['model']['epochs']} epoch(s), 225-{m0['model']['hidden']}-10, "
                 f"T={m0['model']['steps']}", fontsize=7)
    ax.legend(fontsize=6)
    return ax


def plot(result_dir, out_dir=None, stdp_scan=None, prefix: str = "sgsnn_") -> list[Path]:
    """Write ``<prefix>accuracy_vs_ratio`` and ``<prefix>train_time`` (PNG + PDF) of a scan directory.

    Parameters
    ----------
    result_dir : str or Path
        The scan directory (``result.json``, ``runs/``).
    out_dir : str or Path, optional
        Where to write (default: ``result_dir``).
    stdp_scan : str or Path, optional
        A finished ``sleep-snn scan`` directory with ``summary.json`` whose sleep
        arm is drawn on the accuracy axes (default: the one recorded in
        ``result_dir/result.json``).
    prefix : str
        File name prefix.

    Returns
    -------
    list of Path
        The files written (no timing figure without finished runs).
    """
    result_dir = Path(result_dir)
    out_dir = result_dir if out_dir is None else Path(out_dir)
    res = json.loads((result_dir / "result.json").read_text())
    stdp = read_stdp_curve(stdp_scan or res.get("stdp_scan"))
    metas = read_runs(result_dir)
    written = []
    with style():
        ax = plot_accuracy(res, stdp)
        written += save_figure(ax.figure, out_dir / f"{prefix}accuracy_vs_ratio")
        if metas:
            ax = plot_timing(metas)
            written += save_figure(ax.figure, out_dir / f"{prefix}train_time")
    return written
