"""Class-incremental learning with Sleep Replay Consolidation and the continual-learning baselines.

Reproduces the class-incremental experiments of Tadros, Krishnan, Ramyaa &
Bazhenov, "Sleep-like unsupervised replay reduces catastrophic forgetting in
artificial neural networks", Nat. Commun. 13:7742 (2022): Table 1 (sequential
training, EWC, SI, OWM, SRC, rehearsal, rehearsal + SRC, parallel training),
Table 2 (iCaRL and iCaRL + SRC at several memory sizes K), Fig. 2 (accuracy on
every task after each training phase T and sleep phase S) and Fig. 4
(correlations between the hidden representations of classes before and after
sleep); and sleep after every n tasks instead of after each (Bazhenov,
Delanois & Krishnan, "Not Just After One", arXiv 2606.08447, 2026).

Two protocols (``IncrementalConfig.protocol``, :data:`PROTOCOLS`):

``code`` (default)
    The authors' public MATLAB code (``FashionMNIST/run_class_task_summary.m``,
    ``run_sleep_with_replay.m``): squared error on one-hot targets, weights ~
    U(-0.01, 0.01), 2 epochs per task.
``paper``
    The paper's Methods: cross-entropy evaluated on the current task only
    (a softmax over the outputs of the classes in the training set of the
    task, :func:`scenarios.ann.mlp.loss_function` ``"ce_task"``), weights ~
    U(-0.02, 0.02), 10 epochs per task.

Everything else is common:

* network 784-1200-1200-10, no biases, ReLU on the hidden *and* output
  layers, SGD with learning rate 0.1 and momentum 0.5 (the momentum buffer is
  never reset: it carries across tasks and through sleep), dropout 0.25 on the
  hidden layers, batches of 100;
* tasks = class pairs {0,1}, {2,3}, ... in order, each trained on its first
  5000 training images;
* after task k (every task, or every ``sleep_every``-th and the last): SRC
  for ``15000 + (k-1)·5000`` steps; the normalisation and the sleep's mean
  input image use *all* training images of the tasks seen so far (not only
  the first 5000 per task);
* testing on the full test set (10-way argmax; with ReLU outputs an all-zero
  output vector predicts class 0, as MATLAB's ``max`` does);
* parallel = one network trained on all training images at once for the same
  number of epochs (the authors' ``ideal_nn`` uses all 60000);
* rehearsal = each task ``k >= 2`` trains on its 5000 images plus a fresh
  random ``fraction`` of the old tasks' training images (all of them, not only
  the first 5000), the count rounded to a multiple of 100 as in the authors'
  ``round(n*fraction, -2)``; plain loss (the authors' rehearsal script has no
  weighted loss either).

An arm is a composition (:data:`ARM_SPECS`, :class:`ArmSpec`): a
continual-learning method of :mod:`scenarios.ann.continual` as a plugin of
the trainer (EWC, SI, OWM, iCaRL with its exemplar memory and its
nearest-mean-of-exemplars classifier), random rehearsal of old data, SRC
after the tasks, or joint training; :func:`run_arm` runs any of them. The
methods' key coefficients (EWC λ, SI c, OWM α) default to the values chosen
on the validation split (:data:`SELECTED_COEFFICIENTS_FILE`, written by
:func:`scenarios.experiments.selection.select_coefficients`). iCaRL runs once
per memory size K (``IncrementalConfig.memory``); its result keys are
``icarl_k100``, ``icarl_src_k100``, ...

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
it as ``result.json`` and ``table.md`` (Table-1 layout, and the Table-2 layout
when iCaRL ran). The figures are drawn from the saved files by
:mod:`scenarios.figures.incremental`; the command is
:mod:`scenarios.commands.incremental`; the choice of the baselines'
coefficients and the Optuna search for SRC presets on a validation split of
the training data (never the test set) are in :mod:`scenarios.experiments.selection`.
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
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from bridge.convert import DeadLayerError
from bridge.presets import PRESETS, SRCParams, preset as bridge_preset
from bridge.src import sleep as bridge_sleep
from scenarios.ann.continual import (EWC, OWM, SI, ContinualPlugin, EWCParams, ICaRL, ICaRLParams, OWMParams,
                                     SIParams)
from scenarios.ann.mlp import CONVENTIONS, TrainConfig, Trainer, make_mlp, task_splits
from scenarios.runs.results import load_result, package_versions, save_result, to_jsonable, write_json, write_text
from scenarios.runs.seeds import derived_seed
from scenarios.runs.stats import format_mean_sd, mean_sd, paired_difference

__all__ = [
    "ARMS",
    "ARM_COEFFICIENT",
    "ARM_LABELS",
    "ARM_SPECS",
    "ArmSpec",
    "CONVENTIONS",
    "DATASET_NAMES",
    "DATASET_PRESETS",
    "METHODS",
    "PROTOCOLS",
    "Protocol",
    "QUICK",
    "QUICK_COEFFICIENTS",
    "SELECTED_COEFFICIENTS_FILE",
    "TABLE_ORDER",
    "TUNED_PRESETS_FILE",
    "IncrementalConfig",
    "TaskData",
    "arm_runs",
    "build_model",
    "class_correlations",
    "compare",
    "compare_markdown",
    "compare_results",
    "load_task_data",
    "make_method",
    "merge",
    "merge_results",
    "phases",
    "preset_schedule",
    "rehearsal_count",
    "resolve_preset",
    "run",
    "run_arm",
    "run_label",
    "save",
    "selected_coefficients",
    "sleep_model",
    "sleep_schedule",
    "sleep_tasks",
    "stage_labels",
    "summarise",
    "table2_markdown",
    "table_markdown",
    "task_classes",
]


# --------------------------------------------------------------------------
# Protocols and arms
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Protocol:
    """The training settings that differ between the authors' code and the paper's Methods.

    Attributes
    ----------
    name : str
    epochs : int
        Epochs per task (and of the parallel network), ``>= 1``.
    loss : {"mse", "ce", "ce_task"}
        Training loss (:func:`scenarios.ann.mlp.loss_function`).
    init_scale : float
        Initial weights ~ U(−init_scale, init_scale), ``> 0``.
    source : str
        Where the settings come from.
    """

    name: str
    epochs: int
    loss: str
    init_scale: float
    source: str

    def __post_init__(self) -> None:
        if int(self.epochs) < 1:
            raise ValueError(f"Protocol.epochs={self.epochs!r}: must be >= 1")
        if self.loss not in ("mse", "ce", "ce_task"):
            raise ValueError(f"Protocol.loss={self.loss!r}: must be one of ('mse', 'ce', 'ce_task')")
        if not float(self.init_scale) > 0:
            raise ValueError(f"Protocol.init_scale={self.init_scale!r}: must be > 0")


#: The two protocols of Tadros et al. (2022).
PROTOCOLS = {
    "code": Protocol("code", 2, "mse", 0.01, "the authors' MATLAB code (run_class_task_summary.m)"),
    "paper": Protocol("paper", 10, "ce_task", 0.02,
                      "the paper's Methods (10 epochs, cross-entropy on the current task, U(-0.02, 0.02))"),
}


@dataclass(frozen=True)
class ArmSpec:
    """What an arm is made of.

    Attributes
    ----------
    label : str
        Row label of the tables.
    method : str or None
        A continual-learning method of :data:`METHODS` (a trainer plugin).
    rehearsal : bool
        Mix a random fraction of the old tasks' data into each new task.
    sleep : bool
        SRC after the tasks (every ``sleep_every``-th and the last).
    joint : bool
        One network trained on all tasks at once (parallel training).
    """

    label: str
    method: str | None = None
    rehearsal: bool = False
    sleep: bool = False
    joint: bool = False


#: Every arm; the order fixes each arm's id in the derived seeds (append only).
ARM_SPECS = {
    "sequential": ArmSpec("Sequential training"),
    "src": ArmSpec("SRC", sleep=True),
    "rehearsal": ArmSpec("Rehearsal", rehearsal=True),
    "rehearsal_src": ArmSpec("Rehearsal + SRC", rehearsal=True, sleep=True),
    "parallel": ArmSpec("Parallel training", joint=True),
    "ewc": ArmSpec("EWC", method="ewc"),
    "si": ArmSpec("SI", method="si"),
    "owm": ArmSpec("OWM", method="owm"),
    "icarl": ArmSpec("iCaRL", method="icarl"),
    "icarl_src": ArmSpec("iCaRL + SRC", method="icarl", sleep=True),
}
#: Arms, in the order they run.
ARMS = tuple(ARM_SPECS)
#: Row labels of the tables.
ARM_LABELS = {a: s.label for a, s in ARM_SPECS.items()}
#: Rows of the Table-1 layout, top to bottom (as in the paper).
TABLE_ORDER = ("sequential", "ewc", "si", "owm", "src", "rehearsal", "rehearsal_src", "icarl", "icarl_src",
               "parallel")
_ARM_IDS = {a: i for i, a in enumerate(ARMS)}

#: Default SRC preset per dataset. ``digits`` (scikit-learn's 8×8 handwritten
#: digits, upsampled here to 28×28 so that the network and the 11×11 mask are
#: the MNIST ones) uses the authors' MNIST parameters: same kind of images.
DATASET_PRESETS = {"fashion": "fashion", "mnist": "mnist", "digits": "mnist"}
#: Display names of the datasets.
DATASET_NAMES = {"fashion": "Fashion MNIST", "mnist": "MNIST", "digits": "Digits (sklearn, 28×28)"}
#: Tuned presets found by :func:`scenarios.experiments.selection.search` (JSON: name -> SRCParams fields).
TUNED_PRESETS_FILE = Path(__file__).with_name("tuned_presets.json")
#: The baselines' coefficients chosen on the validation split, per protocol (JSON).
SELECTED_COEFFICIENTS_FILE = Path(__file__).with_name("selected_coefficients.json")
#: The key coefficient of each arm that has one (a field of :class:`IncrementalConfig`).
ARM_COEFFICIENT = {"ewc": "ewc_lambda", "si": "si_c", "owm": "owm_alpha"}
#: The coefficient fields of :class:`IncrementalConfig` that the selection chooses.
COEFFICIENTS = tuple(ARM_COEFFICIENT.values())
#: Hidden layers whose class correlations are recorded (0 = first hidden layer).
CORRELATION_LAYERS = (0, 1)
#: Images per class used for the image-level correlation summary.
CORRELATION_IMAGES_PER_CLASS = 30
#: Settings of ``--quick`` (a smoke test that runs in seconds; not a result).
QUICK = dict(dataset="digits", trials=1, hidden=(128, 128), n_per_task=250, epochs=10, batch_size=20,
             sleep_steps=1000, sleep_increment=250, memory=(20,))
#: Coefficients of the ``--quick`` size where the selected ones do not train
#: there (used unless given): SI's c = 2 of the code protocol diverges on
#: 784-128-128-10 with 250 images per task and 10 epochs (c = 1 too; 0.5 trains).
QUICK_COEFFICIENTS = {"si_c": 0.5}


def selected_coefficients(protocol: str) -> dict:
    """The baselines' coefficients chosen on the validation split for ``protocol``.

    Read from :data:`SELECTED_COEFFICIENTS_FILE` (``{protocol: {"ewc_lambda":
    ..., "si_c": ..., "owm_alpha": ...}}``, written from the summary of
    :func:`scenarios.experiments.selection.select_coefficients`).

    Raises
    ------
    ValueError
        No entry for ``protocol``.
    """
    data = json.loads(SELECTED_COEFFICIENTS_FILE.read_text()) if SELECTED_COEFFICIENTS_FILE.is_file() else {}
    entry = data.get(protocol)
    if not entry:
        raise ValueError(f"no coefficients were selected for protocol={protocol!r} in "
                         f"{SELECTED_COEFFICIENTS_FILE.name}; give ewc_lambda, si_c and owm_alpha")
    return {k: float(entry[k]) for k in COEFFICIENTS}


# --------------------------------------------------------------------------
# Model: the protocol's network in one of the two conventions
# --------------------------------------------------------------------------
def build_model(sizes: Sequence[int], convention: str = "authors", dropout: float = 0.25,
                seed: int = 0, init_scale: float = 0.01, relu_output: bool = True) -> nn.Sequential:
    """The 784-1200-1200-10-style bias-free ReLU MLP of the protocol, in one of the two conventions.

    :func:`scenarios.ann.mlp.make_mlp` with the protocol's settings
    (U(-init_scale, init_scale) weights, output ReLU). Both conventions, and
    the model with or without the output ReLU, start from the same weights
    for the same ``seed``.

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
    init_scale : float
        Half-width of the uniform initial weights (0.01: the authors' code;
        0.02: the paper's Methods).
    relu_output : bool
        A ReLU after the output layer (False for methods that need the
        logits, such as iCaRL; the conversion is the same either way).

    Returns
    -------
    torch.nn.Sequential
    """
    return make_mlp(tuple(sizes), dropout=dropout, init="uniform", init_scale=init_scale,
                    relu_output=relu_output, seed=seed, convention=convention)


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def sleep_model(model: nn.Sequential, calibration: np.ndarray, params: SRCParams,
                convention: str = "authors", backend: str = "torch", device: str = "cpu",
                seed: int | None = None, build_directory: Any = None,
                max_spikes_per_step: float | None = None) -> dict:
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
    max_spikes_per_step : float, optional
        Passed to :func:`bridge.src.sleep` (torch): the phase raises
        :class:`bridge.src.SleepActivityError` above this activity.

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
    if max_spikes_per_step is not None:
        kw["max_spikes_per_step"] = max_spikes_per_step
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
    """Everything that defines an incremental run (defaults: Tadros et al. 2022, Fashion, the authors' code).

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
    protocol : {"code", "paper"}
        :data:`PROTOCOLS`: the defaults of ``epochs``, ``loss``, ``init_scale``
        and of the baselines' coefficients.
    epochs : int or None
        Epochs per task (and for the parallel network); None = the protocol's.
    loss : {"mse", "ce", "ce_task"} or None
        Training loss; None = the protocol's.
    init_scale : float or None
        Initial weights ~ U(−init_scale, init_scale); None = the protocol's.
    seed : int
        Seed of the first trial.
    data_dir : str or None
    hidden : tuple of int
        Hidden layer widths.
    convention : {"authors", "torch"}
        See the module docstring.
    sleep_steps, sleep_increment : int
        Sleep after task ``k`` (1-based) lasts ``sleep_steps + (k-1)·sleep_increment`` steps.
    sleep_every : int
        The sleeping arms sleep after every ``sleep_every``-th task and after
        the last one (1 = after every task, as in the paper; ``n_tasks`` =
        once, at the end), ``>= 1``.
    arms : tuple of str
        Subset of :data:`ARMS` to run.
    memory : tuple of int
        iCaRL's memory sizes K (exemplars in all); the iCaRL arms run once per K.
    ewc_lambda, si_c, owm_alpha : float or None
        EWC's λ, SI's c and OWM's α (:mod:`scenarios.ann.continual`); None =
        the value chosen on the validation split for the protocol
        (:func:`selected_coefficients`).
    si_xi : float
        SI's damping ξ (Zenke et al.'s 10⁻³).
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
    protocol: str = "code"
    epochs: int | None = None
    loss: str | None = None
    init_scale: float | None = None
    seed: int = 0
    data_dir: str | None = None
    hidden: tuple = (1200, 1200)
    convention: str = "authors"
    sleep_steps: int = 15000
    sleep_increment: int = 5000
    sleep_every: int = 1
    arms: tuple = ARMS
    memory: tuple = (100, 200, 500)
    ewc_lambda: float | None = None
    si_c: float | None = None
    si_xi: float = 1e-3
    owm_alpha: float | None = None
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
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol={self.protocol!r}: must be one of {tuple(PROTOCOLS)}")
        proto = PROTOCOLS[self.protocol]
        for name in ("epochs", "loss", "init_scale"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(proto, name))
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
        if int(self.n_per_task) < 1:
            raise ValueError(f"n_per_task={self.n_per_task!r}: must be >= 1")
        if int(self.epochs) < 1:
            raise ValueError(f"epochs={self.epochs!r}: must be >= 1")
        if self.loss not in ("mse", "ce", "ce_task"):
            raise ValueError(f"loss={self.loss!r}: must be one of ('mse', 'ce', 'ce_task')")
        if not (math.isfinite(float(self.init_scale)) and float(self.init_scale) > 0):
            raise ValueError(f"init_scale={self.init_scale!r}: must be a finite number > 0")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention={self.convention!r}: must be one of {CONVENTIONS}")
        if int(self.sleep_steps) < 1 or int(self.sleep_increment) < 0:
            raise ValueError(f"sleep_steps={self.sleep_steps!r}, sleep_increment={self.sleep_increment!r}: "
                             "sleep_steps must be >= 1 and sleep_increment >= 0")
        if isinstance(self.sleep_every, bool) or int(self.sleep_every) != self.sleep_every \
                or not 1 <= int(self.sleep_every):
            raise ValueError(f"sleep_every={self.sleep_every!r}: must be an integer >= 1")
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ValueError(f"arms={self.arms!r}: each must be one of {ARMS}")
        memory = tuple(int(k) for k in self.memory)
        if not memory or any(k < 1 for k in memory) or len(set(memory)) != len(memory):
            raise ValueError(f"memory={self.memory!r}: must be distinct integers >= 1")
        for name in COEFFICIENTS + ("si_xi",):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(float(v)) and float(v) >= 0):
                raise ValueError(f"{name}={v!r}: must be a finite number >= 0")
        if int(self.validation) < 0:
            raise ValueError(f"validation={self.validation!r}: must be >= 0")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "arms", tuple(a for a in ARMS if a in self.arms))
        object.__setattr__(self, "memory", memory)
        object.__setattr__(self, "epochs", int(self.epochs))
        object.__setattr__(self, "init_scale", float(self.init_scale))
        object.__setattr__(self, "sleep_every", int(self.sleep_every))

    @property
    def preset_name(self) -> str:
        """The SRC preset used (explicit or the dataset's default)."""
        return self.preset or DATASET_PRESETS[self.dataset]

    @property
    def sizes(self) -> tuple:
        return (self.image_side ** 2,) + self.hidden + (10,)

    def coefficient(self, name: str) -> float:
        """``ewc_lambda``, ``si_c`` or ``owm_alpha``: the given value, else the protocol's selected one."""
        value = getattr(self, name)
        return float(value) if value is not None else selected_coefficients(self.protocol)[name]


def _method_factories() -> dict[str, Callable[..., ContinualPlugin]]:
    return {
        "ewc": lambda cfg, seed, memory: EWC(EWCParams(lam=cfg.coefficient("ewc_lambda")),
                                             seed=derived_seed(seed, 13, width=32)),
        "si": lambda cfg, seed, memory: SI(SIParams(c=cfg.coefficient("si_c"), xi=cfg.si_xi)),
        "owm": lambda cfg, seed, memory: OWM(OWMParams(alpha=cfg.coefficient("owm_alpha"))),
        "icarl": lambda cfg, seed, memory: ICaRL(ICaRLParams(memory=int(memory))),
    }


#: Continual-learning methods an arm can use: name -> factory(cfg, seed, memory) of its plugin.
METHODS = _method_factories()


def make_method(name: str, cfg: IncrementalConfig, seed: int, memory: int | None = None) -> ContinualPlugin:
    """The plugin of method ``name`` with the coefficients of ``cfg`` (``memory``: iCaRL's K)."""
    if name not in METHODS:
        raise ValueError(f"method={name!r}: must be one of {tuple(METHODS)}")
    return METHODS[name](cfg, seed, memory if memory is not None else cfg.memory[0])


def arm_runs(cfg: IncrementalConfig) -> list[tuple[str, str, int | None]]:
    """The runs of a trial: ``(key, arm, memory)``; the iCaRL arms once per K (key ``icarl_k100`` ...)."""
    out = []
    for arm in cfg.arms:
        if ARM_SPECS[arm].method == "icarl":
            out += [(f"{arm}_k{k}", arm, k) for k in cfg.memory]
        else:
            out.append((arm, arm, None))
    return out


def run_label(arm: str, memory: int | None = None) -> str:
    """Row label of a run, e.g. ``"iCaRL + SRC (K = 100)"``."""
    return ARM_LABELS[arm] + (f" (K = {memory})" if memory is not None else "")


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
    :func:`scenarios.experiments.selection.search`); the tuned preset then
    carries it, and the command line uses it unless ``--sleep-steps`` /
    ``--sleep-increment`` are given.
    """
    entry = _load_tuned().get(name) if name not in PRESETS else None
    if entry and "sleep_steps" in entry:
        return int(entry["sleep_steps"]), int(entry.get("sleep_increment", 0))
    return None


def sleep_schedule(n_tasks: int, base: int = 15000, increment: int = 5000) -> list[int]:
    """Sleep length after each task: ``base + (k-1)·increment`` for k = 1..n_tasks."""
    return [int(base) + k * int(increment) for k in range(int(n_tasks))]


def sleep_tasks(n_tasks: int, every: int = 1) -> list[int]:
    """Tasks (0-based) after which the sleeping arms sleep: every ``every``-th, and the last.

    ``every = 1`` sleeps after each task (the paper); ``every >= n_tasks``
    sleeps once, after the last task. A sleep after task ``k`` keeps the
    length of the schedule for ``k`` (:func:`sleep_schedule`).
    """
    n, e = int(n_tasks), int(every)
    if e < 1:
        raise ValueError(f"every={every!r}: must be >= 1")
    return [k for k in range(n) if (k + 1) % e == 0 or k == n - 1]


def phases(n_tasks: int, sleep: bool, every: int = 1) -> list[tuple[str, int]]:
    """The phases of an arm in order: ``("train", k)`` and, if it sleeps, ``("sleep", k)``."""
    asleep = set(sleep_tasks(n_tasks, every)) if sleep else set()
    out = []
    for k in range(int(n_tasks)):
        out.append(("train", k))
        if k in asleep:
            out.append(("sleep", k))
    return out


def stage_labels(n_tasks: int, sleep: bool, every: int = 1) -> list[str]:
    """Stage names: ``T1, S1, T2, S2, ...`` with sleep after each task, ``T1, T2, ...`` without."""
    return [f"{'T' if kind == 'train' else 'S'}{k + 1}" for kind, k in phases(n_tasks, sleep, every)]


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
def _evaluate(trainer: Trainer, data: TaskData, method: ContinualPlugin | None = None) -> tuple[list[float], float]:
    """Accuracy per task and overall; the method's own classifier if it has one (iCaRL's NME)."""
    pred = method.predict(trainer, data.x_eval) if method is not None else None
    if pred is None:
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
            stage_eval: bool = True, memory: int | None = None, stop: str | None = None,
            state: dict | None = None, max_sleep_spikes: float | None = None) -> dict:
    """Train (and sleep) one arm of one trial and evaluate it after every stage.

    The arm's parts (:data:`ARM_SPECS`) are put together here: the method's
    plugin goes to the trainer (and, for iCaRL, its exemplars into each
    task's training set and its classifier into the evaluation), rehearsal
    adds old data, sleep runs SRC after the tasks of :func:`sleep_tasks`.

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
    stage_eval : bool
        Evaluate after every stage (default); if False only after the last
        one run (tuning: saves time).
    memory : int, optional
        iCaRL's K (default ``cfg.memory[0]``).
    stop : str, optional
        A stage label (``"T1"``, ``"S2"``, ...): stop after it and return the
        state to continue from in ``"state"`` (arms without a method only).
        The stage is always evaluated.
    state : dict, optional
        A ``"state"`` returned by an earlier call with the same arguments:
        continue after its stage. The result then covers every stage from
        the first, exactly as one uninterrupted call.
    max_sleep_spikes : float, optional
        Abandon the arm with :class:`bridge.src.SleepActivityError` when a
        sleep fires more than this many spikes per step (torch backend; see
        :func:`bridge.src.sleep`). None: no limit.

    Returns
    -------
    dict
        ``stages`` (labels), ``acc`` (``[stage][task]``), ``overall`` (per
        stage, over all evaluation images), ``sleeps`` (statistics of each
        sleep phase), ``correlations`` (per stage, if recorded), ``timing``
        (seconds: ``train``, ``sleep`` (simulation), ``sleep_total``,
        ``eval``, ``correlations``, ``total``), ``train_sizes``; ``memory``
        and ``exemplars`` (stored after each task) for iCaRL; ``state`` when
        ``stop`` was given and stages remain.
    """
    if arm not in ARMS:
        raise ValueError(f"arm={arm!r}: must be one of {ARMS}")
    spec = ARM_SPECS[arm]
    log = log or (lambda s: None)
    t_arm = time.perf_counter()
    if correlations is None:
        correlations = cfg.correlations and arm == "src"
    if (stop is not None or state is not None) and spec.method is not None:
        raise ValueError(f"arm={arm!r}: stop/state are for arms without a continual-learning method")
    if spec.method == "icarl":
        memory = int(memory if memory is not None else cfg.memory[0])
    method = make_method(spec.method, cfg, seed, memory) if spec.method else None
    model = build_model(cfg.sizes, cfg.convention, cfg.dropout, seed=seed, init_scale=cfg.init_scale,
                        relu_output=method.output_relu if method is not None else True)
    tcfg = TrainConfig(lr=cfg.lr, momentum=cfg.momentum, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, loss=cfg.loss, seed=int(seed), device=cfg.device)
    trainer = Trainer(model, tcfg, plugins=(method,) if method is not None else ())
    rec = {"stages": [], "acc": [], "overall": [], "sleeps": [], "corrs": [], "train_sizes": [],
           "exemplars": [],
           "timing": {"train": 0.0, "sleep": 0.0, "sleep_total": 0.0, "eval": 0.0, "correlations": 0.0}}
    plan = [("joint", 0)] if spec.joint else phases(len(data.classes), spec.sleep, cfg.sleep_every)
    labels = ["P"] if spec.joint else stage_labels(len(data.classes), spec.sleep, cfg.sleep_every)
    if stop is not None and stop not in labels:
        raise ValueError(f"stop={stop!r}: not a stage of arm {arm!r} ({labels})")
    start = 0
    if state is not None:
        start = int(state["next"])
        model.load_state_dict(state["model"])
        # clone: Optimizer.load_state_dict keeps same-device tensors by reference
        trainer.optimizer.load_state_dict(_clone_opt_state(state["optimizer"]))
        trainer.n_fit_calls = int(state["n_fit_calls"])
        rec = json.loads(json.dumps(state["record"]))
    schedule = sleep_schedule(len(data.classes), cfg.sleep_steps, cfg.sleep_increment)
    all_classes = [c for g in data.classes for c in g]
    last = len(plan) - 1 if stop is None else labels.index(stop)

    def record(label: str, final: bool) -> None:
        if not (stage_eval or final):
            return
        t0 = time.perf_counter()
        per_task, tot = _evaluate(trainer, data, method)
        rec["timing"]["eval"] += time.perf_counter() - t0
        rec["stages"].append(label)
        rec["acc"].append(per_task)
        rec["overall"].append(tot)
        if correlations:
            t0 = time.perf_counter()
            rec["corrs"].append(class_correlations(trainer, data.x_eval, data.y_eval, all_classes, seed=seed))
            rec["timing"]["correlations"] += time.perf_counter() - t0
        seen = len(data.classes) if label == "P" else int(label[1:])
        log(f"  {arm}{'' if memory is None else f' K={memory}'} {label}: {tot:.4f}  per task "
            f"{np.round(per_task[:seen], 3).tolist()}")

    for i in range(start, last + 1):
        kind, k = plan[i]
        if kind == "sleep":
            calib = data.x_train[np.concatenate(data.pool_idx[:k + 1])]
            p = dataclasses.replace(params, steps=schedule[k])
            info = sleep_model(model, calib, p, cfg.convention, cfg.backend, cfg.device,
                               seed=derived_seed(seed, 11, _ARM_IDS[arm], k, width=32),
                               build_directory=build_directory, max_spikes_per_step=max_sleep_spikes)
            rec["timing"]["sleep"] += info["seconds"]
            rec["timing"]["sleep_total"] += info["total_seconds"]
            rec["sleeps"].append(info)
            log(f"  {arm} S{k + 1}: spikes/step {np.round(info['spikes_per_step'], 3).tolist()} "
                f"({info['seconds']:.1f} s)")
        else:
            x, y = _training_set(kind, k, spec, cfg, data, seed, method)
            t0 = time.perf_counter()
            trainer.fit(x, y, 10)
            rec["timing"]["train"] += time.perf_counter() - t0
            rec["train_sizes"].append(int(len(y)))
            if isinstance(method, ICaRL):
                rec["exemplars"].append(method.n_exemplars())
        record(labels[i], final=i == last)
    rec["timing"]["total"] = rec["timing"].get("total", 0.0) + time.perf_counter() - t_arm
    out = {"stages": rec["stages"], "acc": rec["acc"], "overall": rec["overall"], "sleeps": rec["sleeps"],
           "timing": dict(rec["timing"]), "train_sizes": rec["train_sizes"]}
    if correlations:
        out["correlations"] = rec["corrs"]
    if isinstance(method, ICaRL):
        out["memory"] = memory
        out["exemplars"] = rec["exemplars"]
    if stop is not None and last < len(plan) - 1:
        out["state"] = {"next": last + 1, "model": {n: v.detach().clone() for n, v in model.state_dict().items()},
                        "optimizer": _clone_opt_state(trainer.optimizer.state_dict()),
                        "n_fit_calls": trainer.n_fit_calls, "record": json.loads(json.dumps(rec))}
    return out


def _training_set(kind: str, k: int, spec: ArmSpec, cfg: IncrementalConfig, data: TaskData, seed: int,
                  method: ContinualPlugin | None) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one training phase: the task, plus rehearsed old data or exemplars."""
    if kind == "joint":
        idx = np.concatenate(data.pool_idx)
    else:
        idx = data.train_idx[k]
        if spec.rehearsal and k > 0 and cfg.rehearsal > 0:
            old = np.concatenate(data.pool_idx[:k])
            n_old = rehearsal_count(old.size, cfg.rehearsal)
            rng = np.random.default_rng(derived_seed(seed, 7, k, width=32))
            idx = np.concatenate([idx, rng.choice(old, size=n_old, replace=False)])
    x, y = data.x_train[idx], data.y_train[idx]
    extra = method.replay() if method is not None else None
    if extra is not None:
        x = np.concatenate([x, extra[0].reshape(len(extra[0]), -1)])
        y = np.concatenate([y, extra[1]])
    return x, y


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
def summarise(trials: list[dict], keys: Sequence[str], labels: dict | None = None) -> list[dict]:
    """Table rows in the Table-1 order: final overall accuracy (and per task) over trials, mean ± sd."""
    labels = labels or {}
    rows = []
    for key in sorted(keys, key=_table_rank):
        finals = [t["arms"][key]["overall"][-1] for t in trials]
        per_task = np.array([list(t["arms"][key]["acc"][-1]) for t in trials])
        m, s = mean_sd(finals)
        task_m, task_s = mean_sd(per_task, axis=0)
        arm, memory = _split_key(key)
        rows.append({
            "arm": key, "method": arm, "memory": memory,
            "label": labels.get(key, run_label(arm, memory)), "values": finals, "mean": m,
            "sd": None if math.isnan(s) else s,
            "per_task_mean": task_m.tolist(),
            "per_task_sd": task_s.tolist() if len(trials) > 1 else [None] * per_task.shape[1],
        })
    return rows


def _split_key(key: str) -> tuple[str, int | None]:
    """``"icarl_src_k100"`` → ``("icarl_src", 100)``; other keys are arms."""
    head, _, tail = key.rpartition("_k")
    if head in ARMS and tail.isdigit():
        return head, int(tail)
    return key, None


def _table_rank(key: str) -> tuple:
    arm, memory = _split_key(key)
    return (TABLE_ORDER.index(arm), memory or 0)


def run(cfg: IncrementalConfig, log=print, params: SRCParams | None = None,
        build_directory: Any = None) -> dict:
    """Run every trial of ``cfg`` and return the result dictionary (see :func:`save`)."""
    torch.set_num_threads(max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1"))))
    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    data = load_task_data(cfg)
    params = params if params is not None else resolve_preset(cfg.preset_name)
    runs = arm_runs(cfg)
    coefficients = {name: cfg.coefficient(name) for name in _coefficients_used(cfg)}
    log(f"incremental: {cfg.dataset} ({data.eval_split}), {len(data.classes)} tasks {data.classes}, "
        f"protocol {cfg.protocol} ({cfg.epochs} epochs, loss {cfg.loss}, init ±{cfg.init_scale:g}), "
        f"preset {cfg.preset_name}, convention {cfg.convention}, backend {cfg.backend}/{cfg.device}, "
        f"sleep every {cfg.sleep_every} task(s)")
    trials = []
    for k in range(cfg.trials):
        seed = cfg.seed + k
        t0 = time.perf_counter()
        arms = {}
        for key, arm, memory in runs:
            log(f"trial {k} (seed {seed}) {run_label(arm, memory)}")
            arms[key] = run_arm(arm, cfg, data, seed, params, log=log, build_directory=build_directory,
                                memory=memory)
            log(f"  -> {key} final {arms[key]['overall'][-1]:.4f} ({arms[key]['timing']['total']:.1f} s)")
        trials.append({"seed": seed, "arms": arms, "seconds": time.perf_counter() - t0})
    keys = [key for key, _, _ in runs]
    labels = {key: run_label(arm, memory) for key, arm, memory in runs}
    table = summarise(trials, keys, labels)
    return {
        "scenario": "incremental",
        "format": 2,
        "dataset": cfg.dataset,
        "dataset_name": DATASET_NAMES[cfg.dataset],
        "config": _config_dict(cfg),
        "protocol": dataclasses.asdict(PROTOCOLS[cfg.protocol]),
        "coefficients": coefficients,
        "sizes": {"layers": list(cfg.sizes), **data.sizes()},
        "tasks": [list(c) for c in data.classes],
        "preset": {"name": cfg.preset_name, "params": {**dataclasses.asdict(params),
                                                       "beta": list(params.beta)}},
        "sleep_schedule": sleep_schedule(len(data.classes), cfg.sleep_steps, cfg.sleep_increment),
        "sleep_tasks": [k + 1 for k in sleep_tasks(len(data.classes), cfg.sleep_every)],
        "seeds": [t["seed"] for t in trials],
        "arms": keys,
        "labels": labels,
        "stage_labels": {key: trials[0]["arms"][key]["stages"] for key in keys},
        "trials": trials,
        "table": table,
        "wall_seconds": time.perf_counter() - t_start,
        "trial_seconds": [t["seconds"] for t in trials],
        "started": started,
        "versions": package_versions(),
        "command": list(sys.argv),
    }


def _config_dict(cfg: IncrementalConfig) -> dict:
    return {**dataclasses.asdict(cfg), "hidden": list(cfg.hidden), "arms": list(cfg.arms),
            "memory": list(cfg.memory)}


def _coefficients_used(cfg: IncrementalConfig) -> list[str]:
    return [ARM_COEFFICIENT[a] for a in cfg.arms if a in ARM_COEFFICIENT]


def _preset_record(record: dict) -> dict:
    """A result's ``preset`` record with every SRCParams field: a field added
    after the run was recorded counts as its default (so older results merge)."""
    defaults = {f.name: f.default for f in dataclasses.fields(SRCParams)
                if f.default is not dataclasses.MISSING}
    params = {**to_jsonable(defaults), **record.get("params", {})}
    return {**record, "params": params}


def _preset_diff(a: dict, b: dict) -> str:
    pa, pb = _preset_record(a)["params"], _preset_record(b)["params"]
    keys = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
    if a.get("name") != b.get("name"):
        keys.insert(0, "name")
    return ", ".join(keys)


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
        if _preset_record(r["preset"]) != _preset_record(results[0]["preset"]):
            diff = _preset_diff(results[0]["preset"], r["preset"])
            raise ValueError(f"cannot merge runs with different SRC parameters ({diff})")
        if r.get("coefficients") != results[0].get("coefficients"):
            raise ValueError(f"cannot merge runs with different coefficients: {results[0].get('coefficients')} "
                             f"and {r.get('coefficients')}")
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
    merged["table"] = summarise(trials, results[0]["arms"], results[0].get("labels"))
    merged["merged_from"] = [r.get("started") for r in results]
    return merged


#: Configuration fields that fix the test data: two runs are compared only if they agree on these.
COMPARE_SAME_DATA = ("dataset", "n_tasks", "n_per_task", "protocol", "validation", "image_side")
#: Files :func:`compare` writes.
COMPARISON_JSON, COMPARISON_MD = "comparison.json", "comparison.md"


def compare_results(a: dict, b: dict, arm: str = "src", arm_b: str | None = None) -> dict:
    """Paired comparison, seed by seed, of one arm of run ``a`` against one arm of run ``b``.

    How a preset found by a search is scored against another on the test
    set: both runs use the same seeds (hence the same splits, initial
    weights and training order) and differ in what is being compared (the
    preset, the sleep schedule, a coefficient, the backend, ...).

    Parameters
    ----------
    a, b : dict
        Results of :func:`run` (or :func:`merge_results`).
    arm : str
        Key of the arm in ``a`` (an arm name, or e.g. ``"icarl_src_k100"``).
    arm_b : str, optional
        Key of the arm in ``b`` (default: ``arm``).

    Returns
    -------
    dict
        ``arm``, ``arm_b``, ``seeds`` (the seeds both runs hold, in ``a``'s
        order), ``a`` and ``b`` (final accuracy over all tasks per seed, in
        [0, 1]), ``difference`` (:func:`~scenarios.runs.stats.paired_difference`
        of ``a − b``), ``differs_in`` (configuration fields, and ``"preset"``
        for SRC parameters, where the runs differ; the coefficients of arms
        not compared are left out), ``presets`` (their preset names).

    Raises
    ------
    ValueError
        If an arm is missing, the runs differ in their test data
        (:data:`COMPARE_SAME_DATA`), or they share fewer than 2 seeds.
    """
    arm_b = arm if arm_b is None else arm_b
    for name, r, key in (("first", a, arm), ("second", b, arm_b)):
        have = sorted(r["trials"][0]["arms"]) if r["trials"] else []
        if key not in have:
            raise ValueError(f"arm {key!r} is not in the {name} run; it has {', '.join(have) or 'no arms'}")
    ca, cb = a["config"], b["config"]
    data = [k for k in COMPARE_SAME_DATA if ca.get(k) != cb.get(k)]
    if data:
        raise ValueError("cannot compare runs on different test data: they differ in "
                         + ", ".join(f"{k} ({ca.get(k)!r} vs {cb.get(k)!r})" for k in data))
    by_seed = {t["seed"]: t for t in b["trials"]}
    seeds = [t["seed"] for t in a["trials"] if t["seed"] in by_seed]
    if len(seeds) < 2:
        raise ValueError(f"a paired comparison needs >= 2 seeds in both runs; first has "
                         f"{[t['seed'] for t in a['trials']]}, second {sorted(by_seed)}")
    trial_a = {t["seed"]: t for t in a["trials"]}
    va = [float(trial_a[s]["arms"][arm]["overall"][-1]) for s in seeds]
    vb = [float(by_seed[s]["arms"][arm_b]["overall"][-1]) for s in seeds]
    compared = {_split_key(arm)[0], _split_key(arm_b)[0]}
    free = {"seed", "trials", "arms", "memory"} | {c for a, c in ARM_COEFFICIENT.items() if a not in compared}
    differs = sorted(k for k in set(ca) | set(cb) if k not in free and ca.get(k) != cb.get(k))
    if _preset_record(a["preset"]) != _preset_record(b["preset"]):
        differs = sorted(set(differs) | {"preset"})
    return {"kind": "incremental-comparison", "arm": arm, "arm_b": arm_b, "seeds": seeds, "a": va, "b": vb,
            "difference": paired_difference(va, vb), "differs_in": differs,
            "presets": [a["preset"].get("name"), b["preset"].get("name")]}


def compare(dir_a, dir_b, arm: str = "src", arm_b: str | None = None,
            out: str | os.PathLike | None = None) -> dict:
    """:func:`compare_results` of two saved runs; writes ``comparison.json`` and ``comparison.md`` into ``out``.

    Raises
    ------
    ValueError
        A result file is missing or unreadable, or :func:`compare_results` refuses.
    """
    comparison = compare_results(load_result(dir_a), load_result(dir_b), arm, arm_b)
    comparison["runs"] = [str(dir_a), str(dir_b)]
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_json(Path(out) / COMPARISON_JSON, comparison)
        write_text(Path(out) / COMPARISON_MD, compare_markdown(comparison))
    return comparison


def compare_markdown(c: dict) -> str:
    """Per-seed table and paired statistics of a :func:`compare_results` comparison."""
    names = c.get("runs") or ["first", "second"]
    la, lb = f"{names[0]} ({c['arm']})", f"{names[1]} ({c['arm_b']})"
    lines = [f"| seed | {la}, % | {lb}, % | difference, points |", "|---|---|---|---|"]
    for s, x, y in zip(c["seeds"], c["a"], c["b"]):
        lines.append(f"| {s} | {100 * x:.1f} | {100 * y:.1f} | {100 * (x - y):+.1f} |")
    d = c["difference"]
    p_w = "n/a (all differences 0)" if d["p_wilcoxon"] is None else f"{d['p_wilcoxon']:.2g}"
    lines += ["", f"Mean: {format_mean_sd(c['a'])} against {format_mean_sd(c['b'])}; paired difference "
                  f"{100 * d['mean']:+.1f} ± {100 * d['sd']:.1f} points (t-test p {d['p_t']:.2g}, Wilcoxon p {p_w}, "
                  f"first better in {d['wins']} of {d['n']} seeds).",
              f"The runs differ in: {', '.join(c['differs_in']) or 'nothing recorded'} (presets "
              f"{c['presets'][0]!r}, {c['presets'][1]!r})."]
    return "\n".join(lines) + "\n"


def table_markdown(result: dict) -> str:
    """Table 1 layout: one row per run, final test accuracy (%) mean ± sd; then per task; Table 2 if iCaRL ran."""
    name = result.get("dataset_name", result["dataset"])
    n_trials = len(result["seeds"])
    cfg = result["config"]
    frac = cfg["rehearsal"]
    proto = cfg.get("protocol", "code")
    lines = [f"| Method | {name}, protocol `{proto}` |", "|---|---|"]
    for row in result["table"]:
        label = row["label"]
        if row.get("method", row["arm"]) in ("rehearsal", "rehearsal_src"):
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
    coef = result.get("coefficients") or {}
    lines += ["", f"Protocol `{proto}`: {cfg['epochs']} epochs per task, loss `{cfg['loss']}`, initial weights "
              f"U(±{cfg['init_scale']:g}); sleep after tasks {result.get('sleep_tasks', 'all')}.",
              "", f"Preset `{result['preset']['name']}`: max_rate {p['max_rate']:.6g} Hz, inc {p['inc']:.6g}, "
              f"dec {p['dec']:.6g}, beta {[round(b, 6) for b in p['beta']]}, alpha_scale "
              f"{p['alpha_scale']:.6g}; sleep steps {result['sleep_schedule']}; convention "
              f"`{cfg['convention']}`; backend {cfg['backend']}/{cfg['device']}."]
    if coef:
        lines += ["", "Coefficients: " + ", ".join(f"{k} {v:g}" for k, v in coef.items()) + "."]
    text = "\n".join(lines) + "\n"
    t2 = table2_markdown(result)
    return text + ("\n" + t2 if t2 else "")


def table2_markdown(result: dict) -> str:
    """Table 2 layout: iCaRL and iCaRL + SRC per memory size K, and their paired difference ("" without both)."""
    rows = {(r.get("method"), r.get("memory")): r for r in result["table"]}
    sizes = sorted({m for (a, m) in rows if a == "icarl" and (("icarl_src", m) in rows)})
    if not sizes:
        return ""
    lines = [f"| K (exemplars) | iCaRL | iCaRL + SRC | difference (paired) | trials where + SRC is better |",
             "|---|---|---|---|---|"]
    for k in sizes:
        a, b = rows[("icarl_src", k)]["values"], rows[("icarl", k)]["values"]
        if len(a) > 1:
            d = paired_difference(a, b)
            diff = f"{100 * d['mean']:+.1f} ± {100 * d['sd']:.1f} (p = {d['p_t']:.2g})"
            wins = f"{d['wins']} / {d['n']}"
        else:
            diff, wins = f"{100 * (a[0] - b[0]):+.1f}", f"{int(a[0] > b[0])} / 1"
        lines.append(f"| {k} | {format_mean_sd(b)} | {format_mean_sd(a)} | {diff} | {wins} |")
    return "\n".join(lines) + "\n\n(difference: mean ± sd over trials of iCaRL + SRC − iCaRL, p of the paired " \
                              "t-test)\n"


def save(result: dict, out: str | os.PathLike) -> Path:
    """Write ``result.json`` and ``table.md`` into ``out`` (created, each file atomically).

    Returns
    -------
    pathlib.Path
        The path of ``result.json``.
    """
    return save_result(out, result, table=table_markdown)
