"""The ``sleep-snn`` command.

Each sub-command lives in its own module of :mod:`scenarios.commands` with a
``main(argv)`` function; this file only dispatches, so ``sleep-snn --help`` stays fast (no
Brian2 or torch import until a sub-command runs).

Errors: a user error (a bad option, missing data, a damaged result file; see
:func:`scenarios.commands.common.user_error_message`) is printed as one message
and the command exits with status 2; any other exception is a crash and keeps
its traceback (exit status 1), and only an error raised inside Brian2 goes to
Brian2's own handler (its banner and debug files). ``sleep-snn --debug
COMMAND ...`` (or ``SLEEP_SNN_DEBUG=1``) shows the traceback of every error.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

#: sub-command -> (module, one-line description)
COMMANDS = {
    "quickstart": ("scenarios.commands.quickstart", "short demo: E/I network with and without sleep, and SRC"),
    "ei": ("scenarios.commands.ei", "train the Brian2 E/I network with STDP (optionally with sleep) and read it out"),
    "scan": ("scenarios.commands.scan", "sleep-ratio x seed x parameter scan on Dask (resumable)"),
    "figures": ("scenarios.commands.figures", "make the figures from saved results"),
    "incremental": ("scenarios.commands.incremental", "class-incremental MLP learning with Sleep Replay Consolidation"),
    "patches": ("scenarios.commands.patches", "the patches toy task: forgetting vs overlap, with SRC"),
    "robustness": ("scenarios.commands.robustness", "accuracy and sharpness under distortions: SRC, SAM, GNP"),
    "plasticity": ("scenarios.commands.plasticity", "loss of plasticity over task sequences: SGD, SAM, GNP, SRC"),
    "sgsnn": ("scenarios.commands.sgsnn", "surrogate-gradient SNN with the same sleep intervention"),
    "horizon": ("scenarios.commands.horizon", "long E/I training with probe blocks: accuracy and weights along it"),
    "stdp-incremental": ("scenarios.commands.stdp_incremental",
                         "class-incremental STDP: stage x task accuracy, forgetting, feature drift"),
    "spikestats": ("scenarios.commands.spikestats", "spike statistics of wake and sleep (Elephant) from saved runs"),
    "report": ("scenarios.commands.report", "one static HTML page per run or scan folder (tables, figures, settings)"),
    "export-nir": ("scenarios.commands.export_nir", "write a converted MLP (before or after sleep) as a NIR graph"),
    "bench": ("scenarios.commands.bench", "benchmarks: bench ei | scan | src | hessian"),
    "clean": ("scenarios.commands.clean", "remove compiled networks from the build cache (and old build/ folders)"),
}

#: Environment variable that turns on ``--debug``.
DEBUG_ENV = "SLEEP_SNN_DEBUG"


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: sleep-snn [--debug] COMMAND [options]   (sleep-snn COMMAND --help for its options)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "  --debug  show the traceback of every error (also: SLEEP_SNN_DEBUG=1)"]
    return "\n".join(lines)


def _is_brian2_error(exc: BaseException) -> bool:
    """True when the exception is Brian2's: its class is, or it was raised inside Brian2's code."""
    if type(exc).__module__.split(".")[0] == "brian2":
        return True
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return False
    path = os.path.normpath(last.tb_frame.f_code.co_filename).split(os.sep)
    return "brian2" in path and "site-packages" in path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    while argv and argv[0] == "--debug":
        debug = True
        argv.pop(0)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"sleep-snn: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    from scenarios.commands.common import user_error_message

    try:
        module = importlib.import_module(COMMANDS[command][0])
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"sleep-snn {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is not None:
            if debug:
                traceback.print_exc()
            print(f"sleep-snn {command}: error: {message}", file=sys.stderr)
            return 2
        if _is_brian2_error(exc) and not debug:
            raise  # Brian2's handler: its banner and debug log
        traceback.print_exc()
        print(f"sleep-snn {command}: crashed with {type(exc).__name__} (a bug; the traceback above "
              "shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
