"""Bias-free ReLU MLPs and their training, as in Sleep Replay Consolidation.

The network, loss and optimiser follow the authors' code of Tadros et al.
(2022), *Sleep-like unsupervised replay reduces catastrophic forgetting in
artificial neural networks*, Nat. Commun. 13:7742 (their public MATLAB code):
784-1200-1200-10, no biases, ReLU after every layer including the output,
weights ~ U(-0.01, 0.01), squared-error loss on one-hot targets, SGD with
learning rate 0.1 and momentum 0.5, dropout 0.25 on the hidden layers, batches
of 100, 2 epochs per task; the momentum buffer is never reset (it carries
across tasks and through sleep).

Two sharpness-aware alternatives to plain SGD are available for the plasticity
and robustness studies (seed 003: SAM and GNP in class-/domain-incremental
MNIST):

* **SAM**, sharpness-aware minimisation (Foret, Kleiner, Mobahi & Neyshabur,
  ICLR 2021): the gradient is taken at the worst-case point
  ``θ + ρ·g/‖g‖₂`` of the first-order ascent step and applied at ``θ``.
* **GNP**, gradient-norm penalty (Zhao, Zhang & Hu, ICML 2022, in the squared
  form used by seed 003): minimise ``L(θ) + c·‖∇L(θ)‖₂²``. The gradient of the
  penalty is computed *exactly* by double back-propagation
  (``create_graph=True``), not by the finite-difference approximation of Zhao
  et al.

Differences from the authors' MATLAB code, on purpose
-----------------------------------------------------
* Dropout is ``torch.nn.Dropout`` by default (inverted dropout: activations
  are scaled by ``1/(1-p)`` at training time and left alone at test time). The
  MATLAB code scales by ``1-p`` at test time instead. Both give the same
  expected activations; for a bias-free ReLU network the two parametrisations
  differ by a per-layer positive scale, which the data-based normalisation of
  the ANN→SNN conversion removes. Learning dynamics differ slightly (the
  gradients of the inverted form are ``1/(1-p)`` larger on dropped-out layers).
  ``make_mlp(convention="authors")`` builds the authors' modules instead
  (:mod:`bridge.conventions`: non-inverted dropout and an output ReLU with an
  identity backward pass), from the same initial weights.
* The last minibatch of an epoch may be smaller than ``batch_size`` (the MATLAB
  code requires the set size to be a multiple of it; 5000/100 is).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from bridge.conventions import AuthorsDropout, StraightThroughReLU
from scenarios.runs.seeds import derived_seed

__all__ = [
    "CONVENTIONS",
    "EVAL_BATCH",
    "TrainingDivergedError",
    "denormals_flushed",
    "DEFAULT_TASKS",
    "make_mlp",
    "ModelFileError",
    "load_model",
    "squared_error",
    "loss_function",
    "TrainConfig",
    "Trainer",
    "task_splits",
    "first_n_per_task",
    "rehearsal_indices",
    "pixel_permutation",
    "permute_pixels",
]

#: The class-incremental split of Tadros et al. (2022): digit pairs in order.
DEFAULT_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))

_ALLOWED_INITS = ("uniform", "kaiming")
_ALLOWED_LOSSES = ("mse", "ce", "ce_task")
_ALLOWED_OPTIMIZERS = ("sgd", "sam", "gnp")
#: Training conventions of :func:`make_mlp`: the SRC authors' modules or PyTorch's.
CONVENTIONS = ("authors", "torch")


# --------------------------------------------------------------------------- model
def make_mlp(
    sizes: Sequence[int] = (784, 1200, 1200, 10),
    dropout: float = 0.25,
    init: str = "uniform",
    init_scale: float = 0.01,
    relu_output: bool = True,
    seed: int = 0,
    convention: str = "torch",
) -> nn.Sequential:
    """Build a bias-free ReLU MLP that the ANN→SNN converter accepts.

    Layout: ``Flatten``, then for each hidden layer ``Linear(bias=False)``,
    ``ReLU`` and (if ``dropout > 0``) ``Dropout``; then the output
    ``Linear(bias=False)`` followed by ``ReLU`` if ``relu_output``. No other
    module types are used, except the authors' two modules with
    ``convention="authors"``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first (at least two entries, all positive).
    dropout : float
        Dropout probability after each hidden ReLU, ``0 <= dropout < 1``;
        ``0`` adds no ``Dropout`` module.
    init : {"uniform", "kaiming"}
        ``"uniform"``: weights ~ U(-init_scale, init_scale) as in the authors'
        code. ``"kaiming"``: He-uniform, U(-b, b) with ``b = sqrt(6/fan_in)``
        (``init_scale`` is ignored).
    init_scale : float
        Half-width of the uniform initialisation, ``> 0``.
    relu_output : bool
        Put a ``ReLU`` after the output layer (the authors' network does).
    seed : int
        Seed of the ``torch.Generator`` used for the initial weights; the
        global torch RNG state is left as it was.
    convention : {"torch", "authors"}
        ``"torch"`` (default): ``nn.Dropout`` and ``nn.ReLU``. ``"authors"``:
        the conventions of the SRC authors' MATLAB code,
        :class:`~bridge.conventions.AuthorsDropout` (non-inverted) in place of
        every ``nn.Dropout`` and :class:`~bridge.conventions.StraightThroughReLU`
        in place of the output ``ReLU`` (if ``relu_output``). The modules are
        swapped after the initialisation, so both conventions hold the same
        weights for the same ``seed``. Both are accepted by
        :func:`bridge.convert.from_torch`.

    Returns
    -------
    torch.nn.Sequential
        The model, on the CPU, in training mode, float32.
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"sizes={sizes!r}: need at least two positive integer layer widths")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r}: must satisfy 0 <= dropout < 1")
    if init not in _ALLOWED_INITS:
        raise ValueError(f"init={init!r}: must be one of {_ALLOWED_INITS}")
    if not (init_scale > 0 and math.isfinite(init_scale)):
        raise ValueError(f"init_scale={init_scale!r}: must be a finite number > 0")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: must be one of {CONVENTIONS}")

    gen = torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = [nn.Flatten()]
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init draws from the global RNG
            lin = nn.Linear(int(sizes[i]), int(sizes[i + 1]), bias=False)
        with torch.no_grad():
            bound = init_scale if init == "uniform" else math.sqrt(6.0 / sizes[i])
            lin.weight.uniform_(-bound, bound, generator=gen)
        layers.append(lin)
        if i < n_layers - 1:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(p=float(dropout)))
        elif relu_output:
            layers.append(nn.ReLU())
    if convention == "authors":
        # after the initialisation: same weights as the torch convention for the same seed
        last = len(layers) - 1
        layers = [AuthorsDropout(m.p) if isinstance(m, nn.Dropout)
                  else StraightThroughReLU() if isinstance(m, nn.ReLU) and i == last
                  else m for i, m in enumerate(layers)]
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- losses
class ModelFileError(ValueError):
    """A model file that cannot be read as a bias-free MLP; the message names the file and why."""


def load_model(path, *, allow_pickle: bool = False) -> nn.Module:
    """Read a torch MLP from a file written by ``torch.save``.

    Parameters
    ----------
    path : path-like
        ``torch.save(model.state_dict(), path)``: the 2-D ``*.weight`` tensors, in order, become
        ``Linear(bias=False)`` layers with a ReLU after each (dropout is not stored in a state
        dict; it changes nothing in evaluation mode with PyTorch's inverted dropout).
        ``torch.save(model, path)`` (a whole module) needs ``allow_pickle=True``.
    allow_pickle : bool
        Accept a pickled module. Unpickling runs code from the file: only for files you trust.

    Returns
    -------
    torch.nn.Module
        An ``nn.Sequential`` (state dict) or the module itself, in evaluation mode.

    Raises
    ------
    ModelFileError
        A missing or unreadable file, a state dict with biases or no 2-D weights, or a
        pickled module without ``allow_pickle``.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad or pickled file
        hint = ("; a whole pickled module is read only with allow_pickle (--allow-pickle), "
                "or save model.state_dict() instead") if not allow_pickle else ""
        raise ModelFileError(f"{path} could not be read by torch.load ({type(exc).__name__}){hint}") from None
    if isinstance(obj, nn.Module):
        return obj.eval()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors or a module")
    biases = [k for k, v in obj.items() if k.endswith("bias")]
    if biases:
        raise ModelFileError(f"{path}: the state dict has biases ({biases[0]}, ...); SRC converts bias-free MLPs")
    weights = [v for k, v in obj.items() if k.endswith("weight") and v.ndim == 2]
    if not weights:
        raise ModelFileError(f"{path}: the state dict has no 2-D *.weight tensors")
    layers: list[nn.Module] = []
    for k, w in enumerate(weights):
        if k and w.shape[1] != weights[k - 1].shape[0]:
            raise ModelFileError(f"{path}: weight {k} has {w.shape[1]} inputs but weight {k - 1} has "
                                 f"{weights[k - 1].shape[0]} outputs")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w.to(torch.float32))
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers).eval()


def squared_error(outputs: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None) -> torch.Tensor:
    """Squared error on one-hot targets, normalised as in the authors' code.

    ``L = (1/B) · Σ_b ½ · Σ_k (out[b, k] − onehot[b, k])²`` — the mean over the
    batch of half the summed squared error (DeepLearnToolbox ``nnff``:
    ``1/2 * sum(sum(e.^2)) / m``).

    Parameters
    ----------
    outputs : torch.Tensor, shape (B, K)
        Network outputs.
    labels : torch.Tensor, shape (B,)
        Integer class labels in ``[0, K)``.
    n_classes : int, optional
        Number of classes ``K``; defaults to ``outputs.shape[1]`` and must equal it.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    k = outputs.shape[1] if n_classes is None else int(n_classes)
    if outputs.shape[1] != k:
        raise ValueError(f"n_classes={k} but the model has {outputs.shape[1]} outputs")
    target = F.one_hot(labels.long(), k).to(outputs.dtype)
    return 0.5 * ((outputs - target) ** 2).sum(dim=1).mean()


def loss_function(name: str, n_classes: int | None = None,
                  classes: Sequence[int] | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Return ``loss(outputs, labels) -> scalar tensor`` for ``name``.

    Parameters
    ----------
    name : {"mse", "ce", "ce_task"}
        ``"mse"``: :func:`squared_error` (mean over the batch of
        ``½·Σ_k (out_k − onehot_k)²``); ``"ce"``: mean cross-entropy of the
        outputs taken as logits; ``"ce_task"``: the cross-entropy of a softmax
        over the outputs of ``classes`` only (the classes of the current
        task: "evaluated solely on the task being presented", the Methods of
        Tadros et al. 2022); the other outputs get no gradient.
    n_classes : int, optional
        Number of classes, checked against the outputs.
    classes : sequence of int, optional
        The output units of ``"ce_task"`` (required there); every label must
        be one of them.

    Returns
    -------
    callable
        The loss function; usable with :mod:`scenarios.ann.sharpness`.
    """
    if name == "mse":
        return lambda outputs, labels: squared_error(outputs, labels, n_classes)
    if name == "ce":
        def _ce(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            if n_classes is not None and outputs.shape[1] != n_classes:
                raise ValueError(f"n_classes={n_classes} but the model has {outputs.shape[1]} outputs")
            return F.cross_entropy(outputs, labels.long())
        return _ce
    if name == "ce_task":
        if classes is None or len(classes) == 0:
            raise ValueError("loss='ce_task' needs the classes of the task (classes=...)")
        cls = sorted({int(c) for c in classes})

        def _ce_task(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            if n_classes is not None and outputs.shape[1] != n_classes:
                raise ValueError(f"n_classes={n_classes} but the model has {outputs.shape[1]} outputs")
            idx = torch.as_tensor(cls, device=outputs.device)
            remap = torch.full((outputs.shape[1],), -1, dtype=torch.long, device=outputs.device)
            remap[idx] = torch.arange(len(cls), device=outputs.device)
            target = remap[labels.long()]
            if bool((target < 0).any()):
                raise ValueError(f"loss='ce_task': a label is not one of the task's classes {cls}")
            return F.cross_entropy(outputs[:, idx], target)
        return _ce_task
    raise ValueError(f"loss={name!r}: must be one of {_ALLOWED_LOSSES}")


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (defaults: Tadros et al. 2022).

    Attributes
    ----------
    lr : float
        SGD learning rate, ``> 0``.
    momentum : float
        SGD momentum, ``0 <= momentum < 1``. The buffer persists across
        :meth:`Trainer.fit` calls.
    epochs : int
        Epochs per :meth:`Trainer.fit` call unless overridden, ``>= 1``.
    batch_size : int
        Minibatch size, ``>= 1``; the last batch of an epoch may be smaller.
    loss : {"mse", "ce", "ce_task"}
        Squared error on one-hot targets (see :func:`squared_error`),
        cross-entropy, or cross-entropy over the outputs of the classes
        present in each :meth:`Trainer.fit` call (the current task).
    optimizer : {"sgd", "sam", "gnp"}
        Plain SGD, SAM (Foret et al. 2021) or gradient-norm penalty; all three
        apply their gradient through the same ``torch.optim.SGD`` with momentum.
    sam_rho : float
        SAM neighbourhood radius ρ, ``>= 0`` (``0`` is exactly SGD).
    gnp_coef : float
        GNP coefficient c in ``L + c·‖∇L‖²``, ``>= 0`` (``0`` is exactly SGD).
    seed : int
        Seed for shuffling and dropout, ``>= 0``.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    """

    lr: float = 0.1
    momentum: float = 0.5
    epochs: int = 2
    batch_size: int = 100
    loss: str = "mse"
    optimizer: str = "sgd"
    sam_rho: float = 0.05
    gnp_coef: float = 0.01
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        def real(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise ValueError(f"TrainConfig.{name}={value!r}: must be a finite number")
            return float(value)

        def integer(name: str, minimum: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"TrainConfig.{name}={value!r}: must be an integer >= {minimum}")

        if not real("lr") > 0:
            raise ValueError(f"TrainConfig.lr={self.lr!r}: must be > 0")
        if not 0.0 <= real("momentum") < 1.0:
            raise ValueError(f"TrainConfig.momentum={self.momentum!r}: must satisfy 0 <= momentum < 1")
        integer("epochs", 1)
        integer("batch_size", 1)
        integer("seed", 0)
        if self.loss not in _ALLOWED_LOSSES:
            raise ValueError(f"TrainConfig.loss={self.loss!r}: must be one of {_ALLOWED_LOSSES}")
        if self.optimizer not in _ALLOWED_OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer={self.optimizer!r}: must be one of {_ALLOWED_OPTIMIZERS}")
        if not real("sam_rho") >= 0:
            raise ValueError(f"TrainConfig.sam_rho={self.sam_rho!r}: must be >= 0")
        if not real("gnp_coef") >= 0:
            raise ValueError(f"TrainConfig.gnp_coef={self.gnp_coef!r}: must be >= 0")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"TrainConfig.device={self.device!r}: not a torch device ({exc})") from None


# --------------------------------------------------------------------------- trainer
class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or output (too large a learning rate or penalty coefficient)."""


#: Images per forward pass of :meth:`Trainer.outputs` and
#: :meth:`Trainer.hidden_activations`: 784-1200-1200-10 on 10 000 images
#: runs ~20 % faster in batches of 2048 than in one batch of 10 000 on one
#: core (the activations stay in cache); the outputs are the same bit for bit.
EVAL_BATCH = 2048


@contextlib.contextmanager
def denormals_flushed():
    """Flush denormal floats to zero inside the block (``torch.set_flush_denormal``), then switch it off.

    The momentum buffer of a weight that gets no gradient (a pixel that is
    0 in every image of a task, a silent unit) halves at every step and
    passes through the float32 denormal range (below 1.2e-38), where x86
    arithmetic is ~20x slower; on 784-1200-1200-10 this made a sixth of the
    training time (the five tasks of the code protocol: 10.4 s, flushed
    8.7 s). A flushed value enters a weight only through an update
    ``lr * buffer``, which for any weight above ~1e-30 in magnitude is under
    half its rounding step, so the weights are the same (checked: the SRC
    arm of the incremental protocol gives the same record stage by stage).
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _as_tensor(x, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)



class Trainer:
    """Minibatch training of a model with a persistent SGD-with-momentum optimiser.

    The ``torch.optim.SGD`` optimiser (and so its momentum buffer) is created
    once and kept for the life of the trainer: consecutive :meth:`fit` calls
    (tasks) and any weight changes made in between (sleep) all see the same
    buffer, as in the authors' code. Call :meth:`reset_momentum` to clear it.

    Each :meth:`fit` call draws its shuffling order and dropout masks from
    seeds derived from ``(config.seed, call number)``, inside
    ``torch.random.fork_rng`` so the global torch RNG is left as it was:
    the same model, config and sequence of calls give identical weights.

    Continual-learning methods (:mod:`scenarios.ann.continual`: EWC, SI,
    OWM, iCaRL) are plugins whose hooks the trainer calls around every
    ``fit`` call and minibatch (the order is in
    :class:`scenarios.ann.continual.ContinualPlugin`); they need
    ``optimizer="sgd"``. Without plugins a step is exactly the plain SGD step.

    Parameters
    ----------
    model : torch.nn.Module
        Model mapping a float32 batch (``(B, h, w)`` or ``(B, d)``) to ``(B, K)``
        outputs; moved to ``config.device``.
    config : TrainConfig, optional
        Hyper-parameters (defaults: Tadros et al. 2022).
    plugins : sequence of ContinualPlugin, optional
        Continual-learning methods, each attached to this trainer.
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None, plugins: Sequence = ()) -> None:
        self.config = config if config is not None else TrainConfig()
        self.device = torch.device(self.config.device)
        self.model = model.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("model has no trainable parameters")
        self.optimizer = torch.optim.SGD(self.params, lr=self.config.lr, momentum=self.config.momentum)
        self.n_fit_calls = 0
        self.plugins = tuple(plugins)
        if self.plugins and self.config.optimizer != "sgd":
            raise ValueError(f"TrainConfig.optimizer={self.config.optimizer!r}: continual-learning plugins "
                             "need optimizer='sgd'")
        for plugin in self.plugins:
            plugin.attach(self)

    # ----------------------------------------------------------------- helpers
    def loss_fn(self, n_classes: int | None = None,
                classes: Sequence[int] | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The training loss as ``loss(outputs, labels)`` (see :func:`loss_function`).

        ``classes`` are the output units of ``loss="ce_task"`` (the classes of
        the current training set).
        """
        return loss_function(self.config.loss, n_classes, classes)

    def reset_momentum(self) -> None:
        """Clear the optimiser state (the momentum buffers)."""
        self.optimizer.state.clear()

    def _rng_state(self) -> tuple:
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return torch.get_rng_state(), cuda

    def _set_rng_state(self, state: tuple) -> None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], self.device)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor, loss_fn) -> float:
        opt, params, cfg = self.optimizer, self.params, self.config
        if self.plugins:
            return self._plugin_step(xb, yb, loss_fn)
        if cfg.optimizer == "sgd":
            loss = loss_fn(self.model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        elif cfg.optimizer == "sam":
            # The ascent and descent passes use the same dropout masks: the RNG
            # is rewound before the second forward pass, so SAM draws exactly
            # the random numbers SGD would (and rho = 0 is SGD bit for bit).
            rng = self._rng_state()
            loss = loss_fn(self.model(xb), yb)
            grads = torch.autograd.grad(loss, params)
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
            scale = cfg.sam_rho / (norm.item() + 1e-12)
            saved = [p.detach().clone() for p in params]
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.add_(g, alpha=scale)
            self._set_rng_state(rng)
            opt.zero_grad()
            loss_fn(self.model(xb), yb).backward()
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)
            opt.step()
        else:  # gnp, exact gradient of the penalty by double backprop
            loss = loss_fn(self.model(xb), yb)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            penalty = sum((g * g).sum() for g in grads)
            opt.zero_grad()
            (loss + cfg.gnp_coef * penalty).backward()
            opt.step()
        return float(loss.detach())

    def _plugin_step(self, xb: torch.Tensor, yb: torch.Tensor, loss_fn) -> float:
        """One SGD step with the plugins' hooks (see :class:`scenarios.ann.continual.ContinualPlugin`)."""
        out = self.model(xb)
        loss = None
        for plugin in self.plugins:
            loss = plugin.loss(self, out, xb, yb)
            if loss is not None:
                break
        if loss is None:
            loss = loss_fn(out, yb)
        self.optimizer.zero_grad()
        loss.backward()
        for plugin in self.plugins:
            plugin.after_task_backward(self)
        penalties = [q for q in (plugin.penalty(self) for plugin in self.plugins) if q is not None]
        if penalties:
            sum(penalties).backward()
        for plugin in self.plugins:
            plugin.after_backward(self)
        self.optimizer.step()
        for plugin in self.plugins:
            plugin.after_step(self)
        return float(loss.detach())

    # ------------------------------------------------------------------ public
    def fit(self, images, labels, n_classes: int, epochs: int | None = None) -> list[float]:
        """Train on a data set for some epochs (denormals flushed to zero, see :func:`denormals_flushed`).

        Parameters
        ----------
        images : array-like or torch.Tensor, shape (n, h, w) or (n, d)
            Inputs, converted to float32.
        labels : array-like or torch.Tensor, shape (n,)
            Integer labels in ``[0, n_classes)``.
        n_classes : int
            Number of classes (width of the one-hot targets; must equal the
            model's output width).
        epochs : int, optional
            Defaults to ``config.epochs``.

        Returns
        -------
        list of float
            Mean training loss (without the GNP penalty) per epoch, each batch
            weighted by its size.

        Raises
        ------
        TrainingDivergedError
            The loss of an epoch is not finite (training diverged).
        """
        epochs = self.config.epochs if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs={epochs!r}: must be an integer >= 1")
        x = _as_tensor(images, torch.float32, self.device)
        y = _as_tensor(labels, torch.int64, self.device).reshape(-1)
        n = x.shape[0]
        if y.shape[0] != n:
            raise ValueError(f"images has {n} samples but labels has {y.shape[0]}")
        if n == 0:
            raise ValueError("fit needs at least one sample")
        if int(y.min()) < 0 or int(y.max()) >= n_classes:
            raise ValueError(f"labels must lie in [0, n_classes={n_classes}); got [{int(y.min())}, {int(y.max())}]")
        classes = torch.unique(y).tolist() if self.config.loss == "ce_task" else None
        loss_fn = self.loss_fn(n_classes, classes)
        for plugin in self.plugins:
            plugin.before_fit(self, x, y)

        seed = derived_seed(self.config.seed, self.n_fit_calls)
        self.n_fit_calls += 1
        shuffle_gen = torch.Generator().manual_seed(seed)
        devices = [self.device] if self.device.type == "cuda" else []
        was_training = self.model.training
        history: list[float] = []
        with torch.random.fork_rng(devices=devices), denormals_flushed():
            torch.manual_seed(derived_seed(seed, 1))
            self.model.train()
            try:
                for _ in range(epochs):
                    order = torch.randperm(n, generator=shuffle_gen).to(self.device)
                    total = 0.0
                    for start in range(0, n, self.config.batch_size):
                        idx = order[start:start + self.config.batch_size]
                        total += self._step(x[idx], y[idx], loss_fn) * len(idx)
                    if not math.isfinite(total):
                        raise TrainingDivergedError(
                            f"training diverged: the mean loss of epoch {len(history) + 1} is {total / n} "
                            f"(lr {self.config.lr:g}; lower it, or the continual-learning penalty's coefficient)")
                    history.append(total / n)
            finally:
                self.model.train(was_training)
        for plugin in self.plugins:
            plugin.after_fit(self, x, y)
        return history

    @torch.no_grad()
    def outputs(self, images, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Network outputs in eval mode (dropout off), shape ``(n, K)``, float32."""
        x = _as_tensor(images, torch.float32, self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            out = [self.model(x[i:i + batch_size]).cpu() for i in range(0, x.shape[0], batch_size)]
        finally:
            self.model.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    def predict(self, images, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Predicted classes (argmax of the outputs, eval mode), int64 array of shape ``(n,)``."""
        out = self.outputs(images, batch_size)
        return out.argmax(axis=1).astype(np.int64) if out.size else np.zeros(0, np.int64)

    def accuracy(self, images, labels) -> float:
        """Fraction of correctly classified samples (eval mode)."""
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
        if labels.size == 0:
            raise ValueError("accuracy of an empty set is undefined")
        return float(np.mean(self.predict(images) == labels))

    @torch.no_grad()
    def hidden_activations(self, images, layer: int, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Activations after the ReLU of a layer, in eval mode.

        Parameters
        ----------
        images : array-like or torch.Tensor
            Inputs, ``(n, h, w)`` or ``(n, d)``.
        layer : int
            Index of the ``Linear`` layer (0 = first hidden layer; negative
            indices count from the output). The returned activations are taken
            after that layer's ``ReLU`` (if it has one) and before dropout.
        batch_size : int
            Evaluation chunk size.

        Returns
        -------
        numpy.ndarray, shape (n, width of that layer), float32
        """
        modules = list(self.model.children()) if isinstance(self.model, nn.Sequential) else None
        if modules is None:
            raise TypeError("hidden_activations needs an nn.Sequential model")
        linear_pos = [i for i, m in enumerate(modules) if isinstance(m, nn.Linear)]
        if not -len(linear_pos) <= layer < len(linear_pos):
            raise ValueError(f"layer={layer}: the model has {len(linear_pos)} Linear layers")
        stop = linear_pos[layer] + 1
        if stop < len(modules) and isinstance(modules[stop], nn.ReLU):
            stop += 1
        head = nn.Sequential(*modules[:stop])
        x = _as_tensor(images, torch.float32, self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            out = [head(x[i:i + batch_size]).cpu() for i in range(0, x.shape[0], batch_size)]
        finally:
            self.model.train(was_training)
        return torch.cat(out).numpy()


# --------------------------------------------------------------------------- tasks
def task_splits(labels, tasks: Sequence[Sequence[int]] = DEFAULT_TASKS) -> list[np.ndarray]:
    """Indices of the samples of each task, in data-set order.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
    tasks : sequence of sequences of int
        Classes of each task; a class may not appear in two tasks.

    Returns
    -------
    list of numpy.ndarray
        ``out[t]`` holds the (ascending, int64) indices whose label is in ``tasks[t]``.
    """
    labels = np.asarray(labels).reshape(-1)
    seen: set[int] = set()
    out = []
    for t, classes in enumerate(tasks):
        classes = [int(c) for c in classes]
        if not classes:
            raise ValueError(f"tasks[{t}] is empty")
        overlap = seen.intersection(classes)
        if overlap:
            raise ValueError(f"tasks[{t}]={tuple(classes)} repeats classes {sorted(overlap)} of earlier tasks")
        seen.update(classes)
        out.append(np.flatnonzero(np.isin(labels, classes)).astype(np.int64))
    return out


def first_n_per_task(indices, n: int):
    """Keep the first ``n`` indices of each task (the authors train on the first 5000).

    Parameters
    ----------
    indices : numpy.ndarray or sequence of numpy.ndarray
        One index array, or one per task (as from :func:`task_splits`).
    n : int
        How many to keep (``>= 0``); tasks with fewer keep all of theirs.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        Same structure as ``indices``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r}: must be an integer >= 0")
    if isinstance(indices, np.ndarray) and indices.ndim == 1:
        return indices[:n].copy()
    return [np.asarray(ix)[:n].copy() for ix in indices]


def rehearsal_indices(previous_task_indices, fraction: float, seed: int) -> np.ndarray:
    """A random subset of earlier tasks' samples to mix into the current task.

    Parameters
    ----------
    previous_task_indices : numpy.ndarray or sequence of numpy.ndarray
        Indices of the old tasks' samples (concatenated if a sequence).
    fraction : float
        Fraction of the old samples to draw, ``0 <= fraction <= 1``;
        ``round(fraction * n_old)`` are drawn without replacement.
    seed : int
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of int64
        The chosen indices, sorted ascending; empty for ``fraction = 0`` or no
        old samples.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction!r}: must satisfy 0 <= fraction <= 1")
    if isinstance(previous_task_indices, np.ndarray):
        pool = previous_task_indices.reshape(-1)
    else:
        parts = [np.asarray(ix).reshape(-1) for ix in previous_task_indices]
        pool = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    pool = pool.astype(np.int64)
    k = int(round(float(fraction) * pool.size))
    if k == 0:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=k, replace=False))


def pixel_permutation(n_pixels: int, seed: int) -> np.ndarray:
    """The pixel permutation used by :func:`permute_pixels` (``default_rng(seed).permutation``)."""
    return np.random.default_rng(seed).permutation(int(n_pixels))


def permute_pixels(images, seed: int) -> np.ndarray:
    """Apply one fixed random pixel permutation to every image (permuted-MNIST tasks).

    Parameters
    ----------
    images : array-like, shape (n, h, w) or (n, d)
    seed : int
        Seed of the permutation; the same seed permutes train and test alike.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``images``.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"images must have shape (n, ...) with at least 2 dims; got {images.shape}")
    flat = images.reshape(images.shape[0], -1)
    perm = pixel_permutation(flat.shape[1], seed)
    return flat[:, perm].reshape(images.shape)
