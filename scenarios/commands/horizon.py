"""``sleep-snn horizon``: accuracy and weights along a long training run, from probe blocks.

Builds the schedule of :func:`scenarios.experiments.horizon.horizon_schedule`
(epochs over the training images, a probe block every ``--probe-every``
training images), runs every (condition, seed) point on
:func:`scenarios.runs.grid.run_grid` (resumable: run the same command again),
writes ``summary.json`` / ``summary.md`` and the figures of
:mod:`scenarios.figures.horizon` unless ``--no-figures``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["QUICK", "build_parser", "main"]

#: Sizes of ``--quick`` (digits), each only where its option is not given.
QUICK = {"dataset": "digits", "n_images": 120, "epochs": 2, "probe_every": 80, "probe_train": 60,
         "probe_test": 60, "t_present": 60.0, "t_rest": 20.0, "seeds": [0], "workers": 1, "interval": 2.0}


def build_parser() -> argparse.ArgumentParser:
    from scenarios.experiments.horizon import CONDITIONS

    p = argparse.ArgumentParser(prog="sleep-snn horizon", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--size", type=int, default=15)
    p.add_argument("--n-images", type=int, default=60000, help="distinct training images")
    p.add_argument("--epochs", type=int, default=1, help="passes over them (new order each)")
    p.add_argument("--probe-every", type=int, default=5000, help="training images between probe blocks")
    p.add_argument("--probe-train", type=int, default=600, help="probe images the read-out is fitted on")
    p.add_argument("--probe-test", type=int, default=600, help="probe images it is tested on")
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
    p.add_argument("--out", default="results/horizon")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests (digits)")
    return p


def _apply_quick(args, argv) -> None:
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    for key, value in QUICK.items():
        if "--" + key.replace("_", "-") not in given:
            setattr(args, key, value)


def main(argv=None) -> int:
    from brian2 import ms

    from scenarios.commands.common import UserError
    from scenarios.experiments.horizon import HorizonConfig, horizon_grid, horizon_point, summarise_horizon
    from scenarios.runs.grid import run_grid
    from spiking.params import EINetworkParams, ParameterError
    from spiking.sleep import SleepParams

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.quick:
        _apply_quick(args, argv)
    try:
        horizon = HorizonConfig(dataset=args.dataset, n_images=args.n_images, epochs=args.epochs,
                                probe_every=args.probe_every, n_probe_train=args.probe_train,
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
    import dataclasses

    from brian2 import second

    config = {"horizon": dataclasses.asdict(horizon), "params": params,
              "sleep": SleepParams(interval=args.interval * second),
              "backend": args.backend, "out": str(out.resolve()), "seeds": list(args.seeds),
              "readout": args.readout, "data_dir": args.data_dir, "record_interval": 1.0,
              "command": "sleep-snn " + " ".join(["horizon"] + argv)}
    t0 = time.perf_counter()
    run_grid(horizon_grid(args.conditions, args.seeds), config, horizon_point, workers=args.workers,
             scheduler=args.scheduler, label="horizon")
    summary = summarise_horizon(out)
    lines = [f"# Long horizon: {horizon.dataset}, {horizon.n_images} images x {horizon.epochs} epochs, "
             f"probe every {horizon.probe_every}", "", f"Command: `{config['command']}`", "",
             "| condition | achieved sleep ratio | accuracy at the first probe | best | final | seeds |",
             "|---|---|---|---|---|---|"]
    def pm(stat):
        m, s = stat
        return f"{100 * m:.1f}" + (f" ± {100 * s:.1f}" if s is not None and s == s else "")

    for c, cur in summary["curves"].items():
        lines.append(f"| {c} | {cur['training_ratio']:.3f} | {100 * cur['accuracy_mean'][0]:.1f} | "
                     f"{pm(cur['best'])} | {pm(cur['final'])} | {cur['seeds']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print((out / "summary.md").read_text())
    if not args.no_figures:
        from scenarios.figures.horizon import plot

        files = plot(out)
        print(f"[horizon] {len(files)} figure files in {out}")
    print(f"[horizon] finished in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
