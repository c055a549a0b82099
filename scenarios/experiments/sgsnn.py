"""``sleep-snn sgsnn``: a surrogate-gradient SNN with the same sleep intervention.

The SG-SNN arm of arXiv 2601.08447 (REFERENCE.md section B): a 225 → hidden
(default 1000) → 10 network of leaky integrate-and-fire neurons (decay
``beta`` 0.95, threshold 1, reset by subtraction), the static 15×15 image fed
as input current for ``steps`` (default 100) time steps, cross-entropy on the
summed output spikes, Adam (lr 5e-4, batch 100), gradients through a
fast-sigmoid surrogate of the spike (:class:`SpikeFn`). ``--recurrent`` adds
hidden→hidden weights trained with backpropagation through time; they start
at zero, so the recurrent arm starts as the feed-forward network.

The cross-entropy takes ``logit_scale × summed output spikes`` as logits
(default 0.1: one logit unit per 10 spikes). With raw counts (scale 1) the
first updates, driven by losses of 10–15, silence the output layer, and the
network recovers only slowly: on 15×15 Fashion-MNIST, 100 Adam steps reach
42–52 % batch accuracy with scale 1 and 72–75 % with scale 0.1 (the
recurrent arm with default initialisation stayed at chance, 14.2 %, after
100 steps with scale 1).

Sleep
-----
Every ``⌊1/ratio⌋`` training iterations (ratio 0: never) the network sleeps
for ``sleep_steps`` time steps (default: ``steps``, so that sleep time / wake
time ≈ ratio; the achieved fraction sleep / (sleep + wake) is recorded):

* the input is off (the hidden layer receives only its bias, i.e. the current
  of a blank image, plus the recurrent input when there is one);
* every membrane gets a Gaussian kick N(0, σ²) per step. ``SleepParams.sigma``
  is given in mV for the Brian2 network; here it is read **in units of the
  threshold distance of that network**: ``σ_here = sigma_mV / 15 mV`` (rest
  −70 mV, threshold −55 mV), so the default 3 mV is 0.2 thresholds per step
  (stationary membrane s.d. 0.2/sqrt(1-0.95²) ≈ 0.64 thresholds);
* a pair-based trace STDP rule updates the weights whose presynaptic side
  spikes during sleep: hidden→output, and hidden→hidden when recurrent
  (``Δw_ij = η+ · s_i · x_j − η− · x_i · s_j``, traces ``x`` decaying with
  ``tau_trace`` steps). The input layer is silent in sleep, so the
  input→hidden weights only decay;
* after each sleep step every weight matrix (not the biases) relaxes by
  :func:`spiking.sleep.power_law_decay` ``(w, w_tgt, lam)`` (sign kept) -- the
  project's single definition of the decay, imported here, not copied. The
  targets are ``w_tgt_inp_exc`` for input→hidden and ``w_tgt_exc_exc`` for
  hidden→hidden and hidden→output (``--w-tgt`` sets all three).

Sleep with ratio 0 never runs and leaves the weights bit-identical.

Scan
----
``main`` builds the grid sleep ratio × seed (× arm: ``ff`` feed-forward,
``recurrent``) with :func:`scenarios.runs.grid.grid_points` and runs it through
:func:`scenarios.runs.grid.run_grid` (Dask, resumable: finished points are
skipped). Each point is saved as ``DIR/runs/<key>/result.json`` +
``arrays.npz``; the directory gets ``summary.csv`` (one row per run),
``summary.md`` (mean ± sd per arm and ratio), ``result.json``
(``"kind": "sgsnn"``) and the figures of :func:`plot`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scenarios.runs.config import check_at_least_one
from spiking.sleep import SleepParams, power_law_decay

__all__ = [
    "MV_PER_THRESHOLD",
    "SpikeFn",
    "spike",
    "SGSNNConfig",
    "SleepSTDP",
    "SGSNN",
    "sleep_interval",
    "noise_sigma",
    "weight_targets",
    "sleep_phase",
    "maybe_sleep",
    "train_sgsnn",
    "evaluate",
    "run_sgsnn_point",
    "summarise",
    "plot",
    "plot_timing",
    "main",
    "power_law_decay",
]

#: Threshold distance (mV) of the Brian2 E/I network (rest −70 mV → threshold −55 mV);
#: ``SleepParams.sigma`` in mV is divided by this to give the noise in threshold units.
MV_PER_THRESHOLD = 15.0

ARM_LABELS = {"ff": "SG-SNN (feed-forward)", "recurrent": "SG-SNN (recurrent, BPTT)"}


# --- model ---------------------------------------------------------------------

class SpikeFn(torch.autograd.Function):
    """Heaviside spike of ``u = V - threshold`` forward, fast-sigmoid derivative backward.

    Forward: ``1.0 if u > 0 else 0.0`` (exact 0/1 values). Backward:
    ``d spike / d u ≈ 1 / (1 + slope·|u|)²`` (Zenke & Ganguli's SuperSpike).
    """

    @staticmethod
    def forward(ctx, u, slope: float = 25.0):
        ctx.save_for_backward(u)
        ctx.slope = float(slope)
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (u,) = ctx.saved_tensors
        return grad_output / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike(u: torch.Tensor, slope: float = 25.0) -> torch.Tensor:
    """Spikes of membrane distance-to-threshold ``u`` with the surrogate gradient."""
    return SpikeFn.apply(u, slope)


@dataclasses.dataclass(frozen=True)
class SGSNNConfig:
    """Architecture and optimiser of the SG-SNN (defaults: the reference arm).

    Attributes
    ----------
    n_in, hidden, n_out : int
        Layer sizes (>= 1).
    beta : float
        Membrane decay per time step, in (0, 1].
    threshold : float
        Firing threshold (> 0); reset subtracts it.
    steps : int
        Time steps per image (>= 1).
    recurrent : bool
        Add hidden→hidden weights (zero at the start), trained through time.
    slope : float
        Steepness of the fast-sigmoid surrogate derivative (> 0).
    lr : float
        Adam learning rate (> 0).
    logit_scale : float
        Cross-entropy logits = logit_scale × summed output spikes (> 0).
    batch, epochs : int
        Mini-batch size and passes over the training set (>= 1).
    """

    n_in: int = 225
    hidden: int = 1000
    n_out: int = 10
    beta: float = 0.95
    threshold: float = 1.0
    steps: int = 100
    recurrent: bool = False
    slope: float = 25.0
    lr: float = 5e-4
    logit_scale: float = 0.1
    batch: int = 100
    epochs: int = 1

    def __post_init__(self) -> None:
        check_at_least_one(self, ("n_in", "hidden", "n_out", "steps", "batch", "epochs"))
        for name in ("threshold", "slope", "lr", "logit_scale"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be > 0")
        if not 0 < self.beta <= 1:
            raise ValueError(f"beta={self.beta!r}: must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class SleepSTDP:
    """Sleep-phase settings that :class:`spiking.sleep.SleepParams` does not hold.

    ``sleep_steps`` None = the wake presentation length (``SGSNNConfig.steps``).
    ``stdp`` / ``noise`` switch the STDP rule / membrane noise off (for tests and ablations).
    """

    sleep_steps: int | None = None
    eta_plus: float = 1e-4
    eta_minus: float = 1.05e-4
    tau_trace: float = 20.0
    stdp: bool = True
    noise: bool = True


class SGSNN(nn.Module):
    """225 → hidden (optionally recurrent) → 10 leaky LIF network."""

    def __init__(self, cfg: SGSNNConfig = SGSNNConfig()):
        super().__init__()
        self.cfg = cfg
        self.fc1 = nn.Linear(cfg.n_in, cfg.hidden)
        self.rec = nn.Linear(cfg.hidden, cfg.hidden, bias=False) if cfg.recurrent else None
        if self.rec is not None:
            nn.init.zeros_(self.rec.weight)         # start as the feed-forward network
        self.fc2 = nn.Linear(cfg.hidden, cfg.n_out)

    def forward(self, x: torch.Tensor, steps: int | None = None, return_hidden: bool = False):
        """Summed output spikes ``(B, n_out)`` for images ``x`` ``(B, n_in)`` shown as a constant current."""
        cfg = self.cfg
        steps = cfg.steps if steps is None else int(steps)
        beta, thr = cfg.beta, cfg.threshold
        cur1 = self.fc1(x)                              # static input: the same current every step
        B = x.shape[0]
        mem1 = torch.zeros(B, cfg.hidden, dtype=cur1.dtype)
        mem2 = torch.zeros(B, cfg.n_out, dtype=cur1.dtype)
        spk1 = torch.zeros_like(mem1)
        count = torch.zeros_like(mem2)
        hcount = torch.zeros_like(mem1) if return_hidden else None
        for _ in range(steps):
            cur = cur1 + self.rec(spk1) if self.rec is not None else cur1
            mem1 = beta * mem1 + cur
            spk1 = spike(mem1 - thr, cfg.slope)
            mem1 = mem1 - spk1.detach() * thr           # reset by subtraction (not differentiated)
            mem2 = beta * mem2 + self.fc2(spk1)
            spk2 = spike(mem2 - thr, cfg.slope)
            mem2 = mem2 - spk2.detach() * thr
            count = count + spk2
            if return_hidden:
                hcount = hcount + spk1.detach()
        return (count, hcount) if return_hidden else count

    def weights(self) -> dict:
        """The weight matrices that sleep acts on (name -> Parameter)."""
        out = {"inp_hid": self.fc1.weight, "hid_out": self.fc2.weight}
        if self.rec is not None:
            out["hid_hid"] = self.rec.weight
        return out


# --- sleep -----------------------------------------------------------------------

def sleep_interval(ratio: float) -> int | None:
    """Training iterations between sleep phases, ``⌊1/ratio⌋`` (None for ratio 0: never)."""
    if ratio <= 0:
        return None
    return max(1, int(math.floor(1.0 / ratio + 1e-9)))


def noise_sigma(sleep: SleepParams) -> float:
    """Membrane noise s.d. in threshold units: ``sigma_mV / MV_PER_THRESHOLD``."""
    from brian2 import mV

    return float(sleep.sigma / mV) / MV_PER_THRESHOLD


def weight_targets(sleep: SleepParams) -> dict:
    """Decay target per weight matrix (see the module docstring)."""
    return {"inp_hid": sleep.w_tgt("inp_exc"), "hid_hid": sleep.w_tgt("exc_exc"),
            "hid_out": sleep.w_tgt("exc_exc")}


@torch.no_grad()
def sleep_phase(model: SGSNN, sleep: SleepParams, stdp: SleepSTDP = SleepSTDP(),
                n_steps: int | None = None, generator: torch.Generator | None = None) -> dict:
    """One sleep phase of ``n_steps`` input-free steps (in place); returns its statistics.

    Does nothing (and returns ``steps == 0``) when ``sleep.sleep_ratio == 0``.
    """
    cfg = model.cfg
    n = (stdp.sleep_steps or cfg.steps) if n_steps is None else int(n_steps)
    stats = {"steps": 0, "spikes_hidden": 0.0, "spikes_out": 0.0}
    if sleep.sleep_ratio <= 0 or n <= 0:
        return stats
    sigma = noise_sigma(sleep) if stdp.noise else 0.0
    beta, thr = cfg.beta, cfg.threshold
    tgt = weight_targets(sleep)
    weights = model.weights()
    w1, w2 = model.fc1.weight, model.fc2.weight
    wr = model.rec.weight if model.rec is not None else None
    bias1 = model.fc1.bias.detach().clone()            # a blank image: fc1(0) = bias
    b2 = model.fc2.bias
    decay_trace = math.exp(-1.0 / stdp.tau_trace)
    mem1 = torch.zeros(cfg.hidden, dtype=w1.dtype)
    mem2 = torch.zeros(cfg.n_out, dtype=w1.dtype)
    spk1 = torch.zeros_like(mem1)
    x1 = torch.zeros_like(mem1)
    x2 = torch.zeros_like(mem2)
    for _ in range(n):
        cur1 = bias1 + (wr @ spk1 if wr is not None else 0.0)
        prev1 = spk1
        mem1 = beta * mem1 + cur1
        if sigma > 0:
            mem1 = mem1 + sigma * torch.randn(mem1.shape, generator=generator, dtype=mem1.dtype)
        spk1 = (mem1 > thr).to(mem1.dtype)
        mem1 = mem1 - spk1 * thr
        mem2 = beta * mem2 + w2 @ spk1 + b2
        if sigma > 0:
            mem2 = mem2 + sigma * torch.randn(mem2.shape, generator=generator, dtype=mem2.dtype)
        spk2 = (mem2 > thr).to(mem2.dtype)
        mem2 = mem2 - spk2 * thr
        if stdp.stdp:
            # traces before this step's spikes: x1_prev (hidden), x2_prev (output)
            x1_prev, x2_prev = x1, x2
            x1 = decay_trace * x1 + spk1
            x2 = decay_trace * x2 + spk2
            # hidden(t) -> output(t): potentiate at a post spike by the pre trace (incl. the
            # causal same-step pre spike), depress at a pre spike by the earlier post trace
            w2.add_(stdp.eta_plus * torch.outer(spk2, x1) - stdp.eta_minus * torch.outer(x2_prev, spk1))
            if wr is not None:
                # hidden(t-1) -> hidden(t) (one-step synaptic delay): pre trace up to t-1
                wr.add_(stdp.eta_plus * torch.outer(spk1, x1_prev)
                        - stdp.eta_minus * torch.outer(x1_prev, prev1))
        for name, w in weights.items():
            w.copy_(power_law_decay(w, tgt[name], sleep.lam))
        stats["steps"] += 1
        stats["spikes_hidden"] += float(spk1.sum())
        stats["spikes_out"] += float(spk2.sum())
    return stats


def maybe_sleep(model: SGSNN, iteration: int, sleep: SleepParams, stdp: SleepSTDP = SleepSTDP(),
                generator: torch.Generator | None = None) -> dict | None:
    """Sleep after training iteration ``iteration`` (1-based) if the schedule says so."""
    k = sleep_interval(sleep.sleep_ratio)
    if k is None or iteration % k != 0:
        return None
    return sleep_phase(model, sleep, stdp, generator=generator)


# --- training ---------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: SGSNN, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Accuracy of the arg-max output spike count (ties: lowest class index)."""
    correct = 0
    for i in range(0, len(x), batch):
        counts = model(x[i:i + batch])
        correct += int((counts.argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def train_sgsnn(train_x, train_y, test_x, test_y, *, cfg: SGSNNConfig = SGSNNConfig(),
                sleep: SleepParams | None = None, stdp: SleepSTDP = SleepSTDP(), seed: int = 0,
                log_every: int = 0) -> dict:
    """Train one SG-SNN (with the sleep schedule of ``sleep``) and test it.

    ``train_x`` / ``test_x``: float arrays ``(n, 225)`` (or ``(n, 15, 15)``) in [0, 1];
    labels ints. Seeds ``torch.manual_seed(seed)`` (initial weights), a torch
    generator for the sleep noise (``seed + 1``) and ``numpy.random.default_rng(seed)``
    (mini-batch order). Returns a dict with the model, accuracies and timings.
    """
    sleep = SleepParams(mode="schedule") if sleep is None else sleep
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    rng = np.random.default_rng(seed)
    xtr = torch.as_tensor(np.asarray(train_x, dtype=np.float32).reshape(len(train_x), -1))
    ytr = torch.as_tensor(np.asarray(train_y, dtype=np.int64))
    xte = torch.as_tensor(np.asarray(test_x, dtype=np.float32).reshape(len(test_x), -1))
    yte = torch.as_tensor(np.asarray(test_y, dtype=np.int64))
    cfg = dataclasses.replace(cfg, n_in=xtr.shape[1])
    model = SGSNN(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    lossf = nn.CrossEntropyLoss()
    norms0 = {k: float(w.detach().abs().mean()) for k, w in model.weights().items()}
    it, losses, train_acc, epoch_acc = 0, [], [], []
    sleep_steps = sleep_spk_h = sleep_spk_o = 0.0
    n_phases = 0
    t_wake = t_sleep = 0.0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        perm = rng.permutation(len(xtr))
        for i in range(0, len(perm), cfg.batch):
            idx = torch.as_tensor(perm[i:i + cfg.batch])
            ta = time.perf_counter()
            counts = model(xtr[idx])
            loss = lossf(cfg.logit_scale * counts, ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            losses.append(float(loss.detach()))
            train_acc.append(float((counts.detach().argmax(1) == ytr[idx]).float().mean()))
            tb = time.perf_counter()
            t_wake += tb - ta
            st = maybe_sleep(model, it, sleep, stdp, generator=gen)
            if st is not None:
                t_sleep += time.perf_counter() - tb
                n_phases += 1
                sleep_steps += st["steps"]
                sleep_spk_h += st["spikes_hidden"]
                sleep_spk_o += st["spikes_out"]
            if log_every and it % log_every == 0:
                print(f"[sgsnn] seed {seed} ratio {sleep.sleep_ratio:g} it {it}: loss "
                      f"{np.mean(losses[-log_every:]):.3f}, train acc "
                      f"{np.mean(train_acc[-log_every:]):.3f}", flush=True)
        if cfg.epochs > 1:
            epoch_acc.append(evaluate(model, xte, yte))
    train_seconds = time.perf_counter() - t0
    te = time.perf_counter()
    acc = epoch_acc[-1] if epoch_acc else evaluate(model, xte, yte)
    eval_seconds = time.perf_counter() - te
    wake_steps = it * cfg.steps
    hid_rate = None
    with torch.no_grad():
        _, h = model(xte[:200], return_hidden=True)
        hid_rate = float(h.mean()) / cfg.steps
    return {
        "model": model, "accuracy": acc, "epoch_accuracy": epoch_acc, "iterations": it,
        "loss": np.asarray(losses), "train_accuracy": np.asarray(train_acc),
        "train_seconds": train_seconds, "wake_seconds": t_wake, "sleep_seconds": t_sleep,
        "eval_seconds": eval_seconds,
        "sleep": {"interval": sleep_interval(sleep.sleep_ratio), "n_phases": n_phases,
                  "sleep_steps": int(sleep_steps), "wake_steps": int(wake_steps),
                  "achieved_ratio": sleep_steps / max(1.0, sleep_steps + wake_steps),
                  "noise_sigma_threshold_units": noise_sigma(sleep) if stdp.noise else 0.0,
                  "hidden_spikes_per_neuron_step": sleep_spk_h / max(1.0, sleep_steps) / cfg.hidden,
                  "output_spikes_per_neuron_step": sleep_spk_o / max(1.0, sleep_steps) / cfg.n_out},
        "hidden_rate_test": hid_rate,
        "weight_mean_abs": {"initial": norms0,
                            "final": {k: float(w.detach().abs().mean())
                                      for k, w in model.weights().items()}},
    }


# --- scan -------------------------------------------------------------------------

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

    run_dir = Path(config["out"]) / "runs" / point_key(point)
    if (run_dir / "result.json").exists():
        return _row(json.loads((run_dir / "result.json").read_text()))
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


def _mean_sd(v):
    v = np.asarray(v, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def summarise(out, config: dict | None = None) -> dict:
    """Write ``summary.csv``, ``summary.md`` and ``result.json`` (kind sgsnn) of a scan directory."""
    from scenarios.runs.results import package_versions, write_json

    out = Path(out)
    rows = [_row(json.loads(p.read_text())) for p in sorted((out / "runs").glob("*/result.json"))]
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
        m, s = _mean_sd([r["accuracy"] for r in rs])
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


# --- figures ------------------------------------------------------------------------

def _stdp_curve(stdp_scan):
    """``(ratios, means, sds)`` of the STDP-SNN sleep arm from ``DIR2/summary.json`` (or None)."""
    if not stdp_scan:
        return None
    path = Path(stdp_scan) / "summary.json"
    if not path.exists():
        print(f"[sgsnn] no {path}: STDP-SNN curve left out", file=sys.stderr)
        return None
    rows = [r for r in json.loads(path.read_text())["table"] if r.get("arm") == "sleep"]
    by: dict = {}
    for r in rows:                        # several rows per ratio (extra grid axes): keep the first
        by.setdefault(float(r["ratio"]), r)
    rs = sorted(by)
    return (np.array(rs), np.array([by[r]["accuracy_mean"] for r in rs], dtype=float),
            np.array([by[r]["accuracy_sd"] if by[r]["accuracy_sd"] is not None else np.nan
                      for r in rs], dtype=float))


def plot(result_dir, out_dir=None, stdp_scan=None, prefix: str = "sgsnn_") -> list[Path]:
    """Accuracy vs sleep ratio (mean ± sd over seeds) per SG-SNN arm, and the STDP-SNN curve.

    ``stdp_scan`` (default: the one recorded in ``result_dir/result.json``) is a
    finished ``sleep-snn scan`` directory with ``summary.json``.
    """
    from scenarios.figures.style import new_axes, save_figure, style

    result_dir = Path(result_dir)
    out_dir = result_dir if out_dir is None else Path(out_dir)
    res = json.loads((result_dir / "result.json").read_text())
    table = res["table"]
    stdp = _stdp_curve(stdp_scan or res.get("stdp_scan"))
    written = []
    with style():
        ax = new_axes(None, (4.2, 3.2))
        for k, arm in enumerate(sorted({t["arm"] for t in table}, key=lambda a: a != "ff")):
            rows = sorted((t for t in table if t["arm"] == arm), key=lambda t: t["ratio"])
            x = np.array([t["ratio"] for t in rows])
            m = 100 * np.array([t["accuracy_mean"] for t in rows], dtype=float)
            s = 100 * np.array([t["accuracy_sd"] if t["accuracy_sd"] is not None else np.nan
                                for t in rows], dtype=float)
            n = max(t["n_seeds"] for t in rows)
            ax.errorbar(x + 0.004 * k, m, yerr=np.nan_to_num(s), marker="o", capsize=3,
                        label=f"{ARM_LABELS.get(arm, arm)} (n={n})")
        if stdp is not None:
            ax.errorbar(stdp[0] - 0.004, 100 * stdp[1], yerr=np.nan_to_num(100 * stdp[2]),
                        marker="s", linestyle="--", capsize=3, color="#009E73",
                        label="STDP-SNN + read-out")
        ax.set_xlabel("sleep ratio")
        ax.set_ylabel("test accuracy (%)")
        ds = sorted({str(c) for c in [(res.get("config") or {}).get("dataset")] if c})
        ax.set_title("accuracy vs sleep ratio" + (f" ({ds[0]})" if ds else ""))
        ax.legend(loc="best")
        written += save_figure(ax.figure, out_dir / f"{prefix}accuracy_vs_ratio")
    written += plot_timing(result_dir, out_dir, prefix=prefix)
    return written


def plot_timing(result_dir, out_dir=None, prefix: str = "sgsnn_") -> list[Path]:
    """Training wall time of one SG-SNN per arm and sleep ratio (mean ± sd over seeds)."""
    from scenarios.figures.style import new_axes, save_figure, style

    result_dir = Path(result_dir)
    out_dir = result_dir if out_dir is None else Path(out_dir)
    metas = [json.loads(p.read_text()) for p in sorted((result_dir / "runs").glob("*/result.json"))]
    if not metas:
        return []
    arms = sorted({m["arm"] for m in metas}, key=lambda a: a != "ff")
    ratios = sorted({m["point"]["ratio"] for m in metas})
    wake = np.full((len(ratios), len(arms)), np.nan)
    sl = np.full_like(wake, np.nan)
    sd = np.full_like(wake, np.nan)
    for i, r in enumerate(ratios):
        for j, a in enumerate(arms):
            ms = [m for m in metas if m["arm"] == a and m["point"]["ratio"] == r]
            if ms:
                tot = [m["wall_seconds"]["train"] for m in ms]
                wake[i, j] = np.mean([m["wall_seconds"]["train"] - m["wall_seconds"]["sleep"]
                                      for m in ms])
                sl[i, j] = np.mean([m["wall_seconds"]["sleep"] for m in ms])
                sd[i, j] = np.std(tot, ddof=1) if len(tot) > 1 else np.nan
    m0 = metas[0]
    with style():
        ax = new_axes(None, (4.2, 3.2))
        width = 0.8 / len(arms)
        x = np.arange(len(ratios))
        for j, a in enumerate(arms):
            pos = x - 0.4 + (j + 0.5) * width
            ax.bar(pos, wake[:, j] / 60, width, label=f"{ARM_LABELS.get(a, a)}: wake")
            ax.bar(pos, sl[:, j] / 60, width, bottom=wake[:, j] / 60, hatch="//", alpha=0.6,
                   label=f"{ARM_LABELS.get(a, a)}: sleep")
            ax.errorbar(pos, (wake[:, j] + sl[:, j]) / 60, yerr=np.nan_to_num(sd[:, j] / 60),
                        fmt="none", color="k", capsize=2)
        ax.axhline(10, color="0.5", lw=0.8, ls=":")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{r:g}" for r in ratios])
        ax.set_xlabel("sleep ratio")
        ax.set_ylabel("training time per model (min)")
        ax.set_title(f"one SG-SNN, 1 torch thread: {m0['n_train']} images × "
                     f"{m0['model']['epochs']} epoch(s), 225-{m0['model']['hidden']}-10, "
                     f"T={m0['model']['steps']}", fontsize=7)
        ax.legend(fontsize=6)
        return save_figure(ax.figure, out_dir / f"{prefix}train_time")


# --- command line ----------------------------------------------------------------------

QUICK = {"dataset": "digits", "n_train": 200, "n_test": 100, "hidden": 64, "steps": 20,
         "epochs": 1, "ratios": [0.0, 0.5], "seeds": [0], "workers": 1}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleep-snn sgsnn", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion", choices=["fashion", "mnist", "kmnist", "digits"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--data-seed", type=int, default=0,
                   help="seed of the train/test subsets (the same images for every run)")
    p.add_argument("--sleep-ratio", "--sleep-ratios", dest="ratios", type=float, nargs="+",
                   default=[0.0, 0.1, 0.2, 0.3])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100, help="time steps per image")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--logit-scale", type=float, default=SGSNNConfig.logit_scale,
                   help="cross-entropy logits = this x summed output spikes")
    p.add_argument("--recurrent", action="store_true",
                   help="run the recurrent arm (hidden->hidden weights, BPTT) instead of the feed-forward one")
    p.add_argument("--arms", nargs="+", choices=["ff", "recurrent"], default=None,
                   help="arms to run (overrides --recurrent), e.g. --arms ff recurrent")
    p.add_argument("--sleep-steps", type=int, default=None,
                   help="time steps per sleep phase (default: --steps)")
    p.add_argument("--sigma", type=float, default=3.0,
                   help=f"membrane noise in mV, divided by {MV_PER_THRESHOLD:g} mV -> threshold units")
    p.add_argument("--lam", type=float, default=SleepParams().lam, help="decay exponent per sleep step")
    p.add_argument("--w-tgt", type=float, default=None,
                   help="decay target of all weights (default: SleepParams' w_tgt_inp_exc / w_tgt_exc_exc)")
    p.add_argument("--eta-plus", type=float, default=SleepSTDP.eta_plus)
    p.add_argument("--eta-minus", type=float, default=SleepSTDP.eta_minus)
    p.add_argument("--workers", type=int, default=1, help="local Dask workers (one torch thread each)")
    p.add_argument("--scheduler", default=None)
    p.add_argument("--stdp-scan", default=None,
                   help="finished `sleep-snn scan` directory (summary.json) to draw on the same axes")
    p.add_argument("--log-every", type=int, default=0)
    p.add_argument("--out", default="results/sgsnn")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: digits, 200/100 images, 64 hidden, 20 steps, ratios 0 0.5, seed 0")
    return p


def main(argv=None) -> int:
    from scenarios.runs.grid import grid_points, run_grid

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.quick:
        given = {a.split("=")[0] for a in argv if a.startswith("--")}
        for k, v in QUICK.items():
            flag = {"ratios": "--sleep-ratio"}.get(k, "--" + k.replace("_", "-"))
            if flag not in given and not (k == "ratios" and "--sleep-ratios" in given):
                setattr(args, k, v)
    arms = args.arms or (["recurrent"] if args.recurrent else ["ff"])
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = {"dataset": args.dataset, "data_dir": args.data_dir, "data_seed": args.data_seed,
              "n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs,
              "hidden": args.hidden, "steps": args.steps, "batch": args.batch, "lr": args.lr,
              "logit_scale": args.logit_scale,
              "sleep_steps": args.sleep_steps, "sigma_mV": args.sigma, "lam": args.lam,
              "w_tgt": args.w_tgt, "eta_plus": args.eta_plus, "eta_minus": args.eta_minus,
              "threads": 1, "out": str(out), "seeds": list(args.seeds), "arms": arms,
              "ratios": list(args.ratios), "log_every": args.log_every,
              "stdp_scan": str(Path(args.stdp_scan).resolve()) if args.stdp_scan else None,
              "command": "sleep-snn sgsnn " + " ".join(argv)}
    points = []
    for arm in arms:
        for p in grid_points(args.ratios, args.seeds, {}, frozen_baseline=False):
            if arm != "ff":
                p["arm"] = arm
            points.append(p)
    t0 = time.perf_counter()
    run_grid(points, config, run_sgsnn_point, workers=args.workers, scheduler=args.scheduler,
             progress=sys.stderr.isatty(), label="sgsnn")
    summary = summarise(out, config)
    print((out / "summary.md").read_text())
    if not args.no_figures:
        files = plot(out)
        print(f"[sgsnn] {len(files)} figure files in {out}")
    print(f"[sgsnn] done in {time.perf_counter() - t0:.0f} s; {len(summary['table'])} table rows "
          f"-> {out / 'summary.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
