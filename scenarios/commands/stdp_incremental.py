"""``sleep-snn stdp-incremental``: class-incremental learning in the STDP network, with and without sleep.

Task blocks of class pairs, a probe block of every class after each
(:mod:`scenarios.experiments.stdp_incremental`); every (condition, seed) point
runs on :func:`scenarios.runs.grid.run_grid` (resumable). Writes
``summary.json``, ``summary.md`` (stage x task matrices, forgetting, drift) and
the figures of :mod:`scenarios.figures.stdp_incremental`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

__all__ = ["QUICK", "build_parser", "main"]

QUICK = {"dataset": "digits", "n_per_task": 40, "probe_train": 12, "probe_test": 12, "t_present": 60.0,
         "t_rest": 20.0, "seeds": [0], "workers": 1, "interval": 1.5}


def build_parser() -> argparse.ArgumentParser:
    from scenarios.experiments.horizon import CONDITIONS

    p = argparse.ArgumentParser(prog="sleep-snn stdp-incremental", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--size", type=int, default=15)
    p.add_argument("--n-per-task", type=int, default=2000, help="training images per task")
    p.add_argument("--probe-train", type=int, default=60, help="probe images per class the read-out fits on")
    p.add_argument("--probe-test", type=int, default=60, help="probe images per class it is tested on")
    p.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--t-present", type=float, default=None, help="presentation time (ms)")
    p.add_argument("--t-rest", type=float, default=None, help="rest after each image (ms)")
    p.add_argument("--interval", type=float, default=35.0,
                   help="schedule condition: training wake time between sleep episodes (s)")
    p.add_argument("--backend", default="cpp_standalone")
    p.add_argument("--readout", default="logreg")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler", default=None)
    p.add_argument("--out", default="results/stdp_incremental")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests (digits)")
    return p


def main(argv=None) -> int:
    from brian2 import ms, second

    from scenarios.commands.common import UserError
    from scenarios.experiments.stdp_incremental import (IncrementalConfig, incremental_grid, incremental_point,
                                                        summarise_incremental)
    from scenarios.runs.grid import run_grid
    from spiking.params import EINetworkParams, ParameterError
    from spiking.sleep import SleepParams

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.quick:
        given = {a.split("=")[0] for a in argv if a.startswith("--")}
        for key, value in QUICK.items():
            if "--" + key.replace("_", "-") not in given:
                setattr(args, key, value)
    try:
        inc = IncrementalConfig(dataset=args.dataset, n_per_task=args.n_per_task, n_probe_train=args.probe_train,
                                n_probe_test=args.probe_test, size=args.size, data_seed=args.data_seed)
        net_kw = {"n_input": args.size * args.size}
        if args.t_present is not None:
            net_kw["t_present"] = args.t_present * ms
        if args.t_rest is not None:
            net_kw["t_rest"] = args.t_rest * ms
        params = EINetworkParams(**net_kw)
    except (ValueError, ParameterError) as exc:
        raise UserError(str(exc)) from exc
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"incremental": dataclasses.asdict(inc), "params": params,
              "sleep": SleepParams(interval=args.interval * second), "backend": args.backend,
              "out": str(out.resolve()), "seeds": list(args.seeds), "readout": args.readout,
              "data_dir": args.data_dir, "record_interval": 1.0,
              "command": "sleep-snn " + " ".join(["stdp-incremental"] + argv)}
    t0 = time.perf_counter()
    try:
        points = incremental_grid(args.conditions, args.seeds)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    run_grid(points, config, incremental_point, workers=args.workers, scheduler=args.scheduler,
             label="stdp-incremental")
    summary = summarise_incremental(out)

    def pm(stat, scale=100):
        m, s = stat
        return f"{scale * m:.1f}" + (f" ± {scale * s:.1f}" if s is not None and s == s else "")

    lines = [f"# Class-incremental STDP: {inc.dataset}, tasks {list(inc.tasks)}, {inc.n_per_task} images per task",
             "", f"Command: `{config['command']}`", "",
             "| condition | sleep ratio | average accuracy after the last task | forgetting | BWT | task-1 drift "
             "(read-out after T1, tested after each task) | seeds |", "|---|---|---|---|---|---|---|"]
    for c, d in summary["conditions"].items():
        drift = " → ".join(f"{100 * v:.0f}" for v in d["drift_mean"])
        lines.append(f"| {c} | {d['training_ratio']:.3f} | {pm(d['average_accuracy'])} | {pm(d['forgetting'])} | "
                     f"{pm(d['backward_transfer'])} | {drift} | {d['seeds']} |")
    for c, d in summary["conditions"].items():
        lines += ["", f"Stage x task accuracy (%), {c} (rows: after task s; columns: task t):", "",
                  "| | " + " | ".join(f"T{t + 1}" for t in range(len(d["acc_mean"]))) + " |",
                  "|---" * (len(d["acc_mean"]) + 1) + "|"]
        for s, row in enumerate(d["acc_mean"]):
            lines.append(f"| after T{s + 1} | " + " | ".join("" if v is None or v != v else f"{100 * v:.1f}"
                                                              for v in row) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print((out / "summary.md").read_text())
    if not args.no_figures:
        from scenarios.figures.stdp_incremental import plot

        files = plot(out)
        print(f"[stdp-incremental] {len(files)} figure files in {out}")
    print(f"[stdp-incremental] finished in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
