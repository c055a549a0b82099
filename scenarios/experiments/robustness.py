"""Accuracy and loss-landscape sharpness under input distortions: SRC, SAM, GNP.

The experiment of seed 000 (Chawda, Delanois, Krishnan & Bazhenov, *Sleep-like
replay reduces loss-landscape sharpness to improve generalization*) on the
784-1200-1200-10 MLP of Sleep Replay Consolidation (Tadros et al., Nat.
Commun. 13:7742, 2022) (``model="mlp"``) or on seed 000's own setting, a small
bias-free CNN slept with the convolutional SRC of Delanois, Ahuja, Krishnan,
Tadros & Bazhenov (ICMLA 2023) (``model="cnn"``, :func:`scenarios.ann.cnn.make_cnn`),
with the two sharpness-aware optimisers of seed 003 as further arms.

Protocol, per trial ``t`` (seed ``s = seed + t``):

1. Train the bias-free ReLU MLP (:func:`scenarios.ann.mlp.make_mlp`, weights
   ~ U(-0.01, 0.01), seed ``s``) or CNN (:func:`scenarios.ann.cnn.make_cnn`,
   He-uniform initialisation, no output ReLU) on clean training images of *all* classes
   with the SRC training recipe of the authors' public code: SGD lr 0.1,
   momentum 0.5, batch 100, dropout 0.25 on the hidden layers, ``epochs`` (2)
   epochs, loss ``loss`` (``mse``: squared error on one-hot targets with a
   ReLU output, as the authors; ``ce``: cross-entropy of the ReLU outputs
   taken as logits). This is the **baseline**.
2. **SRC** = a copy of the baseline after one sleep phase
   (:func:`bridge.src.sleep`) with the dataset's preset (MLP: ``fashion`` for
   Fashion-MNIST, ``mnist`` for MNIST and for the scikit-learn digits,
   which are upsampled to 28×28 so that the preset's 11×11 input window
   applies; CNN: ``cnn-fashion``, found on a validation split by
   :func:`scenarios.experiments.robustness_tune.tune`, for every data set;
   ``src_preset`` overrides), ``sleep_steps`` steps (default: the preset's,
   15000 for the MLP presets, the authors' sleep length after the first
   task), input = the mean training image, data-based normalisation on all
   training images, raster seed ``s``. The trial records what the sleep did
   per spiking layer: the weight changes (fraction changed, increased,
   decreased) and the activation statistics of every layer on the clean
   sharpness batch before and after.
3. **SAM** and **GNP**: the same initial weights and data order trained with
   SAM (radius ``sam_train_rho``) or the gradient-norm penalty
   (coefficient ``gnp_coef``) instead of plain SGD.
4. For every distortion type and level (and the clean test set), each model's
   accuracy on the whole (distorted) test set and its sharpness on the first
   ``sharpness_batch`` images of it, with the true labels and the training
   loss, dropout off:

   * ``sharpness_seed000``: seed 000's ``S(θ; ε)``, the spread (max − min) of
     the loss at ``θ`` and ``θ ± ε·g/‖g‖`` (``eps``);
   * ``sharpness_sam``: ``max_{‖Δ‖≤ρ} L(θ+Δ) − L(θ)`` by ``sam_steps``
     steps of projected normalised-gradient ascent (``rho``);
   * ``hessian_top`` (with ``hessian``): the top Hessian eigenvalue by power
     iteration.

   The noise of a distortion is drawn with seed ``s`` for every level and
   every model (common random numbers, see :mod:`scenarios.ann.distortions`).

Simulation, saving and plotting are separate: :func:`run` returns a
JSON-ready dict, :func:`save` writes ``result.json`` and ``table.md``, and
:func:`scenarios.figures.robustness.plot` reads ``result.json`` and writes the
figures (seed 000's Figures 1 and 2). The command is ``sleep-snn robustness``
(:mod:`scenarios.commands.robustness`).

Usage::

    sleep-snn robustness --dataset fashion --trials 3 --out results/robustness
    python -m scenarios.commands.robustness --quick --out /tmp/rob
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from scenarios.runs import labels
from scenarios.runs.config import check_at_least_one, check_choice, check_finite_nonnegative, config_to_json
from scenarios.runs.results import MERGE_FREE, load_result, merge_results, package_versions, save_result
from scenarios.runs.stats import format_pct, format_stat, trial_stat

__all__ = [
    "MODELS",
    "MEASURES",
    "SRC_PRESET_FOR",
    "DATASETS",
    "RobustnessConfig",
    "quick_config",
    "run",
    "summarise",
    "table",
    "save",
    "load",
    "merge",
]

#: The four models compared, in plotting order.
MODELS = ("baseline", "src", "sam", "gnp")
#: Table labels of the models (:mod:`scenarios.runs.labels`, shared with the figures).
MODEL_LABELS = labels.ROBUSTNESS_MODELS
#: Per-point measures stored in the result (``hessian_top`` only with ``hessian``).
MEASURES = ("accuracy", "sharpness_seed000", "sharpness_sam", "hessian_top", "loss", "grad_norm")
#: Table labels of the measures (shared with the figures).
MEASURE_LABELS = labels.ROBUSTNESS_MEASURES
#: SRC preset used for each dataset (MLP).
SRC_PRESET_FOR = {"fashion": "fashion", "mnist": "mnist", "kmnist": "mnist", "digits": "mnist"}
#: SRC preset of the CNN (for every data set; found on Fashion-MNIST, see ``robustness_presets.json``).
CNN_SRC_PRESET = "cnn-fashion"
DATASETS = ("fashion", "mnist", "digits")
#: The networks of the study.
MODEL_KINDS = ("mlp", "cnn")
#: Default learning rate of each network (SRC's 0.1 for the MLP; 0.1 diverged for one CNN seed of three).
DEFAULT_LR = {"mlp": 0.1, "cnn": 0.05}
#: Tuned SRC presets of this study (name -> SRCParams fields, "about", "scores"), see :func:`src_preset`.
PRESETS_FILE = Path(__file__).with_name("robustness_presets.json")


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RobustnessConfig:
    """Everything that defines a robustness run (all recorded in ``result.json``).

    Attributes
    ----------
    dataset : {"fashion", "mnist", "digits"}
        Data set; images are 28×28 (digits are upsampled from 8×8).
    model : {"mlp", "cnn"}
        The network: the SRC MLP (``hidden``) or the small CNN (``channels``,
        ``kernel``; :func:`scenarios.ann.cnn.make_cnn`).
    channels : tuple of int
        Output channels of the CNN's conv layers (each followed by a 2×2
        average pooling); ignored for the MLP.
    kernel : int
        Side of the CNN's square conv kernels (pixels); ignored for the MLP.
    src_preset : str or None
        SRC preset (a name of :data:`bridge.presets.PRESETS` or of
        :data:`PRESETS_FILE`); None = the default of the model and data set.
    distortions : tuple of str
        Distortion types (keys of :data:`scenarios.ann.distortions.DISTORTIONS`).
    levels : dict or None
        ``{kind: (level, ...)}`` overriding :data:`scenarios.ann.distortions.DEFAULT_LEVELS`.
    models : tuple of str
        Models to build, a subset of :data:`MODELS` that contains
        ``"baseline"`` (default: all four).
    trials : int
        Independent trials (seeds ``seed .. seed + trials - 1``).
    backend : {"torch", "brian2"}
        SRC simulator.
    n_train, n_test : int or None
        Training / test images (None = all; a subset is drawn with the
        data set's seed 0, class-balanced in expectation).
    epochs : int
        Training epochs.
    batch_size, lr : int, float
        Minibatch size and learning rate (momentum 0.5). Batch 100 (SRC's);
        lr default (None) 0.1 for the MLP (SRC's) and 0.05 for the CNN (with
        0.1 the squared error of its linear outputs diverged for one seed of three).
    loss : {"mse", "ce"}
        Training loss, also the loss whose sharpness is measured.
    hidden : tuple of int
        Hidden layer widths (default 1200, 1200).
    eps : float
        Radius ε of seed 000's sharpness, in parameter space (global ℓ2).
    rho : float
        Radius ρ of the SAM sharpness measure.
    sam_steps : int
        Ascent steps of the SAM sharpness measure.
    sharpness_batch : int
        Number of (distorted) test images used for the sharpness measures.
    hessian : bool
        Also compute the top Hessian eigenvalue.
    hessian_iters : int
        Maximum power iterations (Hessian-vector products).
    hessian_tol : float
        Relative tolerance of the power iteration.
    hessian_batch : int or None
        Images used for the Hessian (the first of the sharpness batch);
        None = ``sharpness_batch``.
    sam_train_rho : float
        SAM radius used for *training* the SAM model (default 0.02: with the
        authors' initialisation U(-0.01, 0.01), Foret et al.'s 0.05 hardly trains
        in two epochs — the ascent step silences the ReLU outputs).
    gnp_coef : float
        Gradient-norm penalty coefficient used for training the GNP model.
    sleep_steps : int or None
        SRC steps (None = the preset's).
    seed : int
        First trial seed.
    data_dir : str or None
        Data directory (see :func:`spiking.data.load_dataset`).
    threads : int
        ``torch.set_num_threads``.
    quick : bool
        Whether the run was made with ``--quick``.
    """

    dataset: str = "fashion"
    model: str = "mlp"
    channels: tuple = (16, 32)
    kernel: int = 5
    src_preset: str | None = None
    distortions: tuple = ("gaussian", "saltpepper", "speckle")
    levels: dict | None = None
    models: tuple = MODELS
    trials: int = 3
    backend: str = "torch"
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 2
    batch_size: int = 100
    lr: float | None = None
    loss: str = "mse"
    hidden: tuple = (1200, 1200)
    eps: float = 0.5
    rho: float = 0.5
    sam_steps: int = 5
    sharpness_batch: int = 1000
    hessian: bool = False
    hessian_iters: int = 20
    hessian_tol: float = 1e-3
    hessian_batch: int | None = None
    sam_train_rho: float = 0.02
    gnp_coef: float = 0.01
    sleep_steps: int | None = None
    seed: int = 0
    data_dir: str | None = None
    threads: int = 1
    quick: bool = False

    def __post_init__(self) -> None:
        from scenarios.ann.distortions import DISTORTIONS

        check_choice("dataset", self.dataset, DATASETS)
        check_choice("model", self.model, MODEL_KINDS)
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.model])
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels={self.channels!r}: need at least one conv layer with >= 1 channel")
        if isinstance(self.kernel, bool) or not isinstance(self.kernel, int) or self.kernel < 1:
            raise ValueError(f"kernel={self.kernel!r}: must be an integer >= 1")
        if self.src_preset is not None:
            known = src_preset_names()
            if self.src_preset not in known:
                raise ValueError(f"src_preset={self.src_preset!r} is not known; allowed: {', '.join(known)}")
        object.__setattr__(self, "distortions", tuple(self.distortions))
        object.__setattr__(self, "models", tuple(m for m in MODELS if m in tuple(self.models)))
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or "baseline" not in self.models:
            raise ValueError(f"models={self.models!r}: must be a subset of {MODELS} containing 'baseline'")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for d in self.distortions:
            if d not in DISTORTIONS:
                raise ValueError(f"distortion {d!r}: must be one of {tuple(DISTORTIONS)}")
        if not self.distortions:
            raise ValueError("at least one distortion is needed")
        check_choice("backend", self.backend, ("torch", "brian2"))
        check_choice("loss", self.loss, ("mse", "ce"))
        check_at_least_one(self, ("trials", "epochs", "batch_size", "sam_steps", "sharpness_batch", "hessian_iters",
                                  "threads"))
        check_at_least_one(self, ("n_train", "n_test", "sleep_steps", "hessian_batch"), allow_none=True)
        check_finite_nonnegative(self, ("eps", "rho", "sam_train_rho", "gnp_coef", "lr"))
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden={self.hidden!r}: need positive widths")
        if self.levels is not None:
            from scenarios.ann.distortions import LEVEL_RANGES

            lv = {k: tuple(float(x) for x in v) for k, v in self.levels.items()}
            for k, values in lv.items():
                if k not in DISTORTIONS:
                    raise ValueError(f"levels: {k!r} is not a distortion type {tuple(DISTORTIONS)}")
                lo, hi = LEVEL_RANGES[k]
                bad = [x for x in values if not math.isfinite(x) or x < lo or (hi is not None and x > hi)]
                if bad or not values:
                    raise ValueError(f"levels of {k}: {list(values)} must be non-empty and lie in "
                                     f"[{lo:g}, {'inf' if hi is None else f'{hi:g}'}]")
            object.__setattr__(self, "levels", lv)

    def levels_for(self, kind: str) -> tuple:
        """The levels used for a distortion type."""
        from scenarios.ann.distortions import DEFAULT_LEVELS

        if self.levels is not None and kind in self.levels:
            return tuple(self.levels[kind])
        return tuple(DEFAULT_LEVELS[kind])

    def to_json(self) -> dict:
        d = config_to_json(self, ("distortions", "models", "hidden", "channels"))
        d["levels"] = {k: list(self.levels_for(k)) for k in self.distortions}
        return d


def quick_config(**overrides: Any) -> RobustnessConfig:
    """The ``--quick`` configuration: digits, 2 trials, 2 levels per type, short sleep (CNN: 6 and 12 channels)."""
    base = dict(dataset="digits", trials=2, epochs=4, batch_size=25, sharpness_batch=100, sam_steps=2,
                levels={"gaussian": (0.2, 0.5), "saltpepper": (0.2, 0.5), "speckle": (0.5, 1.0)},
                sleep_steps=1000, hidden=(256, 256), hessian_iters=5, quick=True)
    if overrides.get("model") == "cnn":
        base["channels"] = (6, 12)
    base.update(overrides)
    return RobustnessConfig(**base)



# --------------------------------------------------------------------------- presets and models
def _tuned_presets() -> dict:
    import json

    if not PRESETS_FILE.is_file():
        return {}
    return {k: v for k, v in json.loads(PRESETS_FILE.read_text()).items() if not k.startswith("_")}


def src_preset_names() -> tuple:
    """Names accepted by ``RobustnessConfig.src_preset``: the authors' presets and this study's tuned ones."""
    from bridge.presets import preset_names

    return tuple(preset_names()) + tuple(_tuned_presets())


def src_preset(name: str, **overrides: Any):
    """An SRC preset by name (:func:`bridge.presets.preset`, or a tuned one of :data:`PRESETS_FILE`)."""
    from bridge.presets import PRESETS, SRCParams, preset

    if name in PRESETS:
        return preset(name, **overrides)
    tuned = _tuned_presets()
    if name not in tuned:
        raise ValueError(f"unknown SRC preset {name!r}; allowed: {', '.join(src_preset_names())}")
    fields = {f.name for f in dataclasses.fields(SRCParams)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in tuned[name].items() if k in fields}
    values.update(overrides)
    return SRCParams(**values)


def preset_name_for(cfg: RobustnessConfig) -> str:
    """The SRC preset a configuration uses."""
    if cfg.src_preset is not None:
        return cfg.src_preset
    return CNN_SRC_PRESET if cfg.model == "cnn" else SRC_PRESET_FOR[cfg.dataset]


def make_model(cfg: RobustnessConfig, image_shape: Sequence[int], n_classes: int, seed: int):
    """The untrained network of a configuration (MLP or CNN) for images of ``image_shape``."""
    if cfg.model == "cnn":
        from scenarios.ann.cnn import make_cnn

        shape = tuple(int(v) for v in image_shape)
        return make_cnn(input_shape=shape if len(shape) == 3 else (1,) + shape, channels=cfg.channels,
                        kernel=cfg.kernel, n_classes=n_classes, relu_output=False, seed=seed)
    from scenarios.ann.mlp import make_mlp

    return make_mlp((int(np.prod(image_shape)), *cfg.hidden, n_classes), seed=seed)


def architecture(cfg: RobustnessConfig, image_shape: Sequence[int], n_classes: int) -> str:
    """A short description of the network, e.g. ``784-1200-1200-10`` or ``1x28x28-c5x16-p2-c5x32-p2-512-10``."""
    if cfg.model == "mlp":
        return "-".join(str(v) for v in (int(np.prod(image_shape)), *cfg.hidden, n_classes))
    from scenarios.ann.cnn import cnn_shapes

    shape = tuple(int(v) for v in image_shape)
    shape = shape if len(shape) == 3 else (1,) + shape
    shapes = cnn_shapes(shape, cfg.channels, cfg.kernel, 2)
    parts = ["x".join(str(v) for v in shape)]
    for c in cfg.channels:
        parts += [f"c{cfg.kernel}x{c}", "p2"]
    return "-".join(parts + [str(int(np.prod(shapes[-1]))), str(n_classes)])


def layer_activation_stats(model, X, batch: int = 1000) -> list[dict]:
    """Statistics of the activation of every spiking layer of a sequential model on images ``X``.

    A spiking layer is a ``Linear``, ``Conv2d`` or ``AvgPool2d``; its
    activation is its output after the modules that follow it up to the
    next spiking layer (its ReLU, dropout in evaluation mode, flattening),
    as in the data-based normalisation of :func:`bridge.convert.from_torch`.

    Returns
    -------
    list of dict
        Per layer: ``layer`` (the module's class), ``mean``, ``active``
        (fraction of values > 0), ``p99`` (99th percentile) and ``max``, over
        all images, neurons and positions.
    """
    import torch
    from torch import nn

    spiking = (nn.Linear, nn.Conv2d, nn.AvgPool2d)
    mods = list(model.children())
    starts = [i for i, m in enumerate(mods) if isinstance(m, spiking)]
    bounds = starts[1:] + [len(mods)]
    was = model.training
    model.eval()
    chunks: list[list] = [[] for _ in starts]
    try:
        with torch.no_grad():
            for i in range(0, len(X), batch):
                a = torch.as_tensor(X[i:i + batch])
                for m in mods[:starts[0]]:
                    a = m(a)
                for k, (p, q) in enumerate(zip(starts, bounds)):
                    for m in mods[p:q]:
                        a = m(a)
                    chunks[k].append(a.reshape(-1).double())
    finally:
        model.train(was)
    out = []
    for p, parts in zip(starts, chunks):
        a = torch.cat(parts)
        out.append({"layer": type(mods[p]).__name__, "mean": float(a.mean()), "active": float((a > 0).double().mean()),
                    "p99": float(torch.quantile(a[:1_000_000], 0.99)), "max": float(a.max())})
    return out


# --------------------------------------------------------------------------- helpers
def _load_data(cfg: RobustnessConfig):
    from spiking.data import load_dataset

    size = 28 if cfg.dataset == "digits" else None
    tr = load_dataset(cfg.dataset, "train", size=size, n=cfg.n_train, seed=0, data_dir=cfg.data_dir)
    te = load_dataset(cfg.dataset, "test", size=size, n=cfg.n_test, seed=0, data_dir=cfg.data_dir)
    return tr, te


def _accuracy(model, X, y, batch: int = 5000) -> float:
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            pred = torch.cat([model(X[i:i + batch]).argmax(1) for i in range(0, len(X), batch)])
    finally:
        model.train(was)
    return float((pred == y).double().mean())


def _param_norm(model) -> float:
    return float(math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters())))


def _zero_output_fraction(model, X) -> float:
    """Fraction of inputs for which every (ReLU) output is exactly 0 (a flat, dead region of the loss)."""
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(X)
    finally:
        model.train(was)
    return float((out.abs().amax(dim=1) == 0).double().mean())


def _measure(model, loss_fn, X, y, Xs, ys, cfg: RobustnessConfig, seed: int) -> dict:
    """Accuracy on (X, y) and sharpness on the sharpness batch (Xs, ys)."""
    from scenarios.ann.sharpness import hessian_top_eigenvalue, sam_sharpness, sharpness_seed000

    s0 = sharpness_seed000(model, loss_fn, Xs, ys, cfg.eps)
    sam = sam_sharpness(model, loss_fn, Xs, ys, cfg.rho, steps=cfg.sam_steps)
    out = {
        "accuracy": _accuracy(model, X, y),
        "sharpness_seed000": float(s0["sharpness"]),
        "sharpness_sam": float(sam["sharpness"]),
        "loss": float(s0["loss"]),
        "grad_norm": float(s0["grad_norm"]),
        "zero_output_fraction": _zero_output_fraction(model, Xs),
    }
    if cfg.hessian:
        nh = len(ys) if cfg.hessian_batch is None else min(int(cfg.hessian_batch), len(ys))
        h = hessian_top_eigenvalue(model, loss_fn, Xs[:nh], ys[:nh], tol=cfg.hessian_tol, max_iter=cfg.hessian_iters,
                                   seed=seed)
        out["hessian_top"] = float(h["eigenvalue"])
        out["hessian_converged"] = bool(h["converged"])
    return out


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _run_trial(cfg: RobustnessConfig, trial: int, tr, te, log) -> dict:
    import torch

    from bridge.src import sleep
    from scenarios.ann.distortions import distorted_sets
    from scenarios.ann.mlp import TrainConfig, Trainer, loss_function

    s = cfg.seed + trial
    t_trial = time.perf_counter()
    n_classes = int(max(tr.labels.max(), te.labels.max())) + 1
    image_shape = tuple(tr.images.shape[1:])
    sizes = (int(np.prod(image_shape)), *cfg.hidden, n_classes)
    nb = min(cfg.sharpness_batch, len(te.labels))
    models: dict[str, Any] = {}
    train_info: dict[str, dict] = {}
    src_info: dict | None = None
    for name, opt in (("baseline", "sgd"), ("sam", "sam"), ("gnp", "gnp")):
        if name not in cfg.models:
            continue
        model = make_model(cfg, image_shape, n_classes, s)
        tc = TrainConfig(lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, loss=cfg.loss,
                         optimizer=opt, sam_rho=cfg.sam_train_rho, gnp_coef=cfg.gnp_coef, seed=s)
        t0 = time.perf_counter()
        hist = Trainer(model, tc).fit(tr.images, tr.labels, n_classes)
        if not math.isfinite(hist[-1]):
            raise FloatingPointError(f"trial {trial} (seed {s}): the training of {name} diverged (loss {hist[-1]}); "
                                     "lower --lr (or --gnp-coef for gnp, --sam-train-rho for sam) or use other seeds")
        train_info[name] = {"seconds": time.perf_counter() - t0, "loss_per_epoch": [float(h) for h in hist],
                            "optimizer": opt}
        models[name] = model
        log(f"  trial {trial} (seed {s}): trained {name:8s} in {train_info[name]['seconds']:.1f} s, "
            f"final train loss {hist[-1]:.4f}")
        if name == "baseline" and "src" in cfg.models:
            # SRC right after the baseline, on a copy
            src = copy.deepcopy(model)
            pname = preset_name_for(cfg)
            params = src_preset(pname) if cfg.sleep_steps is None else src_preset(pname, steps=int(cfg.sleep_steps))
            t0 = time.perf_counter()
            res = sleep(src, tr.images, params, backend=cfg.backend, seed=s)
            src_info = {
                "preset": pname,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(params).items()},
                "steps": int(res.steps),
                "seed": res.seed,
                "backend": res.backend,
                "device": res.device,
                "sim_seconds": float(res.seconds),
                "total_seconds": time.perf_counter() - t0,
                "spike_rate_per_layer": [float(r) for r in res.spike_rate_per_layer],
                "weight_change": [dataclasses.asdict(c) for c in res.weight_change],
                "calibration_images": int(len(tr.images)),
            }
            if cfg.model == "cnn":  # what the sleep did to each layer (the MLP results predate these fields)
                geo = res.spec_before.geometry()
                src_info["layers"] = [g.kind for g in geo]
                src_info["n_weights"] = [int(w.size) for w in res.spec_before.weights]
                src_info["spikes_per_step"] = [float(v) for v in res.spikes_per_step]
                Xs = te.images[:nb]
                src_info["activations"] = {"before": layer_activation_stats(model, Xs),
                                           "after": layer_activation_stats(src, Xs)}
            models["src"] = src
            log(f"  trial {trial}: SRC {res.steps} steps in {src_info['total_seconds']:.1f} s, spike rates "
                f"{np.array2string(res.spike_rate_per_layer, precision=2)}, fraction of weights changed "
                f"{[round(c.fraction_changed, 3) for c in res.weight_change]}")
    models = {m: models[m] for m in cfg.models}

    loss_fn = loss_function(cfg.loss, n_classes)
    X_clean = torch.as_tensor(te.images)
    y = torch.as_tensor(te.labels)
    evals: dict[str, dict] = {m: {} for m in cfg.models}
    t0 = time.perf_counter()
    for m, model in models.items():
        evals[m]["clean"] = _measure(model, loss_fn, X_clean, y, X_clean[:nb], y[:nb], cfg, s)
    for kind in cfg.distortions:
        levels = cfg.levels_for(kind)
        sets = distorted_sets(te.images, kind, levels, seed=s)
        for m, model in models.items():
            rows = []
            for lv in levels:
                Xd = torch.as_tensor(sets[lv])
                rows.append(_measure(model, loss_fn, Xd, y, Xd[:nb], y[:nb], cfg, s))
            evals[m][kind] = {"levels": list(levels)}
            for key in rows[0]:
                evals[m][kind][key] = [r[key] for r in rows]
        log(f"  trial {trial}: {kind:10s} accuracy " + ", ".join(
            f"{m} {100 * np.mean(evals[m][kind]['accuracy']):.1f}" for m in cfg.models) + " | S " + ", ".join(
            f"{m} {np.mean(evals[m][kind]['sharpness_seed000']):.3g}" for m in cfg.models))
    eval_seconds = time.perf_counter() - t0
    return {
        "trial": trial,
        "seed": s,
        "sizes": list(sizes),
        "architecture": architecture(cfg, image_shape, n_classes),
        "train": train_info,
        "src": src_info,
        "param_norm": {m: _param_norm(models[m]) for m in cfg.models},
        "eval": evals,
        "eval_seconds": eval_seconds,
        "wall_s": time.perf_counter() - t_trial,
    }


# --------------------------------------------------------------------------- run
def run(cfg: RobustnessConfig, log=print) -> dict:
    """Simulate: train, sleep, distort, measure. Returns a JSON-ready dict."""
    import torch

    torch.set_num_threads(int(cfg.threads))
    t0 = time.perf_counter()
    tr, te = _load_data(cfg)
    log(f"robustness: {cfg.dataset}, {len(tr.labels)} training / {len(te.labels)} test images, "
        f"{cfg.trials} trial(s), loss {cfg.loss}, eps {cfg.eps}, rho {cfg.rho}, sharpness batch "
        f"{min(cfg.sharpness_batch, len(te.labels))}")
    trials = [_run_trial(cfg, t, tr, te, log) for t in range(cfg.trials)]
    result = {
        "kind": "robustness",
        "config": cfg.to_json(),
        "dataset": {"name": cfg.dataset, "n_train": int(len(tr.labels)), "n_test": int(len(te.labels)),
                    "image_shape": list(tr.images.shape[1:]),
                    "sharpness_batch": int(min(cfg.sharpness_batch, len(te.labels))),
                    "n_classes": int(trials[0]["sizes"][-1])},
        "models": list(cfg.models),
        "distortions": {k: list(cfg.levels_for(k)) for k in cfg.distortions},
        "seeds": [t["seed"] for t in trials],
        "trials": trials,
        "wall_s": time.perf_counter() - t0,
        "versions": package_versions(),
        "command": " ".join(sys.argv),
    }
    result["summary"] = summarise(result)
    return result


# --------------------------------------------------------------------------- summary
def _trial_average(trial: dict, model: str, measure: str, kinds: Sequence[str]) -> float | None:
    vals = []
    for k in kinds:
        vals += list(trial["eval"][model][k].get(measure, []))
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def _present_measures(result: dict) -> list[str]:
    ev = result["trials"][0]["eval"]["baseline"]["clean"]
    return [m for m in ("accuracy", "sharpness_seed000", "sharpness_sam", "hessian_top", "loss", "grad_norm",
                        "zero_output_fraction") if m in ev]


def summarise(result: dict) -> dict:
    """Averages over all distortion levels (and per type), mean ± sd over trials.

    Returns ``{"all_levels": {model: {measure: stat}}, "per_kind": {kind:
    {model: {measure: stat}}}, "clean": {model: {measure: stat}},
    "src_vs_baseline": {measure: {"difference": stat, "ratio": stat}}}``
    where a *stat* is ``{"mean", "sd", "per_trial"}``; the averages are over
    every (type, level) point, the clean test set excluded; ``difference`` is
    SRC − baseline and ``ratio`` baseline / SRC of the per-trial averages.
    """
    kinds = list(result["distortions"])
    trials = result["trials"]
    measures = _present_measures(result)
    out: dict[str, Any] = {"all_levels": {}, "per_kind": {k: {} for k in kinds}, "clean": {},
                           "src_vs_baseline": {}, "measures": measures}
    for m in result["models"]:
        out["all_levels"][m] = {q: trial_stat([_trial_average(t, m, q, kinds) for t in trials]) for q in measures}
        out["clean"][m] = {q: trial_stat([t["eval"][m]["clean"].get(q) for t in trials]) for q in measures}
        for k in kinds:
            out["per_kind"][k][m] = {q: trial_stat([_trial_average(t, m, q, [k]) for t in trials]) for q in measures}
    for q in measures if "src" in result["models"] else []:
        b = [_trial_average(t, "baseline", q, kinds) for t in trials]
        s = [_trial_average(t, "src", q, kinds) for t in trials]
        diff = [si - bi for si, bi in zip(s, b)]
        ratio = [bi / si if si not in (0, None) else None for si, bi in zip(s, b)]
        out["src_vs_baseline"][q] = {"difference": trial_stat(diff), "ratio": trial_stat(ratio)}
    return out


def table(result: dict) -> str:
    """Markdown tables of the summary (means ± sd over trials)."""
    summ = result.get("summary") or summarise(result)
    cfg, ds = result["config"], result["dataset"]
    measures = [q for q in summ["measures"] if q in ("accuracy", "sharpness_seed000", "sharpness_sam", "hessian_top")]
    extra = [q for q in ("loss", "zero_output_fraction") if q in summ["measures"]]
    src0 = result["trials"][0].get("src")
    head = (["model"] + [MEASURE_LABELS[q] for q in measures + extra] + ["clean accuracy (%)", "‖θ‖₂"])
    lines = [
        f"# Robustness to distortions: {ds['name']}",
        "",
        f"{ds['n_train']} training / {ds['n_test']} test images, {len(result['trials'])} trial(s) "
        f"(seeds {result['seeds']}), loss `{cfg['loss']}`, {cfg['epochs']} epoch(s), batch {cfg['batch_size']}, "
        f"lr {cfg['lr']}, network "
        f"{result['trials'][0].get('architecture') or '-'.join(str(s) for s in result['trials'][0]['sizes'])}; "
        f"sharpness on the first "
        f"{ds['sharpness_batch']} (distorted) test images, ε = {cfg['eps']}, ρ = {cfg['rho']} "
        f"({cfg['sam_steps']} ascent steps)"
        + (f"; top Hessian eigenvalue on the first {cfg.get('hessian_batch') or ds['sharpness_batch']} of them "
           f"(≤ {cfg['hessian_iters']} power iterations, tol {cfg['hessian_tol']})" if cfg.get("hessian") else "")
        + (f"; SRC: preset `{src0['preset']}`, {src0['steps']} steps, backend {cfg['backend']}" if src0 else "")
        + f"; SAM training ρ = {cfg['sam_train_rho']}, GNP coefficient {cfg['gnp_coef']}; "
        f"models: {', '.join(result['models'])}.",
        "",
        "## Averaged over all distortion levels (mean ± sd over trials)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for m in result["models"]:
        row = [MODEL_LABELS[m]]
        for q in measures + extra:
            row.append(format_pct(summ["all_levels"][m][q]) if q == "accuracy" else format_stat(summ["all_levels"][m][q]))
        row.append(format_pct(summ["clean"][m]["accuracy"]))
        norms = [t["param_norm"][m] for t in result["trials"]]
        row.append(format_stat(trial_stat(norms)))
        lines.append("| " + " | ".join(row) + " |")
    if summ["src_vs_baseline"]:
        lines += ["", "## SRC vs baseline (paired by trial)", "",
                  "| measure | SRC − baseline | baseline / SRC |", "|---|---|---|"]
    for q in measures + ["loss"]:
        if q not in summ["src_vs_baseline"]:
            continue
        d = summ["src_vs_baseline"][q]
        diff = (format_pct(d["difference"]) + " points") if q == "accuracy" else format_stat(d["difference"])
        ratio = "–" if q == "accuracy" else format_stat(d["ratio"])
        lines.append(f"| {MEASURE_LABELS[q]} | {diff} | {ratio} |")
    lines += ["", "## Per distortion type (average over its levels)", ""]
    head2 = ["distortion", "model"] + [MEASURE_LABELS[q] for q in measures]
    lines += ["| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
    for k in result["distortions"]:
        for m in result["models"]:
            st = summ["per_kind"][k][m]
            row = [k, m] + [format_pct(st[q]) if q == "accuracy" else format_stat(st[q]) for q in measures]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Per level (mean over trials): accuracy % / S(θ; ε) / SAM sharpness", ""]
    head3 = ["distortion", "level"] + list(result["models"])
    lines += ["| " + " | ".join(head3) + " |", "|" + "---|" * len(head3)]
    for k, levels in [("clean", [0.0])] + list(result["distortions"].items()):
        for i, lv in enumerate(levels):
            row = [k, f"{lv:g}"]
            for m in result["models"]:
                vals = []
                for q in ("accuracy", "sharpness_seed000", "sharpness_sam"):
                    xs = [(t["eval"][m][k][q] if k == "clean" else t["eval"][m][k][q][i]) for t in result["trials"]]
                    vals.append(f"{100 * np.mean(xs):.1f}" if q == "accuracy" else f"{np.mean(xs):.3g}")
                row.append(" / ".join(vals))
            lines.append("| " + " | ".join(row) + " |")
    lines += _layer_table(result)
    lines += ["", f"Wall time {result['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def _layer_table(result: dict) -> list[str]:
    """Per spiking layer: what the sleep did to the weights and to the activations (mean over trials)."""
    srcs = [t["src"] for t in result["trials"] if t.get("src") and "activations" in t["src"]]
    if not srcs:
        return []
    lines = ["", "## What the sleep did per spiking layer (mean over trials)", "",
             "Weights: fraction changed, increased and decreased (of all weights of the layer). Activations on "
             "the clean sharpness batch, before → after: mean, fraction > 0, largest value; and spikes per step "
             "during the sleep.", "",
             "| layer | weights | changed | increased | decreased | mean activation | active | max | spikes/step |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k, kind in enumerate(srcs[0]["layers"]):
        n = srcs[0]["n_weights"][k]
        ch = np.mean([t["weight_change"][k]["fraction_changed"] for t in srcs])
        inc = np.mean([t["weight_change"][k]["n_increased"] / n for t in srcs])
        dec = np.mean([t["weight_change"][k]["n_decreased"] / n for t in srcs])
        stat = {q: [np.mean([t["activations"][w][k][q] for t in srcs]) for w in ("before", "after")]
                for q in ("mean", "active", "max")}
        sps = np.mean([t["spikes_per_step"][k + 1] for t in srcs])
        plastic = kind != "avgpool"
        lines.append(f"| {k + 1} {kind} | {n} | " + (f"{ch:.3f} | {inc:.3f} | {dec:.3f}" if plastic else "fixed | – | –")
                     + f" | {stat['mean'][0]:.3g} → {stat['mean'][1]:.3g} | {stat['active'][0]:.3f} → "
                     f"{stat['active'][1]:.3f} | {stat['max'][0]:.3g} → {stat['max'][1]:.3g} | {sps:.3g} |")
    return lines


# --------------------------------------------------------------------------- save / load
def save(result: dict, out_dir) -> Path:
    """Write ``result.json`` and ``table.md`` into ``out_dir`` (atomically); return the JSON path."""
    return save_result(out_dir, result, table=table)


def load(result_dir) -> dict:
    """Read ``result.json`` from a directory (or the file itself)."""
    return load_result(result_dir)


#: Config fields that may differ between results that :func:`merge` combines.
_MERGE_FREE = MERGE_FREE


def merge(result_dirs: Sequence, out_dir=None) -> dict:
    """Combine the trials of several runs made with the same settings (other seeds).

    Runs of one trial each can so be made one after the other (or on several
    machines) and summarised together. The configurations must agree except
    for ``seed``, ``trials`` and ``threads``; trial seeds must be distinct.
    Writes ``result.json`` and ``table.md`` into ``out_dir`` when given.
    """
    # fields added after a result was written: fill in the value that was then implied
    implied = {"models": list(MODELS), "hessian_batch": None, "model": "mlp", "channels": [16, 32], "kernel": 5,
               "src_preset": None}
    merged = merge_results(result_dirs, summarise, free=_MERGE_FREE, implied=implied)
    if out_dir is not None:
        save(merged, out_dir)
    return merged
