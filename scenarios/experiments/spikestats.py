"""Spike statistics of wake and sleep with Elephant and Neo: rates, ISI CV, Fano factor, correlation.

The recorded spikes of a run (the first neurons of each population, see
``raster_exc``/``raster_inh``/``raster_inp`` of :class:`spiking.network.EISimulation`)
are split into *phases*: wake (every moment outside a sleep episode) and
sleep (the episodes). Each phase's spikes are put on a phase-local clock (the
other phase's intervals cut out, so that no interspike interval spans a cut),
turned into :class:`neo.SpikeTrain` objects and measured with Elephant:

* mean firing rate per neuron (:func:`elephant.statistics.mean_firing_rate`);
* coefficient of variation of the interspike intervals
  (:func:`elephant.statistics.isi`, :func:`elephant.statistics.cv`), per
  neuron with at least 3 spikes;
* Fano factor of the spike counts in windows of ``window`` (each window a
  "trial", :func:`elephant.statistics.fanofactor`), per neuron;
* mean pairwise correlation coefficient of the binned trains
  (:class:`elephant.conversion.BinnedSpikeTrain`,
  :func:`elephant.spike_train_correlation.correlation_coefficient`) over the
  pairs of active neurons.

Poisson trains give CV and Fano near 1 and correlations near 0; a neuron
firing on every step (the reference code's sticky sleep spikes) gives CV 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["phase_intervals", "to_phase_time", "phase_spike_trains", "train_statistics", "run_statistics"]


def phase_intervals(episodes, t_end: float) -> dict:
    """Wake and sleep intervals ``[(start, end), ...]`` (s) of a run from its sleep episodes."""
    sleep = sorted((float(e["start"]), float(e["end"] if e.get("end") is not None else t_end))
                   for e in episodes)
    wake, t = [], 0.0
    for a, b in sleep:
        if a > t:
            wake.append((t, a))
        t = max(t, b)
    if t < t_end:
        wake.append((t, t_end))
    return {"wake": wake, "sleep": sleep}


def to_phase_time(times: np.ndarray, intervals) -> tuple[np.ndarray, float]:
    """Map spike times inside ``intervals`` onto a clock that runs only inside them.

    Returns
    -------
    local_times : ndarray
        The times of the spikes that fall inside an interval, on the phase clock.
    duration : float
        Total length of the intervals (s).
    """
    times = np.asarray(times, dtype=float)
    out, offset = [], 0.0
    for a, b in intervals:
        sel = (times >= a) & (times < b)
        out.append(times[sel] - a + offset)
        offset += b - a
    return (np.concatenate(out) if out else np.zeros(0)), offset


def phase_spike_trains(t: np.ndarray, i: np.ndarray, n: int, intervals) -> list:
    """One :class:`neo.SpikeTrain` per neuron ``0..n-1`` on the phase clock."""
    import neo
    import quantities as pq

    t = np.asarray(t, dtype=float)
    i = np.asarray(i)
    _, duration = to_phase_time(np.zeros(0), intervals)
    trains = []
    for k in range(n):
        local, _ = to_phase_time(t[i == k], intervals)
        trains.append(neo.SpikeTrain(np.sort(local) * pq.s, t_start=0 * pq.s, t_stop=max(duration, 1e-9) * pq.s))
    return trains


def train_statistics(trains, window: float = 0.1, bin_size: float = 0.005) -> dict:
    """Rates, ISI CV, Fano factor and mean pairwise correlation of a list of spike trains.

    Parameters
    ----------
    trains : list of neo.SpikeTrain
        Same ``t_start`` and ``t_stop``.
    window : float
        Counting window of the Fano factor (s).
    bin_size : float
        Bin of the correlation coefficients (s).

    Returns
    -------
    dict
        ``rate_hz`` (mean over neurons), ``rates_hz`` (per neuron), ``cv`` and
        ``fano`` (mean over the neurons where defined; NaN if none), ``corr``
        (mean over pairs of active neurons; NaN if fewer than 2), and the
        numbers of neurons behind each.
    """
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient
    from elephant.statistics import cv, fanofactor, isi, mean_firing_rate

    if not trains:
        raise ValueError("no spike trains")
    T = float(trains[0].t_stop - trains[0].t_start)
    rates = np.array([float(mean_firing_rate(st).rescale(pq.Hz)) if T > 0 else np.nan for st in trains])
    cvs = [float(cv(np.asarray(isi(st)))) for st in trains if len(st) >= 3]
    fanos = []
    n_win = int(T // window)
    if n_win >= 2:
        edges = float(trains[0].t_start) + window * np.arange(n_win + 1)
        for st in trains:
            if len(st) == 0:
                continue
            times = np.asarray(st.times.rescale(pq.s))
            cut = np.searchsorted(times, edges)
            # each counting window is one "trial" of Elephant's Fano factor
            f = fanofactor([times[a:b] for a, b in zip(cut[:-1], cut[1:])])
            if np.isfinite(f):
                fanos.append(float(f))
    active = [st for st in trains if len(st) >= 2]
    corr, n_pairs = np.nan, 0
    if len(active) >= 2 and T > 2 * bin_size:
        b = BinnedSpikeTrain(active, bin_size=bin_size * pq.s, tolerance=None)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = correlation_coefficient(b)
        iu = np.triu_indices(len(active), 1)
        vals = c[iu]
        vals = vals[np.isfinite(vals)]
        if vals.size:
            corr, n_pairs = float(vals.mean()), int(vals.size)
    return {"rate_hz": float(np.nanmean(rates)) if rates.size else np.nan, "rates_hz": rates.tolist(),
            "cv": float(np.mean(cvs)) if cvs else np.nan, "n_cv": len(cvs),
            "fano": float(np.mean(fanos)) if fanos else np.nan, "n_fano": len(fanos),
            "corr": corr, "n_pairs": n_pairs, "duration_s": T}


def run_statistics(raster: dict, episodes, t_end: float, n: dict, **kw) -> dict:
    """Statistics per phase (wake, sleep) and population of one run.

    Parameters
    ----------
    raster : dict
        ``'<pop>_t'``/``'<pop>_i'`` spike times (s) and indices (a run's
        ``RunOutput.raster`` or its saved ``raster_*`` arrays without the prefix).
    episodes : list of dict
        The run's sleep episodes (``start``, ``end`` in s).
    t_end : float
        End of the run (s).
    n : dict
        Population -> number of recorded neurons.
    **kw
        Passed to :func:`train_statistics`.

    Returns
    -------
    dict
        ``{phase: {population: statistics}}``; a phase without time is left out.
    """
    phases = phase_intervals(episodes, t_end)
    out = {}
    for phase, intervals in phases.items():
        if not intervals or sum(b - a for a, b in intervals) <= 0:
            continue
        out[phase] = {}
        for pop, count in n.items():
            if f"{pop}_t" not in raster or count <= 0:
                continue
            trains = phase_spike_trains(raster[f"{pop}_t"], raster[f"{pop}_i"], count, intervals)
            out[phase][pop] = train_statistics(trains, **kw)
    return out
