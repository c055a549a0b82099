"""Class-incremental learning in the STDP network: forgetting and feature drift, with and without sleep.

Seed 002 (arXiv 2601.08447) claims that sleep protects an STDP network from
catastrophic forgetting. Here the classes arrive in task blocks (Fashion-MNIST
5 x 2 classes: {0,1}, {2,3}, {4,5}, {6,7}, {8,9}); after each block a probe
block (plasticity and sleep off, every presentation from rest, frozen input
noise) shows the same probe images of *every* class, so that one run gives:

* the stage x task accuracy matrix ``acc[s, t]``: a read-out fitted on the
  probe-train features of the classes seen up to stage ``s``, tested on the
  probe-test images of task ``t <= s`` (class-incremental: one classifier
  over every class seen), from which :mod:`scenarios.ann.metrics` gives the
  average accuracy and the forgetting;
* the feature drift: a read-out fitted on task 1's probe features right after
  task 1, re-tested on task-1 probe-test images after every later task (the
  features change only because the weights do).

Points (condition, seed) run on :func:`scenarios.runs.grid.run_grid` with
:func:`incremental_point`; :func:`summarise_incremental` collects them. The
sleep conditions are those of :mod:`scenarios.experiments.horizon`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.experiments.horizon import (CONDITIONS, build_probe_schedule, condition_sleep, probe_features,
                                           worker_simulation)

__all__ = ["TASKS", "IncrementalConfig", "incremental_schedule", "stage_task_matrix", "feature_drift",
           "incremental_point", "incremental_grid", "summarise_incremental"]

#: The task blocks (class pairs), in order.
TASKS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@dataclass(frozen=True)
class IncrementalConfig:
    """A class-incremental STDP run.

    Attributes
    ----------
    dataset : str
    tasks : tuple of tuples of int
        Classes of each task block, in order.
    n_per_task : int
        Training images per task (>= 1), drawn from the task's classes.
    n_probe_train, n_probe_test : int
        Probe images per class fitted on (training split, not among the
        training images) and tested on (official test split).
    size, data_seed
        Image side and the seed of every draw.
    """

    dataset: str = "fashion"
    tasks: tuple = TASKS
    n_per_task: int = 2000
    n_probe_train: int = 60
    n_probe_test: int = 60
    size: int = 15
    data_seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(tuple(int(c) for c in t) for t in self.tasks))
        for name in ("n_per_task", "n_probe_train", "n_probe_test"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"IncrementalConfig.{name}={v!r} must be an integer >= 1")
        flat = [c for t in self.tasks for c in t]
        if len(self.tasks) < 2 or len(set(flat)) != len(flat):
            raise ValueError(f"IncrementalConfig.tasks={self.tasks!r} must be >= 2 disjoint class groups")


def incremental_schedule(cfg: IncrementalConfig, data_dir=None):
    """The schedule: probe, task 1, probe, task 2, ..., probe (probe images of every class)."""
    from spiking.data import load_dataset

    classes = sorted(c for t in cfg.tasks for c in t)
    tr = load_dataset(cfg.dataset, "train", size=cfg.size, classes=classes, data_dir=data_dir)
    te = load_dataset(cfg.dataset, "test", size=cfg.size, classes=classes, data_dir=data_dir)
    rng = np.random.default_rng(cfg.data_seed)
    images, labels, blocks, probe_tr, probe_te = [], [], [], [], []
    n = 0
    for task in cfg.tasks:
        idx = rng.permutation(np.flatnonzero(np.isin(tr.labels, task)))
        need = cfg.n_per_task + cfg.n_probe_train * len(task)
        if need > idx.size:
            raise ValueError(f"task {task} has {idx.size} training images; {need} are needed")
        train_idx = idx[:cfg.n_per_task]
        rest = idx[cfg.n_per_task:]
        for c in task:
            probe_tr.append(rest[tr.labels[rest] == c][:cfg.n_probe_train])
            te_c = np.flatnonzero(te.labels == c)
            probe_te.append(rng.permutation(te_c)[:cfg.n_probe_test])
        images.append(tr.flat()[train_idx])
        labels.append(tr.labels[train_idx])
        blocks.append(n + np.arange(len(train_idx)))
        n += len(train_idx)
    ptr, pte = np.concatenate(probe_tr), np.concatenate(probe_te)
    images += [tr.flat()[ptr], te.flat()[pte]]
    labels += [tr.labels[ptr], te.labels[pte]]
    probe_rows = n + np.arange(len(ptr) + len(pte))
    split = np.r_[np.full(len(ptr), "train"), np.full(len(pte), "test")]
    return build_probe_schedule(np.concatenate(images).astype(float), np.concatenate(labels), blocks,
                                probe_rows, split)


def _task_of(labels, tasks) -> np.ndarray:
    lookup = {c: k for k, t in enumerate(tasks) for c in t}
    return np.array([lookup.get(int(y), -1) for y in labels])


def stage_task_matrix(counts, plan, tasks, method: str = "logreg", seed: int = 0) -> np.ndarray:
    """``acc[s, t]``: after task ``s``, a read-out over the classes seen so far, tested on task ``t``.

    Probe block ``s + 1`` follows task ``s`` (block 0 is the untrained
    network). Entries with ``t > s`` are NaN.
    """
    from spiking.readout import fit_readout

    task = _task_of(plan.probe_labels, tasks)
    tr, te = plan.probe_split == "train", plan.probe_split == "test"
    n = len(tasks)
    acc = np.full((n, n), np.nan)
    for s in range(n):
        x = probe_features(counts, plan, s + 1)
        fit = tr & (task <= s)
        for t in range(s + 1):
            sel = te & (task == t)
            res = fit_readout(x[fit], plan.probe_labels[fit], x[sel], plan.probe_labels[sel], method=method,
                              seed=seed)
            acc[s, t] = res.accuracy
    return acc


def feature_drift(counts, plan, tasks, method: str = "logreg", seed: int = 0) -> np.ndarray:
    """Accuracy on task-1 probe-test images after each task, of a read-out fitted right after task 1.

    Returns an array of length ``len(tasks)`` (entry 0: the fit's own stage).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    task = _task_of(plan.probe_labels, tasks)
    tr = (plan.probe_split == "train") & (task == 0)
    te = (plan.probe_split == "test") & (task == 0)
    x1 = probe_features(counts, plan, 1)
    keep = np.ptp(x1[tr], axis=0) > 0
    if not keep.any():
        return np.full(len(tasks), np.nan)
    scaler = StandardScaler().fit(x1[tr][:, keep])
    clf = LogisticRegression(max_iter=1000, random_state=seed).fit(scaler.transform(x1[tr][:, keep]),
                                                                    plan.probe_labels[tr])
    out = []
    for s in range(len(tasks)):
        x = probe_features(counts, plan, s + 1)[te][:, keep]
        out.append(float(np.mean(clf.predict(scaler.transform(x)) == plan.probe_labels[te])))
    return np.array(out)


_PLAN: dict = {"plan": None, "key": None}


def _worker_plan(config: dict):
    key = json.dumps(config["incremental"], sort_keys=True)
    if _PLAN["key"] != key:
        _PLAN["plan"] = incremental_schedule(IncrementalConfig(**config["incremental"]), config.get("data_dir"))
        _PLAN["key"] = key
    return _PLAN["plan"]


def incremental_point(point: dict, config: dict) -> dict:
    """Run one (condition, seed) point of a class-incremental grid and save it; returns its row."""
    from scenarios.ann.metrics import average_accuracy, backward_transfer, forgetting
    from scenarios.runs.grid import point_key
    from scenarios.runs.results import package_versions, save_result
    from spiking.params import as_plain_dict

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return json.loads((run_dir / "result.json").read_text())["row"]
    t0 = time.perf_counter()
    cfg = IncrementalConfig(**config["incremental"])
    plan = _worker_plan(config)
    params = config["params"]
    sleep = condition_sleep(point["condition"], config["sleep"])
    sim = worker_simulation(params, condition_sleep("none", config["sleep"]), plan, config,
                            "incremental" + json.dumps(config["incremental"], sort_keys=True))
    out = sim.run(seed=point["seed"], sleep=sleep, params=params)
    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1)
    method = config.get("readout", "logreg")
    acc = stage_task_matrix(feats, plan, cfg.tasks, method, seed=point["seed"])
    drift = feature_drift(feats, plan, cfg.tasks, method, seed=point["seed"])
    row = {"condition": point["condition"], "seed": point["seed"], "acc": acc.tolist(),
           "average_accuracy": [average_accuracy(acc, s) for s in range(len(cfg.tasks))],
           "forgetting": float(forgetting(acc)), "forgetting_per_task": forgetting(acc, per_task=True).tolist(),
           "backward_transfer": float(backward_transfer(acc)), "drift": drift.tolist(),
           "training_ratio": out.training_sleep_ratio, "n_episodes": len(out.episodes),
           "W_growth": {p: float(W[-1] / W[0]) if len(W) and W[0] else None for p, W in out.weights.items()},
           "run_seconds": out.run_seconds}
    meta = {"kind": "stdp_incremental", "point": point, "key": point_key(point), "row": row,
            "incremental": config["incremental"], "params": as_plain_dict(params),
            "sleep_params": as_plain_dict(sleep), "versions": package_versions(),
            "point_seconds": time.perf_counter() - t0, "worker_pid": os.getpid()}
    arrays = {"acc": acc, "drift": drift, "probe_labels": plan.probe_labels,
              "probe_split": plan.probe_split.astype("U5")}
    save_result(run_dir, meta, arrays)
    return row


def incremental_grid(conditions, seeds) -> list[dict]:
    """Grid points of a class-incremental study."""
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise ValueError(f"unknown condition(s) {bad}; allowed: {', '.join(CONDITIONS)}")
    return [{"arm": "sleep", "ratio": CONDITIONS[c]["sleep_ratio"], "seed": int(s), "condition": c}
            for c in conditions for s in seeds]


def summarise_incremental(out_dir) -> dict:
    """Mean ± sd (over seeds) accuracy matrices, forgetting and drift per condition -> ``summary.json``."""
    from scenarios.runs.results import write_json
    from scenarios.runs.stats import mean_sd

    out_dir = Path(out_dir)
    rows = [json.loads(p.read_text())["row"] for p in sorted((out_dir / "runs").glob("*/result.json"))]
    if not rows:
        raise RuntimeError(f"no finished runs in {out_dir / 'runs'}")
    out = {}
    for c in dict.fromkeys(r["condition"] for r in rows):
        rs = [r for r in rows if r["condition"] == c]
        acc = np.array([r["acc"] for r in rs], dtype=float)
        with np.errstate(all="ignore"):
            am = np.nanmean(acc, axis=0)
            asd = np.nanstd(acc, axis=0, ddof=1) if len(rs) > 1 else np.full(am.shape, np.nan)
        drift_m, drift_s = mean_sd(np.array([r["drift"] for r in rs]), axis=0)
        out[c] = {"acc_mean": am.tolist(), "acc_sd": asd.tolist(),
                  "average_accuracy": mean_sd([r["average_accuracy"][-1] for r in rs]),
                  "forgetting": mean_sd([r["forgetting"] for r in rs]),
                  "backward_transfer": mean_sd([r["backward_transfer"] for r in rs]),
                  "drift_mean": list(np.atleast_1d(drift_m)), "drift_sd": list(np.atleast_1d(drift_s)),
                  "training_ratio": mean_sd([r["training_ratio"] for r in rs])[0],
                  "seeds": sorted(r["seed"] for r in rs)}
    summary = {"conditions": out, "n_runs": len(rows)}
    write_json(out_dir / "summary.json", summary)
    return summary
