"""Command-line helpers shared by the sub-commands.

The E/I commands (``ei``, ``scan``, ``bench ei``) share the network options
(:func:`add_network_args`, :func:`params_from_args`, :func:`apply_quick`).
The trial-based commands (``robustness``, ``plasticity``, ...) share one flow:
run, save into ``--out``, plot unless ``--no-plot``; or only re-plot
(``--plot-only``); or merge the trials of earlier runs (``--merge``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from scenarios.runs.results import RESULT_JSON, TABLE_MD

__all__ = ["UserError", "parse_hidden", "given_options", "add_run_arguments", "run_cli", "add_network_args",
           "params_from_args", "QUICK", "apply_quick", "add_protocol_args", "protocol_from_args",
           "apply_protocol_sizes"]


class UserError(Exception):
    """A problem with what the user asked for (an option, a path, the data).

    ``sleep-snn`` reports it as one line naming the parameter, the value and what
    is allowed, and exits with status 2, without a traceback.
    """


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


# --- the E/I network's options -----------------------------------------------------

def add_network_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``ei``, ``scan`` and ``bench ei``."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="fashion",
                   help="fashion | mnist | kmnist | digits (default: fashion)")
    g.add_argument("--n-train", type=int, default=2000, help="training images (default 2000)")
    g.add_argument("--n-test", type=int, default=1000, help="test images (default 1000)")
    g.add_argument("--n-readout-train", type=int, default=None,
                   help="training images re-presented to fit the read-out (default: all)")
    g.add_argument("--size", type=int, default=15, help="images are resized to SIZE x SIZE (15)")
    g.add_argument("--data-dir", default=None, help="directory with the IDX files")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the image subsample (fixed across network seeds; default 0)")
    n = parser.add_argument_group("network")
    n.add_argument("--t-present", type=float, default=None, help="presentation time per image (ms)")
    n.add_argument("--t-rest", type=float, default=None, help="rest after each image (ms)")
    n.add_argument("--input-rate", type=float, default=None, help="input rate at intensity 1 (Hz)")
    n.add_argument("--no-plasticity", action="store_true",
                   help="frozen random weights (the plasticity-off baseline)")
    s = parser.add_argument_group("sleep")
    s.add_argument("--sleep-mode", default="trigger", choices=("trigger", "schedule", "off"))
    s.add_argument("--sleep-ratio", type=float, default=0.0,
                   help="sleep budget r: sleep <= r/(1-r) x wake (0 = never sleep)")
    s.add_argument("--alpha-trig", type=float, default=None, help="sleep when W > alpha_trig W(0)")
    s.add_argument("--alpha-base", type=float, default=None, help="wake when W <= alpha_base W(0)")
    s.add_argument("--sigma", type=float, default=None, help="sleep membrane noise per step (mV)")
    s.add_argument("--lam", type=float, default=None, help="power-law decay exponent per step")
    s.add_argument("--w-tgt", type=float, default=None, help="decay target of every pathway")
    s.add_argument("--max-sleep", type=float, default=None, help="longest episode (s)")
    s.add_argument("--sleep-pathways", default=None,
                   help="comma list of pathways counted and decayed (inp_exc,exc_exc,inh_exc)")
    parser.add_argument("--seed", type=int, default=0, help="network/noise seed (default 0)")
    parser.add_argument("--backend", default="cpp_standalone",
                        help="cpp_standalone (default) | numpy | cython | cuda_standalone")
    parser.add_argument("--readout", default="logreg", help="logreg | pca_qda | diehl_cook")


def params_from_args(args):
    """``(EINetworkParams, SleepParams)`` from parsed command-line options."""
    from brian2 import Hz, mV, ms, second

    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    net_kw = {}
    if args.t_present is not None:
        net_kw["t_present"] = args.t_present * ms
    if args.t_rest is not None:
        net_kw["t_rest"] = args.t_rest * ms
    if args.input_rate is not None:
        net_kw["input_rate"] = args.input_rate * Hz
    net_kw["n_input"] = args.size * args.size
    if args.no_plasticity:
        net_kw["plastic"] = False
    sleep_kw = {"mode": args.sleep_mode, "sleep_ratio": args.sleep_ratio}
    for name in ("alpha_trig", "alpha_base", "lam"):
        if getattr(args, name) is not None:
            sleep_kw[name] = getattr(args, name)
    if args.sigma is not None:
        sleep_kw["sigma"] = args.sigma * mV
    if args.max_sleep is not None:
        sleep_kw["max_sleep"] = args.max_sleep * second
    if args.w_tgt is not None:
        for p in ("inp_exc", "exc_exc", "inh_exc"):
            sleep_kw[f"w_tgt_{p}"] = args.w_tgt
    if args.sleep_pathways:
        sleep_kw["pathways"] = tuple(p.strip() for p in args.sleep_pathways.split(",") if p.strip())
    if getattr(args, "fill_budget", False):
        sleep_kw["fill_budget"] = True
    return EINetworkParams(**net_kw), SleepParams(**sleep_kw)


#: Sizes of ``--quick`` E/I runs (smoke tests).
QUICK = {"n_train": 300, "n_test": 150, "t_present": 100.0, "t_rest": 50.0}


def apply_quick(args, argv) -> None:
    """``--quick``: small sizes unless given explicitly (and digits unless a dataset is named)."""
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    if "--dataset" not in given:
        args.dataset = "digits"
    for key, value in QUICK.items():
        if "--" + key.replace("_", "-") not in given:
            setattr(args, key, value)


# --- the evaluation protocol (arXiv 2601.08447's quirks) --------------------------------

def add_protocol_args(parser: argparse.ArgumentParser) -> None:
    """Options of the evaluation protocol: ``--protocol``, ``--quirk`` and the trigger-mode ratio knob.

    See :mod:`scenarios.experiments.protocol` for the quirks.
    """
    from scenarios.experiments.protocol import QUIRK_LETTERS, QUIRKS

    g = parser.add_argument_group("protocol (the reference code's evaluation, one switch per difference)")
    g.add_argument("--protocol", choices=("project", "reference"), default=None,
                   help="project: this project's protocol on the reference sizes; reference: every quirk on")
    g.add_argument("--quirk", action="append", default=[], metavar="NAME",
                   help="turn on one quirk (repeatable): " + ", ".join(
                       f"{q} ({QUIRK_LETTERS[q]})" for q in QUIRKS))
    g.add_argument("--subset", type=int, default=None, help="fixed_subset: training images per epoch (300)")
    g.add_argument("--epochs", type=int, default=None, help="fixed_subset: epochs over them (20)")
    g.add_argument("--readout-images", type=int, default=None,
                   help="read-out training images: the last N training presentations (300)")
    g.add_argument("--test-batch", type=int, default=None, help="last_test_batch: test images scored (200)")
    g.add_argument("--ref-interval", type=float, default=None,
                   help="reference_timing: wake time between sleep episodes (s, 35)")
    g.add_argument("--ref-max-sleep", type=float, default=None,
                   help="reference_timing: longest sleep episode (s, 10)")
    g.add_argument("--fill-budget", action="store_true",
                   help="trigger mode: episodes last until the sleep budget is spent, so the achieved "
                        "ratio follows --sleep-ratio")


def protocol_from_args(args):
    """The :class:`~scenarios.experiments.protocol.Protocol` the options ask for, or None.

    None (the plain E/I protocol of ``sleep-snn ei``) unless ``--protocol`` or
    ``--quirk`` was given. An unknown quirk is a :class:`UserError`.
    """
    from scenarios.experiments.protocol import Protocol, ProtocolError

    if getattr(args, "protocol", None) is None and not getattr(args, "quirk", None):
        return None
    sizes = {k: v for k, v in (("n_subset", args.subset), ("epochs", args.epochs),
                               ("n_readout", args.readout_images), ("test_batch", args.test_batch),
                               ("interval", args.ref_interval), ("max_sleep", args.ref_max_sleep))
             if v is not None}
    try:
        if args.protocol == "reference":
            return Protocol.reference(**sizes)
        return Protocol(quirks=frozenset(args.quirk), **sizes)
    except ProtocolError as exc:
        raise UserError(f"--quirk/--protocol: {exc}") from exc


#: Sizes of a protocol run unless given: the reference code's 6000 training
#: presentations (300 images x 20 epochs with ``fixed_subset``) and 2000 test images.
PROTOCOL_SIZES = {"n_train": 6000, "n_test": 2000}
#: ``--quick`` sizes of a protocol run (digits).
PROTOCOL_QUICK = {"n_train": 120, "n_test": 100, "subset": 30, "epochs": 4, "readout_images": 60,
                  "test_batch": 40, "t_present": 60.0, "t_rest": 20.0, "ref_interval": 2.0,
                  "ref_max_sleep": 0.6}


def apply_protocol_sizes(args, argv) -> None:
    """Reference sizes (or ``--quick`` ones) for a protocol run, unless given on the command line."""
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    table = dict(PROTOCOL_SIZES)
    if getattr(args, "quick", False):
        table = dict(PROTOCOL_QUICK)
        if "--dataset" not in given:
            args.dataset = "digits"
    for key, value in table.items():
        if "--" + key.replace("_", "-") not in given and hasattr(args, key):
            setattr(args, key, value)
