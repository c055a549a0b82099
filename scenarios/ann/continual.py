"""Continual-learning methods as plugins of :class:`scenarios.ann.mlp.Trainer`: EWC, SI, OWM, iCaRL.

Each method is one small class with the hooks it needs (:class:`ContinualPlugin`
lists them); the trainer calls the hooks of the plugins it was given, so a
protocol composes a method with any model, loss and data without a branch of
its own. The methods and their papers:

* :class:`EWC`, elastic weight consolidation (Kirkpatrick et al., "Overcoming
  catastrophic forgetting in neural networks", *PNAS* 114:3521, 2017): after
  each task the diagonal Fisher information ``F`` of the task at the learned
  weights ``θ*`` is stored; later tasks add ``(λ/2) Σ_i F_i (θ_i − θ*_i)²``
  for every earlier task (one penalty per task, as in the paper).
  :func:`fisher_diagonal` computes ``F`` from per-sample gradients, with the
  targets drawn from the model's own predictive distribution (the Fisher
  information proper) or the data's labels (the empirical Fisher).
* :class:`SI`, synaptic intelligence (Zenke, Poole & Ganguli, "Continual
  learning through synaptic intelligence", ICML 2017): during a task every
  parameter accumulates the path integral ``ω_i = −Σ_steps g_i Δθ_i`` of the
  gradient ``g`` of the task loss (without the penalty) along the actual
  parameter updates ``Δθ``; at the end of the task
  ``Ω_i ← max(0, Ω_i + ω_i / ((Δ_i)² + ξ))`` with ``Δ_i`` the change of
  ``θ_i`` over the task (the clip at 0 is the authors' code); later tasks add
  ``c Σ_i Ω_i (θ_i − θ̃_i)²``, ``θ̃`` the weights at the end of the last task.
* :class:`OWM`, orthogonal weight modification (Zeng, Chen, Cui & Yu,
  "Continual learning of context-dependent processing in neural networks",
  *Nat. Mach. Intell.* 1:364, 2019): every layer keeps a projector ``P``
  (initially the identity); at every training step it is updated with the
  batch mean ``x̄`` of the layer's input by the recursive-least-squares step
  ``P ← P − P x̄ x̄ᵀ P / (α + x̄ᵀ P x̄)`` and the layer's gradient is replaced by
  its projection ``g P`` (weights stored ``(out, in)``), so that updates are
  nearly orthogonal to the inputs seen before. After any number of updates
  ``P = α (α I + X Xᵀ)⁻¹`` with ``X`` the recorded means: ``P x ≈ 0`` for a
  recorded ``x`` when ``α`` is small.
* :class:`ICaRL` (Rebuffi, Kolesnikov, Sperl & Lampert, "iCaRL: incremental
  classifier and representation learning", CVPR 2017): a memory of at most
  ``K`` exemplars (``K // t`` per class after ``t`` classes), chosen by
  herding (:func:`herding_order`) on L2-normalised features of the last
  hidden layer and trimmed to the first ``m`` of each class when classes are
  added; the training set of a task is its data plus the exemplars; the loss
  is binary cross-entropy on the logits of the classes seen so far, with
  one-hot targets for the new classes and the old network's sigmoid outputs
  as targets for the old ones (distillation); classification by the nearest
  mean of exemplars (:func:`nearest_mean_predict`).

Hyper-parameters of the papers (they trained other networks on other data;
the project chooses each key coefficient on a validation split):

* EWC: λ was searched per experiment (no universal value); Fisher on samples
  of the task's data.
* SI (split MNIST, the authors' code): c = 1, ξ = 10⁻³, Adam (lr 10⁻³), 10
  epochs per task, the optimiser reset after every task.
* OWM (the authors' disjoint-MNIST code): α per layer decaying within a task
  (0.9·0.001^τ, 0.1^τ, 0.6 for the three layers, τ the fraction of the task
  done), SGD lr 0.2 with momentum 0.9, batches of 40, gradients clipped to
  norm 10; here one constant α for every layer, no clipping.
* iCaRL (CIFAR-100): K = 2000, 70 epochs of SGD (lr 2.0), batches of 128,
  weight decay 10⁻⁵, horizontal flips (not used here: the features are those
  of an MLP on the images as they are).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from scenarios.ann.mlp import TrainingDivergedError

__all__ = [
    "ContinualPlugin",
    "EWCParams",
    "EWC",
    "SIParams",
    "SI",
    "OWMParams",
    "OWM",
    "ICaRLParams",
    "ICaRL",
    "fisher_diagonal",
    "herding_order",
    "normalise_features",
    "nearest_mean_predict",
    "linear_layers",
]


def _finite(owner: str, name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{owner}.{name}={value!r}: must be a finite number")
    v = float(value)
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{owner}.{name}={value!r}: must be {'>' if strict else '>='} {minimum:g}")
    return v


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` modules of ``model``, in forward order (module order)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------
# The plugin interface
# --------------------------------------------------------------------------
class ContinualPlugin:
    """Hooks a continual-learning method may implement; every hook does nothing here.

    :class:`scenarios.ann.mlp.Trainer` calls them in this order:
    :meth:`attach` once (when the trainer is made), then per ``fit`` call (one
    task) :meth:`before_fit`, per minibatch :meth:`loss` (a method's own loss,
    or None for the trainer's), backward of that loss, :meth:`after_task_backward`
    (the gradients of the task loss alone are in ``param.grad``),
    :meth:`penalty` (a term added to the loss, backpropagated separately),
    :meth:`after_backward` (the whole gradient is in ``param.grad``), the
    optimiser step, :meth:`after_step`; and :meth:`after_fit` at the end of
    the task. A protocol also calls :meth:`replay` (extra training data for
    the next task) and :meth:`predict` (a classifier of the method's own).

    Attributes
    ----------
    output_relu : bool
        Whether the method works with a ReLU after the output layer (False:
        the method needs the output layer's logits, e.g. iCaRL's sigmoid).
    """

    output_relu: bool = True

    def attach(self, trainer) -> None:
        """Called once by the trainer that uses this plugin."""

    def before_fit(self, trainer, x: torch.Tensor, y: torch.Tensor) -> None:
        """Start of a task: ``x, y`` are the whole training set of the ``fit`` call."""

    def loss(self, trainer, outputs: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor | None:
        """The method's training loss of a minibatch, or None for the trainer's own."""
        return None

    def after_task_backward(self, trainer) -> None:
        """``param.grad`` holds the gradient of the task loss alone."""

    def penalty(self, trainer) -> torch.Tensor | None:
        """A regularisation term added to the loss (None: none)."""
        return None

    def after_backward(self, trainer) -> None:
        """``param.grad`` holds the whole gradient, just before the optimiser step."""

    def after_step(self, trainer) -> None:
        """Just after the optimiser step."""

    def after_fit(self, trainer, x: torch.Tensor, y: torch.Tensor) -> None:
        """End of a task (same ``x, y`` as :meth:`before_fit`)."""

    def replay(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Stored samples ``(x, y)`` to add to the next task's training set (None: none)."""
        return None

    def predict(self, trainer, images) -> np.ndarray | None:
        """Class predictions of the method's own classifier (None: the trainer's argmax)."""
        return None


# --------------------------------------------------------------------------
# Fisher information
# --------------------------------------------------------------------------
#: Targets of :func:`fisher_diagonal`: drawn from the model ("model", the
#: Fisher information) or the data's labels ("data", the empirical Fisher).
FISHER_TARGETS = ("model", "data")


def fisher_diagonal(model: nn.Module, images, labels, loss: str = "mse", classes: Sequence[int] | None = None,
                    targets: str = "model", generator: torch.Generator | None = None,
                    batch_size: int = 500) -> list[torch.Tensor]:
    """Diagonal Fisher information of the Linear weights, ``F_i = mean_n (∂ log p(y_n|x_n)/∂θ_i)²``.

    Per-sample gradients are not formed one by one: for a Linear layer with
    input ``a_n`` and output gradient ``δ_n`` the per-sample weight gradient is
    ``δ_n a_nᵀ``, so ``Σ_n (δ_n a_nᵀ)² = (δ²)ᵀ (a²)`` is one matrix product per
    batch (forward hooks record ``a``, tensor hooks ``δ``). The model runs in
    evaluation mode (no dropout) and must treat samples independently (no
    batch statistics).

    Parameters
    ----------
    model : torch.nn.Module
    images : array-like or torch.Tensor, shape (n, ...)
    labels : array-like or torch.Tensor, shape (n,)
        Used for ``targets="data"``.
    loss : {"mse", "ce", "ce_task"}
        The likelihood the model was trained with: ``"mse"`` a unit Gaussian
        around the outputs (squared error ½‖f − y‖²), ``"ce"`` a softmax over
        all outputs, ``"ce_task"`` a softmax over the outputs of ``classes``.
    classes : sequence of int, optional
        The output units of ``"ce_task"`` (default: the labels present).
    targets : {"model", "data"}
        ``"model"``: ``y`` drawn from the model's predictive distribution (one
        draw per sample; the Fisher information as in Kirkpatrick et al.);
        ``"data"``: the given labels (the empirical Fisher).
    generator : torch.Generator, optional
        Random numbers of the draws (CPU generator).
    batch_size : int

    Returns
    -------
    list of torch.Tensor
        One tensor per Linear weight (same shape and device), float32.
    """
    if loss not in ("mse", "ce", "ce_task"):
        raise ValueError(f"loss={loss!r}: must be one of ('mse', 'ce', 'ce_task')")
    if targets not in FISHER_TARGETS:
        raise ValueError(f"targets={targets!r}: must be one of {FISHER_TARGETS}")
    layers = linear_layers(model)
    if not layers:
        raise ValueError("fisher_diagonal needs a model with Linear layers")
    device = layers[0].weight.device
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images,
                        dtype=torch.float32).to(device)
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long().to(device)
    y = y.reshape(-1)
    n = x.shape[0]
    if n == 0 or y.shape[0] != n:
        raise ValueError(f"fisher_diagonal needs images and labels of the same non-zero length; got {n} and "
                         f"{y.shape[0]}")
    if loss == "ce_task":
        cls = torch.as_tensor(sorted({int(c) for c in (classes if classes is not None else y.tolist())}),
                              device=device)
    fisher = [torch.zeros_like(m.weight, dtype=torch.float32) for m in layers]
    inputs: dict[int, torch.Tensor] = {}
    grads: dict[int, torch.Tensor] = {}

    def forward_hook(k):
        def hook(module, args, output):
            inputs[k] = args[0].detach()
            output.register_hook(lambda g: grads.__setitem__(k, g.detach()))
        return hook

    handles = [m.register_forward_hook(forward_hook(k)) for k, m in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, int(batch_size)):
            xb, yb = x[start:start + int(batch_size)], y[start:start + int(batch_size)]
            model.zero_grad(set_to_none=True)
            out = model(xb)
            if not bool(torch.isfinite(out.detach()).all()):
                raise TrainingDivergedError("the Fisher information is undefined: the model's outputs are not finite "
                                         "(training diverged; lower the learning rate or the penalty's coefficient)")
            if loss == "mse":
                if targets == "model":
                    noise = torch.randn(out.shape, generator=generator).to(device=device, dtype=out.dtype)
                    target = out.detach() + noise
                else:
                    target = F.one_hot(yb, out.shape[1]).to(out.dtype)
                nll = 0.5 * ((out - target) ** 2).sum()
            else:
                if loss == "ce_task":
                    logits = out[:, cls]
                    remap = torch.full((out.shape[1],), -1, dtype=torch.long, device=device)
                    remap[cls] = torch.arange(cls.numel(), device=device)
                    yt = remap[yb]
                else:
                    logits, yt = out, yb
                if targets == "model":
                    p = torch.softmax(logits.detach().double(), dim=1).cpu()
                    yt = torch.multinomial(p, 1, generator=generator).reshape(-1).to(device)
                elif bool((yt < 0).any()):
                    raise ValueError("labels outside `classes` for the empirical Fisher of 'ce_task'")
                nll = F.cross_entropy(logits, yt, reduction="sum")
            nll.backward()
            for k in range(len(layers)):
                fisher[k] += (grads[k] ** 2).t() @ (inputs[k] ** 2)
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return [f / n for f in fisher]


# --------------------------------------------------------------------------
# EWC
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class EWCParams:
    """Parameters of elastic weight consolidation (Kirkpatrick et al. 2017).

    Attributes
    ----------
    lam : float
        λ, strength of the penalty ``(λ/2) Σ_i F_i (θ_i − θ*_i)²``, ``>= 0``
        (dimensionless; 0 is plain training).
    targets : {"model", "data"}
        Targets of the Fisher information (:func:`fisher_diagonal`).
    samples : int
        Training images of a task used for its Fisher, the first ones;
        ``0`` = all.
    """

    lam: float = 100.0
    targets: str = "model"
    samples: int = 0

    def __post_init__(self) -> None:
        _finite("EWCParams", "lam", self.lam, 0.0)
        if self.targets not in FISHER_TARGETS:
            raise ValueError(f"EWCParams.targets={self.targets!r}: must be one of {FISHER_TARGETS}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, (int, np.integer)) or self.samples < 0:
            raise ValueError(f"EWCParams.samples={self.samples!r}: must be an integer >= 0")


class EWC(ContinualPlugin):
    """Elastic weight consolidation: one quadratic penalty per earlier task.

    Parameters
    ----------
    params : EWCParams
    seed : int
        Seed of the Fisher's target draws (task ``t`` uses ``seed + t``).

    Attributes
    ----------
    tasks : list of (list of torch.Tensor, list of torch.Tensor)
        ``(F, θ*)`` of every finished task, one tensor per Linear weight.
    """

    def __init__(self, params: EWCParams | None = None, seed: int = 0) -> None:
        self.params = params if params is not None else EWCParams()
        self.seed = int(seed)
        self.tasks: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []

    def after_fit(self, trainer, x, y) -> None:
        n = self.params.samples or x.shape[0]
        gen = torch.Generator().manual_seed(self.seed + len(self.tasks))
        fisher = fisher_diagonal(trainer.model, x[:n], y[:n], loss=trainer.config.loss,
                                 classes=torch.unique(y).tolist(), targets=self.params.targets,
                                 generator=gen)
        star = [m.weight.detach().clone() for m in linear_layers(trainer.model)]
        self.tasks.append((fisher, star))

    def penalty(self, trainer) -> torch.Tensor | None:
        if not self.tasks or self.params.lam == 0:
            return None
        weights = [m.weight for m in linear_layers(trainer.model)]
        total = 0.0
        for fisher, star in self.tasks:
            for w, f, s in zip(weights, fisher, star):
                total = total + (f * (w - s) ** 2).sum()
        return 0.5 * self.params.lam * total


# --------------------------------------------------------------------------
# SI
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class SIParams:
    """Parameters of synaptic intelligence (Zenke, Poole & Ganguli 2017).

    Attributes
    ----------
    c : float
        Strength of the penalty ``c Σ_i Ω_i (θ_i − θ̃_i)²``, ``>= 0`` (the
        authors: 1 on split MNIST).
    xi : float
        Damping ξ of ``Ω += ω / (Δ² + ξ)``, ``> 0``, in squared weight units
        (the authors: 10⁻³ on split MNIST).
    """

    c: float = 1.0
    xi: float = 1e-3

    def __post_init__(self) -> None:
        _finite("SIParams", "c", self.c, 0.0)
        _finite("SIParams", "xi", self.xi, 0.0, strict=True)


class SI(ContinualPlugin):
    """Synaptic intelligence: importance from the path integral of the task-loss gradient.

    Applies to every trainable parameter of the model (the Linear weights of
    a bias-free MLP).

    Attributes
    ----------
    omega : list of torch.Tensor
        ``ω`` of the task in progress.
    importance : list of torch.Tensor
        ``Ω`` accumulated over the finished tasks.
    reference : list of torch.Tensor or None
        ``θ̃``, the weights at the end of the last finished task.
    """

    def __init__(self, params: SIParams | None = None) -> None:
        self.params = params if params is not None else SIParams()
        self.omega: list[torch.Tensor] = []
        self.importance: list[torch.Tensor] = []
        self.reference: list[torch.Tensor] | None = None
        self._start: list[torch.Tensor] = []
        self._grad: list[torch.Tensor] = []
        self._before: list[torch.Tensor] = []

    def attach(self, trainer) -> None:
        self.omega = [torch.zeros_like(p) for p in trainer.params]
        self.importance = [torch.zeros_like(p) for p in trainer.params]

    def before_fit(self, trainer, x, y) -> None:
        self._start = [p.detach().clone() for p in trainer.params]
        for w in self.omega:
            w.zero_()

    def after_task_backward(self, trainer) -> None:
        self._grad = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                      for p in trainer.params]
        self._before = [p.detach().clone() for p in trainer.params]

    def after_step(self, trainer) -> None:
        with torch.no_grad():
            for w, g, p, b in zip(self.omega, self._grad, trainer.params, self._before):
                w.sub_(g * (p - b))

    def after_fit(self, trainer, x, y) -> None:
        with torch.no_grad():
            for k, (p, s) in enumerate(zip(trainer.params, self._start)):
                delta = p.detach() - s
                self.importance[k] = torch.clamp(self.importance[k] + self.omega[k] / (delta ** 2 + self.params.xi),
                                                 min=0.0)
            self.reference = [p.detach().clone() for p in trainer.params]

    def penalty(self, trainer) -> torch.Tensor | None:
        if self.reference is None or self.params.c == 0:
            return None
        total = 0.0
        for p, om, ref in zip(trainer.params, self.importance, self.reference):
            total = total + (om * (p - ref) ** 2).sum()
        return self.params.c * total


# --------------------------------------------------------------------------
# OWM
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class OWMParams:
    """Parameters of orthogonal weight modification (Zeng et al. 2019).

    Attributes
    ----------
    alpha : float
        α of the projector ``P = α (α I + X Xᵀ)⁻¹``, ``> 0``, in units of the
        layer input squared: small α protects the recorded inputs more
        strictly (and leaves less room for new learning). One value for every
        layer (the authors' code uses per-layer values that decay within a task).
    """

    alpha: float = 1.0

    def __post_init__(self) -> None:
        _finite("OWMParams", "alpha", self.alpha, 0.0, strict=True)


class OWM(ContinualPlugin):
    """Orthogonal weight modification: layer gradients projected by ``P = α (α I + X Xᵀ)⁻¹``.

    ``X`` holds the batch means of the layer's input of every training step
    so far (all tasks, the current one included, as in the authors' code):
    at each step the projector is first updated with this batch's mean, then
    the gradient ``g`` (shape ``(out, in)``) is replaced by ``g P``. With
    momentum the optimiser's buffer accumulates projected gradients.

    Attributes
    ----------
    projectors : list of torch.Tensor
        ``P`` of every Linear layer, shape ``(in, in)``.
    """

    def __init__(self, params: OWMParams | None = None) -> None:
        self.params = params if params is not None else OWMParams()
        self.projectors: list[torch.Tensor] = []
        self._layers: list[nn.Linear] = []
        self._means: dict[int, torch.Tensor] = {}
        self._handles = []

    def attach(self, trainer) -> None:
        self._layers = linear_layers(trainer.model)
        self.projectors = [torch.eye(m.in_features, dtype=m.weight.dtype, device=m.weight.device)
                           for m in self._layers]

        def hook(k):
            def record(module, args, output):
                if module.training:
                    x = args[0].detach()
                    self._means[k] = x.reshape(-1, x.shape[-1]).mean(dim=0)
            return record

        self._handles = [m.register_forward_hook(hook(k)) for k, m in enumerate(self._layers)]

    def update(self, k: int, mean: torch.Tensor) -> None:
        """One recursive-least-squares step of layer ``k``'s projector with input mean ``mean``."""
        P = self.projectors[k]
        r = mean.reshape(-1, 1).to(P.dtype)
        kv = P @ r
        self.projectors[k] = P - (kv @ kv.t()) / (self.params.alpha + (r.t() @ kv))

    def project(self, k: int, grad: torch.Tensor) -> torch.Tensor:
        """The projected gradient ``grad @ P`` of layer ``k`` (``P`` is symmetric)."""
        return grad @ self.projectors[k]

    def after_backward(self, trainer) -> None:
        with torch.no_grad():
            for k, m in enumerate(self._layers):
                if k in self._means:
                    self.update(k, self._means.pop(k))
                if m.weight.grad is not None:
                    m.weight.grad.copy_(self.project(k, m.weight.grad))

    def detach(self) -> None:
        """Remove the forward hooks from the model."""
        for h in self._handles:
            h.remove()
        self._handles = []


# --------------------------------------------------------------------------
# iCaRL
# --------------------------------------------------------------------------
def normalise_features(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm (rows of zeros stay zero)."""
    f = np.asarray(features, dtype=np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), eps)


def herding_order(features: np.ndarray, m: int) -> np.ndarray:
    """iCaRL's herding: ``m`` exemplars whose running mean best tracks the class mean.

    With ``φ`` the L2-normalised features and ``μ`` their mean, exemplar ``k``
    (``k = 1 .. m``) is the sample, not chosen before, that minimises
    ``‖μ − (φ(x) + Σ_{j<k} φ(p_j)) / k‖`` (Rebuffi et al. 2017, Algorithm 4).
    The first one is therefore the sample nearest the class mean.

    Parameters
    ----------
    features : numpy.ndarray, shape (n, d)
        Features of the class's samples (not necessarily normalised).
    m : int
        Exemplars to choose, ``0 <= m``; at most ``n`` are returned.

    Returns
    -------
    numpy.ndarray of int64
        Indices into ``features``, in order of choice (the priority order that
        iCaRL trims from the end).
    """
    phi = normalise_features(features)
    n = phi.shape[0]
    m = min(int(m), n)
    mu = phi.mean(axis=0)
    chosen: list[int] = []
    running = np.zeros_like(mu)
    free = np.ones(n, dtype=bool)
    for k in range(1, m + 1):
        dist = np.linalg.norm(mu[None, :] - (running[None, :] + phi) / k, axis=1)
        dist[~free] = np.inf
        i = int(np.argmin(dist))
        chosen.append(i)
        free[i] = False
        running += phi[i]
    return np.asarray(chosen, dtype=np.int64)


def nearest_mean_predict(features: np.ndarray, class_means: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Nearest-mean-of-exemplars classification: the class whose (normalised) mean is closest.

    Parameters
    ----------
    features : numpy.ndarray, shape (n, d)
        Features of the samples to classify (normalised here).
    class_means : numpy.ndarray, shape (c, d)
        Mean of the normalised exemplar features of each class (normalised here).
    classes : sequence of int, length c
        The class of each row of ``class_means``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    phi = normalise_features(features)
    mu = normalise_features(class_means)
    d2 = (phi ** 2).sum(1)[:, None] - 2 * phi @ mu.T + (mu ** 2).sum(1)[None, :]
    return np.asarray(classes, dtype=np.int64)[np.argmin(d2, axis=1)]


@dataclass(frozen=True)
class ICaRLParams:
    """Parameters of iCaRL (Rebuffi et al. 2017).

    Attributes
    ----------
    memory : int
        K, exemplars stored in all (``K // t`` per class after ``t``
        classes), ``>= 1``.
    feature_layer : int
        Linear layer whose ReLU output is the feature vector of herding and
        the nearest-mean classifier (negative: from the output; -2 = the last
        hidden layer).
    """

    memory: int = 200
    feature_layer: int = -2

    def __post_init__(self) -> None:
        if isinstance(self.memory, bool) or not isinstance(self.memory, (int, np.integer)) or self.memory < 1:
            raise ValueError(f"ICaRLParams.memory={self.memory!r}: must be an integer >= 1")
        if isinstance(self.feature_layer, bool) or not isinstance(self.feature_layer, (int, np.integer)):
            raise ValueError(f"ICaRLParams.feature_layer={self.feature_layer!r}: must be an integer")


class ICaRL(ContinualPlugin):
    """iCaRL: exemplar memory by herding, distillation loss, nearest-mean-of-exemplars classifier.

    The model's output layer must give logits (no output ReLU,
    :attr:`output_relu` is False): the loss is a sigmoid cross-entropy on them.

    Attributes
    ----------
    exemplars : dict
        class -> float32 array of its exemplar images, in herding order.
    seen : list of int
        Classes trained so far, in order.
    """

    output_relu = False

    def __init__(self, params: ICaRLParams | None = None) -> None:
        self.params = params if params is not None else ICaRLParams()
        self.exemplars: dict[int, np.ndarray] = {}
        self.seen: list[int] = []
        self._old_model: nn.Module | None = None
        self._old_classes: list[int] = []
        self._cols: torch.Tensor | None = None
        self._old_cols: torch.Tensor | None = None

    # -- training -------------------------------------------------------
    def before_fit(self, trainer, x, y) -> None:
        self._old_classes = list(self.seen)
        self._old_model = None
        if self._old_classes:
            self._old_model = copy.deepcopy(trainer.model).eval()
            for p in self._old_model.parameters():
                p.requires_grad_(False)
        for c in torch.unique(y).tolist():
            if int(c) not in self.seen:
                self.seen.append(int(c))
        dev = trainer.device
        self._cols = torch.as_tensor(self.seen, device=dev)
        self._old_cols = torch.as_tensor(self._old_classes, dtype=torch.long, device=dev)

    def targets(self, xb: torch.Tensor, yb: torch.Tensor, n_outputs: int) -> torch.Tensor:
        """Targets of the seen classes' outputs: one-hot, old classes replaced by the old network's sigmoid."""
        target = F.one_hot(yb.long(), n_outputs).to(torch.float32)[:, self._cols]
        if self._old_model is not None:
            with torch.no_grad():
                q = torch.sigmoid(self._old_model(xb)[:, self._old_cols])
            target[:, : len(self._old_classes)] = q
        return target

    def loss(self, trainer, outputs, xb, yb) -> torch.Tensor:
        target = self.targets(xb, yb, outputs.shape[1])
        logits = outputs[:, self._cols]
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / outputs.shape[0]

    def after_fit(self, trainer, x, y) -> None:
        self._old_model = None
        per_class = self.params.memory // max(1, len(self.seen))
        for c in self._old_classes:  # reduce: keep the first m of each old class
            self.exemplars[c] = self.exemplars[c][:per_class]
        xs = x.detach().cpu().numpy()
        ys = y.detach().cpu().numpy()
        for c in self.seen:
            if c in self._old_classes:
                continue
            pool = xs[ys == c]
            feats = trainer.hidden_activations(pool, self.params.feature_layer)
            self.exemplars[c] = pool[herding_order(feats, per_class)].astype(np.float32)

    # -- protocol -------------------------------------------------------
    def replay(self) -> tuple[np.ndarray, np.ndarray] | None:
        parts = [(ex, np.full(len(ex), c, dtype=np.int64)) for c, ex in self.exemplars.items() if len(ex)]
        if not parts:
            return None
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def n_exemplars(self) -> int:
        """Exemplars stored now."""
        return int(sum(len(e) for e in self.exemplars.values()))

    def class_means(self, trainer) -> tuple[np.ndarray, list[int]]:
        """Mean normalised feature of each class's exemplars (current network), and the classes."""
        classes = [c for c in self.seen if len(self.exemplars.get(c, ()))]
        means = [normalise_features(trainer.hidden_activations(self.exemplars[c], self.params.feature_layer))
                 .mean(axis=0) for c in classes]
        return np.stack(means), classes

    def predict(self, trainer, images) -> np.ndarray:
        means, classes = self.class_means(trainer)
        feats = trainer.hidden_activations(images, self.params.feature_layer)
        return nearest_mean_predict(feats, means, classes)
