"""``sleep-snn scan``: sleep ratio x seed x parameter grids on Dask, resumable.

Runs every grid point (one E/I run each, :func:`scenarios.experiments.scan.run_point`)
on :func:`scenarios.runs.grid.run_grid`, into ``DIR/runs/<key>/``; a killed scan is
resumed by running the same command again. Then writes ``summary.csv`` /
``summary.md`` (with the raw-pixel and plasticity-off baselines) and, unless
``--no-figures``, the figures of :mod:`scenarios.figures.scan`. How the runs share
one compiled network is described in :mod:`scenarios.experiments.scan`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scenarios.commands.common import (add_network_args, add_protocol_args, apply_protocol_sizes, apply_quick,
                                       params_from_args, protocol_from_args)

__all__ = ["parse_param", "build_parser", "main"]


def parse_param(text: str) -> tuple[str, list[float]]:
    """``"NAME=V1,V2"`` -> ``(NAME, [V1, V2])`` with a clear error for unknown names."""
    from scenarios.experiments.scan import scannable_params

    if "=" not in text:
        raise ValueError(f"--param {text!r} must look like NAME=V1,V2,...")
    name, values = text.split("=", 1)
    name = name.strip()
    allowed = scannable_params()
    if name not in allowed:
        raise ValueError(f"--param: unknown parameter {name!r}; allowed: {', '.join(allowed)}")
    try:
        vals = [float(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"--param {name}: values must be numbers, got {values!r}") from exc
    if not vals:
        raise ValueError(f"--param {name}: no values given")
    return name, vals


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn scan", description=__doc__.split("\n\n")[0])
    add_network_args(parser)
    parser.set_defaults(sleep_ratio=None)
    parser.add_argument("--sleep-ratios", "--sleep-ratio-grid", dest="ratios", type=float, nargs="+",
                        default=None, help="sleep ratios to scan")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--param", action="append", default=[],
                        help="extra grid axis NAME=V1,V2,... (repeatable), e.g. sigma=0,1,2,3")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers (one thread each)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--no-frozen-baseline", action="store_true")
    parser.add_argument("--out", default="results/scan")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny scan for smoke tests (digits)")
    add_protocol_args(parser)
    add_quirk_axis_args(parser)
    return parser


def add_quirk_axis_args(parser: argparse.ArgumentParser) -> None:
    """``--quirk-sets`` / ``--ablation``: quirk sets as a grid axis of a protocol scan."""
    g = parser.add_argument_group("quirk sets as a grid axis (with --protocol)")
    g.add_argument("--quirk-sets", nargs="+", default=None, metavar="SPEC",
                   help="grid axis 'quirks': none, reference, a+b (names or letters), reference-a (all but a)")
    g.add_argument("--ablation", choices=("alone", "all_but_one", "both"), default=None,
                   help="the quirk sets of an ablation: none, reference, each quirk alone and/or all but one")


def quirk_axis(args) -> list[str] | None:
    """The ``quirks`` grid axis the options ask for (validated specs), or None."""
    from scenarios.commands.common import UserError
    from scenarios.experiments.protocol import ProtocolError, ablation_sets, quirk_label, quirk_set

    specs = list(args.quirk_sets or [])
    if args.ablation:
        specs += ablation_sets(args.ablation)
    if not specs:
        return None
    try:
        labels = [quirk_label(quirk_set(s)) for s in specs]
    except ProtocolError as exc:
        raise UserError(f"--quirk-sets: {exc}") from exc
    return list(dict.fromkeys(labels))


def _fix_ratio_args(argv: list[str]) -> list[str]:
    """``--sleep-ratio 0 0.1 0.2`` (several values) is the scan's grid."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--sleep-ratio":
            vals = []
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                vals.append(argv[i])
                i += 1
            out += ["--sleep-ratios"] + vals
            continue
        out.append(a)
        i += 1
    return out


def main(argv=None) -> int:
    from scenarios.experiments.scan import build_config, run_point, summarise
    from scenarios.runs.grid import grid_points, run_grid

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_fix_ratio_args(argv))
    args.sleep_ratio = 0.0
    if args.quick:
        apply_quick(args, argv)
        if "--n-train" not in argv:
            args.n_train, args.n_test = 60, 40
    protocol = protocol_from_args(args)
    quirks = quirk_axis(args)
    if quirks is not None and protocol is None:
        from scenarios.commands.common import UserError

        raise UserError("--quirk-sets/--ablation: a quirk axis needs --protocol (project or reference)")
    if protocol is not None:
        apply_protocol_sizes(args, argv)
        protocol = protocol_from_args(args)
    ratios = args.ratios if args.ratios is not None else [0.0, 0.1, 0.2, 0.3]
    for r in ratios:
        if not 0 <= r < 1:
            raise ValueError(f"--sleep-ratio {r}: must lie in [0, 1)")
    extra = dict(parse_param(p) for p in args.param)
    if quirks is not None:
        extra["quirks"] = quirks
    params, sleep = params_from_args(args)
    config = build_config(params=params, sleep=sleep, dataset=args.dataset, n_train=args.n_train,
                          n_test=args.n_test, size=args.size, data_seed=args.data_seed,
                          n_readout_train=args.n_readout_train, data_dir=args.data_dir, backend=args.backend,
                          readout=args.readout, out=args.out, seeds=args.seeds,
                          command="sleep-snn " + " ".join(["scan"] + argv), protocol=protocol)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    points = grid_points(ratios, args.seeds, extra, frozen_baseline=not args.no_frozen_baseline)
    t0 = time.perf_counter()
    run_grid(points, config, run_point, workers=args.workers, scheduler=args.scheduler, label="scan")
    summarise(out, config)
    print((out / "summary.md").read_text())
    if not args.no_figures:
        from scenarios.figures.scan import plot

        files = plot(out)
        print(f"[scan] {len(files)} figure files in {out}")
    print(f"[scan] finished in {time.perf_counter() - t0:.0f} s; summary in {out / 'summary.csv'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
