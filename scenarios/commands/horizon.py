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

__all__ = ["QUICK", "build_parser", "main"]

#: Sizes of ``--quick`` (digits), each only where its option is not given.
QUICK = {"dataset": "digits", "n_images": 120, "epochs": 2, "probe_every": 80, "probe_train": 60,
         "probe_test": 60, "t_present": 60.0, "t_rest": 20.0, "seeds": [0], "workers": 1, "interval": 2.0}


def build_parser() -> argparse.ArgumentParser:
    from scenarios.commands.common import HelpFormatter, add_probe_run_arguments, positive_int
    from scenarios.experiments.horizon import CONDITIONS

    p = argparse.ArgumentParser(prog="sleep-snn horizon", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--n-images", type=positive_int, default=60000, help="distinct training images")
    p.add_argument("--epochs", type=positive_int, default=1, help="passes over them (new order each)")
    p.add_argument("--probe-every", type=positive_int, default=5000, help="training images between probe blocks")
    p.add_argument("--probe-train", type=positive_int, default=600, help="probe images the read-out is fitted on")
    p.add_argument("--probe-test", type=positive_int, default=600, help="probe images it is tested on")
    add_probe_run_arguments(p, out="results/horizon", conditions=CONDITIONS)
    return p


def main(argv=None) -> int:
    from scenarios.commands.common import UserError, apply_quick_defaults, run_probe_command
    from scenarios.experiments.horizon import (HorizonConfig, horizon_grid, horizon_markdown, horizon_point,
                                               summarise_horizon)

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_quick_defaults(args, argv, QUICK)
    try:
        horizon = HorizonConfig(dataset=args.dataset, n_images=args.n_images, epochs=args.epochs,
                                probe_every=args.probe_every, n_probe_train=args.probe_train,
                                n_probe_test=args.probe_test, size=args.size, data_seed=args.data_seed)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return run_probe_command("horizon", argv, args, "horizon", horizon, horizon_grid(args.conditions, args.seeds),
                             horizon_point, summarise_horizon, horizon_markdown, "scenarios.figures.horizon")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
