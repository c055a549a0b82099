"""Benchmark of scan throughput: the same scan with 1 and with W Dask workers.

:func:`bench_scan` runs an R-point scan (sleep ratio 0.1, seeds 0..R-1, no
plasticity-off baseline) of :mod:`scenarios.experiments.scan` on
:func:`scenarios.runs.grid.run_grid` in a temporary directory, once with one
worker and once with W, and returns the timings; ``sleep-snn bench scan``
(:mod:`scenarios.commands.bench`) prints them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["bench_scan"]


def _timed_scan(out: Path, *, runs: int, workers: int, n_train: int, n_test: int, t_present: float,
                t_rest: float, dataset: str) -> float:
    """Run the benchmark's scan into ``out`` (as ``sleep-snn scan`` with these sizes); returns its wall time."""
    from brian2 import ms

    from scenarios.experiments.scan import build_config, run_point, summarise
    from scenarios.runs.grid import grid_points, run_grid
    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    t0 = time.perf_counter()
    # the defaults of the scan command: 15 x 15 images, trigger mode, the sleep ratio of each point
    params = EINetworkParams(t_present=t_present * ms, t_rest=t_rest * ms, n_input=15 * 15)
    sleep = SleepParams(mode="trigger", sleep_ratio=0.0)
    seeds = list(range(runs))
    config = build_config(params=params, sleep=sleep, dataset=dataset, n_train=n_train, n_test=n_test,
                          out=out, seeds=seeds, command="sleep-snn bench scan")
    out.mkdir(parents=True, exist_ok=True)
    points = grid_points([0.1], seeds, {}, frozen_baseline=False)
    run_grid(points, config, run_point, workers=workers, label="scan")
    summarise(out, config)
    return time.perf_counter() - t0


def bench_scan(runs: int = 8, workers: int = 2, n_train: int = 100, n_test: int = 50,
               t_present: float = 100.0, t_rest: float = 50.0, dataset: str = "digits") -> dict:
    """Time the same R-point scan with 1 and with W workers.

    ``parallel_efficiency`` = (wall with 1 worker / wall with W) / W,
    compile included; ``steady_state_efficiency`` = mean re-run time with 1
    worker / with W workers (1 when W runs share the machine perfectly).
    ``first_run_seconds`` and ``rerun_seconds`` are per run with W workers.

    The defaults are a quick check (tiny digits runs, where the one build of the
    network dominates). What a real scan gets is measured at scan size, e.g.
    ``runs=20, dataset="fashion", n_train=2000, n_test=1000, t_present=250,
    t_rest=100`` (about 9 minutes on 2 cores; docs/RESULTS.md §2).

    Parameters
    ----------
    runs : int
        Scan points R (seeds 0..R-1).
    workers : int
        Workers W compared with 1.
    n_train, n_test : int
        Training and test images per run.
    t_present, t_rest : float
        Presentation time and rest per image (ms).
    dataset : str
        Data set of the runs.

    Returns
    -------
    dict
        ``benchmark``, ``runs``, ``workers``, ``wall_seconds_1_worker``,
        ``wall_seconds``, ``runs_per_hour``, ``parallel_efficiency``,
        ``first_run_seconds``, ``rerun_seconds``, ``rerun_seconds_1_worker``,
        ``steady_state_efficiency``, the sizes and ``cpu_count``.
    """
    base = Path(tempfile.mkdtemp(prefix="sleep_snn_bench_scan_"))
    timings = {}
    try:
        for w in sorted({1, workers}):
            out = base / f"w{w}"
            timings[w] = _timed_scan(out, runs=runs, workers=w, n_train=n_train, n_test=n_test,
                                     t_present=t_present, t_rest=t_rest, dataset=dataset)
            metas = [json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")]
            timings[f"first_{w}"] = float(np.mean([m["scan"]["point_seconds"] for m in metas
                                                   if m["scan"]["first_on_worker"]]))
            reruns = [m["scan"]["point_seconds"] for m in metas if not m["scan"]["first_on_worker"]]
            timings[f"rerun_{w}"] = float(np.mean(reruns)) if reruns else float("nan")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    t1, tw = timings[1], timings[workers]
    return {"benchmark": "scan", "runs": runs, "workers": workers,
            "wall_seconds_1_worker": t1, "wall_seconds": tw,
            "runs_per_hour": runs / tw * 3600.0,
            "parallel_efficiency": (t1 / tw) / workers,
            "first_run_seconds": timings[f"first_{workers}"],
            "rerun_seconds": timings[f"rerun_{workers}"],
            "rerun_seconds_1_worker": timings["rerun_1"],
            # throughput of re-runs alone (compile excluded): how well W runs share the machine
            "steady_state_efficiency": timings["rerun_1"] / timings[f"rerun_{workers}"],
            "dataset": dataset, "n_train": n_train, "n_test": n_test,
            "t_present_ms": t_present, "t_rest_ms": t_rest, "cpu_count": os.cpu_count()}
