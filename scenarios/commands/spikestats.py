"""``sleep-snn spikestats``: spike statistics of wake and sleep (Elephant) from saved E/I runs.

Reads the rasters and sleep episodes of finished run directories (``sleep-snn
ei`` runs, or ``runs/<key>/`` of a scan, which keep the rasters of their first
seed), computes per phase (wake, sleep) and population (E, I) the rate, ISI CV,
Fano factor and mean pairwise correlation
(:func:`scenarios.experiments.spikestats.run_statistics`), writes
``spikestats.json`` / ``spikestats.md`` and the figure of
:mod:`scenarios.figures.spikestats`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleep-snn spikestats", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories (result.json + arrays.npz with raster_* arrays)")
    p.add_argument("--labels", nargs="+", default=None, help="a label per run (default: the directory names)")
    p.add_argument("--window", type=float, default=0.1, help="Fano counting window (s)")
    p.add_argument("--bin", type=float, default=0.005, help="correlation bin (s)")
    p.add_argument("--out", default="results/spikestats")
    p.add_argument("--no-figures", action="store_true")
    return p


def main(argv=None) -> int:
    import numpy as np

    from scenarios.commands.common import UserError
    from scenarios.experiments.spikestats import run_statistics
    from scenarios.runs.results import load_arrays, load_result, write_json

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    labels = args.labels or [Path(r).name for r in args.runs]
    if len(labels) != len(args.runs):
        raise UserError(f"--labels: {len(labels)} labels for {len(args.runs)} runs")
    stats = {}
    for label, run in zip(labels, args.runs):
        try:
            meta, arrays = load_result(run), load_arrays(run)
        except (OSError, ValueError) as exc:
            raise UserError(f"run {run!r}: {exc}") from exc
        raster = {k[len("raster_"):]: v for k, v in arrays.items() if k.startswith("raster_")}
        if not raster:
            raise UserError(f"run {run!r} has no raster_* arrays (only the first seed of a scan keeps them)")
        n = {pop: int(np.max(raster[f"{pop}_i"]) + 1) if len(raster.get(f"{pop}_i", [])) else 0
             for pop in ("exc", "inh", "inp") if f"{pop}_t" in raster}
        episodes = meta.get("sleep", {}).get("episodes", meta.get("episodes", []))
        stats[label] = {"run": str(run), "stats": run_statistics(raster, episodes, float(meta["sim_time_s"]), n,
                                                                  window=args.window, bin_size=args.bin)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "spikestats.json", {"window_s": args.window, "bin_s": args.bin, "runs": stats})
    lines = ["| run | phase | population | rate (Hz) | ISI CV | Fano factor | pairwise corr. | neurons |",
             "|---|---|---|---|---|---|---|---|"]
    for label, d in stats.items():
        for phase, pops in d["stats"].items():
            for pop, s in pops.items():
                lines.append(f"| {label} | {phase} | {pop} | {s['rate_hz']:.2f} | {s['cv']:.2f} | {s['fano']:.2f} | "
                             f"{s['corr']:.3f} | {len(s['rates_hz'])} |")
    (out / "spikestats.md").write_text("\n".join(lines) + "\n")
    print((out / "spikestats.md").read_text())
    if not args.no_figures:
        from scenarios.figures.spikestats import plot

        print(f"[spikestats] {len(plot(out))} figure files in {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
