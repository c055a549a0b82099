"""``sleep-snn incremental``: class-incremental learning with Sleep Replay Consolidation.

Tadros et al., Nat. Commun. 13:7742 (2022), Table 1 / Fig. 2 / Fig. 4: parses
the options into a :class:`scenarios.experiments.incremental.IncrementalConfig`,
runs the protocol, saves ``result.json`` + ``table.md`` into ``--out``, prints
the table and draws the figures of :mod:`scenarios.figures.incremental`
(``incremental_stages``, ``incremental_correlation``, ``incremental_summary``;
PNG and PDF) unless ``--no-plot``.

``--merge DIR,DIR,...`` merges earlier runs with other seeds instead
(:func:`scenarios.experiments.incremental.merge`); ``--plot-sleep-every
DIR,DIR,...`` draws the final accuracy of runs that differ in
``--sleep-every`` (:func:`scenarios.figures.incremental.plot_sleep_every_dirs`). On a validation split
(``--validation N``), ``--select ewc_lambda,si_c,owm_alpha`` chooses the
baselines' coefficients
(:func:`scenarios.experiments.selection.select_coefficients`) and
``--search N`` runs the Optuna search for an SRC preset
(:func:`scenarios.experiments.selection.search`); both draw their figures
(:mod:`scenarios.figures.selection`). ``--search-trial DIR[:N]`` runs the
protocol with the preset of a search's trial N (default its best), which is
how a search's winner is scored on the test set, and ``--compare A,B`` pairs
it seed by seed with another run
(:func:`scenarios.experiments.incremental.compare`).

Usage::

    sleep-snn incremental --dataset fashion --trials 5 --out results/incremental
    sleep-snn incremental --protocol paper --trials 5 --out results/incremental_paper
    sleep-snn incremental --arms src --sleep-every 2 --out results/every2
    sleep-snn incremental --validation 1000 --search 40 --out results/search
    sleep-snn incremental --search-trial results/search --arms src --trials 5 --out results/search_best
    sleep-snn incremental --compare results/search_best,results/incremental --out results/search_vs_authors
    sleep-snn incremental --quick --out /tmp/inc
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Sequence

from scenarios.experiments.incremental import (ARMS, CONVENTIONS, DATASET_PRESETS, PROTOCOLS, QUICK,
                                               QUICK_COEFFICIENTS, IncrementalConfig, compare, compare_markdown, merge,
                                               preset_schedule, run, save, table_markdown)
from scenarios.experiments.selection import (COEFFICIENT_ARMS, MAX_SLEEP_SPIKES, search, select_coefficients,
                                             trial_preset)
from scenarios.runs.results import to_jsonable as _jsonable

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``sleep-snn incremental``."""
    p = argparse.ArgumentParser(
        prog="sleep-snn incremental",
        description="Class-incremental learning with Sleep Replay Consolidation (Tadros et al. 2022, "
                    "Tables 1-2 / Fig. 2 / Fig. 4): sequential, EWC, SI, OWM, SRC, rehearsal, rehearsal+SRC, "
                    "iCaRL, iCaRL+SRC, parallel.")
    p.add_argument("--dataset", choices=tuple(DATASET_PRESETS), default="fashion")
    p.add_argument("--tasks", type=int, default=5, help="number of tasks (classes split in order)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--rehearsal", type=float, default=0.0075, help="fraction of old data rehearsed")
    p.add_argument("--preset", default=None,
                   help="SRC preset (default: the dataset's: fashion->fashion, mnist->mnist, digits->mnist); "
                        "also the tuned presets fashion-tuned and fashion-paper-tuned (for --protocol paper)")
    p.add_argument("--search-trial", default=None, metavar="DIR[:N]",
                   help="use the SRC preset of trial N (default: the best) of the --search in DIR, with its "
                        "sleep schedule: how a search's winner is scored on the test set")
    p.add_argument("--n-per-task", type=int, default=5000)
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="code",
                   help="code: the authors' code (2 epochs, squared error, U(-0.01, 0.01)); paper: the paper's "
                        "Methods (10 epochs, cross-entropy on the current task, U(-0.02, 0.02))")
    p.add_argument("--epochs", type=int, default=None, help="epochs per task (default: the protocol's)")
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
    p.add_argument("--sleep-every", type=int, default=1, metavar="N",
                   help="the sleeping arms sleep after every N-th task and after the last (default 1)")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    p.add_argument("--memory", default="100,200,500", help="iCaRL memory sizes K, comma separated")
    p.add_argument("--ewc-lambda", type=float, default=None, help="EWC lambda (default: selected on validation)")
    p.add_argument("--si-c", type=float, default=None, help="SI c (default: selected on validation)")
    p.add_argument("--owm-alpha", type=float, default=None, help="OWM alpha (default: selected on validation)")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out this many training images per task and evaluate on them (not the test set)")
    p.add_argument("--no-correlations", action="store_true", help="skip the hidden-layer correlations")
    p.add_argument("--no-plot", action="store_true", help="only simulate and save")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: digits (28x28), 128-128 hidden, all ~250 images per task, "
                        "10 epochs of batches of 20, sleeps of 1000 + 250 (k-1) steps, iCaRL K=20, 1 trial "
                        "(overrides those options)")
    p.add_argument("--merge", default=None, metavar="DIR,DIR,...",
                   help="merge the result.json of these runs (same settings, different seeds) into --out "
                        "and redraw; nothing is simulated")
    p.add_argument("--compare", default=None, metavar="DIR_A,DIR_B",
                   help="paired comparison, seed by seed, of one arm of two saved runs (e.g. a search's preset "
                        "against the authors'); writes comparison.json and comparison.md into --out")
    p.add_argument("--compare-arm", default="src", metavar="ARM[,ARM_B]",
                   help="arm of --compare in both runs, or ARM of the first and ARM_B of the second (default src)")
    p.add_argument("--plot-sleep-every", default=None, metavar="DIR,DIR,...",
                   help="draw final accuracy against --sleep-every from these saved runs into --out; nothing "
                        "is simulated")
    p.add_argument("--select", default=None, metavar="NAMES",
                   help=f"choose these coefficients on the validation split instead of a run "
                        f"({','.join(COEFFICIENT_ARMS)}; needs --validation)")
    p.add_argument("--select-grid", action="append", default=[], metavar="NAME=V,V,...",
                   help="values of one coefficient for --select (default: the selection's grid); repeatable")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="run the Optuna search for an SRC preset to N trials instead (needs --validation)")
    p.add_argument("--search-seeds", default="1000,1001", help="seeds of every --select value / --search trial")
    p.add_argument("--search-base", default=None, help="preset the search starts from (default: --preset)")
    p.add_argument("--prune-after", default="S2",
                   help="stage after which a search trial may be pruned ('none': never)")
    p.add_argument("--max-sleep-spikes", type=float, default=MAX_SLEEP_SPIKES, metavar="S",
                   help="abandon (prune) a --search trial whose sleep fires more than S spikes per step, input "
                        f"excluded (default {MAX_SLEEP_SPIKES:g}; 0: no limit)")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler")
    p.add_argument("--startup-trials", type=int, default=10,
                   help="random trials of --search before TPE models the objective and pruning starts")
    p.add_argument("--workers", type=int, default=1, help="Dask worker processes of --select / --search")
    p.add_argument("--scheduler", default=None, help="address of a Dask scheduler for --select / --search")
    return p


def config_from_args(args: argparse.Namespace) -> IncrementalConfig:
    """Build the :class:`IncrementalConfig` of parsed command-line arguments."""
    kw = dict(dataset=args.dataset, n_tasks=args.tasks, trials=args.trials, backend=args.backend,
              device=args.device, rehearsal=args.rehearsal, preset=args.preset,
              n_per_task=args.n_per_task, protocol=args.protocol, epochs=args.epochs, seed=args.seed,
              data_dir=args.data_dir, hidden=tuple(int(h) for h in args.hidden.split(",") if h.strip()),
              convention=args.convention, sleep_every=args.sleep_every,
              arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()),
              memory=_ints(args.memory, "--memory"), ewc_lambda=args.ewc_lambda, si_c=args.si_c,
              owm_alpha=args.owm_alpha, validation=args.validation, correlations=not args.no_correlations)
    # the sleep schedule: explicit options, else a tuned preset's own, else the authors'
    name = args.preset or DATASET_PRESETS[args.dataset]
    steps, increment = preset_schedule(name) or (15000, 5000)
    kw["sleep_steps"] = steps if args.sleep_steps is None else args.sleep_steps
    kw["sleep_increment"] = increment if args.sleep_increment is None else args.sleep_increment
    if args.quick:
        kw.update(QUICK)
        kw.update({k: v for k, v in QUICK_COEFFICIENTS.items() if kw.get(k) is None})
    return IncrementalConfig(**kw)


def _search_trial_config(cfg: IncrementalConfig, args: argparse.Namespace):
    """``cfg`` with the preset name and sleep schedule of ``--search-trial DIR[:N]``, and its SRCParams."""
    if args.preset or args.sleep_steps is not None or args.sleep_increment is not None:
        raise ValueError(f"--search-trial={args.search_trial!r} sets the preset and the sleep schedule; "
                         "leave out --preset, --sleep-steps and --sleep-increment")
    directory, sep, number = args.search_trial.rpartition(":")
    if not sep or not number.strip().isdigit():
        directory, number = args.search_trial, None
    info = trial_preset(directory, None if number is None else int(number))
    print(f"search trial {info['name']}: validation {100 * info['value']:.2f} %, base preset {info['base']}")
    return dataclasses.replace(cfg, preset=info["name"], sleep_steps=info["sleep_steps"],
                               sleep_increment=info["sleep_increment"]), info["params"]


def _ints(text: str, option: str) -> tuple:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{option}={text!r}: must be comma-separated integers") from None


def _grids(items: Sequence[str]) -> dict:
    grids = {}
    for item in items:
        name, sep, values = item.partition("=")
        try:
            grids[name.strip()] = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"--select-grid={item!r}: must be NAME=V,V,... with numbers") from None
        if not sep or not grids[name.strip()]:
            raise ValueError(f"--select-grid={item!r}: must be NAME=V,V,...")
    return grids


def _compare(args: argparse.Namespace, out: Path) -> int:
    """``--compare DIR_A,DIR_B``: print and save the paired comparison; 2 on a user error."""
    dirs = [d.strip() for d in args.compare.split(",") if d.strip()]
    arms = [a.strip() for a in args.compare_arm.split(",") if a.strip()]
    try:
        if len(dirs) != 2:
            raise ValueError(f"--compare={args.compare!r}: must be two result directories, DIR_A,DIR_B")
        if len(arms) not in (1, 2):
            raise ValueError(f"--compare-arm={args.compare_arm!r}: must be ARM or ARM,ARM_B")
        comparison = compare(dirs[0], dirs[1], arms[0], arms[-1], out)
    except (OSError, ValueError) as exc:
        print(f"sleep-snn incremental: {exc}", file=sys.stderr)
        return 2
    print(compare_markdown(comparison))
    print(f"wrote {out / 'comparison.json'} and {out / 'comparison.md'}")
    return 0


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
            from scenarios.figures.incremental import plot
            plot(out)
        return 0
    if args.compare:
        return _compare(args, out)
    if args.plot_sleep_every:
        dirs = [Path(d) for d in args.plot_sleep_every.split(",") if d.strip()]
        from scenarios.figures.incremental import plot_sleep_every_dirs
        try:
            files = plot_sleep_every_dirs(dirs, out)
        except (OSError, ValueError) as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        for path in files:
            print(f"wrote {path}")
        return 0
    if args.select or args.search:
        from scenarios.figures.selection import plot_coefficients, plot_search
        try:
            seeds = _ints(args.search_seeds, "--search-seeds")
            if args.select:
                summary = select_coefficients(cfg, out, [c.strip() for c in args.select.split(",") if c.strip()],
                                              grids=_grids(args.select_grid), seeds=seeds, workers=args.workers,
                                              scheduler=args.scheduler)
                figures = plot_coefficients(out) if not args.no_plot else []
                shown = summary["best"]
            else:
                prune = None if args.prune_after.lower() == "none" else args.prune_after
                summary = search(cfg, args.search, out, seeds=seeds, base=args.search_base, prune_after=prune,
                                 sampler_seed=args.sampler_seed, n_startup_trials=args.startup_trials,
                                 workers=args.workers, scheduler=args.scheduler,
                                 max_sleep_spikes=args.max_sleep_spikes or None)
                figures = plot_search(out) if not args.no_plot else []
                shown = summary["best"]
        except ValueError as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        for path in figures:
            print(f"wrote {path}")
        print(json.dumps(_jsonable(shown), indent=1))
        return 0
    params = None
    if args.search_trial:
        try:
            cfg, params = _search_trial_config(cfg, args)
        except ValueError as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
    build_dir = out / "brian2_build" if cfg.backend == "brian2" else None
    result = run(cfg, build_directory=build_dir, params=params)
    save(result, out)
    print(table_markdown(result))
    if not args.no_plot:  # matplotlib is imported only when figures are drawn
        from scenarios.figures.incremental import plot
        for path in plot(out):
            print(f"wrote {path}")
    print(f"wrote {out / 'result.json'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
