"""Class-incremental learning with Sleep Replay Consolidation: the protocol.

Reproduces the class-incremental experiments of Tadros, Krishnan, Ramyaa &
Bazhenov, "Sleep-like unsupervised replay reduces catastrophic forgetting in
artificial neural networks", Nat. Commun. 13:7742 (2022): Table 1 (sequential
training, SRC, rehearsal, rehearsal + SRC, parallel training), Fig. 2
(accuracy on every task after each training phase T and sleep phase S) and
Fig. 4 (correlations between the hidden representations of classes before and
after sleep). The protocol follows the authors' public MATLAB code
(``FashionMNIST/run_class_task_summary.m``, ``run_sleep_with_replay.m``):

* network 784-1200-1200-10, no biases, ReLU on the hidden *and* output
  layers, weights ~ U(-0.01, 0.01), squared error on one-hot targets, SGD with
  learning rate 0.1 and momentum 0.5 (the momentum buffer is never reset: it
  carries across tasks and through sleep), dropout 0.25 on the hidden layers,
  batches of 100, 2 epochs per task;
* tasks = class pairs {0,1}, {2,3}, ... in order, each trained on its first
  5000 training images;
* after task k: SRC for ``15000 + (k-1)·5000`` steps; the normalisation and
  the sleep's mean input image use *all* training images of the tasks seen so
  far (not only the first 5000 per task);
* testing on the full test set (10-way argmax; with ReLU outputs an all-zero
  output vector predicts class 0, as MATLAB's ``max`` does);
* parallel = one network trained on all training images at once for the same
  number of epochs (the authors' ``ideal_nn`` uses all 60000);
* rehearsal = each task ``k >= 2`` trains on its 5000 images plus a fresh
  random ``fraction`` of the old tasks' training images (all of them, not only
  the first 5000), the count rounded to a multiple of 100 as in the authors'
  ``round(n*fraction, -2)``; plain squared error (the authors' rehearsal
  script has no weighted loss either).

Two training conventions (``IncrementalConfig.convention``):

``authors`` (default, faithful)
    The DeepLearnToolbox conventions of the authors' code
    (:mod:`bridge.conventions`, built by
    ``scenarios.ann.mlp.make_mlp(convention="authors")``): *non-inverted*
    dropout (training multiplies by a 0/1 mask, test mode multiplies hidden
    activations by 0.75) and an output ReLU whose backward pass is the
    identity (``nnbp.m``: ``d{n} = -e`` for a ReLU output, no derivative).
    :func:`bridge.convert.from_torch` (inside :func:`bridge.src.sleep`)
    evaluates these modules in their test mode, so the normalisation is the
    authors' ``utils/normalize_nn_data.m`` (test-mode activations, i.e.
    hidden × 0.75).
``torch``
    Plain PyTorch modules (:func:`scenarios.ann.mlp.make_mlp`: inverted
    ``nn.Dropout``, ordinary ReLU output) converted by
    :func:`bridge.convert.from_torch` inside :func:`bridge.src.sleep`.
    Differences: (1) a torch-trained network computes the same function as
    an authors'-convention one with weights ``0.75·W`` after each dropout
    layer, so the layer-1 and layer-2 sleep impulses ``alpha_l W_l`` are 0.75×
    the authors' for the same function and the gate ``g(w)`` sees smaller
    weights; (2) the output ReLU blocks the gradient of negative outputs, so
    output units that go negative on a task stop learning (the authors' code
    lets them recover).

:func:`run` returns the result (everything needed to redraw and to audit:
per-trial accuracy matrices ``acc[stage, task]`` for every arm, with stages
``T1, S1, T2, S2, ...`` for the sleeping arms; parameters; seeds; data sizes;
sleep statistics per phase; wall times; package versions); :func:`save` writes
it as ``result.json`` and ``table.md`` (Table-1 layout). The figures are drawn
from the saved files by :mod:`scenarios.figures.incremental`; the command is
:mod:`scenarios.commands.incremental`; the search for a tuned SRC preset
(evolutionary search over ``max_rate, inc, dec, beta`` on a validation split
of the training data, never the test set) is :func:`scenarios.experiments.tune.tune`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from bridge.convert import DeadLayerError
from bridge.presets import PRESETS, SRCParams, preset as bridge_preset
from bridge.src import sleep as bridge_sleep
from scenarios.ann.mlp import CONVENTIONS, TrainConfig, Trainer, make_mlp, task_splits
from scenarios.runs.results import load_result, package_versions, save_result
from scenarios.runs.seeds import derived_seed
from scenarios.runs.stats import format_mean_sd, mean_sd

__all__ = [
    "ARMS",
    "ARM_LABELS",
    "CONVENTIONS",
    "DATASET_NAMES",
    "DATASET_PRESETS",
    "QUICK",
    "TUNED_PRESETS_FILE",
    "IncrementalConfig",
    "TaskData",
    "build_model",
    "class_correlations",
    "load_task_data",
    "merge",
    "merge_results",
    "preset_schedule",
    "rehearsal_count",
    "resolve_preset",
    "run",
    "run_arm",
    "save",
    "sleep_model",
    "sleep_schedule",
    "stage_labels",
    "summarise",
    "table_markdown",
    "task_classes",
]

#: Arms of Table 1, in the order of the table.
ARMS = ("sequential", "src", "rehearsal", "rehearsal_src", "parallel")
#: Row labels of the table.
ARM_LABELS = {
    "sequential": "Sequential training",
    "src": "SRC",
    "rehearsal": "Rehearsal",
    "rehearsal_src": "Rehearsal + SRC",
    "parallel": "Parallel training",
}
#: Arms that sleep after every task.
SLEEP_ARMS = ("src", "rehearsal_src")
#: Default SRC preset per dataset. ``digits`` (scikit-learn's 8×8 handwritten
#: digits, upsampled here to 28×28 so that the network and the 11×11 mask are
#: the MNIST ones) uses the authors' MNIST parameters: same kind of images.
DATASET_PRESETS = {"fashion": "fashion", "mnist": "mnist", "digits": "mnist"}
#: Display names of the datasets.
DATASET_NAMES = {"fashion": "Fashion MNIST", "mnist": "MNIST", "digits": "Digits (sklearn, 28×28)"}
#: Tuned presets found by :func:`scenarios.experiments.tune.tune` (JSON: name -> SRCParams fields).
TUNED_PRESETS_FILE = Path(__file__).with_name("tuned_presets.json")
#: Hidden layers whose class correlations are recorded (0 = first hidden layer).
CORRELATION_LAYERS = (0, 1)
#: Images per class used for the image-level correlation summary.
CORRELATION_IMAGES_PER_CLASS = 30
#: Settings of ``--quick`` (a smoke test that runs in seconds; not a result).
QUICK = dict(dataset="digits", trials=1, hidden=(128, 128), n_per_task=250, epochs=10,
             sleep_steps=1000, sleep_increment=250)


# --------------------------------------------------------------------------
# Model: the protocol's network in one of the two conventions
# --------------------------------------------------------------------------
def build_model(sizes: Sequence[int], convention: str = "authors", dropout: float = 0.25,
                seed: int = 0) -> nn.Sequential:
    """The 784-1200-1200-10-style bias-free ReLU MLP of the protocol, in one of the two conventions.

    :func:`scenarios.ann.mlp.make_mlp` with the protocol's settings
    (U(-0.01, 0.01) weights, output ReLU). Both conventions start from the
    same weights for the same ``seed``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    convention : {"authors", "torch"}
        ``"authors"``: :class:`~bridge.conventions.AuthorsDropout` in place of
        ``nn.Dropout`` and :class:`~bridge.conventions.StraightThroughReLU` in
        place of the output ``nn.ReLU``; ``"torch"``: the plain torch modules.
        Both are converted by :func:`bridge.convert.from_torch`.
    dropout : float
        Dropout probability of the hidden layers.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
    """
    return make_mlp(tuple(sizes), dropout=dropout, init="uniform", init_scale=0.01,
                    relu_output=True, seed=seed, convention=convention)


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def sleep_model(model: nn.Sequential, calibration: np.ndarray, params: SRCParams,
                convention: str = "authors", backend: str = "torch", device: str = "cpu",
                seed: int | None = None, build_directory: Any = None) -> dict:
    """One SRC phase on ``model`` (weights updated in place); returns its statistics.

    Parameters
    ----------
    model : torch.nn.Sequential
        Built by :func:`build_model` in ``convention``.
    calibration : numpy.ndarray, shape (n, n_in)
        All training images of the tasks seen so far: the normalisation data
        and, through their mean, the sleep input.
    params : SRCParams
        Sleep parameters (``steps`` = length of this phase).
    convention : {"authors", "torch"}
        The convention ``model`` was built in (:func:`build_model`); both are
        converted by :func:`bridge.convert.from_torch` inside
        :func:`bridge.src.sleep` (the authors' modules evaluate as their test
        mode, so the normalisation is theirs).
    backend, device : str
        Passed to :func:`bridge.src.sleep`.
    seed : int, optional
        Seed of the input raster.
    build_directory : path-like, optional
        Brian2 standalone directory (re-used between phases).

    Returns
    -------
    dict
        ``steps``, ``seconds`` (simulation), ``total_seconds`` (conversion,
        build, simulation, write-back), ``build_seconds``, ``spikes_per_step``
        and ``rate_per_neuron`` per layer (input first), ``alpha``, ``scale``,
        ``thresholds``, ``weight_change`` per layer, ``seed``. If a layer is
        dead (no positive weight and no positive activation, so the
        normalisation is undefined) the phase is skipped: ``steps`` is 0 and
        ``skipped`` gives the reason.
    """
    t0 = time.perf_counter()
    kw = dict(backend=backend, device=device, seed=seed)
    if backend == "brian2" and build_directory is not None:
        kw["build_directory"] = build_directory
    calibration = np.asarray(calibration, dtype=np.float32)
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: must be one of {CONVENTIONS}")
    try:
        return _sleep_model(model, calibration, params, kw, t0)
    except DeadLayerError as exc:
        # A layer with no positive weight and no positive activation on the
        # calibration data (e.g. after a destructive sleep): nothing can spike
        # there and the normalisation is undefined (the authors' code would
        # divide by zero). The phase is skipped and recorded as such.
        n = len(_linears(model))
        return {"steps": 0, "seconds": 0.0, "build_seconds": 0.0,
                "total_seconds": float(time.perf_counter() - t0), "skipped": str(exc),
                "spikes_per_step": [0.0] * (n + 1), "rate_per_neuron": [0.0] * (n + 1),
                "alpha": [], "scale": [], "thresholds": [], "weight_change": [], "seed": seed,
                "device": device}


def _sleep_model(model, calibration, params, kw, t0) -> dict:
    # Both conventions convert with bridge.convert.from_torch: the authors'
    # modules (AuthorsDropout, StraightThroughReLU) evaluate as the authors'
    # test mode, so the normalisation is theirs (normalize_nn_data.m).
    res = bridge_sleep(model, calibration, params, **kw)
    spec = res.spec_before
    return {
        "steps": int(res.steps),
        "seconds": float(res.seconds),
        "build_seconds": float(res.build_seconds),
        "total_seconds": float(time.perf_counter() - t0),
        "spikes_per_step": [float(v) for v in res.spikes_per_step],
        "rate_per_neuron": [float(v) for v in res.spike_rate_per_layer],
        "alpha": [float(a) for a in spec.alpha],
        "scale": [float(s) for s in spec.scale],
        "thresholds": [float(t) for t in spec.thresholds(params.threshold)],
        "weight_change": [dataclasses.asdict(w) for w in res.weight_change],
        "seed": res.seed,
        "device": res.device,
    }


# --------------------------------------------------------------------------
# Configuration, presets, bookkeeping
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class IncrementalConfig:
    """Everything that defines an incremental run (defaults: Tadros et al. 2022, Fashion).

    Attributes
    ----------
    dataset : {"fashion", "mnist", "digits"}
    n_tasks : int
        Number of tasks; the 10 classes are split in order into ``n_tasks``
        groups (5 → {0,1}, {2,3}, ...).
    trials : int
        Independent trials; trial ``k`` uses seed ``seed + k``.
    backend, device : str
        SRC simulator (``torch``/``brian2``) and torch device (``cpu``/``cuda``).
    rehearsal : float
        Fraction of the old tasks' training images mixed into each new task
        (rehearsal arms).
    preset : str or None
        SRC preset name (None = the dataset's, :data:`DATASET_PRESETS`).
    n_per_task : int
        Training images per task (the first ones of each task).
    epochs : int
        Epochs per task (and for the parallel network).
    seed : int
        Seed of the first trial.
    data_dir : str or None
    hidden : tuple of int
        Hidden layer widths.
    convention : {"authors", "torch"}
        See the module docstring.
    sleep_steps, sleep_increment : int
        Sleep after task ``k`` (1-based) lasts ``sleep_steps + (k-1)·sleep_increment`` steps.
    arms : tuple of str
        Subset of :data:`ARMS` to run.
    validation : int
        If > 0: hold out the last ``validation`` training images of every task
        (excluded from training, normalisation and the sleep input) and
        evaluate on them instead of the test set (for tuning).
    lr, momentum, batch_size, dropout : float, float, int, float
        Training hyper-parameters.
    image_side : int
        Side of the (square) input images (28; digits are upsampled to it).
    correlations : bool
        Record hidden-layer class correlations at every stage of the SRC arm.
    """

    dataset: str = "fashion"
    n_tasks: int = 5
    trials: int = 3
    backend: str = "torch"
    device: str = "cpu"
    rehearsal: float = 0.0075
    preset: str | None = None
    n_per_task: int = 5000
    epochs: int = 2
    seed: int = 0
    data_dir: str | None = None
    hidden: tuple = (1200, 1200)
    convention: str = "authors"
    sleep_steps: int = 15000
    sleep_increment: int = 5000
    arms: tuple = ARMS
    validation: int = 0
    lr: float = 0.1
    momentum: float = 0.5
    batch_size: int = 100
    dropout: float = 0.25
    image_side: int = 28
    correlations: bool = True

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_PRESETS:
            raise ValueError(f"dataset={self.dataset!r}: must be one of {tuple(DATASET_PRESETS)}")
        if not 1 <= int(self.n_tasks) <= 10:
            raise ValueError(f"n_tasks={self.n_tasks!r}: must be in 1..10")
        if int(self.trials) < 1:
            raise ValueError(f"trials={self.trials!r}: must be >= 1")
        if self.backend not in ("torch", "brian2"):
            raise ValueError(f"backend={self.backend!r}: must be 'torch' or 'brian2'")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device={self.device!r}: must be 'cpu' or 'cuda'")
        if not 0.0 <= float(self.rehearsal) <= 1.0:
            raise ValueError(f"rehearsal={self.rehearsal!r}: must be a fraction in [0, 1]")
        if int(self.n_per_task) < 1 or int(self.epochs) < 1:
            raise ValueError("n_per_task and epochs must be >= 1")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention={self.convention!r}: must be one of {CONVENTIONS}")
        if int(self.sleep_steps) < 1 or int(self.sleep_increment) < 0:
            raise ValueError("sleep_steps must be >= 1 and sleep_increment >= 0")
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ValueError(f"arms={self.arms!r}: each must be one of {ARMS}")
        if int(self.validation) < 0:
            raise ValueError("validation must be >= 0")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "arms", tuple(a for a in ARMS if a in self.arms))

    @property
    def preset_name(self) -> str:
        """The SRC preset used (explicit or the dataset's default)."""
        return self.preset or DATASET_PRESETS[self.dataset]

    @property
    def sizes(self) -> tuple:
        return (self.image_side ** 2,) + self.hidden + (10,)


def _load_tuned() -> dict:
    if TUNED_PRESETS_FILE.is_file():
        data = json.loads(TUNED_PRESETS_FILE.read_text())
        return {k: v for k, v in data.items() if not k.startswith("_")}
    return {}


def resolve_preset(name: str, **overrides: Any) -> SRCParams:
    """SRC parameters by name: a :mod:`bridge.presets` preset or a tuned one.

    Tuned presets (e.g. ``fashion-tuned``) are read from
    :data:`TUNED_PRESETS_FILE` unless :mod:`bridge.presets` already has them.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones).
    """
    if name in PRESETS:
        return bridge_preset(name, **overrides)
    tuned = _load_tuned()
    if name in tuned:
        fields = {f.name for f in dataclasses.fields(SRCParams)}
        values = {k: v for k, v in tuned[name].items() if k in fields}
        values["beta"] = tuple(values["beta"])
        return dataclasses.replace(SRCParams(**values), **overrides)
    known = sorted(set(PRESETS) | set(tuned))
    raise ValueError(f"unknown SRC preset {name!r}; known: {', '.join(known)}")


def preset_schedule(name: str) -> tuple[int, int] | None:
    """``(sleep_steps, sleep_increment)`` stored with a tuned preset, or None.

    A preset search may also scale the sleep schedule (see
    :func:`scenarios.experiments.tune.tune`); the tuned preset then carries
    it, and the command line uses it unless ``--sleep-steps`` /
    ``--sleep-increment`` are given.
    """
    entry = _load_tuned().get(name) if name not in PRESETS else None
    if entry and "sleep_steps" in entry:
        return int(entry["sleep_steps"]), int(entry.get("sleep_increment", 0))
    return None


def sleep_schedule(n_tasks: int, base: int = 15000, increment: int = 5000) -> list[int]:
    """Sleep length after each task: ``base + (k-1)·increment`` for k = 1..n_tasks."""
    return [int(base) + k * int(increment) for k in range(int(n_tasks))]


def stage_labels(n_tasks: int, sleep: bool) -> list[str]:
    """Stage names: ``T1, S1, T2, S2, ...`` with sleep, ``T1, T2, ...`` without."""
    out = []
    for k in range(1, int(n_tasks) + 1):
        out.append(f"T{k}")
        if sleep:
            out.append(f"S{k}")
    return out


def task_classes(n_tasks: int, n_classes: int = 10) -> list[tuple[int, ...]]:
    """Split ``range(n_classes)`` in order into ``n_tasks`` groups (5 → pairs)."""
    return [tuple(int(c) for c in g) for g in np.array_split(np.arange(n_classes), int(n_tasks))]


def rehearsal_count(n_old: int, fraction: float, multiple: int = 100) -> int:
    """Number of old images to rehearse: ``fraction·n_old`` rounded to a multiple of ``multiple``.

    The authors round to hundreds (``round(n*fraction, -2)``, MATLAB rounds
    halves away from zero). When that gives 0 for a positive fraction (small
    data sets) the plain rounded count, at least 1, is used instead.
    """
    if fraction <= 0 or n_old <= 0:
        return 0
    raw = n_old * float(fraction)
    k = int(math.floor(raw / multiple + 0.5)) * multiple
    if k == 0:
        k = max(1, int(math.floor(raw + 0.5)))
    return min(k, int(n_old))



_ARM_IDS = {a: i for i, a in enumerate(ARMS)}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
@dataclass
class TaskData:
    """Flattened images of one incremental protocol.

    Attributes
    ----------
    classes : list of tuple of int
        Classes of each task.
    x_train, y_train : numpy.ndarray
        All training images (float32, ``(N, n_in)``) and labels.
    train_idx : list of numpy.ndarray
        Per task, the indices trained on (the first ``n_per_task``).
    pool_idx : list of numpy.ndarray
        Per task, all its training images (minus validation): normalisation,
        sleep input, rehearsal pool, parallel training.
    x_eval, y_eval : numpy.ndarray
        Evaluation images (test set, or the validation hold-out) of the tasks' classes.
    eval_task_idx : list of numpy.ndarray
        Per task, the indices into ``x_eval``.
    eval_split : str
        ``"test"`` or ``"validation"``.
    """

    classes: list
    x_train: np.ndarray
    y_train: np.ndarray
    train_idx: list
    pool_idx: list
    x_eval: np.ndarray
    y_eval: np.ndarray
    eval_task_idx: list
    eval_split: str

    def sizes(self) -> dict:
        return {
            "train_per_task": [int(i.size) for i in self.train_idx],
            "pool_per_task": [int(i.size) for i in self.pool_idx],
            "eval_per_task": [int(i.size) for i in self.eval_task_idx],
            "n_inputs": int(self.x_train.shape[1]),
            "eval_split": self.eval_split,
        }


def load_task_data(cfg: IncrementalConfig) -> TaskData:
    """Load the dataset and build the task splits of ``cfg``."""
    from spiking.data import load_dataset

    size = None if cfg.dataset in ("fashion", "mnist") else cfg.image_side
    tr = load_dataset(cfg.dataset, "train", size=size, data_dir=cfg.data_dir)
    if tr.side != cfg.image_side:
        raise ValueError(f"{cfg.dataset} images are {tr.side}×{tr.side}, expected {cfg.image_side}")
    classes = task_classes(cfg.n_tasks)
    per_task = task_splits(tr.labels, classes)
    pool, val = [], []
    for t, ix in enumerate(per_task):
        if cfg.validation:
            if ix.size <= cfg.validation:
                raise ValueError(f"task {t} has {ix.size} training images; cannot hold out {cfg.validation}")
            pool.append(ix[:-cfg.validation])
            val.append(ix[-cfg.validation:])
        else:
            pool.append(ix)
    train_idx = [p[: cfg.n_per_task].copy() for p in pool]
    x_train = tr.flat()
    if cfg.validation:
        ev = np.concatenate(val)
        x_eval, y_eval, split = x_train[ev], tr.labels[ev], "validation"
    else:
        te = load_dataset(cfg.dataset, "test", size=size, data_dir=cfg.data_dir)
        keep = np.isin(te.labels, np.concatenate([np.asarray(c) for c in classes]))
        x_eval, y_eval, split = te.flat()[keep], te.labels[keep], "test"
    eval_idx = task_splits(y_eval, classes)
    return TaskData(classes=classes, x_train=x_train, y_train=tr.labels, train_idx=train_idx,
                    pool_idx=pool, x_eval=np.ascontiguousarray(x_eval), y_eval=y_eval,
                    eval_task_idx=eval_idx, eval_split=split)


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
def _evaluate(trainer: Trainer, data: TaskData) -> tuple[list[float], float]:
    pred = trainer.predict(data.x_eval)
    correct = pred == data.y_eval
    per_task = [float(correct[ix].mean()) for ix in data.eval_task_idx]
    return per_task, float(correct.mean())


def _corr(m: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(m.astype(np.float64))
    return np.atleast_2d(c)


def class_correlations(trainer: Trainer, x: np.ndarray, y: np.ndarray,
                       classes: Sequence[int], layers: Sequence[int] = CORRELATION_LAYERS,
                       per_class: int = CORRELATION_IMAGES_PER_CLASS, seed: int = 0) -> dict:
    """Correlations between the hidden representations of classes (paper Fig. 4).

    For each hidden layer: the class-averaged activation vectors (evaluation
    mode, after the ReLU) and their Pearson correlation matrix
    ``corr[i, j]`` between classes ``classes[i]`` and ``classes[j]``; plus an
    image-level summary on ``per_class`` random images per class: mean
    correlation between images of the same class (off-diagonal) and of
    different classes, and the mean fraction of active units per image.

    Returns
    -------
    dict
        ``{"layer<l>": {"class_corr": [[...]], "within": w, "between": b,
        "active_fraction": f}}``; NaN (None in JSON) where a class mean is
        constant.
    """
    rng = np.random.default_rng(seed)
    sample = []
    for c in classes:
        ix = np.flatnonzero(y == c)
        sample.append(np.sort(rng.choice(ix, size=min(per_class, ix.size), replace=False)))
    out = {}
    for layer in layers:
        h = trainer.hidden_activations(x, layer)
        means = np.stack([h[y == c].mean(axis=0) for c in classes])
        hs = np.concatenate([h[s] for s in sample])
        lab = np.concatenate([np.full(s.size, i) for i, s in enumerate(sample)])
        c_img = _corr(hs)
        same = lab[:, None] == lab[None, :]
        off = ~np.eye(lab.size, dtype=bool)
        out[f"layer{layer + 1}"] = {
            "class_corr": _corr(means).tolist(),
            "within": float(np.nanmean(c_img[same & off])),
            "between": float(np.nanmean(c_img[~same])),
            "active_fraction": float((h > 0).mean()),
        }
    return out


# --------------------------------------------------------------------------
# One arm of one trial
# --------------------------------------------------------------------------
def run_arm(arm: str, cfg: IncrementalConfig, data: TaskData, seed: int, params: SRCParams,
            log=None, build_directory: Any = None, correlations: bool | None = None,
            start_state: dict | None = None, stage_eval: bool = True) -> dict:
    """Train (and sleep) one arm of one trial and evaluate it after every stage.

    Parameters
    ----------
    arm : str
        One of :data:`ARMS`.
    cfg : IncrementalConfig
    data : TaskData
    seed : int
        Trial seed: initial weights, shuffling and dropout (identical across
        arms, so all arms start from the same network and the SRC arm's T1
        equals the sequential arm's T1), rehearsal draws and sleep rasters
        (derived seeds).
    params : SRCParams
        SRC parameters; ``steps`` is replaced by the schedule.
    log : callable, optional
        ``log(str)`` for progress messages.
    build_directory : path-like, optional
        Brian2 build directory.
    correlations : bool, optional
        Record class correlations at every stage (default: ``cfg.correlations``
        for the ``src`` arm only).
    start_state : dict, optional
        Internal (tuning): a cache dict; the state after T1 is stored in and
        restored from it.
    stage_eval : bool
        Evaluate after every stage (default); if False only after the last
        one (tuning: saves time; ``acc`` then has a single row).

    Returns
    -------
    dict
        ``stages`` (labels), ``acc`` (``[stage][task]``), ``overall`` (per
        stage, over all evaluation images), ``sleeps`` (statistics of each
        sleep phase), ``correlations`` (per stage, if recorded), ``timing``
        (seconds: ``train``, ``sleep`` (simulation), ``sleep_total``,
        ``eval``, ``correlations``, ``total``), ``train_sizes``.
    """
    if arm not in ARMS:
        raise ValueError(f"arm={arm!r}: must be one of {ARMS}")
    log = log or (lambda s: None)
    t_arm = time.perf_counter()
    sleeps_on = arm in SLEEP_ARMS
    if correlations is None:
        correlations = cfg.correlations and arm == "src"
    model = build_model(cfg.sizes, cfg.convention, cfg.dropout, seed=seed)
    tcfg = TrainConfig(lr=cfg.lr, momentum=cfg.momentum, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, loss="mse", seed=int(seed), device=cfg.device)
    trainer = Trainer(model, tcfg)
    timing = {"train": 0.0, "sleep": 0.0, "sleep_total": 0.0, "eval": 0.0, "correlations": 0.0}
    stages, acc, overall, sleeps, corrs, train_sizes = [], [], [], [], [], []
    all_classes = [c for g in data.classes for c in g]

    def record(label: str, final: bool = False) -> None:
        if not (stage_eval or final):
            return
        t0 = time.perf_counter()
        per_task, tot = _evaluate(trainer, data)
        timing["eval"] += time.perf_counter() - t0
        stages.append(label)
        acc.append(per_task)
        overall.append(tot)
        if correlations:
            t0 = time.perf_counter()
            corrs.append(class_correlations(trainer, data.x_eval, data.y_eval, all_classes, seed=seed))
            timing["correlations"] += time.perf_counter() - t0

    if arm == "parallel":
        idx = np.concatenate(data.pool_idx)
        t0 = time.perf_counter()
        trainer.fit(data.x_train[idx], data.y_train[idx], 10)
        timing["train"] += time.perf_counter() - t0
        train_sizes.append(int(idx.size))
        record("P", final=True)
    else:
        schedule = sleep_schedule(len(data.classes), cfg.sleep_steps, cfg.sleep_increment)
        for k in range(len(data.classes)):
            restored = False
            if k == 0 and start_state is not None and "model" in start_state:
                model.load_state_dict(start_state["model"])
                # clone: Optimizer.load_state_dict keeps same-device tensors by reference,
                # and training would then modify the cached momentum buffer in place
                trainer.optimizer.load_state_dict(_clone_opt_state(start_state["optimizer"]))
                trainer.n_fit_calls = start_state["n_fit_calls"]
                timing["train"] += start_state["train_seconds"]
                restored = True
            idx = data.train_idx[k]
            if arm in ("rehearsal", "rehearsal_src") and k > 0 and cfg.rehearsal > 0:
                old = np.concatenate(data.pool_idx[:k])
                n_old = rehearsal_count(old.size, cfg.rehearsal)
                rng = np.random.default_rng(derived_seed(seed, 7, k, width=32))
                idx = np.concatenate([idx, rng.choice(old, size=n_old, replace=False)])
            if not restored:
                t0 = time.perf_counter()
                trainer.fit(data.x_train[idx], data.y_train[idx], 10)
                dt = time.perf_counter() - t0
                timing["train"] += dt
                if k == 0 and start_state is not None:
                    start_state.update(model={n: v.clone() for n, v in model.state_dict().items()},
                                       optimizer=_clone_opt_state(trainer.optimizer.state_dict()),
                                       n_fit_calls=trainer.n_fit_calls, train_seconds=dt)
            train_sizes.append(int(idx.size))
            last = k == len(data.classes) - 1
            record(f"T{k + 1}", final=last and not sleeps_on)
            if stage_eval:
                log(f"  {arm} T{k + 1}: {overall[-1]:.4f}  per task {np.round(acc[-1][:k + 1], 3).tolist()}")
            if sleeps_on:
                calib = data.x_train[np.concatenate(data.pool_idx[:k + 1])]
                p = dataclasses.replace(params, steps=schedule[k])
                info = sleep_model(model, calib, p, cfg.convention, cfg.backend, cfg.device,
                                   seed=derived_seed(seed, 11, _ARM_IDS[arm], k, width=32),
                                   build_directory=build_directory)
                timing["sleep"] += info["seconds"]
                timing["sleep_total"] += info["total_seconds"]
                sleeps.append(info)
                record(f"S{k + 1}", final=last)
                if stage_eval:
                    log(f"  {arm} S{k + 1}: {overall[-1]:.4f}  per task {np.round(acc[-1][:k + 1], 3).tolist()}"
                        f"  spikes/step {np.round(info['spikes_per_step'], 3).tolist()}"
                        f"  ({info['seconds']:.1f} s)")
    timing["total"] = time.perf_counter() - t_arm
    out = {"stages": stages, "acc": acc, "overall": overall, "sleeps": sleeps,
           "timing": timing, "train_sizes": train_sizes}
    if correlations:
        out["correlations"] = corrs
    return out


def _clone_opt_state(state: dict) -> dict:
    def clone(v):
        if isinstance(v, torch.Tensor):
            return v.clone()
        if isinstance(v, dict):
            return {k: clone(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clone(x) for x in v]
        return v
    return clone(state)


# --------------------------------------------------------------------------
# Whole run
# --------------------------------------------------------------------------
def _final_per_task(arm_result: dict) -> list[float]:
    return list(arm_result["acc"][-1])


def summarise(trials: list[dict], arms: Sequence[str]) -> list[dict]:
    """Table rows: final overall accuracy (and per task) over trials, mean ± sd."""
    rows = []
    for arm in arms:
        finals = [t["arms"][arm]["overall"][-1] for t in trials]
        per_task = np.array([_final_per_task(t["arms"][arm]) for t in trials])
        m, s = mean_sd(finals)
        task_m, task_s = mean_sd(per_task, axis=0)
        rows.append({
            "arm": arm, "label": ARM_LABELS[arm], "values": finals, "mean": m,
            "sd": None if math.isnan(s) else s,
            "per_task_mean": task_m.tolist(),
            "per_task_sd": task_s.tolist() if len(trials) > 1 else [None] * per_task.shape[1],
        })
    return rows


def run(cfg: IncrementalConfig, log=print, params: SRCParams | None = None,
        build_directory: Any = None) -> dict:
    """Run every trial of ``cfg`` and return the result dictionary (see :func:`save`)."""
    torch.set_num_threads(max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1"))))
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data = load_task_data(cfg)
    params = params if params is not None else resolve_preset(cfg.preset_name)
    log(f"incremental: {cfg.dataset} ({data.eval_split}), {len(data.classes)} tasks {data.classes}, "
        f"preset {cfg.preset_name}, convention {cfg.convention}, backend {cfg.backend}/{cfg.device}")
    trials = []
    for k in range(cfg.trials):
        seed = cfg.seed + k
        t0 = time.perf_counter()
        arms = {}
        for arm in cfg.arms:
            log(f"trial {k} (seed {seed}) arm {arm}")
            arms[arm] = run_arm(arm, cfg, data, seed, params, log=log, build_directory=build_directory)
            log(f"  -> {arm} final {arms[arm]['overall'][-1]:.4f} ({arms[arm]['timing']['total']:.1f} s)")
        trials.append({"seed": seed, "arms": arms, "seconds": time.perf_counter() - t0})
    table = summarise(trials, cfg.arms)
    return {
        "scenario": "incremental",
        "format": 1,
        "dataset": cfg.dataset,
        "dataset_name": DATASET_NAMES[cfg.dataset],
        "config": {**dataclasses.asdict(cfg), "hidden": list(cfg.hidden), "arms": list(cfg.arms)},
        "sizes": {"layers": list(cfg.sizes), **data.sizes()},
        "tasks": [list(c) for c in data.classes],
        "preset": {"name": cfg.preset_name, "params": {**dataclasses.asdict(params),
                                                       "beta": list(params.beta)}},
        "sleep_schedule": sleep_schedule(len(data.classes), cfg.sleep_steps, cfg.sleep_increment),
        "seeds": [t["seed"] for t in trials],
        "arms": list(cfg.arms),
        "stage_labels": {a: trials[0]["arms"][a]["stages"] for a in cfg.arms},
        "trials": trials,
        "table": table,
        "wall_seconds": time.perf_counter() - t_start,
        "trial_seconds": [t["seconds"] for t in trials],
        "started": started,
        "versions": package_versions(),
        "command": list(sys.argv),
    }


def merge(result_dirs: Sequence, out: str | os.PathLike | None = None) -> dict:
    """Merge the saved runs in ``result_dirs`` (:func:`merge_results`); save into ``out`` if given.

    Raises
    ------
    ValueError
        A result file is missing or unreadable
        (:class:`~scenarios.runs.results.ResultFileError`), or the runs are
        not compatible.
    """
    merged = merge_results([load_result(d) for d in result_dirs])
    if out is not None:
        save(merged, out)
    return merged


def merge_results(results: Sequence[dict]) -> dict:
    """Merge runs that differ only in their trials (e.g. one process per seed).

    The configurations must agree except for ``seed`` and ``trials``; the
    trials are concatenated in the given order (duplicate seeds are an
    error) and the table is recomputed.

    Raises
    ------
    ValueError
        If the runs are not compatible.
    """
    if not results:
        raise ValueError("nothing to merge")
    ignore = {"seed", "trials"}
    ref = {k: v for k, v in results[0]["config"].items() if k not in ignore}
    for r in results[1:]:
        other = {k: v for k, v in r["config"].items() if k not in ignore}
        if other != ref:
            diff = sorted(k for k in set(ref) | set(other) if ref.get(k) != other.get(k))
            raise ValueError(f"cannot merge runs whose configurations differ in {diff}")
        if r["preset"] != results[0]["preset"]:
            raise ValueError("cannot merge runs with different SRC parameters")
    trials = [t for r in results for t in r["trials"]]
    seeds = [t["seed"] for t in trials]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate seeds in the merged trials: {seeds}")
    merged = dict(results[0])
    merged["config"] = {**results[0]["config"], "trials": len(trials), "seed": seeds[0]}
    merged["trials"] = trials
    merged["seeds"] = seeds
    merged["trial_seconds"] = [t["seconds"] for t in trials]
    merged["wall_seconds"] = float(sum(r["wall_seconds"] for r in results))
    merged["table"] = summarise(trials, results[0]["arms"])
    merged["merged_from"] = [r.get("started") for r in results]
    return merged


def table_markdown(result: dict) -> str:
    """Table 1 layout: one row per arm, final test accuracy (%) mean ± sd; then per task."""
    name = result.get("dataset_name", result["dataset"])
    n_trials = len(result["seeds"])
    frac = result["config"]["rehearsal"]
    lines = [f"| Method | {name} |", "|---|---|"]
    for row in result["table"]:
        label = row["label"]
        if row["arm"] in ("rehearsal", "rehearsal_src"):
            label += f" ({100 * frac:.2g}% old data)"
        lines.append(f"| {label} | {format_mean_sd(row['values'])} |")
    n_tasks = len(result["tasks"])
    head = "| Method | " + " | ".join(f"Task {t + 1} {tuple(c)}" for t, c in enumerate(result["tasks"])) + " |"
    lines += ["", f"Final accuracy per task ({result['sizes']['eval_split']} set, %, mean ± sd over "
              f"{n_trials} trial(s), seeds {result['seeds']}):", "", head,
              "|---|" + "---|" * n_tasks]
    for row in result["table"]:
        cells = []
        for t in range(n_tasks):
            vals = [tr["arms"][row["arm"]]["acc"][-1][t] for tr in result["trials"]]
            cells.append(format_mean_sd(vals))
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    p = result["preset"]["params"]
    lines += ["", f"Preset `{result['preset']['name']}`: max_rate {p['max_rate']:.6g} Hz, inc {p['inc']:.6g}, "
              f"dec {p['dec']:.6g}, beta {[round(b, 6) for b in p['beta']]}, alpha_scale "
              f"{p['alpha_scale']:.6g}; sleep steps {result['sleep_schedule']}; convention "
              f"`{result['config']['convention']}`; backend {result['config']['backend']}/"
              f"{result['config']['device']}."]
    return "\n".join(lines) + "\n"


def save(result: dict, out: str | os.PathLike) -> Path:
    """Write ``result.json`` and ``table.md`` into ``out`` (created, each file atomically).

    Returns
    -------
    pathlib.Path
        The path of ``result.json``.
    """
    return save_result(out, result, table=table_markdown)
