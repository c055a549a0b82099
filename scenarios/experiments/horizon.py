"""Long-horizon STDP: accuracy and weights *along* training, from probe blocks in one run.

Training blocks (plasticity on, sleep possible) alternate with probe blocks
(plasticity and sleep off, every presentation from rest, frozen input noise
with keys that depend only on the image): the same probe images are shown in
every probe block, so what changes between blocks is the weights alone. A
read-out fitted on a block's probe-train features and tested on its
probe-test features gives the accuracy after the images seen so far; the
weight traces give the total weight per pathway against images seen. The
whole schedule (for example all 60 000 Fashion-MNIST training images and 13
probe blocks) is one compiled program.

Sleep conditions (:data:`CONDITIONS`) share one compiled structure (the sleep
mode, budget and decay are run-time values): no sleep, sleep on a schedule
(every 35 s of training wake time, at the reference code's slow decay), and
the weight-triggered controller of arXiv 2601.08447.

:func:`horizon_point` runs one (condition, seed) point of a grid
(:func:`scenarios.runs.grid.run_grid`, resumable) and saves it;
:func:`summarise_horizon` collects the curves. The same probe machinery serves
the class-incremental experiment (:mod:`scenarios.experiments.stdp_incremental`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CONDITIONS", "condition_sleep", "ProbePlan", "build_probe_schedule", "HorizonConfig",
           "horizon_schedule", "probe_features", "probe_accuracies", "images_seen", "horizon_point",
           "summarise_horizon", "horizon_grid", "worker_simulation"]

#: Sleep conditions: name -> SleepParams fields (all in one compiled structure).
CONDITIONS = {
    "none": {"mode": "trigger", "sleep_ratio": 0.0},
    "schedule": {"mode": "schedule", "sleep_ratio": 0.1, "lam": 0.99997},
    "trigger": {"mode": "trigger", "sleep_ratio": 0.1},
}


def condition_sleep(name: str, base=None, **overrides):
    """The :class:`~spiking.sleep.SleepParams` of a condition (:data:`CONDITIONS`)."""
    from spiking.sleep import SleepParams

    if name not in CONDITIONS:
        raise ValueError(f"condition {name!r} is not known; allowed: {', '.join(CONDITIONS)}")
    base = base or SleepParams()
    return dataclasses.replace(base, **{**CONDITIONS[name], **overrides})


@dataclass
class ProbePlan:
    """Where the probe blocks of a schedule are.

    Attributes
    ----------
    schedule : spiking.network.ImageSchedule
    labels : ndarray
        Label of each presentation.
    blocks : list of dict
        One per probe block: ``start`` (first presentation index),
        ``images_seen`` (training presentations before it), ``probe`` (the
        presentation indices of the block, in probe-set order).
    probe_labels : ndarray
        Labels of the probe set (the same in every block).
    probe_split : ndarray of str
        ``"train"`` or ``"test"`` for each probe image.
    probe_rows : ndarray
        Table rows of the probe images.
    """

    schedule: object
    labels: np.ndarray
    blocks: list
    probe_labels: np.ndarray
    probe_split: np.ndarray
    probe_rows: np.ndarray


def build_probe_schedule(images: np.ndarray, labels: np.ndarray, train_blocks, probe_rows,
                         probe_split, *, probe_first: bool = True, record_training: bool = False) -> ProbePlan:
    """Interleave training blocks with probe blocks of the same probe images.

    Parameters
    ----------
    images : ndarray, shape (n_images, n_input)
        Image table.
    labels : ndarray, shape (n_images,)
        Label of each table row.
    train_blocks : sequence of int arrays
        Table rows of each training block, in presentation order.
    probe_rows : int array
        Table rows of the probe set, shown after every training block.
    probe_split : array of str
        ``"train"``/``"test"`` role of each probe image in the read-out.
    probe_first : bool
        Also probe before the first training block (the untrained network).
    record_training : bool
        Record the counts of training presentations too.

    Returns
    -------
    ProbePlan
    """
    from spiking.network import ImageSchedule

    probe_rows = np.asarray(probe_rows, dtype=np.int64)
    big = 10 ** 12
    order, train, keys, blocks = [], [], [], []
    pos = seen = 0

    def add_probe():
        nonlocal pos
        blocks.append({"start": pos, "images_seen": seen, "probe": pos + np.arange(len(probe_rows))})
        order.append(probe_rows)
        train.append(np.zeros(len(probe_rows), bool))
        keys.append(big + probe_rows)
        pos += len(probe_rows)

    if probe_first:
        add_probe()
    for rows in train_blocks:
        rows = np.asarray(rows, dtype=np.int64)
        order.append(rows)
        train.append(np.ones(len(rows), bool))
        keys.append(pos + np.arange(len(rows)))
        pos += len(rows)
        seen += len(rows)
        add_probe()
    order = np.concatenate(order)
    train = np.concatenate(train)
    keys = np.concatenate(keys)
    record = ~train | bool(record_training)
    schedule = ImageSchedule(images=images, order=order, train=train, record=record, keys=keys,
                             reset=~train)
    return ProbePlan(schedule=schedule, labels=np.asarray(labels)[order], blocks=blocks,
                     probe_labels=np.asarray(labels)[probe_rows], probe_split=np.asarray(probe_split),
                     probe_rows=probe_rows)


@dataclass(frozen=True)
class HorizonConfig:
    """A long-horizon run.

    Attributes
    ----------
    dataset : str
        Image dataset (:func:`spiking.data.load_dataset`).
    n_images : int
        Distinct training images (>= 1).
    epochs : int
        Passes over them (>= 1), each in a new random order.
    probe_every : int
        Training presentations between probe blocks (>= 1).
    n_probe_train, n_probe_test : int
        Probe images fitted on (drawn from the training images) and tested on
        (official test images) in every probe block.
    size : int
        Image side (pixels).
    data_seed : int
        Seed of the image draws and epoch orders (fixed across network seeds).
    """

    dataset: str = "fashion"
    n_images: int = 60000
    epochs: int = 1
    probe_every: int = 5000
    n_probe_train: int = 600
    n_probe_test: int = 600
    size: int = 15
    data_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_images", "epochs", "probe_every", "n_probe_train", "n_probe_test"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"HorizonConfig.{name}={v!r} must be an integer >= 1")
        if self.n_probe_train > self.n_images:
            raise ValueError(f"HorizonConfig.n_probe_train={self.n_probe_train} exceeds n_images={self.n_images}")


def horizon_schedule(cfg: HorizonConfig, data_dir=None) -> ProbePlan:
    """The schedule of a long-horizon run: epochs over the training images, probe every ``probe_every``."""
    from spiking.data import load_dataset

    tr = load_dataset(cfg.dataset, "train", size=cfg.size, n=cfg.n_images, seed=cfg.data_seed, data_dir=data_dir)
    te = load_dataset(cfg.dataset, "test", size=cfg.size, n=cfg.n_probe_test, seed=cfg.data_seed + 1,
                      data_dir=data_dir)
    images = np.concatenate([tr.flat(), te.flat()]).astype(float)
    labels = np.concatenate([tr.labels, te.labels])
    rng = np.random.default_rng(cfg.data_seed)
    stream = np.concatenate([rng.permutation(cfg.n_images) for _ in range(cfg.epochs)])
    blocks = [stream[k:k + cfg.probe_every] for k in range(0, len(stream), cfg.probe_every)]
    probe_train = np.sort(np.random.default_rng(cfg.data_seed + 2).permutation(cfg.n_images)[:cfg.n_probe_train])
    probe_rows = np.r_[probe_train, cfg.n_images + np.arange(cfg.n_probe_test)]
    split = np.r_[np.full(cfg.n_probe_train, "train"), np.full(cfg.n_probe_test, "test")]
    return build_probe_schedule(images, labels, blocks, probe_rows, split)


def probe_features(counts: np.ndarray, plan: ProbePlan, block: int) -> np.ndarray:
    """Features (counts of every recorded neuron) of one probe block, in probe-set order.

    ``counts`` are the recorded rows of a run (``RunOutput.counts_*`` side by side).
    """
    row_of = np.full(plan.schedule.n_presentations, -1)
    row_of[plan.schedule.recorded] = np.arange(len(plan.schedule.recorded))
    rows = row_of[plan.blocks[block]["probe"]]
    if np.any(rows < 0):
        raise ValueError("the probe block was not recorded")
    return np.asarray(counts, dtype=float)[rows]


def probe_accuracies(counts: np.ndarray, plan: ProbePlan, method: str = "logreg", seed: int = 0) -> list:
    """Read-out accuracy of every probe block (fit on its probe-train, test on its probe-test features)."""
    from spiking.readout import fit_readout

    tr, te = plan.probe_split == "train", plan.probe_split == "test"
    out = []
    for b in range(len(plan.blocks)):
        x = probe_features(counts, plan, b)
        res = fit_readout(x[tr], plan.probe_labels[tr], x[te], plan.probe_labels[te], method=method, seed=seed)
        out.append(res.accuracy)
    return out


def images_seen(plan: ProbePlan, wake_t: np.ndarray, t_image: float) -> np.ndarray:
    """Training presentations shown before each wake time (s): the x-axis of the weight curves."""
    pos = np.clip(np.floor(np.asarray(wake_t) / t_image + 1e-9).astype(np.int64), 0,
                  plan.schedule.n_presentations)
    cum = np.r_[0, np.cumsum(plan.schedule.train)]
    return cum[pos]


# --- the grid of a long-horizon study -----------------------------------------------

_WORKER: dict = {"sim": None, "key": None, "plan": None, "plan_key": None}


def _worker_plan(config: dict) -> ProbePlan:
    key = json.dumps(config["horizon"], sort_keys=True)
    if _WORKER["plan_key"] != key:
        _WORKER["plan"] = horizon_schedule(HorizonConfig(**config["horizon"]), config.get("data_dir"))
        _WORKER["plan_key"] = key
    return _WORKER["plan"]


def worker_simulation(params, sleep, plan: ProbePlan, config: dict, key: str):
    """The worker's compiled network for ``key`` (one per worker; a ``cpp_standalone`` network is
    compiled once into the shared build cache, :mod:`spiking.buildcache`)."""
    from spiking.network import EISimulation

    key = (key, config["backend"])
    if _WORKER["key"] != key:
        if _WORKER["sim"] is not None:
            _WORKER["sim"].close()
        _WORKER["sim"] = EISimulation(params, sleep, plan.schedule, backend=config["backend"], progress=False,
                                      raster_exc=0, raster_inh=0,
                                      record_interval=config.get("record_interval", 1.0) * _second(),
                                      compile_mode=config.get("compile_mode"))
        _WORKER["key"] = key
    return _WORKER["sim"]


def _second():
    from brian2 import second

    return second


def _decimate(t, *ys, n: int = 2000):
    t = np.asarray(t)
    if len(t) <= n:
        return (t,) + tuple(np.asarray(y) for y in ys)
    idx = np.unique(np.linspace(0, len(t) - 1, n).astype(int))
    return (t[idx],) + tuple(np.asarray(y)[idx] for y in ys)


def horizon_point(point: dict, config: dict) -> dict:
    """Run one (condition, seed) point of a long-horizon grid and save it; returns its row."""
    from brian2 import second

    from scenarios.runs.grid import point_key
    from scenarios.runs.results import package_versions, save_result
    from spiking.params import PLASTIC_PATHWAYS, as_plain_dict

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return json.loads((run_dir / "result.json").read_text())["row"]
    t0 = time.perf_counter()
    plan = _worker_plan(config)
    params = config["params"]
    sleep = condition_sleep(point["condition"], config["sleep"])
    sim = worker_simulation(params, condition_sleep("none", config["sleep"]), plan, config,
                            json.dumps(config["horizon"], sort_keys=True))
    out = sim.run(seed=point["seed"], sleep=sleep, params=params)
    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1)
    accs = probe_accuracies(feats, plan, config.get("readout", "logreg"), seed=point["seed"])
    t_image = float(params.t_image / second)
    seen_w = images_seen(plan, out.weights_wake_t, t_image)
    tw, seen_w, *Ws = _decimate(out.weights_t, seen_w, *[out.weights[p] for p in PLASTIC_PATHWAYS])
    seen_blocks = np.array([b["images_seen"] for b in plan.blocks])
    rates = {pop: float(c.mean() / float(params.t_present / second))
             for pop, c in (("exc", out.counts_exc), ("inh", out.counts_inh))}
    row = {"condition": point["condition"], "seed": point["seed"], "images_seen": seen_blocks.tolist(),
           "accuracy": accs, "final_accuracy": accs[-1], "best_accuracy": max(accs),
           "training_ratio": out.training_sleep_ratio, "n_episodes": len(out.episodes),
           "W_growth": {p: float(W[-1] / W[0]) if W[0] else None for p, W in zip(PLASTIC_PATHWAYS, Ws)},
           "probe_rate_hz": rates, "realtime_factor": out.realtime_factor, "run_seconds": out.run_seconds,
           "sim_time_s": out.sim_time}
    meta = {"kind": "horizon", "point": point, "key": point_key(point), "row": row,
            "horizon": config["horizon"], "params": as_plain_dict(params), "sleep_params": as_plain_dict(sleep),
            "episodes": out.episodes[:2000], "versions": package_versions(),
            "point_seconds": time.perf_counter() - t0, "worker_pid": os.getpid()}
    arrays = {"weights_t": tw, "weights_seen": seen_w, "probe_images_seen": seen_blocks,
              "probe_accuracy": np.asarray(accs), "probe_labels": plan.probe_labels,
              "probe_split": plan.probe_split.astype("U5")}
    for p, W in zip(PLASTIC_PATHWAYS, Ws):
        arrays[f"W_{p}"] = W
    if point["seed"] == config["seeds"][0]:  # probe features of one seed, for drift analyses
        arrays["probe_counts"] = np.stack([probe_features(feats, plan, b) for b in range(len(plan.blocks))]
                                          ).astype(np.int16)
    save_result(run_dir, meta, arrays)
    return row


def horizon_grid(conditions, seeds) -> list[dict]:
    """Grid points of a long-horizon study."""
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad:
        raise ValueError(f"unknown condition(s) {bad}; allowed: {', '.join(CONDITIONS)}")
    return [{"arm": "sleep", "ratio": CONDITIONS[c]["sleep_ratio"], "seed": int(s), "condition": c}
            for c in conditions for s in seeds]


def summarise_horizon(out_dir) -> dict:
    """Curves of a long-horizon study (mean ± sd over seeds per condition), written to ``summary.json``."""
    from scenarios.runs.results import write_json
    from scenarios.runs.stats import mean_sd

    out_dir = Path(out_dir)
    rows = [json.loads(p.read_text())["row"] for p in sorted((out_dir / "runs").glob("*/result.json"))]
    if not rows:
        raise RuntimeError(f"no finished runs in {out_dir / 'runs'}")
    curves = {}
    for c in dict.fromkeys(r["condition"] for r in rows):
        rs = [r for r in rows if r["condition"] == c]
        acc = np.array([r["accuracy"] for r in rs])
        m, s = mean_sd(acc, axis=0)
        fm, fs = mean_sd([r["final_accuracy"] for r in rs])
        bm, bs = mean_sd([r["best_accuracy"] for r in rs])
        ratio, _ = mean_sd([r["training_ratio"] for r in rs])
        curves[c] = {"images_seen": rs[0]["images_seen"], "accuracy_mean": list(np.atleast_1d(m)),
                     "accuracy_sd": list(np.atleast_1d(s)), "final": [fm, fs], "best": [bm, bs],
                     "training_ratio": ratio, "seeds": sorted(r["seed"] for r in rs),
                     "W_growth": {p: mean_sd([r["W_growth"][p] for r in rs]) for p in rs[0]["W_growth"]},
                     "realtime_factor": mean_sd([r["realtime_factor"] for r in rs])}
    summary = {"curves": curves, "n_runs": len(rows)}
    write_json(out_dir / "summary.json", summary)
    return summary
