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
from typing import Any, Callable, Sequence

from scenarios.runs.results import RESULT_JSON, TABLE_MD

__all__ = ["UserError", "USER_ERRORS", "user_error_message", "HelpFormatter", "positive_int",
           "nonnegative_int", "sleep_ratio", "check_output_dir", "parse_hidden", "given_options",
           "add_run_arguments", "run_cli", "add_network_args", "resolve_network_args", "params_from_args",
           "QUICK", "DEFAULT_SIZES", "DATASET_CHOICES", "READOUT_CHOICES",
           "add_protocol_args", "protocol_from_args", "apply_protocol_sizes"]


class UserError(Exception):
    """A problem with what the user asked for (an option, a path, the data).

    ``sleep-snn`` reports it as one line naming the parameter, the value and what
    is allowed, and exits with status 2, without a traceback.
    """


#: The library's own error classes that describe a user's mistake (a bad
#: parameter, missing or damaged data or result files, an unknown backend, an
#: unreachable cluster, a training that diverges with the chosen learning rate
#: or coefficient): ``sleep-snn`` reports them like :class:`UserError`.
#: Qualified names, so that checking an exception imports nothing.
USER_ERRORS = (
    "scenarios.commands.common.UserError",
    "spiking.params.ParameterError",
    "spiking.backend.BackendError",
    "spiking.data.DataError",
    "bridge.convert.ConversionError",
    "scenarios.runs.results.ResultFileError",
    "scenarios.runs.grid.GridError",
    "scenarios.ann.mlp.TrainingDivergedError",
)


def user_error_message(exc: BaseException) -> str | None:
    """The message of a user error (see :data:`USER_ERRORS`), or None for any other exception.

    Parameters
    ----------
    exc : BaseException
        The exception a command raised.

    Returns
    -------
    str or None
        ``str(exc)`` when ``exc`` is an instance of one of :data:`USER_ERRORS`.
    """
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__}
    return str(exc) if names & set(USER_ERRORS) else None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default, shown once, and only when it has one.

    Options whose default is None or False (``store_true`` flags) or whose
    help already says its default are shown without ``(default: ...)``.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def sleep_ratio(text: str) -> float:
    """argparse type: a sleep ratio in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {value:g}")
    return value


def check_output_dir(path, option: str = "--out") -> Path:
    """Create ``path`` if needed and check that files can be written in it, before any work starts.

    Parameters
    ----------
    path : path-like
        The output directory.
    option : str
        The option that named it, for the message.

    Returns
    -------
    Path
        The directory.

    Raises
    ------
    UserError
        It cannot be created or written to (the message names the option, the
        path and the reason).
    """
    import tempfile

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror or exc}); "
                        "choose a directory you can write to") from None
    return path


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


def add_probe_run_arguments(p: argparse.ArgumentParser, *, out: str, conditions: Sequence[str]) -> None:
    """Add the options of the E/I commands built from probe blocks (``horizon``, ``stdp-incremental``).

    The data, the network's input size and times, the conditions and seeds of
    the grid, the schedule condition's sleep interval, the backend, the
    read-out, the workers or scheduler, ``--out``, ``--no-figures`` and
    ``--quick``. Choices and counts are checked by argparse, before anything runs.
    """
    p.add_argument("--dataset", default="fashion", choices=DATASET_CHOICES)
    p.add_argument("--data-dir", default=None, help="directory of the IDX files")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the image order")
    p.add_argument("--size", type=positive_int, default=15, help="image side after resizing (pixels)")
    p.add_argument("--conditions", nargs="+", default=list(conditions), choices=list(conditions))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="network and noise seeds")
    p.add_argument("--t-present", type=float, default=None, help="presentation time (ms)")
    p.add_argument("--t-rest", type=float, default=None, help="rest after each image (ms)")
    p.add_argument("--interval", type=float, default=35.0,
                   help="schedule condition: training wake time between sleep episodes (s)")
    p.add_argument("--backend", default="cpp_standalone", choices=("cpp_standalone", "numpy", "cython"))
    p.add_argument("--readout", default="logreg", choices=READOUT_CHOICES)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=2, help="local Dask workers, one thread each")
    where.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument("--out", default=out, help="output directory")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests (digits)")


def apply_quick_defaults(args: argparse.Namespace, argv: Sequence[str], quick: dict) -> None:
    """With ``--quick``, set each value of ``quick`` whose option was not given on the command line."""
    if not args.quick:
        return
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    for key, value in quick.items():
        if "--" + key.replace("_", "-") not in given:
            setattr(args, key, value)


def probe_network_params(args: argparse.Namespace):
    """The E/I network of a probe-block command: ``--size`` inputs, ``--t-present``/``--t-rest`` if given."""
    from brian2 import ms

    from spiking.params import EINetworkParams, ParameterError

    net_kw = {"n_input": args.size * args.size}
    if args.t_present is not None:
        net_kw["t_present"] = args.t_present * ms
    if args.t_rest is not None:
        net_kw["t_rest"] = args.t_rest * ms
    try:
        return EINetworkParams(**net_kw)
    except (ValueError, ParameterError) as exc:
        raise UserError(str(exc)) from exc


def run_probe_command(label: str, argv: list[str], args: argparse.Namespace, key: str, experiment: Any,
                      points: Sequence, point: Callable, summarise: Callable, markdown: Callable,
                      figures: str) -> int:
    """The shared flow of the probe-block commands (``horizon``, ``stdp-incremental``).

    Builds the grid configuration (``key``: the experiment's dataclass as a
    dict, then the network, the schedule-mode sleep, backend, output, seeds,
    read-out and data directory), runs ``points`` with ``point`` on
    :func:`scenarios.runs.grid.run_grid` (resumable), writes and prints
    ``summary.md`` (``markdown(summarise(out), experiment, command)``) and
    draws ``figures``'s ``plot(out)`` unless ``--no-figures``.

    Returns
    -------
    int
        0 (errors are raised as :class:`UserError` or by the grid).
    """
    import dataclasses
    import importlib
    import time

    from brian2 import second

    from scenarios.runs.grid import run_grid
    from spiking.sleep import SleepParams

    params = probe_network_params(args)
    out = check_output_dir(args.out)
    config = {key: dataclasses.asdict(experiment), "params": params,
              "sleep": SleepParams(interval=args.interval * second), "backend": args.backend,
              "out": str(out.resolve()), "seeds": list(args.seeds), "readout": args.readout,
              "data_dir": args.data_dir, "record_interval": 1.0,
              "command": "sleep-snn " + " ".join([label] + list(argv))}
    t0 = time.perf_counter()
    run_grid(points, config, point, workers=args.workers, scheduler=args.scheduler, label=label)
    text = markdown(summarise(out), experiment, config["command"])
    (out / "summary.md").write_text(text)
    print(text)
    if not args.no_figures:  # matplotlib only when figures are drawn
        files = importlib.import_module(figures).plot(out)
        print(f"[{label}] {len(files)} figure files in {out}")
    print(f"[{label}] finished in {time.perf_counter() - t0:.0f} s")
    return 0


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

#: Datasets of the E/I commands (``patches`` is the SRC toy task, not an E/I data set).
DATASET_CHOICES = ("fashion", "mnist", "kmnist", "digits")
#: Read-out methods (:data:`spiking.readout.READOUT_METHODS`, named here so ``--help`` imports nothing).
READOUT_CHOICES = ("logreg", "pca_qda", "diehl_cook")
#: Defaults of the data options when neither they nor ``--quick`` are given; a
#: data set with fewer images (digits: 1257 training, 540 test) uses all of them.
DEFAULT_SIZES = {"dataset": "fashion", "n_train": 2000, "n_test": 1000}
#: Sizes of ``--quick`` E/I runs (smoke tests); options given explicitly win.
QUICK = {"dataset": "digits", "n_train": 300, "n_test": 150, "t_present": 100.0, "t_rest": 50.0}


def add_network_args(parser: argparse.ArgumentParser, *, grid: bool = False) -> None:
    """Options shared by ``ei`` and ``scan``: the data, the network, the sleep controller.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser (best with :class:`HelpFormatter`).
    grid : bool
        For ``scan``: ``--sleep-ratio`` takes several values (the grid's
        sleep ratios, ``args.ratios``) instead of one (``args.sleep_ratio``).

    Notes
    -----
    Options whose default depends on ``--quick`` or on the data set default to
    None here; :func:`resolve_network_args` fills them in after parsing.
    """
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default=None, choices=DATASET_CHOICES,
                   help="image data set (default: fashion; with --quick: digits)")
    g.add_argument("--n-train", type=positive_int, default=None,
                   help="training images (default: 2000, or all of a smaller data set; --quick: smaller)")
    g.add_argument("--n-test", type=positive_int, default=None,
                   help="test images (default: 1000, or all of a smaller data set; --quick: smaller)")
    g.add_argument("--n-readout-train", type=positive_int, default=None,
                   help="training images re-presented to fit the read-out (default: all of --n-train)")
    g.add_argument("--size", type=positive_int, default=15, help="images are resized to SIZE x SIZE pixels")
    g.add_argument("--data-dir", default=None,
                   help="directory with the IDX files; when given (or $SLEEP_SNN_DATA is set) only it is "
                        "searched")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the image subsample (fixed across network seeds)")
    n = parser.add_argument_group("network")
    n.add_argument("--t-present", type=float, default=None,
                   help="presentation time per image, ms (default: the network's 250; --quick: 100)")
    n.add_argument("--t-rest", type=float, default=None,
                   help="rest after each image, ms (default: the network's 100; --quick: 50)")
    n.add_argument("--input-rate", type=float, default=None,
                   help="input rate at intensity 1, Hz (default: the network's)")
    n.add_argument("--no-plasticity", action="store_true",
                   help="frozen random weights (the plasticity-off baseline)")
    s = parser.add_argument_group("sleep")
    s.add_argument("--sleep-mode", default="trigger", choices=("trigger", "schedule", "off"),
                   help="what starts a sleep episode")
    if grid:
        s.add_argument("--sleep-ratio", "--sleep-ratios", dest="ratios", type=sleep_ratio, nargs="+",
                       default=[0.0, 0.1, 0.2, 0.3], metavar="R",
                       help="the sleep budgets r of the grid: sleep <= r/(1-r) x wake, each in [0, 1)")
    else:
        s.add_argument("--sleep-ratio", type=sleep_ratio, default=0.0,
                       help="sleep budget r in [0, 1): sleep <= r/(1-r) x wake (0 = never sleep)")
    s.add_argument("--alpha-trig", type=float, default=None, help="sleep when W > alpha_trig W(0)")
    s.add_argument("--alpha-base", type=float, default=None, help="wake when W <= alpha_base W(0)")
    s.add_argument("--sigma", type=float, default=None, help="sleep membrane noise per step (mV)")
    s.add_argument("--lam", type=float, default=None, help="power-law decay exponent per step")
    s.add_argument("--w-tgt", type=float, default=None, help="decay target of every pathway")
    s.add_argument("--max-sleep", type=float, default=None, help="longest episode (s)")
    s.add_argument("--sleep-pathways", default=None,
                   help="comma list of pathways counted and decayed (inp_exc,exc_exc,inh_exc)")
    parser.add_argument("--seed", type=int, default=0, help="network/noise seed")
    parser.add_argument("--backend", default="cpp_standalone",
                        help="cpp_standalone (default) | numpy | cython (cuda_standalone needs brian2cuda, which does "
                             "not install with these pins: see the README)")
    parser.add_argument("--compile-mode", default=None, choices=("portable", "native"),
                        help="cpp_standalone compiler flags: portable (the same results on every x86-64 "
                             "machine) or native (-march=native -ffast-math, as Brian2 compiles); default: "
                             "$SLEEP_SNN_COMPILE_MODE or portable")
    parser.add_argument("--readout", default="logreg", choices=READOUT_CHOICES, help="read-out of the spike counts")


def resolve_network_args(args, quick: dict | None = None) -> None:
    """Fill the defaults left open by :func:`add_network_args` and check the options, before any work.

    With ``args.quick`` the values of ``quick`` (default :data:`QUICK`) replace
    the options that were not given; otherwise :data:`DEFAULT_SIZES` do, where
    ``n_train``/``n_test`` are capped at the data set's size. Then the backend,
    the compile mode, the image counts (against the data set, which must be
    found) and the network and sleep parameters are checked.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_network_args` (and ``--quick``).
    quick : dict, optional
        Sizes of a ``--quick`` run.

    Raises
    ------
    UserError
        An image count larger than the data set, or ``--n-readout-train`` >
        ``--n-train``.
    spiking.backend.BackendError, spiking.data.DataError, spiking.params.ParameterError
        An unknown backend, data that cannot be found, an invalid parameter.
    """
    from spiking.backend import check_backend, resolve_compile_mode
    from spiking.data import dataset_size

    given = {k for k in ("dataset", "n_train", "n_test", "t_present", "t_rest") if getattr(args, k) is not None}
    if getattr(args, "quick", False):
        for key, value in (QUICK if quick is None else quick).items():
            if key not in given:
                setattr(args, key, value)
    if args.dataset is None:
        args.dataset = DEFAULT_SIZES["dataset"]
    check_backend(args.backend)
    args.compile_mode = resolve_compile_mode(args.compile_mode)
    for key, split, what in (("n_train", "train", "training"), ("n_test", "test", "test")):
        available = dataset_size(args.dataset, split, args.data_dir)
        value = getattr(args, key)
        if value is None:
            setattr(args, key, min(DEFAULT_SIZES[key], available))
            if available < DEFAULT_SIZES[key]:
                print(f"note: {args.dataset} has {available} {what} images, so --{key.replace('_', '-')} is "
                      f"{available} (all of them) instead of {DEFAULT_SIZES[key]}", flush=True)
        elif value > available:
            raise UserError(f"--{key.replace('_', '-')} {value}: {args.dataset} has {available} {what} images; "
                            f"allowed: 1 to {available}")
    if args.n_readout_train is not None and args.n_readout_train > args.n_train:
        raise UserError(f"--n-readout-train {args.n_readout_train}: must be at most --n-train {args.n_train}")
    params_from_args(args)  # checks every network and sleep parameter


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
    sleep_kw = {"mode": args.sleep_mode, "sleep_ratio": getattr(args, "sleep_ratio", 0.0)}
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

