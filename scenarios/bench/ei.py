"""``sleep-snn bench ei | scan | src | hessian``: speed and memory benchmarks.

Each prints progress to stderr and, with ``--json``, one JSON object as the
last line of stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time

import numpy as np

SUBCOMMANDS = {
    "ei": ("scenarios.bench.ei", "bench_ei_main"),
    "scan": ("scenarios.experiments.scan", "bench_main"),
    "src": ("scenarios.bench.src", "main"),
    "hessian": ("scenarios.bench.hessian", "main"),
}


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its (finished) children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def bench_ei(sim_seconds: float = 20.0, backend: str = "cpp_standalone", sleep_mode: str = "off",
             sleep_ratio: float = 0.1, seed: int = 0, directory=None, mean_intensity: float = 0.3):
    """Run the default network for ``sim_seconds`` of Poisson input with plasticity on.

    The input is a sequence of random images (uniform intensities with the
    given mean, a Fashion-MNIST-like drive); the whole schedule is training
    (plasticity on). Returns a dict of figures (see the module doc).
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
                      progress=False, seed=seed) as sim:
        build_s = time.perf_counter() - t0
        out = sim.run(seed=seed)
        n_syn = sum(len(out.final_weights[p]) for p in ("inp_exc", "exc_exc", "exc_inh", "inh_exc"))
    t_present = float(params.t_present / second)
    return {
        "benchmark": "ei",
        "backend": backend,
        "sleep_mode": sleep_mode,
        "sleep_ratio": sleep.sleep_ratio,
        "sim_seconds": out.sim_time,
        "run_seconds": out.run_seconds,
        "realtime_factor": out.realtime_factor,
        "compile_seconds": build_s if is_standalone(backend) else out.compile_seconds,
        "n_synapses": n_syn,
        "n_neurons": params.n_input + params.n_exc + params.n_inh,
        "mean_rate_exc_hz": out.mean_rates(t_present)["exc"],
        "mean_rate_inh_hz": out.mean_rates(t_present)["inh"],
        "achieved_sleep_ratio": out.sleep_ratio,
        "n_episodes": len(out.episodes),
        "peak_rss_mb": peak_rss_mb(),
        "threads": 1,
    }


def bench_ei_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sleep-snn bench ei",
                                     description="speed of the default E/I network with plasticity on")
    parser.add_argument("--sim-seconds", type=float, default=20.0, help="simulated seconds (20)")
    parser.add_argument("--backend", default="cpp_standalone")
    parser.add_argument("--sleep-mode", default="off", choices=("off", "trigger", "schedule"))
    parser.add_argument("--sleep-ratio", type=float, default=0.1,
                        help="sleep budget for trigger/schedule modes (0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--build-dir", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    res = bench_ei(args.sim_seconds, args.backend, args.sleep_mode, args.sleep_ratio, args.seed,
                   args.build_dir)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>22}: {v}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        print("usage: sleep-snn bench {" + ",".join(SUBCOMMANDS) + "} [options]", file=sys.stderr)
        return 2
    module, func = SUBCOMMANDS[argv[0]]
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
