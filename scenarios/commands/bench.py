"""``sleep-snn bench ei | scan | src | hessian | nir | report``: speed and memory benchmarks.

Each prints progress to stderr and, with ``--json``, one JSON object as the
last line of stdout. The benchmarks themselves are the functions of
:mod:`scenarios.bench` (:func:`~scenarios.bench.ei.bench_ei`,
:func:`~scenarios.bench.scan.bench_scan`, :func:`~scenarios.bench.src.bench_src`,
:func:`scenarios.bench.hessian.run`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from scenarios.commands.common import positive_int

__all__ = ["SUBCOMMANDS", "main"]


def _print_flush(text: str) -> None:
    print(text, flush=True)


def bench_ei_main(argv=None) -> int:
    """``sleep-snn bench ei``."""
    from scenarios.bench.ei import bench_ei

    parser = argparse.ArgumentParser(prog="sleep-snn bench ei",
                                     description="speed of the default E/I network with plasticity on")
    parser.add_argument("--sim-seconds", type=float, default=20.0, help="simulated seconds (20)")
    parser.add_argument("--backend", default="cpp_standalone")
    parser.add_argument("--sleep-mode", default="off", choices=("off", "trigger", "schedule"))
    parser.add_argument("--sleep-ratio", type=float, default=0.1,
                        help="sleep budget for trigger/schedule modes (0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--build-dir", default=None,
                        help="standalone build directory (kept); default: the shared build cache")
    parser.add_argument("--compile-mode", default=None, choices=("portable", "native"),
                        help="compiler flags (default: $SLEEP_SNN_COMPILE_MODE or portable)")
    parser.add_argument("--repeat", type=positive_int, default=1,
                        help="runs of the same program; the run time is their median (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    res = bench_ei(args.sim_seconds, args.backend, args.sleep_mode, args.sleep_ratio, args.seed,
                   args.build_dir, compile_mode=args.compile_mode, repeat=args.repeat)
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>22}: {v}")
    return 0


def bench_scan_main(argv=None) -> int:
    """``sleep-snn bench scan --runs R --workers W --json``.

    Runs the same R-point scan (sleep ratio 0.1, seeds 0..R-1) with 1 and with W
    workers (:func:`scenarios.bench.scan.bench_scan`, which says what the
    figures mean).
    """
    from scenarios.bench.scan import bench_scan

    parser = argparse.ArgumentParser(prog="sleep-snn bench scan")
    parser.add_argument("--runs", type=int, default=8, help="scan points (seeds 0..R-1; default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers W compared with 1 (default 2)")
    parser.add_argument("--n-train", type=int, default=100, help="training images per run (default 100)")
    parser.add_argument("--n-test", type=int, default=50, help="test images per run (default 50)")
    parser.add_argument("--t-present", type=float, default=100.0,
                        help="presentation time per image, ms (default 100, a short run; scans use the "
                             "network's 250)")
    parser.add_argument("--t-rest", type=float, default=50.0, help="rest after each image, ms (default 50; scans use 100)")
    parser.add_argument("--dataset", default="digits", help="dataset of the runs (default digits)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    res = bench_scan(runs=args.runs, workers=args.workers, n_train=args.n_train, n_test=args.n_test,
                     t_present=args.t_present, t_rest=args.t_rest, dataset=args.dataset)
    print(json.dumps(res) if args.json else res)
    return 0


def bench_src_main(argv: list[str] | None = None) -> int:
    """``sleep-snn bench src``."""
    from scenarios.bench.src import bench_src

    parser = argparse.ArgumentParser(
        prog="sleep-snn bench src",
        description="Benchmark of Sleep Replay Consolidation (Tadros et al., Nat. Commun. 13:7742, 2022).")
    parser.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=2000, help="SRC steps (default 2000)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("--data-dir", default=None, help="directory of the Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of training and of the sleep input (default 0; 1 with --model cnn)")
    parser.add_argument("--brian2-backend", default="cpp_standalone",
                        choices=("cpp_standalone", "numpy", "cython"))
    parser.add_argument("--build-dir", default=None, help="Brian2 standalone project directory (kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                        help="the SRC MLP on the first task (default) or the robustness study's CNN")
    parser.add_argument("--n-train", type=int, default=None,
                        help="--model cnn: train on the first N images (default: all, as the study)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    if args.n_train is not None and (args.model != "cnn" or args.n_train < 1):
        parser.error(f"--n-train {args.n_train}: needs --model cnn and a value >= 1")
    if args.model == "cnn" and args.backend == "brian2":
        parser.error("--model cnn: the Brian2 backend supports fully-connected layers only; use --backend torch")
    out = bench_src(backend=args.backend, device=args.device, steps=args.steps, data_dir=args.data_dir,
                    seed=args.seed, brian2_backend=args.brian2_backend, build_dir=args.build_dir,
                    threads=args.threads, dtype=args.dtype, log=None if args.json else _print_flush,
                    warn=_print_flush, model=args.model, n_train=args.n_train)
    print(json.dumps(out))
    return 0


def bench_hessian_main(argv: list[str] | None = None) -> int:
    """``sleep-snn bench hessian``."""
    from scenarios.bench.hessian import run

    p = argparse.ArgumentParser(prog="sleep-snn bench hessian",
                                description="Time the top Hessian eigenvalue (power iteration) of the "
                                            "784-1200-1200-10 MLP on one CPU thread.")
    p.add_argument("--n-images", type=int, default=1000, help="samples in the loss (default 1000)")
    p.add_argument("--max-iter", type=int, default=100, help="maximum Hessian-vector products (default 100)")
    p.add_argument("--tol", type=float, default=1e-4, help="relative tolerance of the eigenvalue (default 1e-4)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--loss", choices=("mse", "ce"), default="mse", help="loss (default mse)")
    p.add_argument("--data", choices=("random", "fashion", "mnist", "digits"), default="random",
                   help="random pixels and labels (default) or a data set's first training images")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the model, the data and the start vector")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)
    if args.n_images < 1:
        p.error("--n-images must be >= 1")
    if args.max_iter < 1:
        p.error("--max-iter must be >= 1")
    if not args.tol > 0:
        p.error("--tol must be > 0")
    out = run(n_images=args.n_images, seed=args.seed, max_iter=args.max_iter, tol=args.tol, threads=args.threads,
              loss=args.loss, data=args.data, data_dir=args.data_dir)
    if not args.json:
        print(f"top Hessian eigenvalue {out['eigenvalue']:.6g} after {out['iterations']} Hessian-vector products "
              f"({'converged' if out['converged'] else 'not converged'}), {out['seconds']:.2f} s "
              f"({out['s_per_hvp']:.3f} s each) on {out['threads']} thread(s), {out['n_params']} parameters, "
              f"{out['n_images']} images")
    print(json.dumps(out))
    return 0


def bench_nir_main(argv: list[str] | None = None) -> int:
    """``sleep-snn bench nir``: time and file size of the NIR export of a converted MLP."""
    from scenarios.bench.nir import bench_nir

    p = argparse.ArgumentParser(prog="sleep-snn bench nir", description="Time the NIR export and import of a "
                                "converted bias-free ReLU MLP (784-1200-1200-10 by default) and its file size.")
    p.add_argument("--sizes", default="784,1200,1200,10", help="layer sizes, input first (default 784,1200,1200,10)")
    p.add_argument("--repeats", type=int, default=5, help="exports timed (default 5)")
    p.add_argument("--decay", type=float, default=0.999, help="membrane decay (default 0.999: LIF; 1: IF)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--no-compression", action="store_true", help="write the HDF5 arrays uncompressed")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        p.error(f"--sizes {args.sizes!r}: must be integers separated by commas")
    if len(sizes) < 2 or min(sizes) < 1:
        p.error(f"--sizes {args.sizes!r}: at least two sizes, each >= 1")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    out = bench_nir(sizes, repeats=args.repeats, decay=args.decay, dtype=args.dtype,
                    compression=None if args.no_compression else "gzip")
    if not args.json:
        print(f"export {out['export_seconds_max']:.3f} s (max of {args.repeats}), import "
              f"{out['import_seconds_max']:.3f} s, file {out['file_bytes'] / 1e6:.2f} MB = "
              f"{out['file_over_weights']:.3f}x the float32 weights, round trip exact: {out['round_trip_exact']}")
    print(json.dumps(out))
    return 0


def bench_report_main(argv: list[str] | None = None) -> int:
    """``sleep-snn bench report DIR``: write a folder's report and time its opening in headless Chromium."""
    from scenarios.bench.browser import BrowserUnavailable, bench_page
    from scenarios.figures.report import write_report

    p = argparse.ArgumentParser(prog="sleep-snn bench report", description="Write the report page of a result "
                                "folder and time how long it takes to open in headless Chromium.")
    p.add_argument("dir", metavar="DIR", help="a run or scan folder")
    p.add_argument("--repeats", type=int, default=5, help="opens timed (default 5; the first one cold)")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    t0 = time.perf_counter()
    pages = write_report(args.dir)
    write_s = time.perf_counter() - t0
    try:
        out = bench_page(pages[0], repeats=args.repeats)
    except BrowserUnavailable as exc:
        print(f"sleep-snn bench report: error: {exc}", file=sys.stderr)
        return 2
    out.update(write_seconds=write_s, pages=len(pages))
    if not args.json:
        print(f"wrote {len(pages)} page(s) in {write_s:.2f} s; {pages[0]} opened in "
              f"{out['open_seconds_max']:.3f} s at most ({args.repeats} opens, load event at most "
              f"{out['load_event_ms_max']:.0f} ms), {out['images']} images, broken: {out['broken_images'] or 'none'}")
    print(json.dumps(out))
    return 0


#: sub-command -> its main(argv)
def bench_horizon_main(argv=None) -> int:
    """``sleep-snn bench horizon``: one long-horizon run with probe blocks (speed and memory)."""
    import argparse
    import json

    from scenarios.bench.horizon import bench_horizon

    parser = argparse.ArgumentParser(prog="sleep-snn bench horizon", description=bench_horizon_main.__doc__)
    parser.add_argument("--n-images", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--probe-every", type=int, default=5000)
    parser.add_argument("--probe-train", type=int, default=600, help="probe images the read-out is fitted on")
    parser.add_argument("--probe-test", type=int, default=600, help="probe images it is tested on")
    parser.add_argument("--condition", default="trigger", choices=("none", "schedule", "trigger"))
    parser.add_argument("--size", type=int, default=15, help="image side after resizing (pixels)")
    parser.add_argument("--t-present", type=float, default=None, help="presentation time (ms; default: the network's)")
    parser.add_argument("--t-rest", type=float, default=None, help="rest after each image (ms; default: the network's)")
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--backend", default="cpp_standalone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    from scenarios.commands.common import UserError, probe_network_params
    from scenarios.experiments.horizon import HorizonConfig

    try:  # the sizes first: a bad combination is a one-line error before anything is loaded or built
        HorizonConfig(dataset=args.dataset, n_images=args.n_images, epochs=args.epochs, size=args.size,
                      probe_every=args.probe_every, n_probe_train=args.probe_train, n_probe_test=args.probe_test)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    params = probe_network_params(args)
    res = bench_horizon(n_images=args.n_images, epochs=args.epochs, probe_every=args.probe_every,
                        n_probe_train=args.probe_train, n_probe_test=args.probe_test,
                        condition=args.condition, dataset=args.dataset, backend=args.backend, seed=args.seed,
                        data_dir=args.data_dir, params=params)
    if args.json:
        _print_flush(json.dumps(res, indent=1))
    else:
        _print_flush(f"{res['n_presentations']} presentations ({res['n_probe_blocks']} probe blocks), "
                     f"{res['sim_seconds']:.0f} s simulated: {res['realtime_factor']:.1f}x real time "
                     f"(loop CPU {res['loop_cpu_seconds']:.1f} s); wall {res['wall_seconds']['total']:.0f} s; "
                     f"peak RSS {res['peak_rss_mb']:.0f} MB (Python), "
                     + (f"{res['peak_rss_program_mb']:.0f} MB (compiled program)"
                        if res["peak_rss_program_mb"] is not None else "no compiled program"))
    return 0


SUBCOMMANDS = {"ei": bench_ei_main, "horizon": bench_horizon_main, "scan": bench_scan_main, "src": bench_src_main,
               "hessian": bench_hessian_main, "nir": bench_nir_main, "report": bench_report_main}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        print("usage: sleep-snn bench {" + ",".join(SUBCOMMANDS) + "} [options]", file=sys.stderr)
        return 2
    return int(SUBCOMMANDS[argv[0]](argv[1:]) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
