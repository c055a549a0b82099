"""The scan experiment: sleep ratio x seed x parameter grids of E/I runs, resumable.

Every grid point is one run of the E/I network (train with plasticity, then
read out), stored as ``DIR/runs/<key>/result.json`` + ``arrays.npz``, written
atomically. A scan that is killed at any moment is resumed by running the same
command again: finished runs are skipped, unfinished ones are run, so each
grid point ends with exactly one result.

Each Dask worker (one process, one thread) builds the network once per
distinct network structure; a ``cpp_standalone`` network is compiled once into
the shared build cache (:mod:`spiking.buildcache`: the first worker compiles,
the others wait on its lock and run the same program). Each worker then re-runs
that program for every grid point, with the seed (``$SLEEP_SNN_SEED``) and the
run-time parameters (sleep parameters, learning rates) passed on the command
line (``device.run(run_args=...)``). The grid runs on Dask with
:func:`scenarios.runs.grid.run_grid`, which can also send the runs to an
existing cluster (for example one started by dask-jobqueue on SLURM/PBS).

A scan directory is tied to its settings (:func:`scan_settings`: the data
files and sizes, the network and sleep parameters, the backend and compile
mode, the read-out, the code that computes a run); a resumed scan with other
settings stops and names what differs.

The summary (``summary.csv``, one row per run; ``summary.md``, mean ± sd per
grid point) always carries two baselines computed on the same images: the
read-out on the raw pixels, and the network with plasticity off.

When the configuration holds a protocol (:class:`scenarios.experiments.protocol.Protocol`,
``sleep-snn scan --protocol reference``), each point is a run of that protocol
(:func:`scenarios.experiments.reference.run_protocol`) and ``quirks`` may be a
grid axis of quirk-set specs (``none``, ``reference``, ``a+b``,
``reference-a``): the reference protocol's ablation runs as an ordinary scan.

This module holds the library side: the parameter mapping of a grid point
(:data:`RUNTIME_PARAMS`), the worker function :func:`run_point`, the
configuration (:func:`build_config`) and the summary (:func:`summarise`). The
``sleep-snn scan`` command is :mod:`scenarios.commands.scan`, the figures are
:mod:`scenarios.figures.scan`, the throughput benchmark is
:func:`scenarios.bench.scan.bench_scan`.
"""

from __future__ import annotations

import atexit
import csv
import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from scenarios.runs.stats import mean_sd
from scenarios.runs.grid import code_fingerprint, point_key
from scenarios.runs.results import load_result

__all__ = ["RUNTIME_PARAMS", "RESULT_CODE", "scannable_params", "integer_params", "check_points", "run_point",
           "collect_rows", "summarise", "build_config", "scan_settings"]

#: Modules whose code decides the numbers of a run (their fingerprint is one of a scan's settings).
RESULT_CODE = ("spiking.equations", "spiking.functions", "spiking.network", "spiking.params", "spiking.sleep",
               "spiking.readout", "spiking.data", "scenarios.experiments.ei", "scenarios.experiments.protocol",
               "scenarios.experiments.reference")

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


def scannable_params() -> list[str]:
    """Names a scan may vary: the run-time parameters and the scalar network fields (sorted)."""
    return sorted(set(RUNTIME_PARAMS) | set(_network_scalar_fields()))


def integer_params() -> list[str]:
    """The scannable parameters whose values are integers (neuron counts)."""
    from spiking.params import EINetworkParams

    base = EINetworkParams()
    return sorted(f.name for f in dataclasses.fields(base)
                  if isinstance(getattr(base, f.name), int) and not isinstance(getattr(base, f.name), bool))


def check_points(points: list[dict], params, sleep) -> None:
    """Build the parameters of every grid point, so that an invalid one fails before anything runs.

    Raises
    ------
    spiking.params.ParameterError
        A point's value is invalid (the message names the field and the range).
    """
    for point in points:
        _params_for(point, {"params": params, "sleep": sleep})


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
        if name in ("arm", "ratio", "seed", "quirks"):
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
                if float(value) != int(value):
                    from spiking.params import ParameterError

                    raise ParameterError(f"EINetworkParams.{name}={value!r} must be an integer")
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
    for k in ("eta_plus", "eta_minus", "w_max"):
        p["stdp"].pop(k, None)
    for k in ("eta", "w_max"):
        p["istdp"].pop(k, None)
    s = {"mode": sleep.mode, "check_interval": str(sleep.check_interval),
         "pathways": list(sleep.pathways)}
    return hashlib.sha1(json.dumps([p, s], sort_keys=True).encode()).hexdigest()[:12]


# --- worker side -------------------------------------------------------------

_WORKER: dict = {"sim": None, "key": None, "schedule": None, "schedule_key": None}


def _worker_schedule(config: dict, protocol=None, seed: int = 0):
    """The images of a point: the scan's :class:`Schedule`, or a protocol's schedule.

    A protocol schedule depends on the quirks that shape it and, with
    ``mixed_split``, on the network seed; the last one is cached.
    """
    from scenarios.experiments.ei import load_schedule

    base = (config["dataset"], config["n_train"], config["n_test"], config["size"],
            config["data_seed"], config["n_readout_train"], config["data_dir"])
    if protocol is not None:
        from scenarios.experiments.protocol import QUIRK_STAGES, build_schedule

        shaping = sorted(q for q in protocol.quirks if "schedule" in QUIRK_STAGES[q])
        key = base + (tuple(shaping), protocol.n_subset, protocol.epochs, protocol.n_readout,
                      seed if protocol.on("mixed_split") else None)
        if _WORKER["schedule_key"] != key:
            _WORKER["schedule"] = build_schedule(
                protocol, config["dataset"], config["n_train"], config["n_test"], size=config["size"],
                data_dir=config["data_dir"], data_seed=config["data_seed"], seed=seed)
            _WORKER["schedule_key"] = key
        return _WORKER["schedule"]
    if _WORKER["schedule_key"] != base:
        _WORKER["schedule"] = load_schedule(
            config["dataset"], config["n_train"], config["n_test"], size=config["size"],
            data_dir=config["data_dir"], data_seed=config["data_seed"],
            n_readout_train=config["n_readout_train"])
        _WORKER["schedule_key"] = base
    return _WORKER["schedule"]


def _close_worker_sim() -> None:
    if _WORKER["sim"] is not None:
        _WORKER["sim"].close()
        _WORKER["sim"] = None


def _build_key(params, sleep, shape) -> str:
    """Hash of the compiled structure and the schedule shape it is built for."""
    text = json.dumps([_structure_key(params, sleep), [int(x) for x in shape]])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _worker_sim(params, sleep, config: dict, protocol=None, seed: int = 0):
    from spiking.network import EISimulation

    schedule = _worker_schedule(config, protocol, seed)
    image_schedule = schedule.schedule if protocol is not None else schedule.image_schedule
    key = (_build_key(params, sleep, image_schedule.shape),
           None if protocol is not None else _WORKER["schedule_key"])
    first = False
    if _WORKER["key"] != key:
        if _WORKER["sim"] is not None:
            _WORKER["sim"].close()
            _WORKER["sim"] = None
        # a cpp_standalone network is compiled once into the shared build cache
        _WORKER["sim"] = EISimulation(params, sleep, image_schedule, backend=config["backend"], progress=False,
                                      compile_mode=config.get("compile_mode"))
        if not _WORKER.get("atexit"):
            atexit.register(_close_worker_sim)
            _WORKER["atexit"] = True
        _WORKER["key"] = key
        first = True
    return _WORKER["sim"], schedule, first


def _point_protocol(point: dict, config: dict):
    """The protocol of a point (the scan's, with the point's ``quirks`` axis), or None."""
    from scenarios.experiments.protocol import Protocol

    base = config.get("protocol")
    if base is None:
        return None
    if not isinstance(base, Protocol):
        base = Protocol(**{**base, "quirks": frozenset(base.get("quirks", ()))})
    return base.with_quirks(point["quirks"]) if point.get("quirks") is not None else base


def _run_protocol_point(point: dict, config: dict, protocol, run_dir: Path, t0: float) -> dict:
    from scenarios.experiments.reference import run_protocol
    from scenarios.runs.results import save_result

    base_params, base_sleep = _params_for(point, config)
    ratio = float(base_sleep.sleep_ratio)
    params = protocol.network_params(base_params, ratio)
    sleep = protocol.sleep_params(base_sleep, ratio)
    sim, ps, first = _worker_sim(params, sleep, config, protocol, point["seed"])
    build_s = time.perf_counter() - t0
    meta, arrays = run_protocol(base_params, base_sleep, protocol, dataset=config["dataset"],
                                n_train=config["n_train"], n_test=config["n_test"], ratio=ratio,
                                seed=point["seed"], readout=config["readout"], sim=sim, ps=ps,
                                log=lambda s: None,
                                extra={"point": point, "key": point_key(point)})
    meta["scan"] = {"first_on_worker": first, "build_seconds": build_s if first else 0.0,
                    "point_seconds": time.perf_counter() - t0, "worker_pid": os.getpid()}
    if not config.get("keep_counts", False) and point["seed"] != config["seeds"][0]:
        for k in [k for k in arrays if k.startswith(("raster_", "w_", "counts_"))]:
            arrays.pop(k)
    save_result(run_dir, meta, arrays)
    return _row(meta)


def run_point(point: dict, config: dict) -> dict:
    """Run one grid point (in a worker) and save it; returns its summary row."""
    from scenarios.experiments.ei import readout_from_output, summarise_run
    from scenarios.runs.results import save_result

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return _row(load_result(run_dir))
    t0 = time.perf_counter()
    protocol = _point_protocol(point, config)
    if protocol is not None:
        return _run_protocol_point(point, config, protocol, run_dir, t0)
    params, sleep = _params_for(point, config)
    sim, schedule, first = _worker_sim(params, sleep, config)
    build_s = time.perf_counter() - t0
    out = sim.run(seed=point["seed"], sleep=sleep, params=params)
    readout = readout_from_output(out, schedule, config["readout"], seed=point["seed"])
    meta, arrays = summarise_run(out, schedule, params, sleep, readout, seed=point["seed"], extra={
        "point": point, "key": point_key(point), "settings_key": config.get("settings_key"),
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
        rows.append(_row(load_result(res)))
    return rows


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

    def order(x):  # numbers before strings, None first
        return (0, -1e9, "") if x is None else (1, float(x), "") if isinstance(x, (int, float)) else (2, 0.0, str(x))

    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "sleep",) + tuple(
            order(x) for x in kv[0][1:])):
        m, s = mean_sd([r["accuracy"] for r in rs])
        n = len(rs)
        ar, _ = mean_sd([r["achieved_ratio"] for r in rs])
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
        vals = [arm, f"{t['ratio']:g}"] + ["" if t[k] is None else f"{t[k]:g}" if isinstance(t[k], (int, float))
                                           else str(t[k]) for k in extra]
        vals += [acc, str(t["n_seeds"]), f"{t['achieved_ratio']:.3f}"]
        lines.append("| " + " | ".join(vals) + " |")
    if pixel is not None:
        lines += ["", f"Raw-pixel baseline (same read-out, same images): {100 * pixel:.1f}%"]
    summary = {"table": table, "pixel_baseline": pixel, "config": {
        k: v for k, v in config.items() if k not in ("params", "sleep")}}
    if config.get("protocol") is not None:
        lines += ["", *_protocol_sections(out, rows, config, summary)]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    from scenarios.runs.results import write_json

    write_json(out / "summary.json", summary)
    return summary


def _protocol_sections(out: Path, rows: list[dict], config: dict, summary: dict) -> list[str]:
    """A protocol scan's tables: the curve beside the paper's, the sleep gain per quirk set, and the
    read-out quirks scored again on the runs that kept their counts (``summary`` gets them too)."""
    from scenarios.experiments.protocol import Protocol
    from scenarios.experiments.reference import PAPER, protocol_markdown, readout_ablation

    prot = config["protocol"]
    label = prot.label if isinstance(prot, Protocol) else Protocol(
        **{**prot, "quirks": frozenset(prot.get("quirks", ()))}).label
    if config["dataset"] in PAPER:
        summary["paper"] = {str(k): v for k, v in PAPER[config["dataset"]].items()}  # percent
    lines = protocol_markdown(rows, config["dataset"], quirks=label)
    rescored = [r for r in readout_ablation(sorted(p.parent for p in Path(out, "runs").glob("*/result.json")),
                                            method=config.get("readout", "logreg")) if len(r["variants"]) > 1]
    summary["readout_ablation"] = rescored
    if rescored:
        names = list(dict.fromkeys(k for r in rescored for k in r["variants"]))
        lines += ["", "## Read-out quirks scored again on the saved counts (same network, no simulation)", "",
                  "| run | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for r in rescored:
            lines.append(f"| {r['key']} | " + " | ".join(
                f"{100 * r['variants'][n]:.1f}" if n in r["variants"] else "" for n in names) + " |")
    return lines


def build_config(*, params, sleep, dataset: str, n_train: int, n_test: int, out, seeds,
                 size: int = 15, data_seed: int = 0, n_readout_train: int | None = None, data_dir=None,
                 backend: str = "cpp_standalone", readout: str = "logreg", command: str = "",
                 protocol=None, compile_mode: str | None = None) -> dict:
    """Settings shared by every point of a scan, with the raw-pixel baseline.

    Loads the scan's images (:func:`scenarios.experiments.ei.load_schedule`)
    once to score the same read-out on the raw pixels.

    Parameters
    ----------
    params : spiking.params.EINetworkParams
        Base network; grid axes replace its fields (see :func:`run_point`).
    sleep : spiking.sleep.SleepParams
        Base sleep controller; the point's ratio and sleep parameters replace its fields.
    dataset, n_train, n_test, size, data_seed, n_readout_train, data_dir
        The images (as :func:`scenarios.experiments.ei.load_schedule`).
    out : path-like
        Scan directory (stored resolved, so that workers elsewhere find it).
    seeds : sequence of int
        Network seeds of the grid (the first one keeps its per-image counts).
    backend : str
        Brian2 backend of the runs.
    readout : str
        Read-out method.
    command : str
        The command line, for the summary.
    protocol : scenarios.experiments.protocol.Protocol, optional
        Run every point under this protocol (its ``quirks`` may be
        overridden per point by a ``quirks`` grid axis); stored as a dict, so
        that a resumed scan can compare it.
    compile_mode : str, optional
        Compiler flags of a standalone backend (:func:`spiking.backend.resolve_compile_mode`).

    Returns
    -------
    dict
        The configuration passed to :func:`run_point` and :func:`summarise`
        (``data_files``: the files the images were read from).
    """
    from spiking.backend import is_standalone, resolve_compile_mode

    from scenarios.experiments.ei import load_schedule, pixel_baseline

    n_ro = n_readout_train
    if protocol is not None:
        from scenarios.experiments.protocol import build_schedule, protocol_readout

        ps = build_schedule(protocol, dataset, n_train, n_test, size=size, data_dir=data_dir,
                            data_seed=data_seed, seed=list(seeds)[0])
        rec = ps.schedule.recorded
        pixel = protocol_readout(ps.schedule.images[ps.schedule.order[rec]], ps, protocol,
                                 method=readout).accuracy
        schedule = load_schedule(dataset, 1, 1, size=size, data_dir=data_dir, data_seed=data_seed)  # its files
    else:
        schedule = load_schedule(dataset, n_train, n_test, size=size,
                                 data_dir=data_dir, data_seed=data_seed, n_readout_train=n_ro)
        pixel = pixel_baseline(schedule, readout).accuracy
    return {"protocol": None if protocol is None else protocol.to_dict(),
            "dataset": dataset, "n_train": n_train, "n_test": n_test, "size": size,
            "data_seed": data_seed, "n_readout_train": n_ro, "data_dir": data_dir,
            "data_files": list(schedule.files),
            "backend": backend, "readout": readout, "out": str(Path(out).resolve()),
            "compile_mode": resolve_compile_mode(compile_mode) if is_standalone(backend) else None,
            "params": params, "sleep": sleep, "seeds": list(seeds),
            "pixel_baseline": pixel,
            "command": command}


def scan_settings(config: dict) -> dict:
    """Everything shared by a scan's points that changes a result (the manifest of its directory).

    The data (name, sizes, seed, and the files read: names, sizes, checksums),
    the base network and sleep parameters, the backend, the compile mode and its
    flags, the read-out, the fingerprint of :data:`RESULT_CODE` and the versions
    of Brian2, numpy and scikit-learn. Not the grid's axes (they are in the point
    keys), nor where the data or the output are, nor the command line.

    Parameters
    ----------
    config : dict
        From :func:`build_config`.

    Returns
    -------
    dict
        JSON-able settings, for :func:`scenarios.runs.grid.run_grid`.
    """
    from spiking.backend import compile_flags
    from spiking.params import as_plain_dict
    from scenarios.runs.results import package_versions

    versions = package_versions()
    sleep = as_plain_dict(config["sleep"])
    sleep.pop("sleep_ratio", None)  # a grid axis
    mode = config.get("compile_mode")
    return {
        "dataset": config["dataset"], "n_train": config["n_train"], "n_test": config["n_test"],
        "size": config["size"], "data_seed": config["data_seed"], "n_readout_train": config["n_readout_train"],
        "data_files": [{"name": Path(f["path"]).name, "bytes": f["bytes"], "sha256": f["sha256"]}
                       for f in config.get("data_files", [])],
        "params": as_plain_dict(config["params"]), "sleep": sleep,
        "backend": config["backend"], "compile_mode": mode,
        "compile_flags": compile_flags(mode) if mode else None,
        "readout": config["readout"], "protocol": config.get("protocol"), "code": code_fingerprint(RESULT_CODE),
        "versions": {k: versions.get(k) for k in ("brian2", "numpy", "scikit-learn")},
    }
