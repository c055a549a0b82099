"""``sleep-snn robustness``: accuracy and sharpness under distortions (baseline, SRC, SAM, GNP).

Parses the options into a :class:`scenarios.experiments.robustness.RobustnessConfig`,
runs the experiment, saves ``result.json`` + ``table.md`` into ``--out``, draws
the figures of :mod:`scenarios.figures.robustness` unless ``--no-plot`` and
prints the averages over all distortion levels (``--plot-only`` and
``--merge`` as every trial-based command, :func:`scenarios.commands.common.run_cli`).

``--model cnn`` runs seed 000's own setting, the small CNN; ``--tune BUDGET``
searches the SRC preset on a validation split instead
(:func:`scenarios.experiments.robustness_tune.tune`; writes
``search_summary.json`` into ``--out``).

Usage::

    sleep-snn robustness --dataset fashion --trials 3 --out results/robustness
    sleep-snn robustness --model cnn --dataset fashion --trials 3 --out results/robustness_cnn
    sleep-snn robustness --model cnn --tune 60 --validation 10000 --out results/robustness_cnn_tune
    python -m scenarios.commands.robustness --quick --out /tmp/rob
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from scenarios.commands.common import UserError, add_run_arguments, given_options, parse_hidden, run_cli
from scenarios.experiments.robustness import (DATASETS, MODEL_KINDS, MODELS, RobustnessConfig, merge, quick_config,
                                              run, save)
from scenarios.figures.robustness import plot
from scenarios.runs.stats import format_pct, format_stat

__all__ = ["parse_levels", "build_parser", "config_from_args", "main"]


def parse_levels(specs: Sequence[str] | None, kinds: Sequence[str]) -> dict | None:
    """Parse ``--levels``: ``"0.1,0.3"`` (every type) and/or ``"KIND=0.1,0.3"`` items."""
    if not specs:
        return None
    out: dict[str, tuple] = {}
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        if "=" in spec:
            kind, values = spec.split("=", 1)
            targets = [kind.strip()]
        else:
            values, targets = spec, list(kinds)
        try:
            levels = tuple(float(v) for v in values.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"--levels {spec!r}: levels must be numbers, e.g. 0.1,0.3 or gaussian=0.1,0.3") from None
        if not levels:
            raise ValueError(f"--levels {spec!r}: no levels given")
        for k in targets:
            if k not in kinds:
                raise ValueError(f"--levels {spec!r}: {k!r} is not one of the distortions {tuple(kinds)}")
            out[k] = levels
    return out or None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleep-snn robustness",
                                description="Accuracy and sharpness under distortions: baseline, SRC, SAM, GNP "
                                            "(seed 000's experiment on the SRC MLP).")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="data set (default fashion; digits with --quick)")
    p.add_argument("--model", choices=MODEL_KINDS, default="mlp",
                   help="network: the SRC MLP (default) or seed 000's small CNN")
    p.add_argument("--channels", default=None,
                   help="CNN conv channels, e.g. 16,32 (default; 6,12 with --quick)")
    p.add_argument("--kernel", type=int, default=None, help="CNN conv kernel side (default 5)")
    p.add_argument("--src-preset", default=None,
                   help="SRC preset (default: fashion/mnist for the MLP, cnn-fashion for the CNN)")
    p.add_argument("--models", default=",".join(MODELS),
                   help="models to build, containing baseline (default baseline,src,sam,gnp)")
    p.add_argument("--distortions", default="gaussian,saltpepper,speckle",
                   help="comma-separated distortion types (default: all three)")
    p.add_argument("--levels", nargs="+", default=None, metavar="SPEC",
                   help="override the levels: '0.1,0.3' for every type and/or 'gaussian=0.1,0.3'")
    p.add_argument("--trials", type=int, default=None, help="independent trials (default 3; 2 with --quick)")
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch", help="SRC simulator")
    p.add_argument("--n-train", type=int, default=None, help="training images (default: all)")
    p.add_argument("--n-test", type=int, default=None, help="test images (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 2)")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (default 100; 25 with --quick)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1 for the MLP, 0.05 for the CNN)")
    p.add_argument("--loss", choices=("mse", "ce"), default="mse",
                   help="training loss and the loss whose sharpness is measured (default mse, as SRC)")
    p.add_argument("--hidden", default=None, help="hidden widths, e.g. 1200,1200 (default; 256,256 with --quick)")
    p.add_argument("--eps", type=float, default=0.5, help="radius ε of seed 000's sharpness (default 0.5)")
    p.add_argument("--rho", type=float, default=0.5, help="radius ρ of the SAM sharpness measure (default 0.5)")
    p.add_argument("--sam-steps", type=int, default=None, help="ascent steps of the SAM sharpness (default 5)")
    p.add_argument("--sharpness-batch", type=int, default=None,
                   help="test images used for the sharpness measures (default 1000; 100 with --quick)")
    p.add_argument("--hessian", action="store_true", help="also compute the top Hessian eigenvalue")
    p.add_argument("--hessian-iters", type=int, default=None, help="max power iterations (default 20)")
    p.add_argument("--hessian-batch", type=int, default=None,
                   help="images for the Hessian, the first of the sharpness batch (default: all of it)")
    p.add_argument("--sam-train-rho", type=float, default=0.02, help="SAM radius for training (default 0.02)")
    p.add_argument("--gnp-coef", type=float, default=0.01, help="gradient-norm penalty coefficient (default 0.01)")
    p.add_argument("--sleep-steps", type=int, default=None, help="SRC steps (default: the preset's)")
    p.add_argument("--compare", nargs="+", default=None, metavar="DIR",
                   help="only draw comparison.{png,pdf} into --out from these result directories (e.g. MLP, CNN)")
    g = p.add_argument_group("preset search (--tune)")
    g.add_argument("--tune", type=int, default=None, metavar="BUDGET",
                   help="search the SRC preset with BUDGET candidates on a validation split instead of running")
    g.add_argument("--validation", type=int, default=10000, help="training images held out (default 10000)")
    g.add_argument("--tune-eval", type=int, default=2000,
                   help="validation images that score a candidate (default 2000)")
    g.add_argument("--tune-steps", type=int, default=10000, help="sleep steps of every candidate (default 10000)")
    g.add_argument("--tune-seed", type=int, default=1000,
                   help="seed of the split, network, sleep input and noise (default 1000)")
    g.add_argument("--tune-startup", type=int, default=15, help="random candidates before TPE (default 15)")
    g.add_argument("--tune-start", default=None, metavar="JSON",
                   help="also try first the best candidates (--tune-start-top) of an earlier search_summary.json")
    g.add_argument("--tune-start-top", type=int, default=5, help="how many of them (default 5)")
    add_run_arguments(p, out="results/robustness", quick_help="tiny run on digits (well under a minute)")
    return p


def config_from_args(args: argparse.Namespace) -> RobustnessConfig:
    """The configuration of parsed options (``--quick``: :func:`~scenarios.experiments.robustness.quick_config`)."""
    kinds = [k.strip() for k in args.distortions.split(",") if k.strip()]
    given = {
        "dataset": args.dataset, "distortions": tuple(kinds), "model": args.model,
        "channels": parse_hidden(args.channels), "kernel": args.kernel, "src_preset": args.src_preset,
        "models": tuple(m.strip() for m in args.models.split(",") if m.strip()), "levels": parse_levels(args.levels, kinds),
        "trials": args.trials, "backend": args.backend, "n_train": args.n_train, "n_test": args.n_test,
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "loss": args.loss,
        "hidden": parse_hidden(args.hidden),
        "eps": args.eps, "rho": args.rho, "sam_steps": args.sam_steps, "sharpness_batch": args.sharpness_batch,
        "hessian": args.hessian, "hessian_iters": args.hessian_iters, "hessian_batch": args.hessian_batch,
        "sam_train_rho": args.sam_train_rho,
        "gnp_coef": args.gnp_coef, "sleep_steps": args.sleep_steps, "seed": args.seed, "data_dir": args.data_dir,
        "threads": args.threads,
    }
    given = given_options(given)
    if args.quick:
        if args.levels is None:
            given.pop("levels", None)
        return quick_config(**given)
    if given.get("levels") is None:
        given.pop("levels", None)
    return RobustnessConfig(**given)


def _tune(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from scenarios.experiments.robustness_tune import TuneConfig, tune

    try:
        cfg = config_from_args(args)
        start = ()
        if args.tune_start is not None:
            from scenarios.experiments.robustness_tune import best_candidates

            start = best_candidates(args.tune_start, args.tune_start_top)
        tcfg = TuneConfig(budget=args.tune, validation=args.validation, eval_images=args.tune_eval,
                          steps=args.tune_steps, seed=args.tune_seed, n_startup=args.tune_startup, start=start)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        summary = tune(cfg, tcfg, args.out, log=lambda m: print(m, flush=True))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    best = summary["best"]
    print(f"best candidate {best['number']} of {len(summary['candidates'])}: validation accuracy under "
          f"distortions {100 * best['score']:.2f} % (baseline {100 * summary['baseline']['score']:.2f} %); "
          f"parameters {best['x']}; wrote {args.out}/search_summary.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``sleep-snn robustness`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tune is not None:
        return _tune(parser, args)
    if args.compare:
        from scenarios.figures.robustness import plot_comparison

        for path in plot_comparison(args.compare, out_dir=args.out):
            print(f"wrote {path}")
        return 0
    done = run_cli(build_parser(), argv, config_from_args=config_from_args, run=run, save=save, plot=plot,
                   merge=merge)
    if done is None:
        return 0
    cfg, result = done
    summ = result["summary"]
    for m in cfg.models:
        a = summ["all_levels"][m]
        print(f"{m:9s} accuracy {format_pct(a['accuracy'])} %, S(eps) {format_stat(a['sharpness_seed000'])}, "
              f"SAM {format_stat(a['sharpness_sam'])}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
