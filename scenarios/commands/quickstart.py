"""``sleep-snn quickstart``: a few-minute tour of the toolkit on real data.

1. The Brian2 E/I network learns scikit-learn's handwritten digits (real 8x8
   scans, resized to 15x15) with STDP, once without sleep and once with the
   sleep controller (same compiled binary, re-run with a sleep budget), and
   is read out with logistic regression next to the raw-pixel baseline.
2. Sleep Replay Consolidation on the patches toy task (Tadros et al. 2022):
   a two-task MLP forgets task 1, sleep brings it back.

Results and figures go to ``--out`` (default ``results/quickstart``). The
demos are :mod:`scenarios.experiments.quickstart`; the figures those of
:mod:`scenarios.figures.ei` and :mod:`scenarios.figures.patches`.
"""

from __future__ import annotations

import argparse
import sys
import time

from scenarios.commands.common import HelpFormatter, check_output_dir, positive_int, sleep_ratio

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn quickstart", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--out", default="results/quickstart", help="output directory")
    parser.add_argument("--dataset", default="digits", choices=("digits", "fashion", "mnist", "kmnist"),
                        help="data set of the E/I demo")
    parser.add_argument("--data-dir", default=None, help="directory of the IDX files")
    parser.add_argument("--backend", default="cpp_standalone", help="Brian2 backend of the E/I demo")
    parser.add_argument("--n-train", type=positive_int, default=400, help="training images")
    parser.add_argument("--n-test", type=positive_int, default=200, help="test images")
    parser.add_argument("--sleep-ratio", type=sleep_ratio, default=0.2, help="sleep budget of the second run")
    parser.add_argument("--seed", type=int, default=0, help="network, noise and read-out seed")
    parser.add_argument("--src-backend", default="torch", choices=("torch", "brian2"), help="SRC simulator")
    parser.add_argument("--skip-src", action="store_true", help="only the E/I demo")
    return parser


def main(argv=None) -> int:
    from scenarios.experiments.quickstart import HIST_OVERLAP, ei_demo, src_demo, src_verdicts
    from scenarios.figures import ei as ei_figures
    from scenarios.figures import patches as patches_figures

    args = build_parser().parse_args(argv)
    out = check_output_dir(args.out)
    from spiking.backend import check_backend

    check_backend(args.backend)

    def log(text: str) -> None:
        print(text, flush=True)

    t0 = time.perf_counter()
    rows = ei_demo(out, args.dataset, args.backend, args.n_train, args.n_test, args.seed, args.sleep_ratio,
                   args.data_dir, log=log)
    for row in rows:
        ei_figures.plot(row["dir"])
    if not args.skip_src:
        directory = src_demo(out, args.src_backend, log=log)
        for path in patches_figures.plot(directory, hist_overlap=HIST_OVERLAP):
            print(f"wrote {path}")
        print(f"wrote {directory / 'result.json'} and {directory / 'table.md'}")
        for line in src_verdicts(directory):
            print(line)
    print(f"\n[quickstart] done in {time.perf_counter() - t0:.0f} s; results and figures in {out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
