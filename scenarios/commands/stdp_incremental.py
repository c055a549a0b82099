"""``sleep-snn stdp-incremental``: class-incremental learning in the STDP network, with and without sleep.

Task blocks of class pairs, a probe block of every class after each
(:mod:`scenarios.experiments.stdp_incremental`); every (condition, seed) point
runs on :func:`scenarios.runs.grid.run_grid` (resumable). Writes
``summary.json``, ``summary.md`` (stage x task matrices, forgetting, drift) and
the figures of :mod:`scenarios.figures.stdp_incremental`.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["QUICK", "build_parser", "main"]

QUICK = {"dataset": "digits", "n_per_task": 40, "probe_train": 12, "probe_test": 12, "t_present": 60.0,
         "t_rest": 20.0, "seeds": [0], "workers": 1, "interval": 1.5}


def build_parser() -> argparse.ArgumentParser:
    from scenarios.commands.common import HelpFormatter, add_probe_run_arguments, positive_int
    from scenarios.experiments.horizon import CONDITIONS

    p = argparse.ArgumentParser(prog="sleep-snn stdp-incremental", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--n-per-task", type=positive_int, default=2000, help="training images per task")
    p.add_argument("--probe-train", type=positive_int, default=60,
                   help="probe images per class the read-out fits on")
    p.add_argument("--probe-test", type=positive_int, default=60, help="probe images per class it is tested on")
    add_probe_run_arguments(p, out="results/stdp_incremental", conditions=CONDITIONS)
    return p


def main(argv=None) -> int:
    from scenarios.commands.common import UserError, apply_quick_defaults, run_probe_command
    from scenarios.experiments.stdp_incremental import (IncrementalConfig, incremental_grid, incremental_markdown,
                                                        incremental_point, summarise_incremental)

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    apply_quick_defaults(args, argv, QUICK)
    try:
        inc = IncrementalConfig(dataset=args.dataset, n_per_task=args.n_per_task, n_probe_train=args.probe_train,
                                n_probe_test=args.probe_test, size=args.size, data_seed=args.data_seed)
        points = incremental_grid(args.conditions, args.seeds)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return run_probe_command("stdp-incremental", argv, args, "incremental", inc, points, incremental_point,
                             summarise_incremental, incremental_markdown, "scenarios.figures.stdp_incremental")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
