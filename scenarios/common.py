"""Helpers shared by the scenario modules.

The trial-based scenarios (:mod:`scenarios.robustness`,
:mod:`scenarios.plasticity`) write their results the same way and share a
command line: a ``result.json`` plus a ``table.md`` in an output directory,
runs of other seeds that :func:`merge_results` combines, figures saved as PNG
and PDF, and a ``main`` that runs, merges or only re-plots
(:func:`run_cli`). This module holds that common part, the JSON conversion
also used by :mod:`scenarios.incremental` and :mod:`scenarios.patches`, the
mean ± sd statistics of the summary tables and the checks of the
configuration dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from scenarios.metrics import mean_sd

__all__ = [
    "RESULT_JSON",
    "TABLE_MD",
    "MERGE_FREE",
    "json_default",
    "jsonable",
    "trial_stat",
    "format_stat",
    "format_pct",
    "check_choice",
    "check_at_least_one",
    "check_finite_nonnegative",
    "config_to_json",
    "save_result",
    "load_result",
    "merge_results",
    "open_for_plot",
    "parse_hidden",
    "given_options",
    "add_run_arguments",
    "run_cli",
]

#: File names of a result directory.
RESULT_JSON = "result.json"
TABLE_MD = "table.md"
#: Config fields that may differ between results that :func:`merge_results` combines.
MERGE_FREE = ("seed", "trials", "threads")


# --------------------------------------------------------------------------- JSON
def json_default(obj: Any) -> Any:
    """``default`` hook of :func:`json.dumps` for numpy scalars and arrays and paths.

    Parameters
    ----------
    obj : object
        An object that :mod:`json` cannot serialise by itself.

    Returns
    -------
    object
        A JSON-serialisable equivalent.

    Raises
    ------
    TypeError
        If ``obj`` is of no supported type.
    """
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def jsonable(obj: Any) -> Any:
    """Convert nested containers of numpy values into strict JSON values.

    Parameters
    ----------
    obj : object
        Dicts, lists, tuples, numpy arrays and scalars, nested in any way.

    Returns
    -------
    object
        The same structure with string keys, lists for tuples and arrays,
        Python ints and floats, and ``None`` for non-finite floats.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


# --------------------------------------------------------------------------- statistics
def trial_stat(values: Sequence[float | None]) -> dict:
    """Mean and sample standard deviation over trials, ``None`` entries left out.

    Parameters
    ----------
    values : sequence of float or None
        One value per trial.

    Returns
    -------
    dict
        ``{"mean", "sd", "per_trial"}``; ``mean`` is None without values and
        ``sd`` is None with fewer than two.
    """
    v = [float(x) for x in values if x is not None]
    if not v:
        return {"mean": None, "sd": None, "per_trial": []}
    mean, sd = mean_sd(v)
    return {"mean": mean, "sd": None if math.isnan(sd) else sd, "per_trial": v}


def format_stat(stat: dict, scale: float = 1.0, digits: int = 3) -> str:
    """Format a :func:`trial_stat` as ``mean ± sd`` (significant digits).

    Parameters
    ----------
    stat : dict
        A :func:`trial_stat` result.
    scale : float, optional
        Factor applied to mean and sd.
    digits : int, optional
        Significant digits of the mean (the sd gets two).

    Returns
    -------
    str
        ``"–"`` without a mean, the mean alone without an sd.
    """
    return _format_mean_sd(stat, scale, f".{digits}g", ".2g")


def format_pct(stat: dict) -> str:
    """Format a :func:`trial_stat` of fractions as percent, ``mean ± sd`` with one decimal.

    Parameters
    ----------
    stat : dict
        A :func:`trial_stat` result of values in [0, 1] (or differences of them).

    Returns
    -------
    str
        ``"–"`` without a mean, the mean alone without an sd.
    """
    return _format_mean_sd(stat, 100.0, ".1f", ".1f")


def _format_mean_sd(stat: dict, scale: float, mean_spec: str, sd_spec: str) -> str:
    """``mean ± sd`` of a :func:`trial_stat`, each scaled and formatted by its spec."""
    if stat["mean"] is None:
        return "–"
    text = format(stat["mean"] * scale, mean_spec)
    return text if stat["sd"] is None else f"{text} ± {format(stat['sd'] * scale, sd_spec)}"


# --------------------------------------------------------------------------- config checks
def check_choice(name: str, value: Any, choices: Sequence) -> None:
    """Raise unless ``value`` is one of ``choices``.

    Parameters
    ----------
    name : str
        Field name, for the message.
    value : object
        The value to check.
    choices : sequence
        Allowed values.

    Raises
    ------
    ValueError
        ``"name=value: must be 'a' or 'b'"`` (two choices) or ``"... must be one of (...)"``.
    """
    if value in choices:
        return
    allowed = " or ".join(repr(c) for c in choices) if len(choices) == 2 else f"one of {tuple(choices)}"
    raise ValueError(f"{name}={value!r}: must be {allowed}")


def check_at_least_one(obj: Any, names: Sequence[str], *, allow_none: bool = False) -> None:
    """Raise unless each named attribute of ``obj`` is an integer >= 1 (or None, if allowed).

    Parameters
    ----------
    obj : object
        Usually a configuration dataclass.
    names : sequence of str
        Attribute names, checked in order.
    allow_none : bool
        Accept ``None`` (meaning "all" or "default") as well.

    Raises
    ------
    ValueError
        For the first attribute below 1.
    """
    for name in names:
        v = getattr(obj, name)
        if v is None and allow_none:
            continue
        if v is None or int(v) < 1:
            raise ValueError(f"{name}={v!r}: must be >= 1" + (" or None" if allow_none else ""))


def check_finite_nonnegative(obj: Any, names: Sequence[str]) -> None:
    """Raise unless each named attribute of ``obj`` is a finite number >= 0.

    Parameters
    ----------
    obj : object
        Usually a configuration dataclass.
    names : sequence of str
        Attribute names, checked in order.

    Raises
    ------
    ValueError
        For the first attribute that is negative, infinite or NaN.
    """
    for name in names:
        v = float(getattr(obj, name))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name}={v!r}: must be a finite number >= 0")


def config_to_json(cfg: Any, list_fields: Sequence[str] = ()) -> dict:
    """A configuration dataclass as a dict, with the named tuple fields as lists.

    Parameters
    ----------
    cfg : dataclass instance
        The configuration.
    list_fields : sequence of str, optional
        Fields whose (tuple) values are written as lists.

    Returns
    -------
    dict
        :func:`dataclasses.asdict` of ``cfg`` with those fields converted.
    """
    d = dataclasses.asdict(cfg)
    for name in list_fields:
        d[name] = list(getattr(cfg, name))
    return d


# --------------------------------------------------------------------------- result files
def save_result(result: dict, out_dir: str | Path, table: Callable[[dict], str]) -> Path:
    """Write ``result.json`` (atomically) and ``table.md`` into ``out_dir``.

    Parameters
    ----------
    result : dict
        The result; numpy values are converted by :func:`json_default`.
    out_dir : str or Path
        Output directory, created when missing.
    table : callable
        Makes the Markdown text of ``table.md`` from the result.

    Returns
    -------
    Path
        The path of ``result.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULT_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=json_default))
    tmp.replace(path)
    (out / TABLE_MD).write_text(table(result))
    return path


def load_result(result_dir: str | Path) -> dict:
    """Read ``result.json`` from a directory (or the file itself).

    Parameters
    ----------
    result_dir : str or Path
        A result directory or the path of its ``result.json``.

    Returns
    -------
    dict
        The result.
    """
    p = Path(result_dir)
    if p.is_dir():
        p = p / RESULT_JSON
    return json.loads(p.read_text())


def merge_results(result_dirs: Sequence, summarize: Callable[[dict], dict], free: Sequence[str] = MERGE_FREE,
                  implied: dict | None = None) -> dict:
    """Combine the trials of several runs made with the same settings (other seeds).

    Parameters
    ----------
    result_dirs : sequence of str or Path
        Result directories (or ``result.json`` paths), in order.
    summarize : callable
        Makes the ``summary`` of the merged result.
    free : sequence of str, optional
        Config fields that may differ (default ``seed``, ``trials``, ``threads``).
    implied : dict, optional
        Config fields added after some results were written, with the value
        then implied; filled into results that lack them before comparing.

    Returns
    -------
    dict
        The first result with all trials, ``seeds``, the summed ``wall_s``,
        ``merged_from``, the joined ``command``, ``config.seed`` the smallest
        seed, ``config.trials`` the number of trials, and a new ``summary``.

    Raises
    ------
    ValueError
        Without results, when configurations differ in other fields, or when
        trial seeds repeat.
    """
    results = [load_result(d) for d in result_dirs]
    if not results:
        raise ValueError("nothing to merge")
    for r in results:
        for k, v in (implied or {}).items():
            r["config"].setdefault(k, v)
    ref = {k: v for k, v in results[0]["config"].items() if k not in free}
    for r, d in zip(results[1:], result_dirs[1:]):
        other = {k: v for k, v in r["config"].items() if k not in free}
        diff = sorted(k for k in set(ref) | set(other) if ref.get(k) != other.get(k))
        if diff:
            raise ValueError(f"cannot merge {d}: its configuration differs in {diff}")
    trials = [t for r in results for t in r["trials"]]
    seeds = [t["seed"] for t in trials]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"cannot merge: repeated trial seeds {seeds}")
    merged = dict(results[0])
    merged["config"] = dict(results[0]["config"], seed=min(seeds), trials=len(trials))
    merged.update(trials=trials, seeds=seeds, wall_s=float(sum(r["wall_s"] for r in results)),
                  merged_from=[str(d) for d in result_dirs],
                  command="; ".join(r.get("command", "") for r in results))
    merged["summary"] = summarize(merged)
    return merged


# --------------------------------------------------------------------------- figures
def open_for_plot(result_dir: str | Path, out_dir: str | Path | None = None) -> tuple[dict, Path]:
    """Select a non-interactive matplotlib backend, read a result and resolve the figure directory.

    Parameters
    ----------
    result_dir : str or Path
        A result directory or its ``result.json``.
    out_dir : str or Path, optional
        Figure directory; default the result's directory.

    Returns
    -------
    result : dict
        The result.
    out : Path
        Where the figures go.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    result = load_result(result_dir)
    if out_dir is not None:
        return result, Path(out_dir)
    p = Path(result_dir)
    return result, (p if p.is_dir() else p.parent)


# --------------------------------------------------------------------------- command line
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
