"""Benchmark of a long-horizon run: all training images with probe blocks in one compiled program.

:func:`bench_horizon` builds the schedule of
:func:`scenarios.experiments.horizon.horizon_schedule` (by default all 60 000
Fashion-MNIST training images once, a probe block of 1200 images every 5000)
and runs it once, reporting the speed of the simulation loop (simulated time
per second of the loop's CPU time, i.e. on one core), the wall time of each
phase and the peak resident memory of this process and of the compiled
program; ``sleep-snn bench horizon`` (:mod:`scenarios.commands.bench`) prints
them. Targets: >= 50x real time, peak RSS < 1 GB.
"""

from __future__ import annotations

import resource
import time

__all__ = ["bench_horizon"]


def bench_horizon(n_images: int = 60000, epochs: int = 1, probe_every: int = 5000, n_probe_train: int = 600,
                  n_probe_test: int = 600, condition: str = "trigger", dataset: str = "fashion",
                  backend: str = "cpp_standalone", seed: int = 0, directory=None, data_dir=None,
                  params=None) -> dict:
    """Run one long-horizon schedule and measure it.

    Parameters
    ----------
    n_images, epochs, probe_every, n_probe_train, n_probe_test, dataset
        The schedule (:class:`scenarios.experiments.horizon.HorizonConfig`).
    condition : str
        Sleep condition (:data:`scenarios.experiments.horizon.CONDITIONS`).
    backend, seed, directory, data_dir
        Brian2 backend, network seed, build directory, data directory.
    params : spiking.params.EINetworkParams, optional
        The network (its ``n_input`` sets the image side); default
        ``EINetworkParams()`` (15 × 15 inputs, 250 + 100 ms per image).

    Returns
    -------
    dict
        ``realtime_factor`` (simulated s per CPU s of the loop), ``sim_seconds``,
        ``loop_cpu_seconds``, ``wall_seconds`` (schedule, build, run, total),
        ``peak_rss_mb`` (this process) and ``peak_rss_program_mb`` (the compiled
        program's ``VmHWM``, polled every 0.5 s; None with a runtime target, which
        runs no program), ``n_presentations``, ``n_probe_blocks``, ``accuracy`` per
        probe block, ``training_ratio``.
    """
    import numpy as np

    from scenarios.experiments.horizon import HorizonConfig, condition_sleep, horizon_schedule, probe_accuracies
    from spiking.network import EISimulation
    from spiking.params import EINetworkParams
    from spiking.processes import DescendantPeakRSS
    from brian2 import ms, second

    params = EINetworkParams() if params is None else params
    size = int(round(params.n_input ** 0.5))
    t0 = time.perf_counter()
    plan = horizon_schedule(HorizonConfig(dataset=dataset, n_images=n_images, epochs=epochs,
                                          probe_every=probe_every, n_probe_train=n_probe_train,
                                          n_probe_test=n_probe_test, size=size), data_dir)
    t_sched = time.perf_counter() - t0
    sleep = condition_sleep(condition)
    t1 = time.perf_counter()
    with EISimulation(params, sleep, plan.schedule, backend=backend, directory=directory, progress=False,
                      raster_exc=0, raster_inh=0, record_interval=1.0 * second, seed=seed) as sim:
        t_build = time.perf_counter() - t1
        t2 = time.perf_counter()
        with DescendantPeakRSS() as peak:  # the compiled program's own peak (VmHWM), not getrusage's
            out = sim.run(seed=seed)
        t_run = time.perf_counter() - t2
    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1)
    accs = probe_accuracies(feats, plan)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    child = peak.mb("main")
    return {"benchmark": "horizon", "backend": backend, "condition": condition, "dataset": dataset,
            "n_images": n_images, "epochs": epochs, "n_presentations": plan.schedule.n_presentations,
            "t_present_ms": float(params.t_present / ms), "t_rest_ms": float(params.t_rest / ms),
            "n_probe_blocks": len(plan.blocks), "sim_seconds": out.sim_time,
            "loop_cpu_seconds": out.run_seconds, "realtime_factor": out.realtime_factor,
            "wall_seconds": {"schedule": t_sched, "build": t_build, "run": t_run,
                             "total": time.perf_counter() - t0},
            "peak_rss_mb": own, "peak_rss_program_mb": child, "accuracy": accs,
            "training_ratio": out.training_sleep_ratio, "threads": 1}
