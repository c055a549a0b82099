"""``sleep-snn patches``: the "Patches" toy of Tadros et al. (2022), Fig. 1.

Parses the options into a :class:`scenarios.experiments.patches.PatchesConfig`,
runs every overlap × trial (:func:`scenarios.experiments.patches.run`), saves
``result.json`` + ``table.md`` into ``--out``, prints the table and draws the
figures of :mod:`scenarios.figures.patches` (``patches_accuracy``, Fig. 1B;
``patches_weights``, Fig. 1D) unless ``--no-plot``.

Usage::

    sleep-snn patches --out results/patches
    sleep-snn patches --quick --n-on authors --out /tmp/patches
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from scenarios.experiments.patches import PatchesConfig, parse_overlaps, run, save, table_markdown
from scenarios.figures.patches import plot

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``sleep-snn patches``."""
    p = argparse.ArgumentParser(prog="sleep-snn patches",
                                description="Patches toy of Tadros et al. (2022), Fig. 1: forgetting vs "
                                            "pixel overlap, recovery by SRC, weight histograms.")
    p.add_argument("--overlaps", default="0-25", help="range or list, e.g. 0-25 or 10,12,14")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--n-on", default="25", help="on-pixels per image (1..25) or 'authors'")
    p.add_argument("--norm", choices=("softmax", "logits"), default="softmax",
                   help="normalisation of the sleep network: authors' softmax rule or the converter's logits")
    p.add_argument("--steps", type=int, default=30000, help="sleep steps")
    p.add_argument("--epochs1", type=int, default=4, help="epochs (= SGD steps) of task 1")
    p.add_argument("--epochs2", type=int, default=2, help="epochs (= SGD steps) of task 2")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hist-overlap", type=int, default=None, help="overlap of the weight histograms")
    p.add_argument("--out", default="results/patches")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--quick", action="store_true", help="overlaps 4,14,24, 1 trial, 3000 sleep steps")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sleep-snn patches``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        n_on: Any = args.n_on if args.n_on == "authors" else int(args.n_on)
        kw = dict(overlaps=parse_overlaps(args.overlaps), trials=args.trials, n_on=n_on, norm=args.norm,
                  steps=args.steps, backend=args.backend, device=args.device, seed=args.seed,
                  epochs1=args.epochs1, epochs2=args.epochs2, lr=args.lr)
        if args.quick:
            kw.update(overlaps=(4, 14, 24) if n_on != "authors" else (4, 12, 20), trials=1, steps=3000)
        cfg = PatchesConfig(**kw)
    except ValueError as exc:
        print(f"sleep-snn patches: {exc}", file=sys.stderr)
        return 2
    result = run(cfg)
    out = Path(args.out)
    save(result, out)
    print(table_markdown(result))
    if not args.no_plot:
        for path in plot(out, hist_overlap=args.hist_overlap):
            print(f"wrote {path}")
    print(f"wrote {out / 'result.json'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
