"""``sleep-snn incremental``: class-incremental learning with Sleep Replay Consolidation.

Tadros et al., Nat. Commun. 13:7742 (2022), Table 1 / Fig. 2 / Fig. 4: parses
the options into a :class:`scenarios.experiments.incremental.IncrementalConfig`,
runs the protocol, saves ``result.json`` + ``table.md`` into ``--out``, prints
the table and draws the figures of :mod:`scenarios.figures.incremental`
(``incremental_stages``, ``incremental_correlation``, ``incremental_summary``;
PNG and PDF) unless ``--no-plot``.

``--merge DIR,DIR,...`` merges earlier runs with other seeds instead
(:func:`scenarios.experiments.incremental.merge`); ``--tune BUDGET`` runs the
search for a tuned SRC preset on a validation split
(:func:`scenarios.experiments.tune.tune`) and draws its landscape
(:func:`scenarios.figures.tune.plot_search`).

Usage::

    sleep-snn incremental --dataset fashion --trials 3 --out results/incremental
    sleep-snn incremental --quick --out /tmp/inc
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from scenarios.experiments.incremental import (ARMS, CONVENTIONS, DATASET_PRESETS, QUICK, IncrementalConfig,
                                               merge, preset_schedule, run, save, table_markdown)
from scenarios.experiments.tune import tune
from scenarios.figures.incremental import plot
from scenarios.figures.tune import plot_search
from scenarios.runs.results import to_jsonable as _jsonable

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``sleep-snn incremental``."""
    p = argparse.ArgumentParser(
        prog="sleep-snn incremental",
        description="Class-incremental learning with Sleep Replay Consolidation (Tadros et al. 2022, "
                    "Table 1 / Fig. 2 / Fig. 4): sequential, SRC, rehearsal, rehearsal+SRC, parallel.")
    p.add_argument("--dataset", choices=tuple(DATASET_PRESETS), default="fashion")
    p.add_argument("--tasks", type=int, default=5, help="number of tasks (classes split in order)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--rehearsal", type=float, default=0.0075, help="fraction of old data rehearsed")
    p.add_argument("--preset", default=None,
                   help="SRC preset (default: the dataset's: fashion->fashion, mnist->mnist, digits->mnist); "
                        "also tuned presets such as fashion-tuned")
    p.add_argument("--n-per-task", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the first trial (trial k uses seed+k)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="results/incremental")
    p.add_argument("--hidden", default="1200,1200", help="hidden widths, comma separated")
    p.add_argument("--convention", choices=CONVENTIONS, default="authors",
                   help="training/normalisation conventions: the authors' MATLAB ones (default) or torch's")
    p.add_argument("--sleep-steps", type=int, default=None,
                   help="sleep length after task 1 (default: the preset's schedule, else 15000)")
    p.add_argument("--sleep-increment", type=int, default=None,
                   help="extra steps per later task (default: the preset's schedule, else 5000)")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out this many training images per task and evaluate on them (not the test set)")
    p.add_argument("--no-correlations", action="store_true", help="skip the hidden-layer correlations")
    p.add_argument("--no-plot", action="store_true", help="only simulate and save")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: digits (28x28), 128-128 hidden, all ~250 images per task, "
                        "10 epochs, sleeps of 1000 + 250 (k-1) steps, 1 trial (overrides those options)")
    p.add_argument("--merge", default=None, metavar="DIR,DIR,...",
                   help="merge the result.json of these runs (same settings, different seeds) into --out "
                        "and redraw; nothing is simulated")
    p.add_argument("--tune", type=int, default=0, metavar="BUDGET",
                   help="run the preset search with this many evaluations instead (needs --validation)")
    p.add_argument("--tune-base", default=None, help="preset the search starts from (default: --preset)")
    p.add_argument("--tune-seeds", default="1000", help="seeds of the search evaluations")
    p.add_argument("--tune-confirm-seeds", default="1001,1002", help="extra seeds for the finalists")
    p.add_argument("--tune-random", type=int, default=None, help="random candidates before evolution")
    p.add_argument("--tune-search-seed", type=int, default=0)
    p.add_argument("--tune-radius", type=float, default=4.0,
                   help="random candidates lie within this factor of the base values")
    p.add_argument("--tune-workers", type=int, default=1,
                   help="processes that evaluate the seeds of a candidate side by side (default 1)")
    return p


def config_from_args(args: argparse.Namespace) -> IncrementalConfig:
    """Build the :class:`IncrementalConfig` of parsed command-line arguments."""
    kw = dict(dataset=args.dataset, n_tasks=args.tasks, trials=args.trials, backend=args.backend,
              device=args.device, rehearsal=args.rehearsal, preset=args.preset,
              n_per_task=args.n_per_task, epochs=args.epochs, seed=args.seed, data_dir=args.data_dir,
              hidden=tuple(int(h) for h in args.hidden.split(",") if h.strip()),
              convention=args.convention,
              arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()),
              validation=args.validation, correlations=not args.no_correlations)
    # the sleep schedule: explicit options, else a tuned preset's own, else the authors'
    name = args.preset or DATASET_PRESETS[args.dataset]
    steps, increment = preset_schedule(name) or (15000, 5000)
    kw["sleep_steps"] = steps if args.sleep_steps is None else args.sleep_steps
    kw["sleep_increment"] = increment if args.sleep_increment is None else args.sleep_increment
    if args.quick:
        kw.update(QUICK)
    return IncrementalConfig(**kw)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sleep-snn incremental``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"sleep-snn incremental: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.merge:
        dirs = [Path(d) for d in args.merge.split(",") if d.strip()]
        try:
            result = merge(dirs, out)
        except (OSError, ValueError) as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        print(table_markdown(result))
        if not args.no_plot:
            plot(out)
        return 0
    if args.tune:
        try:
            summary = tune(cfg, args.tune, out, base=args.tune_base or cfg.preset_name,
                           seeds=[int(s) for s in args.tune_seeds.split(",")],
                           confirm_seeds=[int(s) for s in args.tune_confirm_seeds.split(",") if s.strip()],
                           n_random=args.tune_random, search_seed=args.tune_search_seed,
                           radius=args.tune_radius, workers=args.tune_workers)
        except ValueError as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        if not args.no_plot:
            for path in plot_search(out, seeds=summary["seeds"]):
                print(f"wrote {path}")
        print(json.dumps(_jsonable(summary["best"]), indent=1))
        return 0
    build_dir = out / "brian2_build" if cfg.backend == "brian2" else None
    result = run(cfg, build_directory=build_dir)
    save(result, out)
    print(table_markdown(result))
    if not args.no_plot:
        for path in plot(out):
            print(f"wrote {path}")
    print(f"wrote {out / 'result.json'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
