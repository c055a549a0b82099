"""The "Patches" toy of Tadros et al. (2022), Fig. 1: the protocol.

Four binary 10×10 images share ``overlap`` pixels (on in all four); every
image has its own unique on-pixels besides. Task 1 = images 0 and 1, task 2 =
images 2 and 3. A 100→4 softmax network (one bias-free ``Linear``, cross
entropy, U(-0.01, 0.01) initial weights) learns task 1 (4 epochs), then task 2
(2 epochs), with SGD (learning rate 0.05, momentum 0.5 kept across tasks,
batches of 2), and then sleeps once: SRC for 30000 steps with the mean of the
four images as input (no mask), max_rate 64 Hz, inc 0.0035, dec 0.0002, as in
the authors' ``Patches/run_patches_all_overlap.m`` (the ``patches`` preset of
:mod:`bridge.presets`, with their beta 0.95·1.1 and alpha_scale 4.25).
Accuracy is measured on the four images after task 1, after task 2 and after
sleep, for every overlap, over several trials (each trial draws a new pixel
layout and new initial weights).

Details of the port
-------------------
* **Normalisation.** The authors normalise with ``normalize_nn_data.m`` on
  the network's *softmax* output: ``lambda = max(max(W), max softmax
  probability)`` (a probability <= 1), ``alpha = 4.25 / lambda``. The bridge
  converter (:func:`bridge.convert.from_torch`) would use the largest *logit*
  of the bias-free Linear instead. ``norm="softmax"`` (default, faithful)
  builds the :class:`~bridge.convert.SpikingSpec` here with the authors' rule
  (:func:`softmax_spec`, which says why the converter cannot give it);
  ``norm="logits"`` lets :func:`bridge.src.sleep` convert the ``Linear``
  itself. No output ReLU is needed: the converter accepts a network whose
  last module is a bias-free Linear.
* **Image layout.** ``n_on=25`` (default): every image has 25 on-pixels, of
  which ``overlap`` are shared (:func:`spiking.data.make_patches`), so
  overlaps run 0..25. ``n_on="authors"`` mimics the authors'
  ``create_permutations.m`` with ``width = 10``: it gives each image
  ``floor(100/6 - overlap)`` unique pixels, i.e. ``max(0, 16 - overlap)``,
  so an image has 16 on-pixels for overlaps up to 16 and the four images are
  identical from overlap 16 on. (Their code indexes with the non-integer
  ``100/6``; the count above is what a truncating index gives.)
* Task accuracies: task 1 = fraction of images 0 and 1 classified correctly
  (4-way argmax), task 2 likewise for images 2 and 3; "all" = the four images
  (the paper's Fig. 1B).

:func:`run` returns the result; :func:`save` writes ``result.json`` and
``table.md``. The figures ``patches_accuracy`` (Fig. 1B) and
``patches_weights`` (Fig. 1D: weights from task-1-unique, task-2-unique,
shared and background pixels onto the task-1 and task-2 output neurons, after
task 1, after task 2 and after sleep) are drawn from the saved result by
:mod:`scenarios.figures.patches`; the command is
:mod:`scenarios.commands.patches`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bridge.convert import SpikingSpec
from bridge.presets import SRCParams, preset as bridge_preset
from bridge.src import sleep as bridge_sleep
from scenarios.ann.mlp import TrainConfig, Trainer, make_mlp
from scenarios.runs.results import save_result
from scenarios.runs.seeds import derived_seed
from scenarios.runs.stats import format_mean_sd, mean_sd

__all__ = [
    "PatchesConfig",
    "STAGES",
    "authors_unique",
    "make_images",
    "parse_overlaps",
    "run_one",
    "run",
    "save",
    "softmax_spec",
    "table_markdown",
]

#: Stages after which accuracy and weights are recorded.
STAGES = ("T1", "T2", "SRC")
#: Image indices of task 1 and task 2.
TASKS = ((0, 1), (2, 3))
SIDE = 10


@dataclass(frozen=True)
class PatchesConfig:
    """Parameters of a patches run (defaults: the authors' ``run_patches_all_overlap.m``).

    Attributes
    ----------
    overlaps : tuple of int
        Shared pixels to scan.
    trials : int
        Trials per overlap (trial ``k`` uses seed ``seed + k``).
    n_on : int or "authors"
        On-pixels per image (25), or the authors' layout (see module doc).
    epochs1, epochs2 : int
        Epochs of task 1 and task 2.
    lr, momentum : float
    batch_size : int
    steps : int
        Sleep length.
    norm : {"softmax", "logits"}
        Normalisation of the sleep network (see module doc).
    backend, device : str
        SRC simulator and torch device.
    seed : int
    preset : str
        Base SRC preset (``patches``); ``steps`` is replaced by :attr:`steps`.
    """

    overlaps: tuple = tuple(range(0, 26))
    trials: int = 5
    n_on: Any = 25
    epochs1: int = 4
    epochs2: int = 2
    lr: float = 0.05
    momentum: float = 0.5
    batch_size: int = 2
    steps: int = 30000
    norm: str = "softmax"
    backend: str = "torch"
    device: str = "cpu"
    seed: int = 0
    preset: str = "patches"

    def __post_init__(self) -> None:
        if self.norm not in ("softmax", "logits"):
            raise ValueError(f"norm={self.norm!r}: must be 'softmax' or 'logits'")
        if self.n_on != "authors" and not (isinstance(self.n_on, (int, np.integer)) and 1 <= self.n_on <= 25):
            raise ValueError(f"n_on={self.n_on!r}: must be an integer in 1..25 or 'authors'")
        if int(self.trials) < 1 or int(self.steps) < 1:
            raise ValueError("trials and steps must be >= 1")
        if self.backend not in ("torch", "brian2"):
            raise ValueError(f"backend={self.backend!r}: must be 'torch' or 'brian2'")
        max_ov = 25 if self.n_on == "authors" else int(self.n_on)
        bad = [o for o in self.overlaps if not 0 <= int(o) <= max_ov]
        if bad or not self.overlaps:
            raise ValueError(f"overlaps {bad or self.overlaps}: must lie in 0..{max_ov}")
        object.__setattr__(self, "overlaps", tuple(int(o) for o in self.overlaps))


def parse_overlaps(text: str) -> tuple[int, ...]:
    """Parse ``"0-25"``, ``"12,14,16"`` or ``"0-10,14"`` into a sorted tuple of ints."""
    out: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part[1:]:
            a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
            lo, hi = int(a), int(b)
            if hi < lo:
                raise ValueError(f"empty range {part!r}")
            out.update(range(lo, hi + 1))
        else:
            out.add(int(part))
    if not out:
        raise ValueError(f"no overlaps in {text!r}")
    return tuple(sorted(out))


def authors_unique(overlap: int, width: int = SIDE) -> int:
    """Unique on-pixels per image in the authors' layout: ``max(0, floor(width²/6 - overlap))``."""
    return max(0, int(math.floor(width * width / 6.0 - overlap)))


def make_images(overlap: int, n_on: Any = 25, seed: int = 0) -> np.ndarray:
    """The four flattened patches, float32 ``(4, 100)`` of 0/1 (see the module doc for ``n_on``)."""
    from spiking.data import make_patches

    if n_on == "authors":
        u = authors_unique(overlap)
        total = overlap + u
        if total == 0:
            raise ValueError("overlap 0 with no unique pixels gives empty images")
        ds = make_patches(overlap, n_on=total, seed=seed)
    else:
        ds = make_patches(overlap, n_on=int(n_on), seed=seed)
    return ds.images.reshape(4, -1).astype(np.float32)


def softmax_spec(weights: np.ndarray, images: np.ndarray, alpha_scale: float, beta: float) -> SpikingSpec:
    """One-layer spec normalised as the authors' ``normalize_nn_data.m`` on a softmax output.

    ``lambda = max(max(0, W), max softmax probability over the images)``,
    ``alpha = alpha_scale / lambda``.

    This is a second ANN→SNN normalisation next to
    :func:`bridge.convert.from_torch`, kept on purpose: the converter cannot
    give this spec. The authors' Patches network has a *softmax* output and
    no ReLU, and their normalisation takes the softmax probabilities as the
    output layer's activations. :func:`~bridge.convert.from_torch` accepts
    no softmax module (only ``Linear(bias=False)``, ReLU, dropout and
    ``Flatten``: the layers it turns into integrate-and-fire units), and on
    the bare output ``Linear`` it takes the largest *logit* as the activation
    (``norm="logits"``). The two ``lambda`` differ whenever the largest
    logit or the largest probability exceeds ``max(W)`` and they differ from
    each other, i.e. for any trained network (e.g. ``W = [[0.3, 0], [0,
    0]]``, ``x = [1, 0]``: largest logit 0.3, largest probability
    ``e^0.3 / (e^0.3 + 1) = 0.574``). The probabilities are computed here in
    float64 (the converter computes its activations in float32).

    Parameters
    ----------
    weights : numpy.ndarray, shape (n_out, n_in)
        The bias-free output layer's weights.
    images : numpy.ndarray, shape (n, n_in)
        Calibration images (the four patches).
    alpha_scale : float
        Global impulse factor.
    beta : float
        Threshold factor of the one layer.

    Returns
    -------
    bridge.convert.SpikingSpec
    """
    w = np.asarray(weights, dtype=np.float32)
    logits = np.asarray(images, dtype=np.float64) @ w.T.astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    lam = max(0.0, float(w.max()), float(prob.max()))
    return SpikingSpec(weights=(w.copy(),), alpha=(alpha_scale / lam,), beta=(float(beta),),
                       layer_sizes=(w.shape[1], w.shape[0]), scale=(lam,), percentile=100.0,
                       alpha_scale=float(alpha_scale))


def _accuracies(model: nn.Module, images: np.ndarray) -> dict:
    with torch.no_grad():
        logits = model(torch.from_numpy(images)).numpy()
    correct = logits.argmax(axis=1) == np.arange(4)
    return {"all": float(correct.mean()), "task1": float(correct[:2].mean()),
            "task2": float(correct[2:].mean()),
            # Fig. 1C: input to the correct T1 neuron vs the largest input to a T2 neuron, image 0
            "img0_input_t1": float(logits[0, 0]), "img0_input_t2max": float(logits[0, 2:].max())}


def run_one(overlap: int, seed: int, cfg: PatchesConfig, params: SRCParams,
            keep_weights: bool = False) -> dict:
    """Train task 1, task 2, sleep, for one overlap and one seed.

    Returns
    -------
    dict
        ``acc``: ``{stage: {"all", "task1", "task2", "img0_input_t1", "img0_input_t2max"}}``
        for stages ``T1``, ``T2``, ``SRC``; ``sleep`` statistics; with
        ``keep_weights`` also ``weights`` (per stage, ``(4, 100)``) and ``images``.
    """
    images = make_images(overlap, cfg.n_on, seed=derived_seed(seed, overlap, 1, width=32))
    labels = np.arange(4)
    model = make_mlp((images.shape[1], 4), dropout=0.0, init="uniform", init_scale=0.01,
                     relu_output=False, seed=derived_seed(seed, overlap, 2, width=32))
    trainer = Trainer(model, TrainConfig(lr=cfg.lr, momentum=cfg.momentum, epochs=cfg.epochs1,
                                         batch_size=cfg.batch_size, loss="ce",
                                         seed=derived_seed(seed, overlap, 3, width=32)))
    acc, weights = {}, {}
    lin = model[-1]

    def snap(stage: str) -> None:
        model.eval()
        acc[stage] = _accuracies(model, images)
        weights[stage] = lin.weight.detach().numpy().copy()

    trainer.fit(images[:2], labels[:2], 4, epochs=cfg.epochs1)
    snap("T1")
    trainer.fit(images[2:], labels[2:], 4, epochs=cfg.epochs2)
    snap("T2")
    p = dataclasses.replace(params, steps=cfg.steps)
    sleep_seed = derived_seed(seed, overlap, 4, width=32)
    kw = dict(backend=cfg.backend, device=cfg.device, seed=sleep_seed)
    if cfg.norm == "softmax":
        spec = softmax_spec(weights["T2"], images, p.alpha_scale, p.beta_for(1)[0])
        res = bridge_sleep(spec, images, p, **kw)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(res.spec_after.weights[0])))
    else:
        res = bridge_sleep(model, images, p, **kw)
    snap("SRC")
    out = {
        "overlap": int(overlap), "seed": int(seed), "acc": acc,
        "sleep": {"alpha": list(res.spec_before.alpha), "scale": list(res.spec_before.scale),
                  "spikes_per_step": [float(v) for v in res.spikes_per_step],
                  "weight_change": [dataclasses.asdict(w) for w in res.weight_change],
                  "seconds": float(res.seconds), "seed": res.seed},
    }
    if keep_weights:
        out["weights"] = {s: w.tolist() for s, w in weights.items()}
        out["images"] = images.astype(int).tolist()
    return out


def run(cfg: PatchesConfig, log=print, weight_trials: int = 1) -> dict:
    """All overlaps × trials; returns the result dictionary (see :func:`save`)."""
    torch.set_num_threads(max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1"))))
    t_start = time.perf_counter()
    params = bridge_preset(cfg.preset)
    runs = []
    for ov in cfg.overlaps:
        for k in range(cfg.trials):
            r = run_one(ov, cfg.seed + k, cfg, params, keep_weights=k < weight_trials)
            runs.append(r)
        accs = [r["acc"] for r in runs if r["overlap"] == ov]
        log(f"overlap {ov:2d}: " + "  ".join(
            f"{s}: all {np.mean([a[s]['all'] for a in accs]):.2f} "
            f"t1 {np.mean([a[s]['task1'] for a in accs]):.2f}" for s in STAGES))
    summary = []
    for ov in cfg.overlaps:
        accs = [r["acc"] for r in runs if r["overlap"] == ov]
        row = {"overlap": ov}
        for s in STAGES:
            for key in ("all", "task1", "task2"):
                m, sd = mean_sd([a[s][key] for a in accs])
                row[f"{s}_{key}_mean"] = m
                row[f"{s}_{key}_sd"] = None if math.isnan(sd) else sd
        summary.append(row)
    return {
        "scenario": "patches", "format": 1,
        "config": dataclasses.asdict(cfg),
        "preset": {"name": cfg.preset, "params": {**dataclasses.asdict(params), "beta": list(params.beta),
                                                  "steps": cfg.steps}},
        "seeds": [cfg.seed + k for k in range(cfg.trials)],
        "runs": runs, "summary": summary,
        "wall_seconds": time.perf_counter() - t_start,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "torch": torch.__version__},
        "command": list(sys.argv),
    }


def table_markdown(result: dict) -> str:
    """Accuracy (%) per overlap after task 1, task 2 and SRC: all images / task 1 / task 2."""
    cfg = result["config"]
    lines = [f"Patches, n_on={cfg['n_on']}, norm={cfg['norm']}, epochs {cfg['epochs1']}+{cfg['epochs2']}, "
             f"lr {cfg['lr']}, sleep {cfg['steps']} steps, {cfg['trials']} trial(s) per overlap "
             f"(seeds {result['seeds']}); accuracy in % (mean ± sd).", "",
             "| overlap | T1: all | T1: task 1 | T2: all | T2: task 1 | T2: task 2 | SRC: all | SRC: task 1 "
             "| SRC: task 2 |", "|---|" + "---|" * 8]
    for ov in cfg["overlaps"]:
        accs = [r["acc"] for r in result["runs"] if r["overlap"] == ov]

        def f(stage: str, key: str) -> str:
            return format_mean_sd([a[stage][key] for a in accs], decimals=0)
        lines.append(f"| {ov} | {f('T1', 'all')} | {f('T1', 'task1')} | {f('T2', 'all')} | {f('T2', 'task1')} "
                     f"| {f('T2', 'task2')} | {f('SRC', 'all')} | {f('SRC', 'task1')} | {f('SRC', 'task2')} |")
    return "\n".join(lines) + "\n"


def save(result: dict, out: str | os.PathLike) -> Path:
    """Write ``result.json`` and ``table.md`` into ``out`` (created, each file atomically).

    Returns
    -------
    pathlib.Path
        The path of ``result.json``.
    """
    return save_result(out, result, table=table_markdown)
