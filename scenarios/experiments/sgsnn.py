"""``sleep-snn sgsnn``: the sleep-ratio scan of the surrogate-gradient SNN.

The network, its training and its sleep phase (the SG-SNN arm of arXiv
2601.08447, with the sleep intervention of the E/I network) are
:mod:`spiking.sgsnn`; this module is the scan protocol.

:func:`grid` builds the grid sleep ratio × seed (× arm: ``ff`` feed-forward,
``recurrent``) with :func:`scenarios.runs.grid.grid_points`, and :func:`run`
runs it through :func:`scenarios.runs.grid.run_grid` (Dask, resumable: finished
points are skipped). Each point (:func:`run_sgsnn_point`) trains and tests one
network on the same data subset and is saved as ``DIR/runs/<key>/result.json``
+ ``arrays.npz``; :func:`summarise` then writes ``summary.csv`` (one row per
run), ``summary.md`` (mean ± sd per arm and ratio) and ``result.json``
(``"kind": "sgsnn"``) into the directory. The figures are
:mod:`scenarios.figures.sgsnn`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from scenarios.runs import labels
from scenarios.runs.stats import mean_sd
from spiking.sgsnn import SGSNNConfig, SleepSTDP, train_sgsnn
from spiking.sleep import SleepParams

__all__ = ["ARM_LABELS", "grid", "run", "run_sgsnn_point", "summarise"]

#: Table labels of the arms (``point["arm"]``, absent for the feed-forward one).
ARM_LABELS = labels.SGSNN_ARMS


_DATA: dict = {"key": None, "data": None}


def _load_data(config: dict):
    from spiking.data import load_dataset

    key = (config["dataset"], config["n_train"], config["n_test"], config["data_seed"],
           config.get("data_dir"))
    if _DATA["key"] != key:
        tr = load_dataset(config["dataset"], "train", size=15, n=config["n_train"],
                          seed=config["data_seed"], data_dir=config.get("data_dir"))
        te = load_dataset(config["dataset"], "test", size=15, n=config["n_test"],
                          seed=config["data_seed"], data_dir=config.get("data_dir"))
        _DATA["data"] = (tr.images.reshape(len(tr.images), -1), tr.labels,
                         te.images.reshape(len(te.images), -1), te.labels)
        _DATA["key"] = key
    return _DATA["data"]


def _sleep_params(config: dict, ratio: float) -> SleepParams:
    from brian2 import mV

    kw = {"mode": "schedule", "sleep_ratio": float(ratio), "lam": config["lam"],
          "sigma": config["sigma_mV"] * mV}
    if config.get("w_tgt") is not None:
        kw.update(w_tgt_inp_exc=config["w_tgt"], w_tgt_exc_exc=config["w_tgt"],
                  w_tgt_inh_exc=config["w_tgt"])
    return SleepParams(**kw)


def run_sgsnn_point(point: dict, config: dict) -> dict:
    """Train and test one grid point (in a Dask worker) and save it; returns its summary row."""
    from scenarios.runs.grid import point_key
    from scenarios.runs.results import package_versions, save_result

    from scenarios.runs.results import load_result

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return _row(load_result(run_dir))
    torch.set_num_threads(int(config.get("threads", 1)))
    t0 = time.perf_counter()
    xtr, ytr, xte, yte = _load_data(config)
    cfg = SGSNNConfig(hidden=config["hidden"], steps=config["steps"], epochs=config["epochs"],
                      recurrent=point.get("arm") == "recurrent", lr=config["lr"],
                      batch=config["batch"],
                      # scans written before --logit-scale existed trained on raw counts
                      logit_scale=config.get("logit_scale", 1.0))
    sleep = _sleep_params(config, point["ratio"])
    stdp = SleepSTDP(sleep_steps=config.get("sleep_steps"), eta_plus=config["eta_plus"],
                     eta_minus=config["eta_minus"])
    res = train_sgsnn(xtr, ytr, xte, yte, cfg=cfg, sleep=sleep, stdp=stdp, seed=point["seed"],
                      log_every=config.get("log_every", 0))
    meta = {
        "kind": "sgsnn_run", "key": point_key(point), "point": point,
        "arm": "recurrent" if cfg.recurrent else "ff",
        "accuracy": res["accuracy"], "epoch_accuracy": res["epoch_accuracy"],
        "final_train_accuracy": float(np.mean(res["train_accuracy"][-10:])),
        "final_loss": float(np.mean(res["loss"][-10:])),
        "iterations": res["iterations"], "dataset": config["dataset"],
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "model": dataclasses.asdict(res["model"].cfg),
        "sleep_params": sleep, "sleep_stdp": stdp, "sleep": res["sleep"],
        "hidden_rate_test": res["hidden_rate_test"], "weight_mean_abs": res["weight_mean_abs"],
        "seeds": {"torch_manual_seed": point["seed"], "sleep_noise_generator": point["seed"] + 1,
                  "numpy_default_rng": point["seed"], "data_seed": config["data_seed"]},
        "wall_seconds": {"train": res["train_seconds"], "wake": res["wake_seconds"],
                         "sleep": res["sleep_seconds"], "eval": res["eval_seconds"],
                         "point": time.perf_counter() - t0},
        "torch_threads": torch.get_num_threads(), "worker_pid": os.getpid(),
        "versions": package_versions(), "command": config.get("command", ""),
        "settings_key": config.get("settings_key"),
    }
    save_result(run_dir, meta, {"loss": res["loss"], "train_accuracy": res["train_accuracy"]})
    return _row(meta)


def _row(meta: dict) -> dict:
    p = meta["point"]
    return {"key": meta["key"], "arm": meta["arm"], "ratio": p["ratio"], "seed": p["seed"],
            "accuracy": meta["accuracy"], "final_train_accuracy": meta["final_train_accuracy"],
            "achieved_ratio": meta["sleep"]["achieved_ratio"], "n_phases": meta["sleep"]["n_phases"],
            "sleep_hidden_rate": meta["sleep"]["hidden_spikes_per_neuron_step"],
            "train_seconds": meta["wall_seconds"]["train"],
            "sleep_seconds": meta["wall_seconds"]["sleep"],
            "hidden": meta["model"]["hidden"], "steps": meta["model"]["steps"],
            "epochs": meta["model"]["epochs"], "n_train": meta["n_train"], "n_test": meta["n_test"],
            "dataset": meta["dataset"]}


def summarise(out, config: dict | None = None) -> dict:
    """Write ``summary.csv``, ``summary.md`` and ``result.json`` (kind sgsnn) of a scan directory."""
    from scenarios.runs.results import load_result, package_versions, write_json

    out = Path(out)
    rows = [_row(load_result(p)) for p in sorted((out / "runs").glob("*/result.json"))]
    if not rows:
        raise RuntimeError(f"no finished runs in {out / 'runs'}")
    fields = list(rows[0])
    tmp = out / "summary.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "summary.csv")
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["arm"], r["ratio"]), []).append(r)
    table = []
    for (arm, ratio), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "ff", kv[0][1])):
        m, s = mean_sd([r["accuracy"] for r in rs])
        table.append({"arm": arm, "ratio": ratio, "accuracy_mean": m, "accuracy_sd": s,
                      "n_seeds": len(rs), "seeds": sorted(r["seed"] for r in rs),
                      "achieved_ratio": float(np.mean([r["achieved_ratio"] for r in rs])),
                      "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs]))})
    sizes = sorted({(r["dataset"], r["n_train"], r["n_test"], r["hidden"], r["steps"], r["epochs"])
                    for r in rows})
    config = dict(config or {})
    lines = ["# SG-SNN sleep-ratio scan", ""]
    for ds, ntr, nte, hid, steps, ep in sizes:
        lines.append(f"Dataset {ds}: {ntr} training / {nte} test images, 225-{hid}-10, "
                     f"{steps} steps, {ep} epoch(s).")
    if config.get("command"):
        lines += ["", f"Command: `{config['command']}`"]
    lines += ["", "| arm | sleep ratio | accuracy % (mean ± sd) | seeds | achieved sleep fraction "
              "| train s / run |", "|---|---|---|---|---|---|"]
    for t in table:
        acc = (f"{100 * t['accuracy_mean']:.1f} ± {100 * t['accuracy_sd']:.1f}" if t["n_seeds"] > 1
               else f"{100 * t['accuracy_mean']:.1f}")
        lines.append(f"| {ARM_LABELS.get(t['arm'], t['arm'])} | {t['ratio']:g} | {acc} | "
                     f"{t['n_seeds']} | {t['achieved_ratio']:.3f} | {t['train_seconds_mean']:.0f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    prev = {}
    if (out / "result.json").exists():
        prev = json.loads((out / "result.json").read_text())
    stdp_scan = config.get("stdp_scan") or prev.get("stdp_scan")
    summary = {"kind": "sgsnn", "table": table, "stdp_scan": stdp_scan,
               "config": {k: v for k, v in config.items() if k != "stdp_scan"} or prev.get("config"),
               "versions": package_versions()}
    write_json(out / "result.json", summary)
    return summary


#: Config fields that do not change a run's result (the grid's axes, where things are, logging).
_NOT_SETTINGS = ("out", "command", "arms", "ratios", "seeds", "threads", "log_every", "stdp_scan", "data_dir",
                 "settings_key")


def grid(config: dict) -> list[dict]:
    """The grid points of a scan: every arm of ``config["arms"]`` × sleep ratio × seed.

    Parameters
    ----------
    config : dict
        The scan settings (``arms``, ``ratios``, ``seeds``, ...; see :func:`run`).

    Returns
    -------
    list of dict
        Points ``{"arm", "ratio", "seed"}``; the feed-forward arm's points carry
        the grid's default arm, the recurrent arm's ``"arm": "recurrent"``.
    """
    from scenarios.runs.grid import grid_points

    points = []
    for arm in config["arms"]:
        for p in grid_points(config["ratios"], config["seeds"], {}, frozen_baseline=False):
            if arm != "ff":
                p["arm"] = arm
            points.append(p)
    return points


def run(config: dict, *, workers: int = 1, scheduler: str | None = None, progress: bool = False) -> dict:
    """Run every unfinished point of the scan on Dask, then :func:`summarise` its directory.

    Parameters
    ----------
    config : dict
        Settings shared by every point: ``out`` (the scan directory), the data
        (``dataset``, ``data_dir``, ``data_seed``, ``n_train``, ``n_test``), the
        network and training (``hidden``, ``steps``, ``epochs``, ``batch``,
        ``lr``, ``logit_scale``), the sleep (``sleep_steps``, ``sigma_mV``,
        ``lam``, ``w_tgt``, ``eta_plus``, ``eta_minus``), the grid (``arms``,
        ``ratios``, ``seeds``), ``threads``, ``log_every`` and optionally
        ``stdp_scan`` and ``command`` (recorded in the summary).
    workers : int
        Local Dask workers (one torch thread each) when no ``scheduler`` is given.
    scheduler : str, optional
        Address of an existing Dask scheduler.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The summary written to ``out/result.json`` (``"kind": "sgsnn"``, ``table``).
    """
    from scenarios.runs.grid import code_fingerprint, run_grid

    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in config.items() if k not in _NOT_SETTINGS}
    settings["code"] = code_fingerprint(("spiking.sgsnn", "spiking.sleep", "spiking.data",
                                         "scenarios.experiments.sgsnn"))
    run_grid(grid(config), config, run_sgsnn_point, workers=workers, scheduler=scheduler,
             progress=progress, label="sgsnn", settings=settings)
    return summarise(out, config)
