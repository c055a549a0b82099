"""``sleep-snn ei``: train the Brian2 E/I network with STDP (and optionally
sleep), then read it out.

Runs :func:`scenarios.experiments.ei.run_ei` on the images of
:func:`scenarios.experiments.ei.load_schedule`; writes ``DIR/result.json``,
``DIR/arrays.npz`` and the figures of :mod:`scenarios.figures.ei` in ``DIR``.
Every option, the data and ``DIR`` are checked before anything is simulated or
compiled; the simulation's arrays are saved (``DIR/simulation.npz``) before the
read-out, and the result before the figures are drawn. A
``cpp_standalone`` network is compiled once into the shared build cache
(``sleep-snn clean`` empties it).
"""

from __future__ import annotations

import argparse
import sys

from scenarios.commands.common import (HelpFormatter, add_network_args, check_output_dir, params_from_args,
                                       resolve_network_args)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn ei", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    add_network_args(parser)
    parser.add_argument("--out", default="results/ei", help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="small run for smoke tests: digits, 300 train / 150 test images, short presentations")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    resolve_network_args(args)
    out_dir = check_output_dir(args.out)
    params, sleep = params_from_args(args)

    from scenarios.experiments.ei import load_schedule, run_ei
    from scenarios.figures.ei import plot
    from scenarios.runs.results import save_result

    schedule = load_schedule(args.dataset, args.n_train, args.n_test, size=args.size,
                             data_dir=args.data_dir, data_seed=args.data_seed,
                             n_readout_train=args.n_readout_train)
    meta, arrays = run_ei(params, sleep, schedule, backend=args.backend, seed=args.seed,
                          readout=args.readout, compile_mode=args.compile_mode,
                          extra={"command": "sleep-snn " + " ".join(["ei"] + argv)},
                          log=lambda s: print(s, flush=True), save_simulation=out_dir)
    save_result(out_dir, meta, arrays)
    figs = plot(out_dir)
    rates, slept = meta["mean_rate_hz"]["readout"], meta["sleep"]
    print(f"[ei] accuracy {meta['accuracy']:.3f} ({meta['readout']['method']}; raw pixels "
          f"{meta['pixel_baseline_accuracy']:.3f}); rates exc {rates['exc']:.2f} Hz, inh {rates['inh']:.2f} Hz; "
          f"slept {slept['sleep_time_s']:.1f} s in {slept['n_episodes']} episodes "
          f"(ratio {slept['achieved_ratio']:.3f}); compile {meta['wall_seconds']['compile']:.1f} s, run "
          f"{meta['wall_seconds']['run']:.1f} s ({meta['realtime_factor']:.1f}x real time)")
    print(f"[ei] wrote {out_dir / 'result.json'}, {out_dir / 'arrays.npz'} and {len(figs)} figures")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
