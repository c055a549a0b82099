"""``sleep-snn scan``: sleep ratio x seed x parameter grids on Dask, resumable.

Every grid point is one run of the E/I network (train with plasticity, then
read out), stored as ``DIR/runs/<key>/result.json`` + ``arrays.npz``, written
atomically. A scan that is killed at any moment is resumed by running the same
command again: finished runs are skipped, unfinished ones are run, so each
grid point ends with exactly one result.

Each Dask worker (one process, one thread) builds the standalone network
once per distinct network structure. Only the first worker compiles: the
others wait for it (a file lock in ``DIR/build``) and start from a copy of its
build directory, in which ``make`` finds every object up to date. Each worker
then re-runs its binary for every grid point, with the seed (``$SLEEP_SNN_SEED``) and the run-time parameters
(sleep parameters, learning rates) passed on the command line
(``device.run(run_args=...)``). ``--scheduler ADDRESS`` sends the runs to an
existing cluster (for example one started by dask-jobqueue on SLURM/PBS).

The summary (``summary.csv``, one row per run; ``summary.md``, mean ± sd per
grid point) always carries two baselines computed on the same images: the
read-out on the raw pixels, and the network with plasticity off.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import dataclasses
import functools
import hashlib
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from scenarios.runs.grid import COMPILED_MARK, build_lock, grid_points, point_key, run_grid, seed_build_dir

__all__ = ["RUNTIME_PARAMS", "run_point", "summarise", "scan_figures",
           "main", "bench_main"]

#: Parameters that a compiled network takes at run time: name -> (target, unit)
RUNTIME_PARAMS = {
    "alpha_trig": ("sleep", None), "alpha_base": ("sleep", None), "lam": ("sleep", None),
    "sigma": ("sleep", "mV"), "max_sleep": ("sleep", "second"), "interval": ("sleep", "second"),
    "w_tgt": ("sleep", None), "w_tgt_inp_exc": ("sleep", None), "w_tgt_exc_exc": ("sleep", None),
    "w_tgt_inh_exc": ("sleep", None), "eta_plus": ("stdp", None), "eta_minus": ("stdp", None),
    "istdp_eta": ("istdp", None),
}


def _network_scalar_fields() -> dict:
    """Scalar fields of EINetworkParams that a scan may vary (each value compiles its own binary)."""
    from brian2 import Quantity

    from spiking.params import EINetworkParams

    base = EINetworkParams()
    out = {}
    for f in dataclasses.fields(base):
        v = getattr(base, f.name)
        if isinstance(v, Quantity):
            out[f.name] = str(v.get_best_unit()) if hasattr(v, "get_best_unit") else None
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f.name] = None
    return out


def parse_param(text: str) -> tuple[str, list[float]]:
    """``"NAME=V1,V2"`` -> ``(NAME, [V1, V2])`` with a clear error for unknown names."""
    if "=" not in text:
        raise ValueError(f"--param {text!r} must look like NAME=V1,V2,...")
    name, values = text.split("=", 1)
    name = name.strip()
    allowed = sorted(set(RUNTIME_PARAMS) | set(_network_scalar_fields()))
    if name not in allowed:
        raise ValueError(f"--param: unknown parameter {name!r}; allowed: {', '.join(allowed)}")
    try:
        vals = [float(v) for v in values.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"--param {name}: values must be numbers, got {values!r}") from exc
    if not vals:
        raise ValueError(f"--param {name}: no values given")
    return name, vals


def _params_for(point: dict, config: dict):
    """``(EINetworkParams, SleepParams)`` of one grid point."""
    from brian2 import Quantity, mV, second

    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    base_net: EINetworkParams = config["params"]
    base_sleep: SleepParams = config["sleep"]
    net_kw, sleep_kw, stdp_kw, istdp_kw = {}, {"sleep_ratio": point["ratio"]}, {}, {}
    units = {"mV": mV, "second": second}
    for name, value in point.items():
        if name in ("arm", "ratio", "seed"):
            continue
        if name in RUNTIME_PARAMS:
            target, unit = RUNTIME_PARAMS[name]
            v = value * units[unit] if unit else value
            if name == "w_tgt":
                for p in ("inp_exc", "exc_exc", "inh_exc"):
                    sleep_kw[f"w_tgt_{p}"] = v
            elif target == "sleep":
                sleep_kw[name] = v
            elif target == "stdp":
                stdp_kw[name] = v
            else:
                istdp_kw["eta"] = v
        else:
            current = getattr(base_net, name)
            if isinstance(current, Quantity):
                net_kw[name] = value * current.get_best_unit()
            elif isinstance(current, int):
                net_kw[name] = int(value)
            else:
                net_kw[name] = value
    if stdp_kw:
        net_kw["stdp"] = dataclasses.replace(base_net.stdp, **stdp_kw)
    if istdp_kw:
        net_kw["istdp"] = dataclasses.replace(base_net.istdp, **istdp_kw)
    if point.get("arm") == "frozen":
        net_kw["plastic"] = False
        sleep_kw["sleep_ratio"] = 0.0
    return dataclasses.replace(base_net, **net_kw), dataclasses.replace(base_sleep, **sleep_kw)


def _structure_key(params, sleep) -> str:
    """Hash of everything fixed at compile time (run-time fields neutralised)."""
    from spiking.params import as_plain_dict

    p = as_plain_dict(dataclasses.replace(params, plastic=True))
    for k in ("eta_plus", "eta_minus"):
        p["stdp"].pop(k, None)
    p["istdp"].pop("eta", None)
    s = {"mode": sleep.mode, "check_interval": str(sleep.check_interval),
         "pathways": list(sleep.pathways)}
    return hashlib.sha1(json.dumps([p, s], sort_keys=True).encode()).hexdigest()[:12]


# --- worker side -------------------------------------------------------------

_WORKER: dict = {"sim": None, "key": None, "schedule": None, "schedule_key": None}


def _worker_schedule(config: dict):
    from scenarios.experiments.ei import load_schedule

    key = (config["dataset"], config["n_train"], config["n_test"], config["size"],
           config["data_seed"], config["n_readout_train"], config["data_dir"])
    if _WORKER["schedule_key"] != key:
        _WORKER["schedule"] = load_schedule(
            config["dataset"], config["n_train"], config["n_test"], size=config["size"],
            data_dir=config["data_dir"], data_seed=config["data_seed"],
            n_readout_train=config["n_readout_train"])
        _WORKER["schedule_key"] = key
    return _WORKER["schedule"]


def _close_worker_sim() -> None:
    if _WORKER["sim"] is not None:
        _WORKER["sim"].close()
        _WORKER["sim"] = None


def _worker_sim(params, sleep, config: dict):
    from spiking.backend import is_standalone
    from spiking.network import EISimulation

    schedule = _worker_schedule(config)
    key = (_structure_key(params, sleep), _WORKER["schedule_key"])
    first = False
    if _WORKER["key"] != key:
        if _WORKER["sim"] is not None:
            _WORKER["sim"].close()
            _WORKER["sim"] = None
        new_sim = functools.partial(EISimulation, params, sleep, schedule.images, schedule.n_train,
                                    backend=config["backend"], progress=False)
        if is_standalone(config["backend"]):
            root = Path(config["out"]) / "build"
            build = root / f"{key[0]}-{os.getpid()}"
            with build_lock(root / f"{key[0]}.lock"):
                seed_build_dir(root, key[0], build)
                _WORKER["sim"] = new_sim(directory=build)
                (build / COMPILED_MARK).touch()
        else:
            _WORKER["sim"] = new_sim()
        if not _WORKER.get("atexit"):
            atexit.register(_close_worker_sim)
            _WORKER["atexit"] = True
        _WORKER["key"] = key
        first = True
    return _WORKER["sim"], schedule, first


def run_point(point: dict, config: dict) -> dict:
    """Run one grid point (in a worker) and save it; returns its summary row."""
    from scenarios.experiments.ei import readout_from_output, summarise_run
    from scenarios.runs.results import save_result

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return _row(json.loads((run_dir / "result.json").read_text()))
    t0 = time.perf_counter()
    params, sleep = _params_for(point, config)
    sim, schedule, first = _worker_sim(params, sleep, config)
    build_s = time.perf_counter() - t0
    out = sim.run(seed=point["seed"], sleep=sleep, params=params)
    readout = readout_from_output(out, schedule, config["readout"], seed=point["seed"])
    meta, arrays = summarise_run(out, schedule, params, sleep, readout, seed=point["seed"], extra={
        "point": point, "key": point_key(point),
        "scan": {"first_on_worker": first, "build_seconds": build_s if first else 0.0,
                 "point_seconds": time.perf_counter() - t0, "worker_pid": os.getpid()},
    })
    if not config.get("keep_counts", False):
        # per-image counts of a single example run are kept for the figures; others are dropped
        keep = point["seed"] == config["seeds"][0]
        if not keep:
            for k in ("counts_exc", "counts_inh", "raster_exc_t", "raster_exc_i", "raster_inh_t",
                      "raster_inh_i", "w_inp_exc", "w_exc_exc", "w_exc_inh", "w_inh_exc",
                      "w_inp_exc_i", "w_inp_exc_j", "w_exc_exc_i", "w_exc_exc_j", "w_exc_inh_i",
                      "w_exc_inh_j", "w_inh_exc_i", "w_inh_exc_j"):
                arrays.pop(k, None)
    save_result(run_dir, meta, arrays)
    return _row(meta)


def _training_ratio(meta: dict) -> float:
    """Achieved sleep ratio over the training block (results of older versions included)."""
    from brian2 import second
    from scenarios.experiments.ei import training_sleep_ratio

    sleep = meta["sleep"]
    if "training_ratio" in sleep:
        return sleep["training_ratio"]
    t_present, t_rest = (float(_quantity(meta["params"][k]) / second) for k in ("t_present", "t_rest"))
    return training_sleep_ratio(sleep["sleep_time_s"], meta["n_train"], t_present, t_rest)


def _quantity(text: str):
    """``'250. ms'`` -> a Brian2 quantity."""
    import brian2

    value, unit = text.split()
    return float(value) * getattr(brian2, unit)


def _row(meta: dict) -> dict:
    point = dict(meta["point"])
    row = {"key": meta["key"], **point, "accuracy": meta["accuracy"],
           "achieved_ratio": _training_ratio(meta), "n_episodes": meta["sleep"]["n_episodes"],
           "sleep_time_s": meta["sleep"]["sleep_time_s"],
           "rate_exc_hz": meta["mean_rate_hz"]["readout"]["exc"],
           "rate_inh_hz": meta["mean_rate_hz"]["readout"]["inh"],
           "W_exc_exc_growth": (meta["W_final"]["exc_exc"] or 0.0) / max(meta["W_initial"]["exc_exc"] or 0.0, 1e-300),
           "run_seconds": meta["wall_seconds"]["run"],
           "point_seconds": meta["scan"]["point_seconds"],
           "first_on_worker": meta["scan"]["first_on_worker"]}
    return row


# --- driver side ---------------------------------------------------------------

def collect_rows(out) -> list[dict]:
    rows = []
    for res in sorted(Path(out, "runs").glob("*/result.json")):
        rows.append(_row(json.loads(res.read_text())))
    return rows


def _mean_sd(values):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def summarise(out, config: dict) -> dict:
    """Write ``summary.csv`` and ``summary.md`` from the saved runs; returns the table."""
    out = Path(out)
    rows = collect_rows(out)
    if not rows:
        raise RuntimeError(f"no finished runs in {out / 'runs'}")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "summary.csv.tmp", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(out / "summary.csv.tmp", out / "summary.csv")
    extra = [k for k in fields if k not in ("key", "arm", "ratio", "seed", "accuracy", "achieved_ratio",
                                            "n_episodes", "sleep_time_s", "rate_exc_hz", "rate_inh_hz",
                                            "W_exc_exc_growth", "run_seconds", "point_seconds", "first_on_worker")]
    groups: dict = {}
    for r in rows:
        g = (r["arm"], r["ratio"]) + tuple(r.get(k) for k in extra)
        groups.setdefault(g, []).append(r)
    table = []
    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "sleep",) + tuple(
            -1e9 if x is None else x for x in kv[0][1:])):
        m, s, n = _mean_sd([r["accuracy"] for r in rs])
        ar, _, _ = _mean_sd([r["achieved_ratio"] for r in rs])
        table.append({"arm": g[0], "ratio": g[1], **dict(zip(extra, g[2:])), "accuracy_mean": m,
                      "accuracy_sd": s, "n_seeds": n, "achieved_ratio": ar,
                      "seeds": sorted(r["seed"] for r in rs)})
    pixel = config.get("pixel_baseline")
    lines = [f"# Scan summary: {config['dataset']}, {config['n_train']} training / "
             f"{config['n_test']} test images, read-out {config['readout']}", "",
             f"Command: `{config.get('command', '')}`", ""]
    header = ["arm", "sleep ratio"] + extra + ["accuracy (mean ± sd)", "seeds", "achieved sleep ratio (training)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for t in table:
        acc = f"{100 * t['accuracy_mean']:.1f} ± {100 * t['accuracy_sd']:.1f}" if t["n_seeds"] > 1 \
            else f"{100 * t['accuracy_mean']:.1f}"
        arm = "plasticity off (initial weights)" if t["arm"] == "frozen" else "STDP + sleep"
        vals = [arm, f"{t['ratio']:g}"] + [f"{t[k]:g}" if t[k] is not None else "" for k in extra]
        vals += [acc, str(t["n_seeds"]), f"{t['achieved_ratio']:.3f}"]
        lines.append("| " + " | ".join(vals) + " |")
    if pixel is not None:
        lines += ["", f"Raw-pixel baseline (same read-out, same images): {100 * pixel:.1f}%"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    summary = {"table": table, "pixel_baseline": pixel, "config": {
        k: v for k, v in config.items() if k not in ("params", "sleep")}}
    from scenarios.runs.results import write_json

    write_json(out / "summary.json", summary)
    return summary


def build_config(args) -> dict:
    from scenarios.experiments.ei import load_schedule, params_from_args, pixel_baseline

    params, sleep = params_from_args(args)
    n_ro = args.n_readout_train
    schedule = load_schedule(args.dataset, args.n_train, args.n_test, size=args.size,
                             data_dir=args.data_dir, data_seed=args.data_seed, n_readout_train=n_ro)
    pixel = pixel_baseline(schedule, args.readout)
    return {"dataset": args.dataset, "n_train": args.n_train, "n_test": args.n_test, "size": args.size,
            "data_seed": args.data_seed, "n_readout_train": n_ro, "data_dir": args.data_dir,
            "backend": args.backend, "readout": args.readout, "out": str(Path(args.out).resolve()),
            "params": params, "sleep": sleep, "seeds": list(args.seeds),
            "pixel_baseline": pixel.accuracy,
            "command": "sleep-snn " + " ".join(args.argv)}


def build_parser() -> argparse.ArgumentParser:
    from scenarios.experiments.ei import add_network_args

    parser = argparse.ArgumentParser(prog="sleep-snn scan", description=__doc__.split("\n\n")[0])
    add_network_args(parser)
    parser.set_defaults(sleep_ratio=None)
    parser.add_argument("--sleep-ratios", "--sleep-ratio-grid", dest="ratios", type=float, nargs="+",
                        default=None, help="sleep ratios to scan")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--param", action="append", default=[],
                        help="extra grid axis NAME=V1,V2,... (repeatable), e.g. sigma=0,1,2,3")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers (one thread each)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--no-frozen-baseline", action="store_true")
    parser.add_argument("--out", default="results/scan")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny scan for smoke tests (digits)")
    return parser


def _fix_ratio_args(argv: list[str]) -> list[str]:
    """``--sleep-ratio 0 0.1 0.2`` (several values) is the scan's grid."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--sleep-ratio":
            vals = []
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                vals.append(argv[i])
                i += 1
            out += ["--sleep-ratios"] + vals
            continue
        out.append(a)
        i += 1
    return out


def main(argv=None) -> int:
    from scenarios.experiments.ei import apply_quick

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_fix_ratio_args(argv))
    args.argv = ["scan"] + argv
    args.sleep_ratio = 0.0
    if args.quick:
        apply_quick(args, argv)
        if "--n-train" not in argv:
            args.n_train, args.n_test = 60, 40
    ratios = args.ratios if args.ratios is not None else [0.0, 0.1, 0.2, 0.3]
    for r in ratios:
        if not 0 <= r < 1:
            raise ValueError(f"--sleep-ratio {r}: must lie in [0, 1)")
    extra = dict(parse_param(p) for p in args.param)
    config = build_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    points = grid_points(ratios, args.seeds, extra, frozen_baseline=not args.no_frozen_baseline)
    t0 = time.perf_counter()
    run_grid(points, config, run_point, workers=args.workers, scheduler=args.scheduler, label="scan")
    summarise(out, config)
    print((out / "summary.md").read_text())
    if not args.no_figures:
        files = scan_figures(out)
        print(f"[scan] {len(files)} figure files in {out}")
    print(f"[scan] finished in {time.perf_counter() - t0:.0f} s; summary in {out / 'summary.csv'}")
    return 0


# --- figures ---------------------------------------------------------------------

def scan_figures(directory, out_dir=None) -> list[Path]:
    """Figures of a finished scan (reads saved results only)."""
    from scenarios.figures.ei import plot_raster, plot_total_weight
    from scenarios.figures.style import new_axes, save_figure, style
    from scenarios.runs.results import load_arrays, load_result

    directory = Path(directory)
    out_dir = Path(out_dir) if out_dir else directory
    summary = json.loads((directory / "summary.json").read_text())
    table = [t for t in summary["table"] if t["arm"] == "sleep"]
    written = []
    extra = [k for k in (table[0] if table else {}) if k not in (
        "arm", "ratio", "accuracy_mean", "accuracy_sd", "n_seeds", "achieved_ratio", "seeds")]
    with style():
        # accuracy vs sleep ratio (one line per value of the first extra parameter)
        ax = new_axes(None, (4.0, 3.0))
        series = {}
        for t in table:
            label = ", ".join(f"{k}={t[k]:g}" for k in extra) or "STDP + sleep"
            series.setdefault(label, []).append(t)
        for label, ts in series.items():
            ts = sorted(ts, key=lambda t: t["ratio"])
            ax.errorbar([t["ratio"] for t in ts], [100 * t["accuracy_mean"] for t in ts],
                        yerr=[100 * (t["accuracy_sd"] or 0) for t in ts], marker="o", label=label,
                        capsize=2)
        if summary.get("pixel_baseline") is not None:
            ax.axhline(100 * summary["pixel_baseline"], color="0.3", ls="--", lw=1, label="raw pixels")
        frozen = [t for t in summary["table"] if t["arm"] == "frozen"]
        if frozen:
            ax.axhline(100 * frozen[0]["accuracy_mean"], color="0.6", ls=":", lw=1,
                       label="plasticity off")
        ax.set_xlabel("sleep ratio")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{summary['config']['dataset']}: accuracy vs sleep ratio")
        ax.legend(fontsize=7)
        written += save_figure(ax.figure, out_dir / "accuracy_vs_sleep_ratio")

        # noise x ratio heatmap
        if "sigma" in extra:
            ratios = sorted({t["ratio"] for t in table})
            sigmas = sorted({t["sigma"] for t in table})
            M = np.full((len(sigmas), len(ratios)), np.nan)
            for t in table:
                M[sigmas.index(t["sigma"]), ratios.index(t["ratio"])] = 100 * t["accuracy_mean"]
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(4.0, 3.2))
            im = ax.imshow(M, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
            ax.set_yticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
            for (i, j), v in np.ndenumerate(M):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="w")
            ax.set_xlabel("sleep ratio")
            ax.set_ylabel("noise sigma (mV)")
            fig.colorbar(im, ax=ax, label="accuracy (%)")
            ax.set_title("noise x sleep ratio")
            written += save_figure(fig, out_dir / "noise_ratio_heatmap")

        # example runs: total weight with and without sleep, raster, embedding
        runs = sorted((directory / "runs").glob("*/result.json"))
        metas = {r.parent.name: json.loads(r.read_text()) for r in runs}
        seed0 = min((m["point"]["seed"] for m in metas.values()), default=None)
        ex = {}
        for name, m in metas.items():
            p = m["point"]
            if p["seed"] == seed0 and p["arm"] == "sleep" and all(
                    p.get(k) == table[0].get(k) for k in extra):
                ex[p["ratio"]] = name
        if ex:
            import matplotlib.pyplot as plt

            ratios = sorted(ex)
            pick = [ratios[0]] + ([ratios[-1]] if len(ratios) > 1 else [])
            fig, axes = plt.subplots(1, len(pick), figsize=(4.2 * len(pick), 2.8), sharey=True)
            for a, r in zip(np.atleast_1d(axes), pick):
                meta, arrays = load_result(directory / "runs" / ex[r]), load_arrays(directory / "runs" / ex[r])
                plot_total_weight(arrays, meta, ax=a)
                a.set_title(f"sleep ratio {r:g}")
            written += save_figure(fig, out_dir / "total_weight_with_without_sleep")
            meta, arrays = (load_result(directory / "runs" / ex[ratios[-1]]),
                            load_arrays(directory / "runs" / ex[ratios[-1]]))
            eps = meta["sleep"]["episodes"]
            if eps and "raster_exc_t" in arrays:
                ep = eps[min(1, len(eps) - 1)]
                ax = plot_raster(arrays, max(0, ep["start"] - 1.0), ep["end"] + 1.0, eps)
                ax.set_title(f"wake and sleep activity (ratio {ratios[-1]:g}, seed {seed0})")
                written += save_figure(ax.figure, out_dir / "raster_wake_sleep")
            if "counts_exc" in arrays:
                written += _embedding_figure(arrays, meta, out_dir, new_axes, save_figure)
    return written


def _embedding_figure(arrays, meta, out_dir, new_axes, save_figure):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    n_train, n_ro = meta["n_train"], meta["n_readout_train"]
    X = arrays["counts_exc"][n_train + n_ro:].astype(float)
    y = arrays["labels"][n_train + n_ro:]
    if X.shape[0] < 3:
        return []
    Z = PCA(n_components=2, random_state=0).fit_transform(StandardScaler().fit_transform(X))
    ax = new_axes(None, (3.6, 3.2))
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=5, lw=0)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"excitatory responses to test images\n(ratio {meta['sleep_params']['sleep_ratio']}, "
                 f"seed {meta['seed']})")
    ax.figure.colorbar(sc, ax=ax, label="class")
    return save_figure(ax.figure, out_dir / "embedding_exc_pca")


# --- benchmark -------------------------------------------------------------------

def bench_main(argv=None) -> int:
    """``sleep-snn bench scan --runs R --workers W --json``.

    Runs the same R-point scan (sleep ratio 0.1, seeds 0..R-1) with 1 and with W
    workers. ``parallel_efficiency`` = (wall with 1 worker / wall with W) / W,
    compile included; ``steady_state_efficiency`` = mean re-run time with 1
    worker / with W workers (1 when W runs share the machine perfectly).
    ``first_run_seconds`` and ``rerun_seconds`` are per run with W workers.

    The defaults are a quick check (tiny digits runs, where the one build of the
    network dominates). What a real scan gets is measured at scan size, e.g.
    ``--runs 20 --dataset fashion --n-train 2000 --n-test 1000 --t-present 250
    --t-rest 100`` (about 9 minutes on 2 cores; docs/RESULTS.md §2).
    """
    import tempfile

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
    base = Path(tempfile.mkdtemp(prefix="sleep_snn_bench_scan_"))
    timings = {}
    try:
        for w in sorted({1, args.workers}):
            out = base / f"w{w}"
            scan_argv = ["--dataset", args.dataset, "--n-train", str(args.n_train), "--n-test",
                         str(args.n_test), "--t-present", str(args.t_present), "--t-rest", str(args.t_rest),
                         "--sleep-ratio", "0.1", "--seeds", *map(str, range(args.runs)),
                         "--workers", str(w), "--no-frozen-baseline", "--no-figures",
                         "--out", str(out)]
            t0 = time.perf_counter()
            main(scan_argv)
            timings[w] = time.perf_counter() - t0
            metas = [json.loads(p.read_text()) for p in (out / "runs").glob("*/result.json")]
            timings[f"first_{w}"] = float(np.mean([m["scan"]["point_seconds"] for m in metas
                                                   if m["scan"]["first_on_worker"]]))
            reruns = [m["scan"]["point_seconds"] for m in metas if not m["scan"]["first_on_worker"]]
            timings[f"rerun_{w}"] = float(np.mean(reruns)) if reruns else float("nan")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    t1, tw = timings[1], timings[args.workers]
    res = {"benchmark": "scan", "runs": args.runs, "workers": args.workers,
           "wall_seconds_1_worker": t1, "wall_seconds": tw,
           "runs_per_hour": args.runs / tw * 3600.0,
           "parallel_efficiency": (t1 / tw) / args.workers,
           "first_run_seconds": timings[f"first_{args.workers}"],
           "rerun_seconds": timings[f"rerun_{args.workers}"],
           "rerun_seconds_1_worker": timings["rerun_1"],
           # throughput of re-runs alone (compile excluded): how well W runs share the machine
           "steady_state_efficiency": timings["rerun_1"] / timings[f"rerun_{args.workers}"],
           "dataset": args.dataset, "n_train": args.n_train, "n_test": args.n_test,
           "t_present_ms": args.t_present, "t_rest_ms": args.t_rest, "cpu_count": os.cpu_count()}
    print(json.dumps(res) if args.json else res)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
