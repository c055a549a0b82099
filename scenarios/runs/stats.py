"""Statistics over trials and seeds: mean ± sample sd, and their formatting.

The one definition of "mean ± sd" of the project: every table and figure
reports the mean and the sample standard deviation (``ddof=1``) over trials or
seeds, computed by :func:`mean_sd`. Two methods run on the same seeds are
compared by :func:`paired_difference` (paired t-test and Wilcoxon signed-rank
test on the per-seed differences, from scipy).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["mean_sd", "format_mean_sd", "format_pair", "trial_stat", "format_stat", "format_pct", "paired_difference"]


def mean_sd(values, axis: int | None = None):
    """Mean and sample standard deviation (``ddof=1``).

    Parameters
    ----------
    values : array-like of float, non-empty
        The values (e.g. one per trial or seed).
    axis : int, optional
        Axis of the trials. ``None`` (default): all values pooled, two floats
        returned. Otherwise arrays over the remaining axes (for example a
        trials × levels array with ``axis=0``).

    Returns
    -------
    (float, float) or (numpy.ndarray, numpy.ndarray)
        ``sd`` is NaN with a single value (a single trial along ``axis``).
    """
    v = np.asarray(values, dtype=np.float64)
    if axis is None:
        v = v.reshape(-1)
        if v.size == 0:
            raise ValueError("mean_sd of no values is undefined")
        sd = float(v.std(ddof=1)) if v.size > 1 else math.nan
        return float(v.mean()), sd
    n = v.shape[axis]
    if n == 0:
        raise ValueError("mean_sd of no values is undefined")
    mean = v.mean(axis=axis)
    sd = v.std(axis=axis, ddof=1) if n > 1 else np.full(mean.shape, math.nan)
    return mean, sd


def format_mean_sd(values, percent: bool = True, decimals: int = 1) -> str:
    """Format ``mean ± sd`` of values, e.g. ``"42.3 ± 0.7"``.

    Parameters
    ----------
    values : array-like of float
    percent : bool
        Multiply by 100 (values are fractions).
    decimals : int
        Digits after the decimal point.

    Returns
    -------
    str
        ``"m ± s"``; just ``"m"`` for a single value (no sd).
    """
    m, s = mean_sd(values)
    k = 100.0 if percent else 1.0
    if math.isnan(s):
        return f"{m * k:.{decimals}f}"
    return f"{m * k:.{decimals}f} ± {s * k:.{decimals}f}"


def trial_stat(values: Sequence[float | None]) -> dict:
    """Mean and sample standard deviation over trials, ``None`` entries left out.

    Parameters
    ----------
    values : sequence of float or None
        One value per trial.

    Returns
    -------
    dict
        ``{"mean", "sd", "per_trial"}``; ``mean`` is None without values and
        ``sd`` is None with fewer than two.
    """
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"mean": None, "sd": None, "per_trial": []}
    mean, sd = mean_sd(v)
    return {"mean": mean, "sd": None if math.isnan(sd) else sd, "per_trial": v}


def format_pair(stat, percent: bool = True, decimals: int = 1) -> str:
    """Format a ``(mean, sd)`` pair as :func:`format_mean_sd` does; sd None or NaN prints the mean only."""
    m, sd = stat
    k = 100.0 if percent else 1.0
    if sd is None or sd != sd:
        return f"{m * k:.{decimals}f}"
    return f"{m * k:.{decimals}f} ± {sd * k:.{decimals}f}"


def format_stat(stat: dict, scale: float = 1.0, digits: int = 3) -> str:
    """Format a :func:`trial_stat` as ``mean ± sd`` (significant digits).

    Parameters
    ----------
    stat : dict
        A :func:`trial_stat` result.
    scale : float, optional
        Factor applied to mean and sd.
    digits : int, optional
        Significant digits of the mean (the sd gets two).

    Returns
    -------
    str
        ``"–"`` without a mean, the mean alone without an sd.
    """
    return _format_mean_sd(stat, scale, f".{digits}g", ".2g")


def format_pct(stat: dict) -> str:
    """Format a :func:`trial_stat` of fractions as percent, ``mean ± sd`` with one decimal.

    Parameters
    ----------
    stat : dict
        A :func:`trial_stat` result of values in [0, 1] (or differences of them).

    Returns
    -------
    str
        ``"–"`` without a mean, the mean alone without an sd.
    """
    return _format_mean_sd(stat, 100.0, ".1f", ".1f")


def _format_mean_sd(stat: dict, scale: float, mean_spec: str, sd_spec: str) -> str:
    """``mean ± sd`` of a :func:`trial_stat`, each scaled and formatted by its spec."""
    if stat["mean"] is None:
        return "–"
    text = format(stat["mean"] * scale, mean_spec)
    return text if stat["sd"] is None else f"{text} ± {format(stat['sd'] * scale, sd_spec)}"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Paired comparison of two methods run on the same seeds: ``a − b`` seed by seed.

    Parameters
    ----------
    a, b : sequence of float
        One value per seed, in the same seed order (equal lengths, >= 2).

    Returns
    -------
    dict
        ``mean`` and ``sd`` of the differences, ``se`` (sd/√n), ``n``,
        ``wins`` (seeds with ``a > b``), ``t`` and ``p_t`` (two-sided paired
        t-test, :func:`scipy.stats.ttest_rel`), ``p_wilcoxon`` (two-sided
        Wilcoxon signed-rank test, exact for small n; None when every
        difference is 0).
    """
    from scipy import stats as st

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"paired_difference needs two equal-length sequences of >= 2 values; got {x.shape} "
                         f"and {y.shape}")
    d = x - y
    mean, sd = mean_sd(d)
    t = st.ttest_rel(x, y)
    p_w = None if np.all(d == 0) else float(st.wilcoxon(x, y).pvalue)
    return {"mean": mean, "sd": sd, "se": sd / math.sqrt(d.size), "n": int(d.size),
            "wins": int(np.sum(d > 0)), "t": float(t.statistic), "p_t": float(t.pvalue), "p_wilcoxon": p_w}
