"""``sleep-snn scan``: sleep ratio x seed x parameter grids on Dask, resumable.

Runs every grid point (one E/I run each, :func:`scenarios.experiments.scan.run_point`)
on :func:`scenarios.runs.grid.run_grid`, into ``DIR/runs/<key>/``; a killed scan is
resumed by running the same command again (a scan directory keeps its settings
in ``DIR/manifest.json``: a run with other settings stops and names them). Then
writes ``summary.csv`` / ``summary.md`` (with the raw-pixel and plasticity-off
baselines) and, unless ``--no-figures``, the figures of :mod:`scenarios.figures.scan`.
How the runs share one compiled network is described in :mod:`scenarios.experiments.scan`.
"""

from __future__ import annotations

import argparse
import sys
import time

from scenarios.commands.common import (QUICK, HelpFormatter, UserError, add_network_args, add_protocol_args,
                                       apply_protocol_sizes, check_output_dir, params_from_args, positive_int,
                                       protocol_from_args, resolve_network_args)

__all__ = ["QUICK_SCAN", "parse_param", "build_parser", "main"]

#: Sizes of a ``--quick`` scan (smoke tests); options given explicitly win.
QUICK_SCAN = {**QUICK, "n_train": 60, "n_test": 40}


def parse_param(text: str) -> tuple[str, list]:
    """``"NAME=V1,V2"`` -> ``(NAME, [V1, V2])``: known names only, integers for integer fields.

    Raises
    ------
    ValueError
        An unknown name, a value that is not a number, a non-integer value
        of an integer field (``n_exc=10.5``), or no values.
    """
    from scenarios.experiments.scan import integer_params, scannable_params

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
    if name in integer_params():
        bad = [v for v in vals if not v.is_integer()]
        if bad:
            raise ValueError(f"--param {name}={values}: {name} is a whole number (a count); "
                             f"{', '.join(f'{v:g}' for v in bad)} is not")
        vals = [int(v) for v in vals]
    return name, vals


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn scan", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    add_network_args(parser, grid=True)
    g = parser.add_argument_group("grid")
    g.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="network seeds of the grid")
    g.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                   help="extra grid axis (repeatable), e.g. sigma=0,1,2,3")
    g.add_argument("--no-frozen-baseline", action="store_true",
                   help="no plasticity-off baseline run per seed")
    c = parser.add_argument_group("cluster")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None,
                       help="local Dask workers, one thread each (default: 2)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://HOST:PORT)")
    c.add_argument("--connect-timeout", type=float, default=5.0,
                   help="seconds to wait for --scheduler before giving up")
    parser.add_argument("--out", default="results/scan", help="scan directory")
    parser.add_argument("--no-figures", action="store_true", help="skip the figures")
    parser.add_argument("--quick", action="store_true",
                        help="tiny scan for smoke tests: digits, 60 train / 40 test images, short presentations")
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


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    protocol = protocol_from_args(args)
    quirks = quirk_axis(args)
    if quirks is not None and protocol is None:
        raise UserError("--quirk-sets/--ablation: a quirk axis needs --protocol (project or reference)")
    if protocol is not None:
        apply_protocol_sizes(args, argv)
        protocol = protocol_from_args(args)
    resolve_network_args(args, QUICK_SCAN)
    try:
        extra = dict(parse_param(p) for p in args.param)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if quirks is not None:
        extra["quirks"] = quirks
    params, sleep = params_from_args(args)

    from scenarios.experiments.scan import build_config, check_points, run_point, scan_settings, summarise
    from scenarios.runs.grid import check_scheduler, grid_points, run_grid

    points = grid_points(args.ratios, args.seeds, extra, frozen_baseline=not args.no_frozen_baseline)
    check_points(points, params, sleep)
    out = check_output_dir(args.out)
    if args.scheduler:
        check_scheduler(args.scheduler, args.connect_timeout)
    config = build_config(params=params, sleep=sleep, dataset=args.dataset, n_train=args.n_train,
                          n_test=args.n_test, size=args.size, data_seed=args.data_seed,
                          n_readout_train=args.n_readout_train, data_dir=args.data_dir, backend=args.backend,
                          readout=args.readout, out=out, seeds=args.seeds, compile_mode=args.compile_mode,
                          command="sleep-snn " + " ".join(["scan"] + argv), protocol=protocol)
    t0 = time.perf_counter()
    run_grid(points, config, run_point, workers=args.workers or 2, scheduler=args.scheduler, label="scan",
             settings=scan_settings(config), connect_timeout=args.connect_timeout)
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
