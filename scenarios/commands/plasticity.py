"""``sleep-snn plasticity``: loss of plasticity over a task sequence (SGD, SAM, GNP, SGD + SRC).

Parses the options into a :class:`scenarios.experiments.plasticity.PlasticityConfig`,
runs the experiment, saves ``result.json`` + ``table.md`` into ``--out``, draws
the figures of :mod:`scenarios.figures.plasticity` unless ``--no-plot`` and
prints the summary per arm (``--plot-only`` and ``--merge`` as every
trial-based command, :func:`scenarios.commands.common.run_cli`).

Usage::

    sleep-snn plasticity --setting class --tasks 10 --trials 3 --out results/plasticity_class
    python -m scenarios.commands.plasticity --quick --out /tmp/plast
"""

from __future__ import annotations

import argparse
import sys

from scenarios.commands.common import add_run_arguments, given_options, parse_hidden, run_cli
from scenarios.experiments.plasticity import DATASETS, PlasticityConfig, merge, quick_config, run, save
from scenarios.figures.plasticity import plot
from scenarios.runs.stats import format_pct

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleep-snn plasticity",
                                description="Loss of plasticity over a task sequence (seed 003): SGD, SAM, GNP, "
                                            "and SGD with SRC between tasks.")
    p.add_argument("--setting", choices=("class", "permuted"), default="class",
                   help="class pairs with a shared binary output, or pixel-permuted tasks (default class)")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="default fashion (digits with --quick)")
    p.add_argument("--tasks", type=int, default=None, help="number of tasks (default 10; 4 with --quick)")
    p.add_argument("--optimizer", default="sgd,sam,gnp", help="comma-separated optimiser arms (default sgd,sam,gnp)")
    p.add_argument("--src", dest="src", action="store_true", default=True,
                   help="add the SGD + SRC arm (default on)")
    p.add_argument("--no-src", dest="src", action="store_false", help="leave out the SRC arm")
    p.add_argument("--trials", type=int, default=None, help="trials (default 3; 2 with --quick)")
    p.add_argument("--n-train", type=int, default=None, help="training images per task (default 4000)")
    p.add_argument("--n-test", type=int, default=None, help="test images per task (default 2000)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per task (default 2)")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (default 100)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1)")
    p.add_argument("--loss", choices=("mse", "ce"), default=None, help="loss (default mse, as SRC)")
    p.add_argument("--hidden", default=None, help="hidden widths (default 1200,1200)")
    p.add_argument("--sam-rho", type=float, default=None, help="SAM training radius (default 0.02)")
    p.add_argument("--gnp-coef", type=float, default=None, help="GNP coefficient (default 0.01)")
    p.add_argument("--sleep-steps", type=int, default=None,
                   help="SRC steps after every task (default 15000 + (k-1)*5000 after task k)")
    p.add_argument("--eps", type=float, default=None, help="radius of the seed-000 sharpness (default 0.5)")
    p.add_argument("--sharpness-batch", type=int, default=None, help="images for the sharpness (default 500)")
    p.add_argument("--hessian", action="store_true", help="also the top Hessian eigenvalue after each task")
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch", help="SRC simulator")
    add_run_arguments(p, out="results/plasticity", quick_help="tiny run on digits (seconds)")
    return p


def config_from_args(args: argparse.Namespace) -> PlasticityConfig:
    """The configuration of parsed options (``--quick``: :func:`~scenarios.experiments.plasticity.quick_config`)."""
    arms = [a.strip() for a in args.optimizer.split(",") if a.strip()]
    bad = [a for a in arms if a not in ("sgd", "sam", "gnp")]
    if bad:
        raise ValueError(f"--optimizer: unknown {bad}; choose from sgd, sam, gnp")
    if args.src:
        arms.append("src")
    given = {
        "setting": args.setting, "dataset": args.dataset, "tasks": args.tasks, "arms": tuple(arms),
        "trials": args.trials, "n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "loss": args.loss,
        "hidden": parse_hidden(args.hidden),
        "sam_rho": args.sam_rho, "gnp_coef": args.gnp_coef, "sleep_steps": args.sleep_steps, "eps": args.eps,
        "sharpness_batch": args.sharpness_batch, "hessian": args.hessian, "backend": args.backend,
        "seed": args.seed, "data_dir": args.data_dir, "threads": args.threads,
    }
    given = given_options(given)
    return quick_config(**given) if args.quick else PlasticityConfig(**given)


def main(argv: list[str] | None = None) -> int:
    """Run ``sleep-snn plasticity`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    done = run_cli(build_parser(), argv, config_from_args=config_from_args, run=run, save=save, plot=plot,
                   merge=merge)
    if done is None:
        return 0
    cfg, result = done
    for arm in cfg.arms:
        s = result["summary"][arm]
        print(f"{arm:4s} new-task acc first {format_pct(s['first_new_task_accuracy'])}, last "
              f"{format_pct(s['last_new_task_accuracy'])}, mean change {format_pct(s['mean_per_task_change'])} pts/task, "
              f"final avg {format_pct(s['final_average_accuracy'])}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
