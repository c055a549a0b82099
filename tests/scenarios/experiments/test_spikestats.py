"""Spike statistics of wake and sleep (Elephant) on hand-written spike trains."""

import numpy as np
import pytest

from scenarios.experiments.spikestats import (phase_intervals, phase_spike_trains, run_statistics,
                                              to_phase_time, train_statistics)


def test_phase_intervals_and_phase_clock():
    ph = phase_intervals([{"start": 1.0, "end": 1.5}, {"start": 3.0, "end": 4.0}], 5.0)
    assert ph["sleep"] == [(1.0, 1.5), (3.0, 4.0)]
    assert ph["wake"] == [(0.0, 1.0), (1.5, 3.0), (4.0, 5.0)]
    local, dur = to_phase_time(np.array([0.5, 1.2, 2.0, 3.5, 4.5]), ph["wake"])
    np.testing.assert_allclose(local, [0.5, 1.5, 3.0])
    assert dur == pytest.approx(3.5)
    local, dur = to_phase_time(np.array([0.5, 1.2, 2.0, 3.5, 4.5]), ph["sleep"])
    np.testing.assert_allclose(local, [0.2, 1.0])
    assert dur == pytest.approx(1.5)


def test_poisson_regular_and_synchronous_trains():
    rng = np.random.default_rng(0)
    n, T, r = 12, 10.0, 20.0
    t = [np.sort(rng.uniform(0, T, rng.poisson(r * T))) for _ in range(n)]
    i = np.concatenate([np.full(len(s), k) for k, s in enumerate(t)])
    s = train_statistics(phase_spike_trains(np.concatenate(t), i, n, [(0.0, T)]))
    assert s["rate_hz"] == pytest.approx(r, rel=0.1)
    assert s["cv"] == pytest.approx(1.0, abs=0.1) and s["fano"] == pytest.approx(1.0, abs=0.2)
    assert abs(s["corr"]) < 0.02 and s["n_pairs"] == n * (n - 1) // 2
    # every neuron firing on every 3rd step (sticky-like): CV 0, fully synchronous
    reg = np.arange(0, 1.0, 0.003)
    s = train_statistics(phase_spike_trains(np.tile(reg, 4), np.repeat(np.arange(4), len(reg)), 4,
                                            [(0.0, 1.0)]), bin_size=0.001)
    assert s["cv"] == pytest.approx(0.0, abs=1e-9) and s["corr"] == pytest.approx(1.0)


def test_run_statistics_splits_phases():
    # 2 neurons: 50 Hz regular while awake, silent during the one episode
    t = np.r_[np.arange(0, 1.0, 0.02), np.arange(2.0, 3.0, 0.02)]
    raster = {"exc_t": np.r_[t, t], "exc_i": np.repeat([0, 1], len(t))}
    out = run_statistics(raster, [{"start": 1.0, "end": 2.0}], 3.0, {"exc": 2})
    assert out["wake"]["exc"]["rate_hz"] == pytest.approx(50.0)
    assert out["sleep"]["exc"]["rate_hz"] == 0.0 and np.isnan(out["sleep"]["exc"]["cv"])
