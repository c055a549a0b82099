"""A surrogate-gradient SNN with the same sleep intervention as the E/I network.

The SG-SNN arm of arXiv 2601.08447 (the paper's surrogate-gradient comparison
network): a 225 → hidden (default 1000) → 10 network of leaky
integrate-and-fire neurons (decay ``beta`` 0.95, threshold 1, reset by
subtraction), the static 15×15 image fed as input current for ``steps``
(default 100) time steps, cross-entropy on the summed output spikes, Adam (lr
5e-4, batch 100), gradients through a fast-sigmoid surrogate of the spike
(:class:`SpikeFn`). ``recurrent`` adds hidden→hidden weights trained with
backpropagation through time; they start at zero, so the recurrent arm starts
as the feed-forward network.

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
  hidden→hidden and hidden→output.

Sleep with ratio 0 never runs and leaves the weights bit-identical.

The sleep-ratio scan of this network (``sleep-snn sgsnn``) is
:mod:`scenarios.experiments.sgsnn`.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from torch import nn

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
]

#: Threshold distance (mV) of the Brian2 E/I network (rest −70 mV → threshold −55 mV);
#: ``SleepParams.sigma`` in mV is divided by this to give the noise in threshold units.
MV_PER_THRESHOLD = 15.0


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
        for name in ("n_in", "hidden", "n_out", "steps", "batch", "epochs"):
            v = getattr(self, name)
            if v is None or int(v) < 1:
                raise ValueError(f"{name}={v!r}: must be an integer >= 1")
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

