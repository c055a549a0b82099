"""Benchmark of the Brian2 E/I network: speed and memory of the default network with plasticity on.

:func:`bench_ei` runs the default network (:class:`spiking.params.EINetworkParams`)
for a given simulated time on random images and returns its figures (speed,
compile time, rates, sleep, peak memory) as a dict; ``sleep-snn bench ei``
(:mod:`scenarios.commands.bench`) prints them.
"""

from __future__ import annotations

import hashlib
import resource
import statistics
import time

import numpy as np

__all__ = ["peak_rss_mb", "output_digest", "bench_ei"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its (finished) children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def output_digest(out) -> str:
    """SHA-256 of a run's spike counts, weight traces and final weights: equal digests = bit-identical runs."""
    h = hashlib.sha256()
    for arr in (out.counts_exc, out.counts_inh, out.sleep_counts_exc, out.sleep_counts_inh,
                *(out.weights[k] for k in sorted(out.weights)),
                *(out.final_weights[k] for k in sorted(out.final_weights))):
        a = np.ascontiguousarray(arr)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def bench_ei(sim_seconds: float = 20.0, backend: str = "cpp_standalone", sleep_mode: str = "off",
             sleep_ratio: float = 0.1, seed: int = 0, directory=None, mean_intensity: float = 0.3,
             compile_mode: str | None = None, repeat: int = 1):
    """Run the default network for ``sim_seconds`` of Poisson input with plasticity on.

    The input is a sequence of random images (uniform intensities with the
    given mean, a Fashion-MNIST-like drive); the whole schedule is training
    (plasticity on).

    Parameters
    ----------
    sim_seconds : float
        Simulated time (s), rounded to whole images.
    backend : str
        Brian2 backend.
    sleep_mode : {"off", "trigger", "schedule"}
        Sleep controller.
    sleep_ratio : float
        Sleep budget of the trigger/schedule modes (0 with ``off``).
    seed : int
        Seed of the images and of the network.
    directory : path-like, optional
        Standalone build directory.
    mean_intensity : float
        Mean pixel intensity of the random images.
    compile_mode : str, optional
        Compiler flags of a standalone build (:func:`spiking.backend.resolve_compile_mode`).
    repeat : int
        Runs of the same program (same seed); ``run_seconds`` is their median.

    Returns
    -------
    dict
        ``benchmark``, ``backend``, ``sleep_mode``, ``sleep_ratio``,
        ``sim_seconds``, ``run_seconds`` (median), ``run_seconds_all``,
        ``realtime_factor``, ``compile_seconds``, ``n_synapses``, ``n_neurons``,
        ``mean_rate_exc_hz``, ``mean_rate_inh_hz``, ``achieved_sleep_ratio``,
        ``n_episodes``, ``peak_rss_mb``, ``threads``, ``build`` (compile mode,
        compiler, flags, CPU) and ``output_sha256`` (:func:`output_digest`,
        the same for every repeat, else an error).
    """
    from brian2 import second

    from spiking.backend import is_standalone
    from spiking.network import EISimulation
    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    params = EINetworkParams()
    n_images = max(1, int(round(sim_seconds / float(params.t_image / second))))
    rng = np.random.default_rng(seed)
    images = np.clip(rng.random((n_images, params.n_input)) * 2 * mean_intensity, 0, 1)
    sleep = SleepParams(mode=sleep_mode, sleep_ratio=sleep_ratio if sleep_mode != "off" else 0.0)
    t0 = time.perf_counter()
    with EISimulation(params, sleep, images, n_images, backend=backend, directory=directory,
                      progress=False, seed=seed, compile_mode=compile_mode) as sim:
        build_s = time.perf_counter() - t0
        times, digests = [], set()
        for _ in range(max(1, int(repeat))):
            out = sim.run(seed=seed)
            times.append(out.run_seconds)
            digests.add(output_digest(out))
        if len(digests) != 1:
            raise RuntimeError(f"{len(digests)} different outputs from {len(times)} runs of the same seed")
        n_syn = sum(len(out.final_weights[p]) for p in ("inp_exc", "exc_exc", "exc_inh", "inh_exc"))
    run_s = statistics.median(times)
    t_present = float(params.t_present / second)
    return {
        "benchmark": "ei",
        "backend": backend,
        "sleep_mode": sleep_mode,
        "sleep_ratio": sleep.sleep_ratio,
        "sim_seconds": out.sim_time,
        "run_seconds": run_s,
        "run_seconds_all": times,
        "realtime_factor": out.sim_time / run_s if run_s > 0 else float("nan"),
        "compile_seconds": build_s if is_standalone(backend) else out.compile_seconds,
        "n_synapses": n_syn,
        "n_neurons": params.n_input + params.n_exc + params.n_inh,
        "mean_rate_exc_hz": out.mean_rates(t_present)["exc"],
        "mean_rate_inh_hz": out.mean_rates(t_present)["inh"],
        "achieved_sleep_ratio": out.sleep_ratio,
        "n_episodes": len(out.episodes),
        "peak_rss_mb": peak_rss_mb(),
        "threads": 1,
        "build": out.build,
        "output_sha256": digests.pop(),
    }
