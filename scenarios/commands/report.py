"""``sleep-snn report DIR``: one static HTML page per result folder (a run or a scan).

Writes ``DIR/report.html`` (:func:`scenarios.figures.report.write_report`), which opens
from disk in any browser, no server needed: the results as tables (accuracies as
mean ± sd), the experiment's own tables, every figure of the folder, for a scan the list
of its runs with a link to each run's page, the settings and the package versions. It
reads saved files only; make the figures first (``sleep-snn figures DIR``; the scenario
commands make them unless told not to).
"""

from __future__ import annotations

import argparse
import sys

from scenarios.commands.common import UserError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sleep-snn report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="result folders (a run or a scan)")
    parser.add_argument("--no-run-pages", action="store_true",
                        help="do not write a page for each run of a scan (runs/KEY/report.html)")
    return parser


def main(argv=None) -> int:
    from scenarios.figures.report import write_report

    args = build_parser().parse_args(argv)
    for d in args.dirs:
        try:
            pages = write_report(d, run_pages=not args.no_run_pages)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(f"DIR={d}: {exc}") from None
        extra = f" (and {len(pages) - 1} run pages)" if len(pages) > 1 else ""
        print(f"[report] wrote {pages[0]}{extra}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
