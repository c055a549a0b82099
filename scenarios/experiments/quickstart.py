"""``sleep-snn quickstart``: a few-minute tour of the toolkit on real data.

1. The Brian2 E/I network learns scikit-learn's handwritten digits (real 8x8
   scans, resized to 15x15) with STDP, once without sleep and once with the
   sleep controller (same compiled binary, re-run with a sleep budget), and
   is read out with logistic regression next to the raw-pixel baseline.
2. Sleep Replay Consolidation on the patches toy task (Tadros et al. 2022):
   a two-task MLP forgets task 1, sleep brings it back.

Results and figures go to ``--out`` (default ``results/quickstart``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def ei_demo(out: Path, dataset: str, backend: str, n_train: int, n_test: int, seed: int,
            sleep_ratio: float, data_dir=None) -> list[dict]:
    from brian2 import ms

    from scenarios.experiments.ei import load_schedule, pixel_baseline, readout_from_output, summarise_run
    from scenarios.figures.ei import ei_figures
    from spiking.network import EISimulation
    from spiking.params import EINetworkParams
    from scenarios.runs.results import save_result
    from spiking.sleep import SleepParams

    params = EINetworkParams(t_present=100 * ms, t_rest=50 * ms)
    schedule = load_schedule(dataset, n_train, n_test, data_dir=data_dir)
    pixels = pixel_baseline(schedule)
    rows = []
    print(f"[quickstart] E/I network on {dataset}: {n_train} training / {n_test} test images "
          f"({backend}; the first run compiles the network)", flush=True)
    with EISimulation(params, SleepParams(sleep_ratio=0.0), schedule.images, schedule.n_train,
                      backend=backend, directory=out / "build", seed=seed) as sim:
        for label, ratio in (("no sleep", 0.0), ("sleep", sleep_ratio)):
            sleep = SleepParams(sleep_ratio=ratio)
            res = sim.run(seed=seed, sleep=sleep)
            readout = readout_from_output(res, schedule, seed=seed)
            run_dir = out / ("ei_sleep" if ratio else "ei_no_sleep")
            meta, arrays = summarise_run(res, schedule, params, sleep, readout, seed=seed,
                                         extra={"pixel_baseline_accuracy": pixels.accuracy,
                                                "command": "sleep-snn quickstart"})
            save_result(run_dir, meta, arrays)
            ei_figures(run_dir)
            rows.append({"run": label, "accuracy": readout.accuracy,
                         "sleep_ratio": res.sleep_ratio, "episodes": len(res.episodes),
                         "W_exc_exc_growth": float(res.weights["exc_exc"][-1] / res.weights["exc_exc"][0]),
                         "dir": str(run_dir)})
    print(f"\n{'run':<10} {'accuracy':>9} {'slept':>7} {'episodes':>9} {'E->E weight':>12}")
    for r in rows:
        print(f"{r['run']:<10} {r['accuracy']:>9.3f} {r['sleep_ratio']:>7.1%} {r['episodes']:>9d} "
              f"{r['W_exc_exc_growth']:>11.2f}x")
    print(f"{'pixels':<10} {pixels.accuracy:>9.3f}   (logistic regression on the raw 15x15 pixels)")
    return rows


def src_demo(out: Path, backend: str) -> None:
    from scenarios.experiments import patches

    print("\n[quickstart] Sleep Replay Consolidation on the patches task", flush=True)
    # The authors' 16-pixel layout with 4 + 4 epochs: at overlap 12 sequential training
    # forgets task 1 completely and SRC restores it (docs/results/patches.md).
    patches.main(["--quick", "--n-on", "authors", "--epochs2", "4", "--hist-overlap", "12",
                  "--backend", backend, "--out", str(out / "patches")])
    runs = json.loads((out / "patches" / "result.json").read_text())["runs"]
    for r in runs:
        t2, src = r["acc"]["T2"]["task1"], r["acc"]["SRC"]["task1"]
        verdict = ("no forgetting" if t2 >= 0.99 else
                   "forgotten, restored by sleep" if src >= 0.99 else
                   "forgotten, restored in part by sleep" if src > t2 else "forgotten, not restored")
        print(f"overlap {r['overlap']:>2}: task 1 after task 2 {t2:.0%}, after SRC {src:.0%}: {verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sleep-snn quickstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/quickstart")
    parser.add_argument("--dataset", default="digits", help="digits (default) | fashion | mnist | kmnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--backend", default="cpp_standalone")
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--sleep-ratio", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--src-backend", default="torch", help="torch (default) | brian2")
    parser.add_argument("--skip-src", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    t0 = time.perf_counter()
    ei_demo(out, args.dataset, args.backend, args.n_train, args.n_test, args.seed, args.sleep_ratio,
            args.data_dir)
    if not args.skip_src:
        src_demo(out, args.src_backend)
    print(f"\n[quickstart] done in {time.perf_counter() - t0:.0f} s; results and figures in {out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
