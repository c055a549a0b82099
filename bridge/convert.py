"""Conversion of a bias-free ReLU PyTorch MLP into a spiking (integrate-and-fire)
network description, and back.

This implements the conversion step of Sleep Replay Consolidation (SRC,
Tadros, Krishnan, Ramyaa & Bazhenov, "Sleep-like unsupervised replay reduces
catastrophic forgetting in artificial neural networks", Nat. Commun. 13:7742,
2022): the ANN's ReLU units become non-leaky-to-slightly-leaky integrate-and-fire
units with a Heaviside spike, the synaptic weights stay in ANN units and each
layer's input impulse is scaled by a factor ``alpha_l`` obtained by
*data-based normalisation* (Diehl et al., IJCNN 2015), exactly as the authors'
``utils/normalize_nn_data.m``:

* run the network on calibration images (the training images of all tasks
  seen so far) and record the activation of every layer;
* for layer ``l`` (``l = 1 .. L``, weights ``W_l`` from layer ``l-1`` to
  ``l``): ``lambda_l = max(max positive weight of W_l, max activation of
  layer l)`` (with ``percentile < 100`` that percentile of the positive
  activations replaces the maximum, as in Rueckauer et al. 2017);
* ``p_0 = 1``, ``applied_l = lambda_l / p_{l-1}``, ``p_l = applied_l``;
* ``alpha_l = alpha_scale / applied_l``.

The weights are never rescaled: ``alpha_l`` multiplies the impulse during
sleep, so the weights that come back from the spiking network are copied
into the torch model as they are (:func:`to_torch`).

Dropout convention
------------------
The authors' MATLAB toolbox uses *non-inverted* dropout: training zeroes
units without rescaling and test mode multiplies hidden activations by
``1 - p`` (0.75). PyTorch uses *inverted* dropout (training divides the kept
units by ``1 - p``; evaluation is the identity), so a torch network's
evaluation-mode activations are already the expected activations, i.e. they
play the role of the authors' test-mode activations. :func:`from_torch`
computes activations in evaluation mode:

* ``nn.Dropout`` with ``dropout="inverted"`` (default, a torch-trained model):
  the identity, no extra factor;
* ``nn.Dropout`` with ``dropout="non-inverted"`` (weights trained with the
  authors' convention, loaded into a plain torch model): ``x * (1 - p)``, as
  the authors' test mode;
* :class:`bridge.conventions.AuthorsDropout`: its own evaluation, ``x * (1 - p)``.

Getting this wrong changes ``alpha`` for every layer after a dropout layer:
the activations, and so ``lambda_l``, are ``1 / (1 - p)`` too large per
dropout layer, and through ``applied_l = lambda_l / p_{l-1}`` the error does
not cancel layer by layer. A network trained with the torch convention and
one trained with the authors' compute the same function with weights that
differ by ``1 - p`` after each dropout layer, so their sleeps differ too (the
gate ``g(w)`` sees other weights); :mod:`bridge.conventions` has the
authors' modules for a faithful reproduction.

This module is pure numpy/torch (no Brian2 import).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .conventions import AuthorsDropout, StraightThroughReLU

__all__ = ["ConversionError", "DeadLayerError", "SpikingSpec", "from_torch", "to_torch", "linear_layers",
           "spec_with_weights", "DROPOUT_CONVENTIONS"]

#: Activation modules that :func:`from_torch` converts into spiking units (ReLU forward).
RELU_LAYERS = (nn.ReLU, StraightThroughReLU)
#: Dropout modules (scaled or not at evaluation, see the module docstring).
DROPOUT_LAYERS = (nn.Dropout, AuthorsDropout)
#: Layer types that :func:`from_torch` accepts.
SUPPORTED_LAYERS = (nn.Linear, nn.Flatten) + RELU_LAYERS + DROPOUT_LAYERS
#: Values of ``from_torch(dropout=...)``: how ``nn.Dropout`` was trained.
DROPOUT_CONVENTIONS = ("inverted", "non-inverted")


class ConversionError(ValueError):
    """A torch model (or its calibration data) cannot be converted for SRC.

    The message names the offending layer (its class), its position in the
    flattened sequence of layers and the reason.
    """


class DeadLayerError(ConversionError):
    """A layer has no positive weight and no positive activation on the calibration data.

    Nothing can spike there and the normalisation factor would be 0 (the
    authors' code divides by zero). Raised by :func:`from_torch`.
    """


# --------------------------------------------------------------------------
# The spiking network description
# --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SpikingSpec:
    """A converted network: weights, per-layer impulse and threshold factors.

    Parameters
    ----------
    weights : tuple of numpy.ndarray
        One read-only float32 matrix per layer, shape ``(n_out, n_in)``, in
        ANN units (dimensionless), in the order of the torch ``Linear`` layers.
    alpha : tuple of float
        Impulse factor ``alpha_l`` per layer (dimensionless, > 0): during SRC
        a spike of presynaptic neuron ``j`` adds ``alpha_l * W_l[i, j]`` to the
        membrane potential of neuron ``i``.
    beta : tuple of float
        Threshold factor ``beta_l`` per layer (dimensionless, > 0): neuron
        ``i`` of layer ``l`` spikes when ``v >= threshold * beta_l``. 1.0 each
        unless set (e.g. from :mod:`bridge.presets`).
    layer_sizes : tuple of int
        Number of neurons per layer, input first (``len(weights) + 1`` entries).
    scale : tuple of float
        The applied normalisation factors ``applied_l = lambda_l / p_{l-1}``
        (dimensionless, > 0); ``alpha_l = alpha_scale / applied_l``. For
        diagnostics.
    percentile : float
        Percentile (0 < percentile <= 100) of the positive activations used in
        place of the maximum activation in ``lambda_l``.
    alpha_scale : float
        The global factor that multiplied ``1 / applied_l`` to give ``alpha``.
    """

    weights: tuple
    alpha: tuple
    beta: tuple
    layer_sizes: tuple
    scale: tuple
    percentile: float = 100.0
    alpha_scale: float = 1.0

    def __post_init__(self) -> None:
        weights = tuple(self.weights)
        if not weights:
            raise ValueError("SpikingSpec.weights must hold at least one layer, got none")
        frozen = []
        for k, w in enumerate(weights):
            if not isinstance(w, np.ndarray):
                raise ValueError(f"SpikingSpec.weights[{k}] must be a numpy array, got {type(w).__name__}")
            if w.dtype != np.float32:
                raise ValueError(f"SpikingSpec.weights[{k}] must be float32, got {w.dtype}")
            if w.ndim != 2:
                raise ValueError(f"SpikingSpec.weights[{k}] must be 2-D (n_out, n_in), got shape {w.shape}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"SpikingSpec.weights[{k}] contains NaN or inf values")
            if w.flags.writeable:
                w = w.copy()
                w.flags.writeable = False
            frozen.append(w)
        weights = tuple(frozen)
        n = len(weights)
        sizes = tuple(int(s) for s in self.layer_sizes)
        if len(sizes) != n + 1:
            raise ValueError(f"SpikingSpec.layer_sizes must have {n + 1} entries (input first) for "
                             f"{n} weight matrices, got {sizes}")
        for k, w in enumerate(weights):
            if w.shape != (sizes[k + 1], sizes[k]):
                raise ValueError(f"SpikingSpec.weights[{k}] has shape {w.shape}, expected "
                                 f"{(sizes[k + 1], sizes[k])} from layer_sizes={sizes}")
        values = {}
        for name in ("alpha", "beta", "scale"):
            vals = tuple(float(a) for a in getattr(self, name))
            if len(vals) != n:
                raise ValueError(f"SpikingSpec.{name} must have {n} entries (one per layer), got {len(vals)}")
            for k, a in enumerate(vals):
                if not (np.isfinite(a) and a > 0):
                    raise ValueError(f"SpikingSpec.{name}[{k}]={a!r} must be finite and > 0")
            values[name] = vals
        percentile = float(self.percentile)
        if not (0.0 < percentile <= 100.0):
            raise ValueError(f"SpikingSpec.percentile={percentile!r} must be in (0, 100]")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "layer_sizes", sizes)
        for name, vals in values.items():
            object.__setattr__(self, name, vals)
        object.__setattr__(self, "percentile", percentile)
        object.__setattr__(self, "alpha_scale", float(self.alpha_scale))

    @property
    def n_layers(self) -> int:
        """Number of weight layers (spiking layers after the input)."""
        return len(self.weights)

    def thresholds(self, threshold: float = 1.0) -> tuple:
        """Per-layer firing thresholds ``threshold * beta_l`` (dimensionless)."""
        return tuple(float(threshold) * b for b in self.beta)


def spec_with_weights(spec: SpikingSpec, weights: Sequence[np.ndarray]) -> SpikingSpec:
    """Return a copy of ``spec`` with new weights (same shapes, cast to float32)."""
    return dataclasses.replace(spec, weights=tuple(np.asarray(w, dtype=np.float32) for w in weights))


# --------------------------------------------------------------------------
# Model inspection
# --------------------------------------------------------------------------
def _flatten_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers in order, expanding nested ``nn.Sequential`` containers."""
    if isinstance(model, SUPPORTED_LAYERS):
        return [("", model)]
    out: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            out.extend((f"{name}.{sub}", m) for sub, m in _flatten_modules(child))
        else:
            out.append((name, child))
    return out


def _describe(pos: int, name: str, module: nn.Module) -> str:
    return f"layer {pos} ({type(module).__name__}" + (f", named {name!r}" if name else "") + ")"


def _check_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Validate the layer sequence; return it. Raises ConversionError."""
    if not isinstance(model, nn.Module):
        raise ConversionError(f"expected a torch.nn.Module, got {type(model).__name__}")
    layers = _flatten_modules(model)
    if not layers:
        raise ConversionError(f"model {type(model).__name__} has no layers (no child modules)")
    linear_positions = []
    for pos, (name, m) in enumerate(layers):
        where = _describe(pos, name, m)
        if isinstance(m, nn.Linear):
            if m.bias is not None:
                raise ConversionError(
                    f"{where}: Linear has a bias; SRC needs bias-free layers "
                    f"(nn.Linear({m.in_features}, {m.out_features}, bias=False))")
            w = m.weight.detach()
            if w.dtype != torch.float32:
                raise ConversionError(
                    f"{where}: weight dtype is {w.dtype}; SRC works in float32 (call model.float())")
            bad = int((~torch.isfinite(w)).sum())
            if bad:
                raise ConversionError(f"{where}: weight contains {bad} NaN/inf value(s)")
            linear_positions.append(pos)
        elif isinstance(m, SUPPORTED_LAYERS):
            continue
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            raise ConversionError(
                f"{where}: convolutional layers are not supported; SRC here converts "
                "fully-connected bias-free MLPs (Linear(bias=False), ReLU, Dropout, Flatten)")
        elif isinstance(m, nn.modules.batchnorm._NormBase) or isinstance(
                m, (nn.LayerNorm, nn.GroupNorm)):
            raise ConversionError(
                f"{where}: normalisation layers are not supported (they add an affine shift, "
                "i.e. a bias); fold them into the preceding Linear or remove them")
        elif type(m).__module__.startswith("torch.nn.modules.activation"):
            raise ConversionError(
                f"{where}: activation {type(m).__name__} is not supported; the spiking "
                "(Heaviside integrate-and-fire) conversion needs ReLU")
        else:
            raise ConversionError(
                f"{where}: layer type {type(m).__name__} is not supported; allowed are "
                "Linear(bias=False), ReLU, Dropout, Flatten (and bridge.conventions' "
                "AuthorsDropout, StraightThroughReLU)")
    if not linear_positions:
        raise ConversionError(f"model {type(model).__name__} has no Linear layer")
    # Every hidden Linear must be followed by a ReLU before the next Linear.
    for a, b in zip(linear_positions[:-1], linear_positions[1:]):
        between = [m for _, m in layers[a + 1:b]]
        if not any(isinstance(m, RELU_LAYERS) for m in between):
            name, m = layers[a]
            raise ConversionError(
                f"{_describe(a, name, m)}: hidden Linear is not followed by a ReLU before the "
                f"next Linear (layer {b}); SRC converts ReLU units into spiking units")
    # Consecutive shapes must chain.
    for a, b in zip(linear_positions[:-1], linear_positions[1:]):
        la, lb = layers[a][1], layers[b][1]
        if la.out_features != lb.in_features:
            raise ConversionError(
                f"{_describe(b, layers[b][0], lb)}: in_features={lb.in_features} does not match "
                f"the previous Linear's out_features={la.out_features}")
    return layers


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's ``Linear`` layers in order (after validating the model).

    Raises
    ------
    ConversionError
        If the model contains an unsupported layer (see :func:`from_torch`).
    """
    return [m for _, m in _check_layers(model) if isinstance(m, nn.Linear)]


def _as_calibration(calibration_images: Any, n_in: int, first: str) -> torch.Tensor:
    if isinstance(calibration_images, torch.Tensor):
        x = calibration_images.detach().to("cpu")
    else:
        try:
            x = torch.from_numpy(np.asarray(calibration_images))
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"calibration data could not be converted to an array: {exc}") from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise ConversionError(
            f"calibration data must hold at least one sample of {n_in} features, got shape {tuple(x.shape)}")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    per_sample = int(np.prod(x.shape[1:]))
    if per_sample != n_in:
        raise ConversionError(
            f"calibration data has {per_sample} features per sample (shape {tuple(x.shape)}) but "
            f"{first} expects in_features={n_in}; pass images of shape (n, {n_in}) or (n, h, w) "
            f"with h*w={n_in}")
    x = x.reshape(x.shape[0], n_in).to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ConversionError("calibration data contains NaN or inf values")
    return x


def _layer_activations(layers: list[tuple[str, nn.Module]], x: torch.Tensor,
                       dropout: str = "inverted") -> torch.Tensor:
    """Apply the layers in evaluation mode (see the module docstring for dropout)."""
    for _, m in layers:
        if isinstance(m, nn.Linear):
            x = torch.nn.functional.linear(x, m.weight.detach().to("cpu"))
        elif isinstance(m, RELU_LAYERS):
            x = torch.relu(x)
        elif isinstance(m, AuthorsDropout) or (isinstance(m, nn.Dropout) and dropout == "non-inverted"):
            x = x * (1.0 - m.p)
        # inverted nn.Dropout: identity in eval mode; Flatten: x is already (n, features)
    return x


def from_torch(model: nn.Module, calibration_images: Any, percentile: float = 100.0,
               alpha_scale: float = 1.0, beta: Sequence[float] | None = None,
               batch_size: int = 4096, *, dropout: str = "inverted") -> SpikingSpec:
    """Convert a bias-free ReLU MLP into a :class:`SpikingSpec`.

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` (or a module whose children, in order, are the
        layers; nested ``nn.Sequential`` are expanded) made only of
        ``Linear(bias=False)``, ``ReLU``, ``Dropout`` and ``Flatten`` (or the
        authors' :class:`~bridge.conventions.AuthorsDropout` and
        :class:`~bridge.conventions.StraightThroughReLU`), with a
        ReLU after every hidden Linear (the output ReLU is optional). Weights
        must be float32 and finite. The model is not modified (its train/eval
        mode is restored).
    calibration_images : array_like or torch.Tensor
        Calibration inputs, shape ``(n, in_features)`` or ``(n, h, w)`` with
        ``h*w = in_features`` (intensities, typically in [0, 1]): the training
        images of all tasks seen so far.
    percentile : float
        0 < percentile <= 100. With 100 (default, the authors' choice) the
        maximum activation of each layer enters ``lambda_l``; otherwise this
        percentile of the layer's positive activations (all samples and
        neurons pooled).
    alpha_scale : float
        Global impulse factor (> 0): ``alpha_l = alpha_scale / applied_l``.
    beta : sequence of float, optional
        Per-layer threshold factors (> 0); 1.0 each if not given.
    batch_size : int
        Calibration images processed per forward pass (memory bound only).
    dropout : {"inverted", "non-inverted"}
        How the model's ``nn.Dropout`` layers were trained: ``"inverted"``
        (PyTorch's convention; evaluation is the identity) or
        ``"non-inverted"`` (the SRC authors' convention; evaluation multiplies
        by ``1 - p``). :class:`~bridge.conventions.AuthorsDropout` always
        scales. See the module docstring for why it matters.

    Returns
    -------
    SpikingSpec
        float32 copies of the weights, ``alpha``, ``beta``, the layer sizes
        and the applied normalisation factors.

    Raises
    ------
    ConversionError
        Unsupported layer (its class and position are named), a Linear with
        a bias, non-float32 or non-finite weights, calibration data whose
        size does not match the first Linear's ``in_features``, a model whose
        ``forward`` does not apply its children in order, or a layer with no
        positive weight and no positive activation (nothing to normalise by).
    """
    percentile = float(percentile)
    if not (0.0 < percentile <= 100.0):
        raise ValueError(f"percentile={percentile!r} must be in (0, 100]")
    alpha_scale = float(alpha_scale)
    if not (np.isfinite(alpha_scale) and alpha_scale > 0):
        raise ValueError(f"alpha_scale={alpha_scale!r} must be finite and > 0")
    if dropout not in DROPOUT_CONVENTIONS:
        raise ValueError(f"dropout={dropout!r}: must be one of {DROPOUT_CONVENTIONS}")
    layers = _check_layers(model)
    lin_pos = [p for p, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)]
    linears = [layers[p][1] for p in lin_pos]
    n_layers = len(linears)
    if beta is None:
        beta = (1.0,) * n_layers
    beta = tuple(float(b) for b in beta)
    if len(beta) != n_layers:
        raise ValueError(f"beta has {len(beta)} entries but the model has {n_layers} Linear layers")
    first = _describe(lin_pos[0], layers[lin_pos[0]][0], linears[0])
    x = _as_calibration(calibration_images, linears[0].in_features, first)

    # Segments: layer k's activation is the output after Linear k and the
    # modules that follow it up to (excluding) the next Linear.
    bounds = lin_pos[1:] + [len(layers)]
    segments = [layers[p:q] for p, q in zip([0] + lin_pos[1:], bounds)]
    # the first segment also holds any modules before the first Linear

    maxima = [0.0] * n_layers
    positives: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
    with torch.no_grad():
        for start in range(0, x.shape[0], int(batch_size)):
            a = x[start:start + int(batch_size)]
            for k, seg in enumerate(segments):
                a = _layer_activations(seg, a, dropout)
                pos_a = a[a > 0]
                if pos_a.numel():
                    maxima[k] = max(maxima[k], float(pos_a.max()))
                    if percentile < 100.0:
                        positives[k].append(pos_a)
        _check_forward_order(model, layers, x[: min(64, x.shape[0])])

    scale, alpha = [], []
    previous = 1.0
    for k, lin in enumerate(linears):
        w_max = max(0.0, float(lin.weight.detach().max()))
        if percentile < 100.0 and positives[k]:
            act = float(np.percentile(torch.cat(positives[k]).numpy().astype(np.float64), percentile))
        else:
            act = maxima[k]
        lam = max(w_max, act)
        if not lam > 0:
            p = lin_pos[k]
            raise DeadLayerError(
                f"{_describe(p, layers[p][0], lin)}: no positive weight and no positive activation on "
                "the calibration data; the normalisation factor would be 0")
        applied = lam / previous
        scale.append(applied)
        alpha.append(alpha_scale / applied)
        previous = applied
    weights = tuple(lin.weight.detach().to("cpu").numpy().astype(np.float32, copy=True) for lin in linears)
    sizes = (linears[0].in_features,) + tuple(lin.out_features for lin in linears)
    return SpikingSpec(weights=weights, alpha=tuple(alpha), beta=beta, layer_sizes=sizes,
                       scale=tuple(scale), percentile=percentile, alpha_scale=alpha_scale)


def _check_forward_order(model: nn.Module, layers: list[tuple[str, nn.Module]], x: torch.Tensor) -> None:
    """Verify that ``model.forward`` (in eval mode) equals applying the layers in order."""
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward and all(
            type(m).forward is nn.Sequential.forward for m in model.modules() if isinstance(m, nn.Sequential)):
        # nn.Sequential.forward applies its children in order by definition.
        return
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        n_in = x.shape[1]
        try:
            out = model(x.to(device)).detach().to("cpu").reshape(x.shape[0], -1)
        except Exception as exc:  # noqa: BLE001 - any failure means the layout is unexpected
            raise ConversionError(
                f"{type(model).__name__}.forward failed on calibration data of shape "
                f"({x.shape[0]}, {n_in}): {exc}; SRC expects a module whose children, in order, "
                "form the network") from exc
    finally:
        for m, mode in modes.items():
            m.training = mode
    ref = _layer_activations(layers, x)  # what forward computes: nn.Dropout is the identity in eval
    if out.shape != ref.shape or not torch.allclose(out, ref, rtol=1e-4, atol=1e-6):
        raise ConversionError(
            f"{type(model).__name__}.forward does not apply its children in registration order; "
            "SRC expects a module whose children, in order, form the network (use nn.Sequential)")


def to_torch(spec: SpikingSpec, model: nn.Module) -> nn.Module:
    """Write ``spec.weights`` back into the model's ``Linear`` layers, in order.

    Only the ``weight`` tensors of the Linear layers are written (in place,
    under ``torch.no_grad``, keeping their device); nothing else (optimiser
    state, other parameters, train/eval mode) is touched, so
    ``to_torch(from_torch(m, x), m)`` leaves every parameter bit-identical.

    Parameters
    ----------
    spec : SpikingSpec
        Weights to copy (float32, shapes ``(out_features, in_features)``).
    model : torch.nn.Module
        A model accepted by :func:`from_torch`.

    Returns
    -------
    torch.nn.Module
        The same ``model`` object.

    Raises
    ------
    ConversionError
        If the model is not convertible, or the number, shapes or dtypes of
        the weight matrices do not match.
    """
    if not isinstance(spec, SpikingSpec):
        raise TypeError(f"spec must be a SpikingSpec, got {type(spec).__name__}")
    layers = _check_layers(model)
    linears = [(p, name, m) for p, (name, m) in enumerate(layers) if isinstance(m, nn.Linear)]
    if len(linears) != len(spec.weights):
        raise ConversionError(
            f"spec has {len(spec.weights)} weight matrices but the model has {len(linears)} Linear layers")
    for k, ((p, name, lin), w) in enumerate(zip(linears, spec.weights)):
        if tuple(lin.weight.shape) != tuple(w.shape):
            raise ConversionError(
                f"{_describe(p, name, lin)}: weight shape {tuple(lin.weight.shape)} does not match "
                f"spec.weights[{k}] shape {tuple(w.shape)}")
        if w.dtype != np.float32 or lin.weight.dtype != torch.float32:
            raise ConversionError(
                f"{_describe(p, name, lin)}: dtype mismatch (model {lin.weight.dtype}, spec {w.dtype}); "
                "both must be float32")
    with torch.no_grad():
        for (_, _, lin), w in zip(linears, spec.weights):
            lin.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32, copy=True)))
    return model
