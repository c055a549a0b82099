"""The ``sleep-snn`` command.

Each sub-command lives in its own module of :mod:`scenarios.commands` with a
``main(argv)`` function; this file only dispatches, so ``sleep-snn --help`` stays fast (no
Brian2 or torch import until a sub-command runs).
"""

from __future__ import annotations

import importlib
import sys

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
    "bench": ("scenarios.commands.bench", "benchmarks: bench ei | scan | src | hessian"),
}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: sleep-snn COMMAND [options]   (sleep-snn COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"sleep-snn: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    from scenarios.commands.common import UserError

    try:
        return int(module.main(rest) or 0)
    except UserError as exc:
        print(f"sleep-snn {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
