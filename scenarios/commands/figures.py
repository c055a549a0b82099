"""``sleep-snn figures DIR``: figures from saved results (never from a live run).

Recognises what ``DIR`` holds (:func:`scenarios.figures.plot_result`):

* an E/I run (``result.json`` with ``"kind": "ei"``): raster of the first
  seconds (wake and, when the network slept, around the first episode),
  weight histograms per pathway, total weight over time with sleep episodes
  shaded (:mod:`scenarios.figures.ei`);
* a scan (``summary.csv`` + ``runs/``): accuracy vs sleep ratio with error bars
  over seeds, total weight over time with and without sleep, the noise x ratio
  heatmap when ``sigma`` was scanned, a 2-D embedding of excitatory responses
  (:mod:`scenarios.figures.scan`);
* other scenarios' result directories (incremental, patches, robustness,
  plasticity, sgsnn): the ``plot`` function of their figures module.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn figures",
                                     description="make figures from saved results")
    parser.add_argument("dirs", nargs="+", help="result directories (a run or a scan)")
    parser.add_argument("--out", default=None, help="write figures here instead of into DIR")
    return parser


def main(argv=None) -> int:
    from scenarios.figures import plot_result

    args = build_parser().parse_args(argv)
    for d in args.dirs:
        files = plot_result(d, args.out)
        print(f"[figures] {d}: {len(files)} files")
        for f in files:
            print(f"  {f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
