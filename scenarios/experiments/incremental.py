"""``sleep-snn incremental``: class-incremental learning with Sleep Replay Consolidation.

Reproduces the class-incremental experiments of Tadros, Krishnan, Ramyaa &
Bazhenov, "Sleep-like unsupervised replay reduces catastrophic forgetting in
artificial neural networks", Nat. Commun. 13:7742 (2022): Table 1 (sequential
training, SRC, rehearsal, rehearsal + SRC, parallel training), Fig. 2
(accuracy on every task after each training phase T and sleep phase S) and
Fig. 4 (correlations between the hidden representations of classes before and
after sleep). The protocol follows the authors' MATLAB code
(``FashionMNIST/run_class_task_summary.m``, ``run_sleep_with_replay.m``;
project ``REFERENCE.md`` section A):

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

Two training conventions (``--convention``):

``authors`` (default, faithful)
    The DeepLearnToolbox conventions of the authors' code: *non-inverted*
    dropout (training multiplies by a 0/1 mask, test mode multiplies hidden
    activations by 0.75) and an output ReLU whose backward pass is the
    identity (``nnbp.m``: ``d{n} = -e`` for a ReLU output, no derivative). The
    conversion for sleep is then done here, exactly as
    ``utils/normalize_nn_data.m`` (test-mode activations, i.e. hidden × 0.75),
    and the :class:`~bridge.convert.SpikingSpec` is passed to
    :func:`bridge.src.sleep`.
``torch``
    Plain PyTorch modules (:func:`scenarios.mlp.make_mlp`: inverted
    ``nn.Dropout``, ordinary ReLU output) converted by
    :func:`bridge.convert.from_torch` inside :func:`bridge.src.sleep`.
    Differences: (1) a torch-trained network computes the same function as
    an authors'-convention one with weights ``0.75·W`` after each dropout
    layer, so the layer-1 and layer-2 sleep impulses ``alpha_l W_l`` are 0.75×
    the authors' for the same function and the gate ``g(w)`` sees smaller
    weights; (2) the output ReLU blocks the gradient of negative outputs, so
    output units that go negative on a task stop learning (the authors' code
    lets them recover).

Outputs (``--out DIR``): ``result.json`` (everything needed to redraw and to
audit: per-trial accuracy matrices ``acc[stage, task]`` for every arm, with
stages ``T1, S1, T2, S2, ...`` for the sleeping arms; parameters; seeds; data
sizes; sleep statistics per phase; wall times; package versions),
``table.md`` (Table-1 layout) and figures (``incremental_stages``,
``incremental_correlation``, ``incremental_summary``; PNG and PDF). Simulation
and plotting are separate: :func:`plot` redraws the figures from
``result.json``.

``--tune BUDGET`` runs the documented search for a tuned SRC preset instead
(evolutionary search over ``max_rate, inc, dec, beta`` on a validation split
of the training data, never the test set), see :func:`tune`.
"""

from __future__ import annotations

import argparse
import contextlib
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

from bridge.conventions import AuthorsDropout, StraightThroughReLU
from bridge.convert import DeadLayerError, SpikingSpec
from bridge.presets import PRESETS, SRCParams, preset as bridge_preset
from bridge.src import sleep as bridge_sleep
from scenarios.runs.results import to_jsonable as _jsonable
from scenarios.runs.seeds import derived_seed
from scenarios.runs.stats import format_mean_sd, mean_sd
from scenarios.ann.mlp import TrainConfig, Trainer, make_mlp, task_splits
from scenarios.runs.results import package_versions

__all__ = [
    "ARMS",
    "ARM_LABELS",
    "DATASET_PRESETS",
    "TUNED_PRESETS_FILE",
    "AuthorsDropout",
    "StraightThroughReLU",
    "IncrementalConfig",
    "TaskData",
    "build_model",
    "class_correlations",
    "load_task_data",
    "main",
    "merge_results",
    "plot",
    "rehearsal_count",
    "resolve_preset",
    "run",
    "run_arm",
    "save",
    "sleep_model",
    "sleep_schedule",
    "stage_labels",
    "table_markdown",
    "tune",
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
#: Tuned presets found by :func:`tune` (JSON: name -> SRCParams fields).
TUNED_PRESETS_FILE = Path(__file__).with_name("tuned_presets.json")
#: Hidden layers whose class correlations are recorded (0 = first hidden layer).
CORRELATION_LAYERS = (0, 1)
#: Images per class used for the image-level correlation summary.
CORRELATION_IMAGES_PER_CLASS = 30
CONVENTIONS = ("authors", "torch")
#: Settings of ``--quick`` (a smoke test that runs in seconds; not a result).
QUICK = dict(dataset="digits", trials=1, hidden=(128, 128), n_per_task=250, epochs=10,
             sleep_steps=1000, sleep_increment=250)


# --------------------------------------------------------------------------
# Model: the authors' (DeepLearnToolbox) conventions as torch modules
# --------------------------------------------------------------------------
def build_model(sizes: Sequence[int], convention: str = "authors", dropout: float = 0.25,
                seed: int = 0) -> nn.Sequential:
    """The 784-1200-1200-10-style bias-free ReLU MLP in one of the two conventions.

    Both conventions start from the same U(-0.01, 0.01) weights for the same
    ``seed`` (:func:`scenarios.mlp.make_mlp`).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    convention : {"authors", "torch"}
        ``"authors"`` replaces ``nn.Dropout`` by :class:`AuthorsDropout` and the
        output ``nn.ReLU`` by :class:`StraightThroughReLU`; ``"torch"`` keeps
        :func:`~scenarios.mlp.make_mlp`'s modules (convertible by
        :func:`bridge.convert.from_torch`).
    dropout : float
        Dropout probability of the hidden layers.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: must be one of {CONVENTIONS}")
    model = make_mlp(tuple(sizes), dropout=dropout, init="uniform", init_scale=0.01,
                     relu_output=True, seed=seed)
    if convention == "torch":
        return model
    mods = list(model.children())
    out: list[nn.Module] = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Dropout):
            out.append(AuthorsDropout(m.p))
        elif isinstance(m, nn.ReLU) and i == len(mods) - 1:
            out.append(StraightThroughReLU())
        else:
            out.append(m)
    return nn.Sequential(*out)


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

    A preset search may also scale the sleep schedule (see :func:`tune`); the
    tuned preset then carries it, and the command line uses it unless
    ``--sleep-steps`` / ``--sleep-increment`` are given.
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
        rows.append({
            "arm": arm, "label": ARM_LABELS[arm], "values": finals, "mean": m,
            "sd": None if math.isnan(s) else s,
            "per_task_mean": per_task.mean(axis=0).tolist(),
            "per_task_sd": (per_task.std(axis=0, ddof=1).tolist() if len(trials) > 1
                            else [None] * per_task.shape[1]),
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
    """Write ``result.json`` and ``table.md`` into ``out`` (created); return the directory.

    ``result.json`` is written atomically (temporary file, then rename).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(_jsonable(result), indent=1))
    tmp.replace(out / "result.json")
    (out / "table.md").write_text(table_markdown(result))
    return out


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------
def _stage_stats(result: dict, arm: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([t["arms"][arm]["acc"] for t in result["trials"]], dtype=float)
    sd = a.std(axis=0, ddof=1) if a.shape[0] > 1 else np.full(a.shape[1:], np.nan)
    return a.mean(axis=0), sd


def plot(result_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
         prefix: str = "incremental_") -> list[Path]:
    """Draw the figures of a saved run (reads ``result_dir/result.json``).

    Figures (PNG + PDF, names prefixed with ``prefix``):

    * ``stages``: accuracy on every task after each stage (paper Fig. 2), one
      panel per arm with stages (sequential, SRC, rehearsal, rehearsal + SRC);
      bars = mean over trials, error bars = sd;
    * ``correlation``: class-by-class correlation of the class-averaged
      activations of hidden layers 1 and 2, before and after the last sleep
      and after task 2 / sleep 2 (paper Fig. 4), first trial;
    * ``summary``: final accuracy per arm (Table 1) with the individual trials.

    Parameters
    ----------
    result_dir : path-like
    out_dir : path-like, optional
        Where to write (default ``result_dir``).
    prefix : str

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    import matplotlib.pyplot as plt

    from scenarios.figures import style as plotting

    result_dir = Path(result_dir)
    out_dir = Path(out_dir) if out_dir is not None else result_dir
    result = json.loads((result_dir / "result.json").read_text())
    written: list[Path] = []
    tasks = result["tasks"]
    task_labels = [f"Task {t + 1} ({','.join(map(str, c))})" for t, c in enumerate(tasks)]
    staged = [a for a in result["arms"] if a != "parallel"]
    with plotting.style():
        if staged:
            fig, axes = plt.subplots(len(staged), 1, figsize=(7.0, 2.1 * len(staged) + 0.4), squeeze=False)
            for ax, arm in zip(axes[:, 0], staged):
                mu, sd = _stage_stats(result, arm)
                plotting.grouped_bars(mu, sd, result["stage_labels"][arm], task_labels, ax=ax,
                                      ylabel="accuracy", ylim=(0, 1.02), legend=False)
                title = ARM_LABELS[arm]
                if "parallel" in result["arms"]:
                    par = np.mean([t["arms"]["parallel"]["overall"][-1] for t in result["trials"]])
                    ax.axhline(par, color="0.5", lw=0.8, ls=":")
                    title += f"  (dotted: parallel {100 * par:.1f}%)"
                ax.set_title(title, loc="left")
            handles, labels = axes[0, 0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
            fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
            written += plotting.save_figure(fig, out_dir / f"{prefix}stages")

        first = result["trials"][0]["arms"].get("src", {})
        corr = first.get("correlations")
        if corr:
            labels = first["stages"]
            all_classes = [str(c) for g in tasks for c in g]
            pairs = []
            n = len(tasks)
            if n >= 2:
                pairs.append(("T2", "S2", 4))
            pairs.append((f"T{n}", f"S{n}", len(all_classes)))
            layers = sorted(corr[0].keys())
            fig, axes = plt.subplots(len(pairs) * len(layers), 2,
                                     figsize=(5.6, 2.6 * len(pairs) * len(layers)), squeeze=False)
            row = 0
            for before, after, n_cls in pairs:
                for layer in layers:
                    for col, st in enumerate((before, after)):
                        c = np.array(corr[labels.index(st)][layer]["class_corr"], dtype=float)[:n_cls, :n_cls]
                        info = corr[labels.index(st)][layer]
                        plotting.heatmap(c, ax=axes[row, col], labels=all_classes[:n_cls],
                                         title=f"{layer}, after {st}\nwithin {info['within']:.2f}, "
                                               f"between {info['between']:.2f}",
                                         colorbar=col == 1)
                    row += 1
            fig.tight_layout()
            written += plotting.save_figure(fig, out_dir / f"{prefix}correlation")

        fig, ax = plt.subplots(figsize=(4.6, 2.8))
        rows = result["table"]
        x = np.arange(len(rows))
        means = [r["mean"] for r in rows]
        sds = [r["sd"] if r["sd"] is not None else 0.0 for r in rows]
        ax.bar(x, means, 0.6, yerr=sds, color=[plotting.PALETTE[i % len(plotting.PALETTE)] for i in x])
        for i, r in enumerate(rows):
            ax.plot(np.full(len(r["values"]), i), r["values"], "k.", ms=3)
            ax.text(i, r["mean"] + 0.03, f"{100 * r['mean']:.1f}", ha="center", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels([r["label"].replace(" + ", "\n+ ").replace(" training", "") for r in rows])
        ax.set_ylabel(f"final {result['sizes']['eval_split']} accuracy")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{result.get('dataset_name', result['dataset'])}, {len(result['seeds'])} trial(s)",
                     loc="left")
        fig.tight_layout()
        written += plotting.save_figure(fig, out_dir / f"{prefix}summary")
    return written


# --------------------------------------------------------------------------
# Tuning (search for a tuned preset on a validation split)
# --------------------------------------------------------------------------
#: Search box (log-uniform) of the tuned parameters. ``alpha_scale`` is not
#: searched: dividing ``alpha_scale`` and every ``beta_l`` by the same factor
#: leaves the dynamics unchanged (spike iff sum of alpha_l·W·s >= beta_l), so
#: it is kept at the base preset's value and only the betas move.
SEARCH_SPACE = {
    "max_rate": (20.0, 1000.0),
    "inc": (1e-3, 0.3),
    "dec": (1e-4, 0.05),
    "beta0": (1.0, 300.0),
    "beta1": (1.0, 300.0),
    "beta2": (1.0, 300.0),
    # membrane leak time constant in steps, 1 / (1 - decay); the presets' 0.999 is 1000
    "leak_steps": (20.0, 1e5),
    # multiplies the sleep schedule (sleep_steps and sleep_increment of the config)
    "sleep_scale": (0.2, 3.0),
}


def _to_params(base: SRCParams, x: dict) -> SRCParams:
    extra = {}
    if "leak_steps" in x:
        extra["decay"] = 1.0 - 1.0 / x["leak_steps"]
    return dataclasses.replace(base, max_rate=x["max_rate"], inc=x["inc"], dec=x["dec"],
                               beta=(x["beta0"], x["beta1"], x["beta2"]), **extra)


def _scaled_config(cfg: IncrementalConfig, x: dict) -> IncrementalConfig:
    """``cfg`` with its sleep schedule multiplied by ``x["sleep_scale"]`` (if present)."""
    f = x.get("sleep_scale", 1.0)
    if f == 1.0:
        return cfg
    return dataclasses.replace(cfg, sleep_steps=max(1, int(round(cfg.sleep_steps * f))),
                               sleep_increment=int(round(cfg.sleep_increment * f)))


def _from_params(p: SRCParams, extended: bool = True) -> dict:
    b = p.beta_for(3)
    x = {"max_rate": p.max_rate, "inc": p.inc, "dec": p.dec, "beta0": b[0], "beta1": b[1], "beta2": b[2]}
    if extended:
        x.update(leak_steps=1.0 / (1.0 - p.decay), sleep_scale=1.0)
    return x


def _clip(x: dict) -> dict:
    return {k: float(min(max(v, SEARCH_SPACE[k][0]), SEARCH_SPACE[k][1])) for k, v in x.items()}


def _key(x: dict) -> tuple:
    return tuple((k, float(f"{x[k]:.6g}")) for k in sorted(x))


#: Per-process state of the search evaluations (:func:`_tune_init`).
_TUNE: dict = {}


def _tune_init(cfg: IncrementalConfig, base: SRCParams, threads: int) -> None:
    """Load the data of a search once per process (also a pool initializer)."""
    torch.set_num_threads(threads)
    _TUNE.clear()
    _TUNE.update(cfg=cfg, base=base, data=load_task_data(cfg), caches={})


def _tune_evaluate(job: tuple) -> dict:
    """Score one candidate ``x`` on one trial seed: the search's unit of work."""
    x, seed, tag = job
    cfg, caches = _TUNE["cfg"], _TUNE["caches"]
    t0 = time.perf_counter()
    r = run_arm("src", _scaled_config(cfg, x), _TUNE["data"], seed, _to_params(_TUNE["base"], x),
                correlations=False, start_state=caches.setdefault(seed, {}), stage_eval=False)
    return {"tag": tag, "seed": int(seed), "x": x, "score": r["overall"][-1],
            "per_task": r["acc"][-1], "seconds": time.perf_counter() - t0,
            "spikes_per_step": [sl["spikes_per_step"] for sl in r["sleeps"]]}


def tune(cfg: IncrementalConfig, budget: int, out: str | os.PathLike, base: str = "fashion",
         n_random: int | None = None, seeds: Sequence[int] = (1000,), confirm_seeds: Sequence[int] = (1001, 1002),
         n_confirm: int = 3, search_seed: int = 0, radius: float = 4.0, workers: int = 1,
         log=print) -> dict:
    """Evolutionary search for SRC parameters on a validation split.

    Objective: final validation accuracy (all tasks) of the SRC arm of ``cfg``
    (``cfg.validation`` must be > 0: that many training images per task are
    held out; the test set is never used), averaged over ``seeds``.

    Procedure: candidate 0 is the ``base`` preset; then ``n_random``
    (default ``budget // 3``) candidates drawn log-uniformly within a factor
    ``radius`` of the base values (clipped to :data:`SEARCH_SPACE`); then a
    steady-state (mu + 1) evolution
    strategy: the 4 best so far are parents, each child is a parent with
    log-normal noise (sigma 0.5 shrinking to 0.15 over the run) on every
    parameter, clipped to the box. After ``budget`` evaluations the
    ``n_confirm`` best are re-evaluated on ``confirm_seeds`` and the best mean
    over all its seeds wins. Every evaluation is appended to
    ``out/search.jsonl`` (a killed search resumes from it). With
    ``workers > 1`` the seeds of a candidate are evaluated in that many
    processes at once (one torch thread each, ``SLEEP_SNN_THREADS`` to
    change); the scores are the same as with one worker.

    Returns
    -------
    dict
        ``best`` (SRCParams fields), ``best_score``, ``evaluations``.
    """
    if cfg.validation <= 0:
        raise ValueError("tune needs cfg.validation > 0 (a hold-out of the training data)")
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers={workers!r}: must be an integer >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "search.jsonl"
    threads = max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1")))
    base_p = resolve_preset(base)
    n_random = budget // 3 if n_random is None else n_random
    done: list[dict] = []
    if log_file.is_file():
        done = [json.loads(l) for l in log_file.read_text().splitlines() if l.strip()]
        log(f"resuming: {len(done)} evaluations in {log_file}")
    stack = contextlib.ExitStack()
    if workers > 1:
        # the seeds of one candidate run side by side; spawn (not fork) keeps
        # torch's thread pools out of the children
        import concurrent.futures
        import multiprocessing

        pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_tune_init, initargs=(cfg, base_p, threads)))
        run = pool.map
    else:
        _tune_init(cfg, base_p, threads)
        run = map

    def evaluate(x: dict, eval_seeds: Sequence[int], tag: str) -> float:
        scores: dict[int, float] = {}
        for s in eval_seeds:
            hit = next((d for d in done if _key(d["x"]) == _key(x) and d["seed"] == s), None)
            if hit is not None:
                scores[s] = hit["score"]
        pending = [s for s in eval_seeds if s not in scores]
        for rec in run(_tune_evaluate, [(x, s, tag) for s in pending]):
            done.append(rec)
            with log_file.open("a") as f:
                f.write(json.dumps(_jsonable(rec)) + "\n")
            log(f"  [{tag}] seed {rec['seed']}: {rec['score']:.4f} per task "
                f"{np.round(rec['per_task'], 3).tolist()} ({rec['seconds']:.0f} s)  "
                f"x={ {k: round(v, 5) for k, v in x.items()} }")
            scores[rec["seed"]] = rec["score"]
        return float(np.mean([scores[s] for s in eval_seeds]))

    with stack:
        # candidates are generated deterministically from search_seed, so a resumed
        # search regenerates the same ones and finds them in the log by tag
        rng = np.random.default_rng(search_seed)
        population: list[tuple[float, str, dict]] = []
        x0 = _clip(_from_params(base_p))
        population.append((evaluate(x0, seeds, "c0000"), "c0000", x0))
        for i in range(1, budget):
            tag = f"c{i:04d}"
            if i <= n_random:
                x = _clip({k: float(x0[k] * np.exp(rng.uniform(-np.log(radius), np.log(radius))))
                           for k in SEARCH_SPACE})
            else:
                frac = (i - n_random) / max(1, budget - n_random)
                sigma = 0.5 - 0.35 * frac
                parents = sorted(population, key=lambda t: -t[0])[:4]
                px = parents[int(rng.integers(len(parents)))][2]
                x = _clip({k: float(v * np.exp(sigma * rng.standard_normal())) for k, v in px.items()})
            population.append((evaluate(x, seeds, tag), tag, x))
        ranked = sorted(population, key=lambda t: -t[0])[:n_confirm]
        confirmed = []
        for score, tag, x in ranked:
            full = evaluate(x, tuple(seeds) + tuple(confirm_seeds), tag)
            confirmed.append((full, tag, x))
            log(f"confirm {tag}: search {score:.4f}, over {len(seeds) + len(confirm_seeds)} seeds {full:.4f}")
    best_score, best_tag, best_x = max(confirmed, key=lambda t: t[0])
    best = _to_params(base_p, best_x)
    summary = {
        "best": {**dataclasses.asdict(best), "beta": list(best.beta)},
        "best_sleep_schedule": {"sleep_steps": _scaled_config(cfg, best_x).sleep_steps,
                                "sleep_increment": _scaled_config(cfg, best_x).sleep_increment},
        "best_tag": best_tag, "best_score": best_score,
        "base": base, "base_score": population[0][0],
        "budget": budget, "n_random": n_random, "seeds": list(seeds), "confirm_seeds": list(confirm_seeds),
        "search_seed": search_seed, "search_space": SEARCH_SPACE, "radius": radius, "workers": workers,
        "confirmed": [{"tag": t, "score": s, "x": x} for s, t, x in confirmed],
        "config": {**dataclasses.asdict(cfg), "hidden": list(cfg.hidden), "arms": list(cfg.arms)},
        "n_evaluations": len(done),
    }
    (out / "search_summary.json").write_text(json.dumps(_jsonable(summary), indent=1))
    return summary


def search_candidates(records: Sequence[dict], seeds: Sequence[int] | None = None) -> list[dict]:
    """One row per candidate of a search log (the lines of ``search.jsonl``).

    Parameters
    ----------
    records : sequence of dict
        Evaluations, each with ``tag``, ``seed``, ``x`` and ``score``.
    seeds : sequence of int, optional
        Use only these seeds (e.g. the search seeds, leaving out the finalists'
        confirmation seeds so every candidate is scored alike). Default: all.

    Returns
    -------
    list of dict
        ``tag``, ``x``, ``scores`` (by seed), ``mean`` (over those seeds),
        sorted by decreasing ``mean`` (ties: by tag). Candidates without an
        evaluation on ``seeds`` are left out.
    """
    rows: dict[str, dict] = {}
    for r in records:
        if seeds is not None and r["seed"] not in seeds:
            continue
        row = rows.setdefault(r["tag"], {"tag": r["tag"], "x": r["x"], "scores": {}})
        row["scores"][int(r["seed"])] = float(r["score"])
    for row in rows.values():
        row["mean"] = float(np.mean(list(row["scores"].values())))
    return sorted(rows.values(), key=lambda row: (-row["mean"], row["tag"]))


def plot_search(search_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                seeds: Sequence[int] | None = None, prefix: str = "incremental_tune_") -> list[Path]:
    """Score of every search candidate against each searched parameter.

    Reads ``search_dir/search.jsonl``; one panel per parameter (log axis),
    each point a candidate (mean over ``seeds``), the base preset (``c0000``)
    marked. Writes ``{prefix}landscape`` (PNG + PDF) to ``out_dir`` (default
    ``search_dir``) and returns the paths.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from scenarios.figures import style as plotting

    search_dir = Path(search_dir)
    out_dir = Path(out_dir) if out_dir is not None else search_dir
    records = [json.loads(l) for l in (search_dir / "search.jsonl").read_text().splitlines() if l.strip()]
    rows = search_candidates(records, seeds)
    if not rows:
        raise ValueError(f"no evaluations on seeds {seeds} in {search_dir / 'search.jsonl'}")
    names = list(rows[0]["x"])
    score = np.array([r["mean"] for r in rows]) * 100
    with plotting.style():
        ncol = 4
        fig, axes = plt.subplots(-(-len(names) // ncol), ncol, figsize=(9.0, 2.2 * -(-len(names) // ncol)),
                                 sharey=True, squeeze=False)
        base = next((r for r in rows if r["tag"] == "c0000"), None)
        for ax, name in zip(axes.flat, names):
            v = np.array([r["x"][name] for r in rows])
            ax.scatter(v, score, s=9, alpha=0.7, lw=0)
            if base is not None:
                ax.scatter([base["x"][name]], [base["mean"] * 100], s=40, marker="*",
                           color="C3", label="base preset", zorder=3)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(name)
        for ax in axes.flat[len(names):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("validation acc. (%)")
        axes.flat[0].legend(loc="lower left", fontsize=7)
        n_seeds = sorted({s for r in rows for s in r["scores"]})
        fig.suptitle(f"SRC preset search: {len(rows)} candidates, mean over seeds {n_seeds}", x=0.01,
                     ha="left", fontsize=9)
        fig.tight_layout()
        return plotting.save_figure(fig, out_dir / f"{prefix}landscape")


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sleep-snn incremental",
        description="Class-incremental learning with Sleep Replay Consolidation (Tadros et al. 2022, "
                    "Table 1 / Fig. 2 / Fig. 4): sequential, SRC, rehearsal, rehearsal+SRC, parallel.")
    p.add_argument("--dataset", choices=tuple(DATASET_PRESETS), default="fashion")
    p.add_argument("--tasks", type=int, default=5, help="number of tasks (classes split in order)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--backend", choices=("torch", "brian2"), default="torch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--rehearsal", type=float, default=0.0075, help="fraction of old data rehearsed")
    p.add_argument("--preset", default=None,
                   help="SRC preset (default: the dataset's: fashion->fashion, mnist->mnist, digits->mnist); "
                        "also tuned presets such as fashion-tuned")
    p.add_argument("--n-per-task", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the first trial (trial k uses seed+k)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="results/incremental")
    p.add_argument("--hidden", default="1200,1200", help="hidden widths, comma separated")
    p.add_argument("--convention", choices=CONVENTIONS, default="authors",
                   help="training/normalisation conventions: the authors' MATLAB ones (default) or torch's")
    p.add_argument("--sleep-steps", type=int, default=None,
                   help="sleep length after task 1 (default: the preset's schedule, else 15000)")
    p.add_argument("--sleep-increment", type=int, default=None,
                   help="extra steps per later task (default: the preset's schedule, else 5000)")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    p.add_argument("--validation", type=int, default=0,
                   help="hold out this many training images per task and evaluate on them (not the test set)")
    p.add_argument("--no-correlations", action="store_true", help="skip the hidden-layer correlations")
    p.add_argument("--no-plot", action="store_true", help="only simulate and save")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke run: digits (28x28), 128-128 hidden, all ~250 images per task, "
                        "10 epochs, sleeps of 1000 + 250 (k-1) steps, 1 trial (overrides those options)")
    p.add_argument("--merge", default=None, metavar="DIR,DIR,...",
                   help="merge the result.json of these runs (same settings, different seeds) into --out "
                        "and redraw; nothing is simulated")
    p.add_argument("--tune", type=int, default=0, metavar="BUDGET",
                   help="run the preset search with this many evaluations instead (needs --validation)")
    p.add_argument("--tune-base", default=None, help="preset the search starts from (default: --preset)")
    p.add_argument("--tune-seeds", default="1000", help="seeds of the search evaluations")
    p.add_argument("--tune-confirm-seeds", default="1001,1002", help="extra seeds for the finalists")
    p.add_argument("--tune-random", type=int, default=None, help="random candidates before evolution")
    p.add_argument("--tune-search-seed", type=int, default=0)
    p.add_argument("--tune-radius", type=float, default=4.0,
                   help="random candidates lie within this factor of the base values")
    p.add_argument("--tune-workers", type=int, default=1,
                   help="processes that evaluate the seeds of a candidate side by side (default 1)")
    return p


def config_from_args(args: argparse.Namespace) -> IncrementalConfig:
    """Build the :class:`IncrementalConfig` of parsed command-line arguments."""
    kw = dict(dataset=args.dataset, n_tasks=args.tasks, trials=args.trials, backend=args.backend,
              device=args.device, rehearsal=args.rehearsal, preset=args.preset,
              n_per_task=args.n_per_task, epochs=args.epochs, seed=args.seed, data_dir=args.data_dir,
              hidden=tuple(int(h) for h in args.hidden.split(",") if h.strip()),
              convention=args.convention,
              arms=tuple(a.strip() for a in args.arms.split(",") if a.strip()),
              validation=args.validation, correlations=not args.no_correlations)
    # the sleep schedule: explicit options, else a tuned preset's own, else the authors'
    name = args.preset or DATASET_PRESETS[args.dataset]
    steps, increment = preset_schedule(name) or (15000, 5000)
    kw["sleep_steps"] = steps if args.sleep_steps is None else args.sleep_steps
    kw["sleep_increment"] = increment if args.sleep_increment is None else args.sleep_increment
    if args.quick:
        kw.update(QUICK)
    return IncrementalConfig(**kw)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sleep-snn incremental``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"sleep-snn incremental: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.merge:
        dirs = [Path(d) for d in args.merge.split(",") if d.strip()]
        try:
            result = merge_results([json.loads((d / "result.json").read_text()) for d in dirs])
        except (OSError, ValueError) as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        save(result, out)
        print(table_markdown(result))
        if not args.no_plot:
            plot(out)
        return 0
    if args.tune:
        try:
            summary = tune(cfg, args.tune, out, base=args.tune_base or cfg.preset_name,
                           seeds=[int(s) for s in args.tune_seeds.split(",")],
                           confirm_seeds=[int(s) for s in args.tune_confirm_seeds.split(",") if s.strip()],
                           n_random=args.tune_random, search_seed=args.tune_search_seed,
                           radius=args.tune_radius, workers=args.tune_workers)
        except ValueError as exc:
            print(f"sleep-snn incremental: {exc}", file=sys.stderr)
            return 2
        if not args.no_plot:
            for path in plot_search(out, seeds=summary["seeds"]):
                print(f"wrote {path}")
        print(json.dumps(_jsonable(summary["best"]), indent=1))
        return 0
    build_dir = out / "brian2_build" if cfg.backend == "brian2" else None
    result = run(cfg, build_directory=build_dir)
    save(result, out)
    print(table_markdown(result))
    if not args.no_plot:
        for path in plot(out):
            print(f"wrote {path}")
    print(f"wrote {out / 'result.json'} and {out / 'table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
