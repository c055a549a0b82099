"""``sleep-snn sgsnn``: a surrogate-gradient SNN with the same sleep intervention.

Parses the options, builds the scan settings, runs the grid sleep ratio × seed
(× arm) with :func:`scenarios.experiments.sgsnn.run` (the network is
:mod:`spiking.sgsnn`), prints ``summary.md`` and draws the figures of
:mod:`scenarios.figures.sgsnn` unless ``--no-figures``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scenarios.experiments.sgsnn import run
from scenarios.figures.sgsnn import plot
from spiking.sgsnn import MV_PER_THRESHOLD, SGSNNConfig, SleepSTDP
from spiking.sleep import SleepParams

__all__ = ["QUICK", "build_parser", "config_from_args", "main"]

#: Settings of ``--quick`` (each only where its option is not given).
QUICK = {"dataset": "digits", "n_train": 200, "n_test": 100, "hidden": 64, "steps": 20,
         "epochs": 1, "ratios": [0.0, 0.5], "seeds": [0], "workers": 1}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleep-snn sgsnn", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion", choices=["fashion", "mnist", "kmnist", "digits"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--data-seed", type=int, default=0,
                   help="seed of the train/test subsets (the same images for every run)")
    p.add_argument("--sleep-ratio", "--sleep-ratios", dest="ratios", type=float, nargs="+",
                   default=[0.0, 0.1, 0.2, 0.3])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100, help="time steps per image")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--logit-scale", type=float, default=SGSNNConfig.logit_scale,
                   help="cross-entropy logits = this x summed output spikes")
    p.add_argument("--recurrent", action="store_true",
                   help="run the recurrent arm (hidden->hidden weights, BPTT) instead of the feed-forward one")
    p.add_argument("--arms", nargs="+", choices=["ff", "recurrent"], default=None,
                   help="arms to run (overrides --recurrent), e.g. --arms ff recurrent")
    p.add_argument("--sleep-steps", type=int, default=None,
                   help="time steps per sleep phase (default: --steps)")
    p.add_argument("--sigma", type=float, default=3.0,
                   help=f"membrane noise in mV, divided by {MV_PER_THRESHOLD:g} mV -> threshold units")
    p.add_argument("--lam", type=float, default=SleepParams().lam, help="decay exponent per sleep step")
    p.add_argument("--w-tgt", type=float, default=None,
                   help="decay target of all weights (default: SleepParams' w_tgt_inp_exc / w_tgt_exc_exc)")
    p.add_argument("--eta-plus", type=float, default=SleepSTDP.eta_plus)
    p.add_argument("--eta-minus", type=float, default=SleepSTDP.eta_minus)
    p.add_argument("--workers", type=int, default=1, help="local Dask workers (one torch thread each)")
    p.add_argument("--scheduler", default=None)
    p.add_argument("--stdp-scan", default=None,
                   help="finished `sleep-snn scan` directory (summary.json) to draw on the same axes")
    p.add_argument("--log-every", type=int, default=0)
    p.add_argument("--out", default="results/sgsnn")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: digits, 200/100 images, 64 hidden, 20 steps, ratios 0 0.5, seed 0")
    return p


def config_from_args(args: argparse.Namespace, argv: list[str]) -> dict:
    """The scan settings of parsed options (``--quick`` applied to ``args`` where not given).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options; changed in place by ``--quick``.
    argv : list of str
        The arguments they were parsed from (to tell given options from defaults).

    Returns
    -------
    dict
        The ``config`` of :func:`scenarios.experiments.sgsnn.run`.
    """
    if args.quick:
        given = {a.split("=")[0] for a in argv if a.startswith("--")}
        for k, v in QUICK.items():
            flag = {"ratios": "--sleep-ratio"}.get(k, "--" + k.replace("_", "-"))
            if flag not in given and not (k == "ratios" and "--sleep-ratios" in given):
                setattr(args, k, v)
    arms = args.arms or (["recurrent"] if args.recurrent else ["ff"])
    out = Path(args.out).resolve()
    return {"dataset": args.dataset, "data_dir": args.data_dir, "data_seed": args.data_seed,
            "n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs,
            "hidden": args.hidden, "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "logit_scale": args.logit_scale,
            "sleep_steps": args.sleep_steps, "sigma_mV": args.sigma, "lam": args.lam,
            "w_tgt": args.w_tgt, "eta_plus": args.eta_plus, "eta_minus": args.eta_minus,
            "threads": 1, "out": str(out), "seeds": list(args.seeds), "arms": arms,
            "ratios": list(args.ratios), "log_every": args.log_every,
            "stdp_scan": str(Path(args.stdp_scan).resolve()) if args.stdp_scan else None,
            "command": "sleep-snn sgsnn " + " ".join(argv)}


def main(argv=None) -> int:
    """Run ``sleep-snn sgsnn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    config = config_from_args(args, argv)
    out = Path(config["out"])
    t0 = time.perf_counter()
    summary = run(config, workers=args.workers, scheduler=args.scheduler, progress=sys.stderr.isatty())
    print((out / "summary.md").read_text())
    if not args.no_figures:
        files = plot(out)
        print(f"[sgsnn] {len(files)} figure files in {out}")
    print(f"[sgsnn] done in {time.perf_counter() - t0:.0f} s; {len(summary['table'])} table rows "
          f"-> {out / 'summary.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
