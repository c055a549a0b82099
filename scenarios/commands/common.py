"""Command-line helpers shared by the sub-commands.

The trial-based commands (``robustness``, ``plasticity``, ...) share one flow:
run, save into ``--out``, plot unless ``--no-plot``; or only re-plot
(``--plot-only``); or merge the trials of earlier runs (``--merge``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from scenarios.runs.results import RESULT_JSON, TABLE_MD

__all__ = ["parse_hidden", "given_options", "add_run_arguments", "run_cli"]


def parse_hidden(spec: str | None) -> tuple | None:
    """Parse ``--hidden``: comma-separated widths, or None when not given.

    Parameters
    ----------
    spec : str or None
        E.g. ``"1200,1200"``.

    Returns
    -------
    tuple of int or None
        The widths.
    """
    return tuple(int(h) for h in spec.split(",")) if spec else None


def given_options(options: dict) -> dict:
    """The options that were given on the command line (those not None).

    Parameters
    ----------
    options : dict
        Config field names and option values.

    Returns
    -------
    dict
        The items whose value is not None.
    """
    return {k: v for k, v in options.items() if v is not None}


def add_run_arguments(p: argparse.ArgumentParser, out: str, quick_help: str) -> None:
    """Add the options every trial-based scenario has.

    ``--seed``, ``--data-dir``, ``--threads``, ``--out``, ``--quick``,
    ``--no-plot``, ``--plot-only`` and ``--merge``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The scenario's parser.
    out : str
        Default output directory.
    quick_help : str
        Help text of ``--quick``.
    """
    p.add_argument("--seed", type=int, default=0, help="first trial seed (trial t uses seed + t)")
    p.add_argument("--data-dir", default=None, help="directory of the IDX files")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default=out, help="output directory")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--no-plot", action="store_true", help="skip the figures")
    p.add_argument("--plot-only", action="store_true", help="only re-plot an existing --out/result.json")
    p.add_argument("--merge", nargs="+", default=None, metavar="DIR",
                   help="combine the trials of these result directories (same settings, other seeds) into --out")


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None, *, config_from_args: Callable,
            run: Callable, save: Callable, plot: Callable, merge: Callable) -> tuple[Any, dict] | None:
    """The command-line flow of a trial-based scenario: merge, re-plot, or run and save.

    With ``--merge`` the given results are merged into ``--out`` (and plotted
    unless ``--no-plot``); with ``--plot-only`` the figures are redrawn;
    otherwise the configuration is built (a ``ValueError`` becomes a usage
    error), run, saved into ``--out`` and plotted unless ``--no-plot``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The scenario's parser (with :func:`add_run_arguments`).
    argv : list of str or None
        Arguments (None = ``sys.argv[1:]``).
    config_from_args, run, save, plot, merge : callable
        The scenario's functions.

    Returns
    -------
    tuple or None
        ``(config, result)`` of a new run, None when only merged or plotted.
    """
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        merge(args.merge, out)
        print(f"merged {len(args.merge)} result(s) into {out / RESULT_JSON}")
        if args.no_plot:
            return None
        args.plot_only = True
    if args.plot_only:
        for p in plot(out):
            print(p)
        return None
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    result = run(cfg, log=lambda s: print(s, flush=True))
    path = save(result, out)
    print(f"wrote {path} and {out / TABLE_MD}")
    if not args.no_plot:
        for p in plot(out):
            print(f"wrote {p}")
    return cfg, result
