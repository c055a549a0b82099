"""Conversion of a bias-free ReLU PyTorch MLP or CNN into a spiking (integrate-and-fire)
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

Convolutional networks (the SRC of Delanois, Ahuja, Krishnan, Tadros &
Bazhenov, "Improving Robustness of Convolutional Networks Through Sleep-Like
Replay", ICMLA 2023): ``Conv2d(bias=False)`` layers become spiking feature
maps, ``AvgPool2d`` layers fixed-weight spiking layers, and the same
normalisation runs over every spiking layer (see :func:`from_torch`); the
spec then describes each layer's connectivity in ``SpikingSpec.layers``
(:class:`LayerGeometry`). An MLP's spec is exactly what it was before
(``layers is None``).

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
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .conventions import AuthorsDropout, StraightThroughReLU

__all__ = ["ConversionError", "DeadLayerError", "LayerGeometry", "SpikingSpec", "from_torch", "to_torch",
           "linear_layers", "weight_layers", "is_convolutional", "spec_with_weights", "DROPOUT_CONVENTIONS", "LAYER_KINDS"]

#: Activation modules that :func:`from_torch` converts into spiking units (ReLU forward).
RELU_LAYERS = (nn.ReLU, StraightThroughReLU)
#: Dropout modules (scaled or not at evaluation, see the module docstring).
DROPOUT_LAYERS = (nn.Dropout, AuthorsDropout)
#: Layer types that :func:`from_torch` accepts in a fully-connected network (an MLP).
SUPPORTED_LAYERS = (nn.Linear, nn.Flatten) + RELU_LAYERS + DROPOUT_LAYERS
#: Layer types that make a network convolutional (then also accepted, see :func:`from_torch`).
CONV_LAYERS = (nn.Conv2d, nn.AvgPool2d, nn.Unflatten)
#: Layers that become spiking layers (one entry of ``SpikingSpec.weights`` each).
SPIKING_LAYERS = (nn.Linear, nn.Conv2d, nn.AvgPool2d)
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
#: Kinds of spiking layers (:class:`LayerGeometry`).
LAYER_KINDS = ("dense", "conv", "avgpool")


def _pair(value: Any, name: str) -> tuple:
    vals = tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value, value)))
    if len(vals) != 2:
        raise ValueError(f"LayerGeometry.{name}={value!r} must be an int or a pair of ints")
    return vals


def conv_output_side(side: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output side of a convolution or pooling: ``floor((side + 2p - d(k-1) - 1) / s) + 1``."""
    return (side + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class LayerGeometry:
    """The connectivity of one spiking layer of a :class:`SpikingSpec`.

    Parameters
    ----------
    kind : {"dense", "conv", "avgpool"}
        ``"dense"``: all-to-all weights ``(n_out, n_in)``; ``"conv"``: a 2-D
        convolution with kernel ``(O, C / groups, kh, kw)`` (``torch.nn.Conv2d``
        without bias, zero padding); ``"avgpool"``: an average pooling, i.e. a
        depthwise convolution (``groups = C``) with the fixed kernel
        ``1 / (kh * kw)`` (``torch.nn.AvgPool2d``).
    in_shape, out_shape : tuple of int
        ``(n,)`` for dense layers, ``(C, H, W)`` for the others (neurons in
        the order of ``torch.flatten``). A dense layer may read a feature map
        (``in_shape = (C, H, W)``, flattened).
    stride, padding, dilation : tuple of int
        Per spatial axis (rows, columns), ``>= 1``, ``>= 0``, ``>= 1``;
        ignored for dense layers. A kernel tap that falls into the zero
        padding is no synapse.
    groups : int
        Convolution groups (``>= 1``): 1 for ``"conv"``, ``C`` for ``"avgpool"``.
    plastic : bool
        Whether SRC changes the weights (True for dense and conv layers,
        False for average pooling).
    name : str
        Name of the torch module it came from (diagnostics only).
    """

    kind: str
    in_shape: tuple
    out_shape: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    plastic: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"LayerGeometry.kind={self.kind!r} is not known; allowed: {', '.join(LAYER_KINDS)}")
        for name in ("in_shape", "out_shape"):
            shape = tuple(int(v) for v in getattr(self, name))
            if len(shape) not in (1, 3) or any(v < 1 for v in shape):
                raise ValueError(f"LayerGeometry.{name}={getattr(self, name)!r} must be (n,) or (C, H, W) "
                                 "with positive entries")
            object.__setattr__(self, name, shape)
        for name, low in (("stride", 1), ("padding", 0), ("dilation", 1)):
            vals = _pair(getattr(self, name), name)
            if any(v < low for v in vals):
                raise ValueError(f"LayerGeometry.{name}={vals!r} must have entries >= {low}")
            object.__setattr__(self, name, vals)
        object.__setattr__(self, "groups", int(self.groups))
        object.__setattr__(self, "plastic", bool(self.plastic))
        if self.kind == "dense":
            if len(self.out_shape) != 1:
                raise ValueError(f"LayerGeometry.out_shape={self.out_shape!r}: a dense layer's output is (n,)")
        else:
            if len(self.in_shape) != 3 or len(self.out_shape) != 3:
                raise ValueError(f"LayerGeometry: a {self.kind} layer maps (C, H, W) to (C, H, W), got "
                                 f"in_shape={self.in_shape!r}, out_shape={self.out_shape!r}")
            if self.groups < 1 or self.in_shape[0] % self.groups or self.out_shape[0] % self.groups:
                raise ValueError(f"LayerGeometry.groups={self.groups} must divide the channels "
                                 f"{self.in_shape[0]} and {self.out_shape[0]}")

    @property
    def n_in(self) -> int:
        """Number of input neurons."""
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        """Number of neurons of the layer."""
        return int(np.prod(self.out_shape))

    def weight_shape(self, kernel_size: tuple) -> tuple:
        """The shape of the weight array of this layer for a kernel ``(kh, kw)`` (dense: ignored)."""
        if self.kind == "dense":
            return (self.n_out, self.n_in)
        return (self.out_shape[0], self.in_shape[0] // self.groups) + tuple(kernel_size)


def _check_geometry(layers: Any, weights: tuple, sizes: tuple) -> tuple:
    """Validate ``SpikingSpec.layers`` against the weights and sizes; return it as a tuple."""
    layers = tuple(layers)
    n = len(weights)
    if len(layers) != n:
        raise ValueError(f"SpikingSpec.layers must have {n} entries (one per layer), got {len(layers)}")
    for k, (g, w) in enumerate(zip(layers, weights)):
        if not isinstance(g, LayerGeometry):
            raise ValueError(f"SpikingSpec.layers[{k}] must be a LayerGeometry, got {type(g).__name__}")
        if (g.n_in, g.n_out) != (sizes[k], sizes[k + 1]):
            raise ValueError(f"SpikingSpec.layers[{k}] maps {g.n_in} to {g.n_out} neurons but layer_sizes={sizes} "
                             f"says {sizes[k]} to {sizes[k + 1]}")
        if k and int(np.prod(layers[k - 1].out_shape)) != g.n_in:
            raise ValueError(f"SpikingSpec.layers[{k}].in_shape={g.in_shape} does not match the previous "
                             f"layer's out_shape={layers[k - 1].out_shape}")
        if g.kind == "dense":
            expected = (g.n_out, g.n_in)
            if w.shape != expected:
                raise ValueError(f"SpikingSpec.weights[{k}] has shape {w.shape}, expected {expected} "
                                 f"(dense layer {g.in_shape} -> {g.out_shape})")
            continue
        if w.ndim != 4:
            raise ValueError(f"SpikingSpec.weights[{k}] must be 4-D (O, C/groups, kh, kw) for a {g.kind} "
                             f"layer, got shape {w.shape}")
        expected = g.weight_shape(w.shape[2:])
        if w.shape != expected:
            raise ValueError(f"SpikingSpec.weights[{k}] has shape {w.shape}, expected {expected} for a {g.kind} "
                             f"layer {g.in_shape} -> {g.out_shape} with groups={g.groups}")
        sides = tuple(conv_output_side(g.in_shape[1 + a], w.shape[2 + a], g.stride[a], g.padding[a],
                                       g.dilation[a]) for a in range(2))
        if sides != g.out_shape[1:]:
            raise ValueError(f"SpikingSpec.layers[{k}]: a {w.shape[2]}x{w.shape[3]} kernel with stride {g.stride}, "
                             f"padding {g.padding}, dilation {g.dilation} maps {g.in_shape[1:]} to {sides}, "
                             f"not {g.out_shape[1:]}")
    return layers


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
    layers : tuple of LayerGeometry, optional
        ``None`` (default) for a fully-connected network (an MLP): every
        entry of ``weights`` is then a 2-D matrix as described above, and
        nothing else in this class changes meaning. For a convolutional
        network, one :class:`LayerGeometry` per spiking layer (per entry of
        ``weights``, ``alpha``, ``beta``, ``scale``): its kind
        (``"dense"``, ``"conv"`` or ``"avgpool"``), input and output shapes,
        stride, padding, dilation, groups and whether its weights are plastic.
        Then ``weights[l]`` is the matrix ``(n_out, n_in)`` of a dense layer,
        the kernel ``(O, C, kh, kw)`` of a convolution, and for an average
        pooling the fixed depthwise kernel ``(C, 1, kh, kw)`` filled with
        ``1 / (kh * kw)`` (``groups = C``, not plastic); ``layer_sizes`` still
        counts neurons (``C * H * W`` for a feature map, in the order of
        ``torch.flatten``). Consumers that only handle MLPs check
        ``layers is None`` (:attr:`is_fully_connected`).
    """

    weights: tuple
    alpha: tuple
    beta: tuple
    layer_sizes: tuple
    scale: tuple
    percentile: float = 100.0
    alpha_scale: float = 1.0
    layers: tuple | None = None

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
            if self.layers is None and w.ndim != 2:
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
        layers = None if self.layers is None else _check_geometry(self.layers, weights, sizes)
        for k, w in enumerate(weights):
            if layers is None and w.shape != (sizes[k + 1], sizes[k]):
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
        object.__setattr__(self, "layers", layers)

    @property
    def n_layers(self) -> int:
        """Number of weight layers (spiking layers after the input)."""
        return len(self.weights)

    @property
    def is_fully_connected(self) -> bool:
        """True for an MLP (``layers is None``): every weight is a 2-D matrix."""
        return self.layers is None

    def geometry(self) -> tuple:
        """One :class:`LayerGeometry` per layer (dense ones built from ``layer_sizes`` for an MLP)."""
        if self.layers is not None:
            return self.layers
        s = self.layer_sizes
        return tuple(LayerGeometry("dense", (s[k],), (s[k + 1],)) for k in range(self.n_layers))

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
    if isinstance(model, SUPPORTED_LAYERS + CONV_LAYERS):
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
    layered = False  # a convolutional network (Conv2d, AvgPool2d or Unflatten present)
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
        elif isinstance(m, nn.Conv2d):
            if linear_positions:
                raise ConversionError(
                    f"{where}: convolutional layers are not supported after a Linear layer (a Conv2d needs a "
                    "(C, H, W) input; put the Conv2d layers first)")
            _check_conv2d(where, m)
            layered = True
        elif isinstance(m, nn.AvgPool2d):
            _check_avgpool2d(where, m)
            layered = True
        elif isinstance(m, nn.Unflatten):
            if m.dim != 1:
                raise ConversionError(f"{where}: Unflatten(dim={m.dim}) is not supported; only dim=1 (the "
                                      "features of a sample) can be unflattened")
            layered = True
        elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
                            nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
            raise ConversionError(
                f"{where}: max pooling is not supported: an integrate-and-fire neuron sums its inputs' "
                "spikes, and the maximum of the inputs' rates is no such sum (converted networks that keep "
                "max pooling need a gate on the most active input, Rueckauer et al. 2017); use "
                "nn.AvgPool2d, which converts exactly into a fixed-weight spiking layer")
        elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                            nn.AvgPool1d, nn.AvgPool3d)):
            raise ConversionError(
                f"{where}: {type(m).__name__} is not supported; use nn.AvgPool2d with an explicit kernel "
                "size (a fixed-weight spiking layer)")
        elif isinstance(m, (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            raise ConversionError(
                f"{where}: convolutional layers other than Conv2d are not supported; SRC here converts "
                "bias-free Conv2d, AvgPool2d, Linear(bias=False), ReLU, Dropout, Flatten and Unflatten")
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
                "AuthorsDropout, StraightThroughReLU), and for convolutional networks Conv2d(bias=False), "
                "AvgPool2d and Unflatten")
    if layered:
        return layers  # the ReLU placement is checked once the shapes are known (_from_torch_layered)
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


def _is_layered(layers: list[tuple[str, nn.Module]]) -> bool:
    """Whether a validated layer list is a convolutional network (the layered path)."""
    return any(isinstance(m, CONV_LAYERS) for _, m in layers)


def _check_weight(where: str, w: torch.Tensor) -> None:
    if w.dtype != torch.float32:
        raise ConversionError(f"{where}: weight dtype is {w.dtype}; SRC works in float32 (call model.float())")
    bad = int((~torch.isfinite(w)).sum())
    if bad:
        raise ConversionError(f"{where}: weight contains {bad} NaN/inf value(s)")


def _check_conv2d(where: str, m: nn.Conv2d) -> None:
    if m.bias is not None:
        raise ConversionError(f"{where}: Conv2d has a bias; SRC needs bias-free layers "
                              f"(nn.Conv2d({m.in_channels}, {m.out_channels}, {m.kernel_size}, bias=False))")
    if m.groups != 1:
        raise ConversionError(f"{where}: Conv2d with groups={m.groups} is not supported; only groups=1")
    if m.padding_mode != "zeros":
        raise ConversionError(f"{where}: Conv2d with padding_mode={m.padding_mode!r} is not supported; only "
                              "'zeros' (a padded tap is no synapse)")
    if isinstance(m.padding, str):
        _conv_padding(where, m)  # raises if it cannot be written as symmetric padding
    _check_weight(where, m.weight.detach())


def _conv_padding(where: str, m: nn.Conv2d) -> tuple:
    """Numeric (rows, columns) padding of a Conv2d (its ``'valid'`` / ``'same'`` strings resolved)."""
    if not isinstance(m.padding, str):
        return tuple(int(p) for p in m.padding)
    if m.padding == "valid":
        return (0, 0)
    pads = []
    for k, d in zip(m.kernel_size, m.dilation):
        total = d * (k - 1)
        if total % 2:
            raise ConversionError(f"{where}: padding='same' with kernel {m.kernel_size} and dilation {m.dilation} "
                                  "pads unevenly; give a numeric padding")
        pads.append(total // 2)
    return tuple(pads)


def _check_avgpool2d(where: str, m: nn.AvgPool2d) -> None:
    if m.ceil_mode:
        raise ConversionError(f"{where}: AvgPool2d(ceil_mode=True) is not supported (the last windows would "
                              "average fewer inputs); use ceil_mode=False")
    pad = _pair(m.padding, "padding")
    if any(pad) and not m.count_include_pad:
        raise ConversionError(f"{where}: AvgPool2d with padding and count_include_pad=False is not supported "
                              "(the divisor would change at the border); use count_include_pad=True")
    if m.divisor_override is not None and m.divisor_override <= 0:
        raise ConversionError(f"{where}: AvgPool2d divisor_override={m.divisor_override} must be > 0")


def _check_relu_between(layers: list[tuple[str, nn.Module]]) -> None:
    """In a convolutional network every Conv2d/Linear but the last spiking layer is followed by a ReLU.

    The ReLU must come before the next spiking layer (Conv2d, AvgPool2d, Linear): the
    integrate-and-fire neurons of a layer rectify, so a pooling of pre-activations
    (Conv2d -> AvgPool2d -> ReLU) has no spiking equivalent.
    """
    spiking = [p for p, (_, m) in enumerate(layers) if isinstance(m, SPIKING_LAYERS)]
    if not spiking:
        raise ConversionError("the model has no Conv2d, AvgPool2d or Linear layer")
    for a, b in zip(spiking[:-1], spiking[1:]):
        name, m = layers[a]
        if isinstance(m, nn.AvgPool2d):
            continue
        if not any(isinstance(x, RELU_LAYERS) for _, x in layers[a + 1:b]):
            nb, mb = layers[b]
            raise ConversionError(
                f"{_describe(a, name, m)}: hidden {type(m).__name__} is not followed by a ReLU before the next "
                f"spiking layer ({_describe(b, nb, mb)}); SRC converts ReLU units into spiking units")


def is_convolutional(model: nn.Module) -> bool:
    """Whether ``model`` is a convolutional network for :func:`from_torch` (any Conv2d, AvgPool2d, Unflatten).

    Raises
    ------
    ConversionError
        If the model contains an unsupported layer.
    """
    return _is_layered(_check_layers(model))


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The model's ``Conv2d`` and ``Linear`` layers in order: the weights SRC changes.

    Raises
    ------
    ConversionError
        If the model contains an unsupported layer (see :func:`from_torch`).
    """
    return [m for _, m in _check_layers(model) if isinstance(m, (nn.Conv2d, nn.Linear))]


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's ``Linear`` layers in order (after validating the model).

    Raises
    ------
    ConversionError
        If the model contains an unsupported layer (see :func:`from_torch`).
    """
    return [m for _, m in _check_layers(model) if isinstance(m, nn.Linear)]


def _calibration_tensor(calibration_images: Any, what: str = "") -> torch.Tensor:
    """The calibration data as a CPU tensor of at least one sample (``what`` names a sample)."""
    if isinstance(calibration_images, torch.Tensor):
        x = calibration_images.detach().to("cpu")
    else:
        try:
            x = torch.from_numpy(np.asarray(calibration_images))
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"calibration data could not be converted to an array: {exc}") from exc
    if x.ndim == 0 or x.shape[0] == 0:
        raise ConversionError(f"calibration data must hold at least one sample{what}, got shape {tuple(x.shape)}")
    return x


def _as_calibration(calibration_images: Any, n_in: int, first: str) -> torch.Tensor:
    x = _calibration_tensor(calibration_images, f" of {n_in} features")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    per_sample = int(np.prod(x.shape[1:]))
    if per_sample != n_in:
        raise ConversionError(
            f"calibration data has {per_sample} features per sample (shape {tuple(x.shape)}) but "
            f"{first} expects in_features={n_in}; pass images of shape (n, {n_in}) or (n, h, w) "
            f"with h*w={n_in}")
    x = x.reshape(x.shape[0], n_in).to(torch.float32)
    # a NaN or inf makes the sum non-finite; only then (or on overflow) is every value checked
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ConversionError("calibration data contains NaN or inf values")
    return x


def _layer_activations(layers: list[tuple[str, nn.Module]], x: torch.Tensor,
                       dropout: str = "inverted") -> torch.Tensor:
    """Apply the layers in evaluation mode (see the module docstring for dropout)."""
    owned = False  # True once x is a tensor made here (the caller's is never changed in place)
    for _, m in layers:
        if isinstance(m, nn.Linear):
            x, owned = torch.nn.functional.linear(x, m.weight.detach().to("cpu")), True
        elif isinstance(m, RELU_LAYERS):
            x, owned = (torch.relu_(x) if owned else torch.relu(x)), True
        elif isinstance(m, AuthorsDropout) or (isinstance(m, nn.Dropout) and dropout == "non-inverted"):
            x, owned = x * (1.0 - m.p), True
        # inverted nn.Dropout: identity in eval mode; Flatten: x is already (n, features)
    return x


def from_torch(model: nn.Module, calibration_images: Any, percentile: float = 100.0,
               alpha_scale: float = 1.0, beta: Sequence[float] | None = None,
               batch_size: int = 4096, *, dropout: str = "inverted",
               input_shape: Sequence[int] | None = None) -> SpikingSpec:
    """Convert a bias-free ReLU MLP or CNN into a :class:`SpikingSpec`.

    Convolutional networks (any ``Conv2d``, ``AvgPool2d`` or ``Unflatten``
    in the model) may also hold ``Conv2d(bias=False)`` (any stride,
    zero padding and dilation, ``groups=1``), ``AvgPool2d`` (converted into a
    fixed-weight spiking layer: a depthwise convolution with the kernel
    ``1 / (kh * kw)``, not plastic; no ``ceil_mode``; padding only with
    ``count_include_pad=True``), ``Unflatten(1, (C, H, W))`` and ``Flatten``
    before the ``Linear`` layers. Every Conv2d and Linear but the last
    spiking layer must be followed by a ReLU before the next spiking layer.
    ``MaxPool2d`` is rejected (an integrate-and-fire neuron sums its inputs'
    spikes; the maximum of their rates is no such sum). The normalisation is
    the same for every spiking layer (pooling layers included):
    ``lambda_l = max(largest positive weight, largest activation)`` of
    layer ``l``, its activation being its output after the ReLU, over all
    positions and channels. The spec then carries ``layers``
    (:class:`LayerGeometry`); for an MLP ``layers`` is ``None`` and the
    result is exactly the fully-connected conversion.

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
    input_shape : sequence of int, optional
        Shape of one sample as the model's first layer receives it, e.g.
        ``(1, 28, 28)`` for a CNN whose first layer is a Conv2d. Default:
        the calibration data's per-sample shape (for a convolutional
        network, images of shape ``(n, C, H, W)``, or any shape when the
        model starts with ``Flatten``/``Unflatten(1, (C, H, W))``). For an
        MLP only its size is checked against the first Linear.

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
    if _is_layered(layers):
        return _from_torch_layered(model, layers, calibration_images, percentile, alpha_scale, beta,
                                   int(batch_size), dropout, input_shape)
    lin_pos = [p for p, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)]
    linears = [layers[p][1] for p in lin_pos]
    n_layers = len(linears)
    if beta is None:
        beta = (1.0,) * n_layers
    beta = tuple(float(b) for b in beta)
    if len(beta) != n_layers:
        raise ValueError(f"beta has {len(beta)} entries but the model has {n_layers} Linear layers")
    first = _describe(lin_pos[0], layers[lin_pos[0]][0], linears[0])
    if input_shape is not None and int(np.prod(tuple(input_shape))) != linears[0].in_features:
        raise ConversionError(f"input_shape={tuple(input_shape)} has {int(np.prod(tuple(input_shape)))} values but "
                              f"{first} expects in_features={linears[0].in_features}")
    x = _as_calibration(calibration_images, linears[0].in_features, first)

    # Segments: layer k's activation is the output after Linear k and the
    # modules that follow it up to (excluding) the next Linear.
    bounds = lin_pos[1:] + [len(layers)]
    segments = [layers[p:q] for p, q in zip([0] + lin_pos[1:], bounds)]
    # the first segment also holds any modules before the first Linear

    activations = _largest_activations(segments, x, int(batch_size), percentile,
                                       lambda seg, a: _layer_activations(seg, a, dropout))
    with torch.no_grad():
        _check_forward_order(model, layers, x[: min(64, x.shape[0])])
    scale, alpha = _normalisation_factors(
        [float(lin.weight.detach().max()) for lin in linears], activations, alpha_scale,
        [_describe(p, layers[p][0], lin) for p, lin in zip(lin_pos, linears)])
    weights = tuple(lin.weight.detach().to("cpu").numpy().astype(np.float32, copy=True) for lin in linears)
    sizes = (linears[0].in_features,) + tuple(lin.out_features for lin in linears)
    return SpikingSpec(weights=weights, alpha=tuple(alpha), beta=beta, layer_sizes=sizes,
                       scale=tuple(scale), percentile=percentile, alpha_scale=alpha_scale)


def _apply_module(m: nn.Module, x: torch.Tensor, dropout: str) -> torch.Tensor:
    """One module of a convolutional network in evaluation mode (weights read on the CPU)."""
    if isinstance(m, nn.Linear):
        return torch.nn.functional.linear(x, m.weight.detach().to("cpu"))
    if isinstance(m, nn.Conv2d):
        return torch.nn.functional.conv2d(x, m.weight.detach().to("cpu"), None, m.stride,
                                          _conv_padding("", m), m.dilation, m.groups)
    if isinstance(m, nn.AvgPool2d):
        return torch.nn.functional.avg_pool2d(x, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                              m.count_include_pad, m.divisor_override)
    if isinstance(m, RELU_LAYERS):
        return torch.relu(x)
    if isinstance(m, AuthorsDropout) or (isinstance(m, nn.Dropout) and dropout == "non-inverted"):
        return x * (1.0 - m.p)
    if isinstance(m, nn.Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(m, nn.Unflatten):
        return x.reshape(x.shape[0], *m.unflattened_size, *x.shape[2:])
    return x  # inverted nn.Dropout: the identity in evaluation mode


def _apply_layers(layers: list[tuple[str, nn.Module]], x: torch.Tensor, dropout: str = "inverted") -> torch.Tensor:
    for _, m in layers:
        x = _apply_module(m, x, dropout)
    return x


def _trace_layered(layers: list[tuple[str, nn.Module]], shape: tuple) -> tuple[list, list, list, tuple]:
    """Follow the per-sample shape through the layers.

    Returns the positions of the spiking layers, their :class:`LayerGeometry`
    and their weight arrays (float32 copies; the fixed kernel of a pooling),
    and the shape entering the first spiking layer.
    """
    positions, geometry, weights = [], [], []
    spike_input = None
    for pos, (name, m) in enumerate(layers):
        where = _describe(pos, name, m)
        if isinstance(m, SPIKING_LAYERS) and spike_input is None:
            spike_input = shape
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise ConversionError(f"{where}: Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) is not "
                                      "supported in a convolutional network; use Flatten() (start_dim=1)")
            shape = (int(np.prod(shape)),)
        elif isinstance(m, nn.Unflatten):
            size = tuple(int(v) for v in m.unflattened_size)
            if int(np.prod(size)) != shape[0]:
                raise ConversionError(f"{where}: cannot unflatten dimension 1 of a sample of shape {shape} into "
                                      f"{size}; flatten the input first (nn.Flatten() before it) or pass "
                                      "flat calibration images")
            shape = size + shape[1:]
        elif isinstance(m, nn.Linear):
            if len(shape) != 1:
                raise ConversionError(f"{where}: receives a sample of shape {shape}; put a Flatten before the "
                                      "Linear")
            if shape[0] != m.in_features:
                raise ConversionError(f"{where}: in_features={m.in_features} does not match the {shape[0]} "
                                      "values it receives")
            g = LayerGeometry("dense", shape, (m.out_features,), name=name)
            positions.append(pos)
            geometry.append(g)
            weights.append(m.weight.detach().to("cpu").numpy().astype(np.float32, copy=True))
            shape = g.out_shape
        elif isinstance(m, (nn.Conv2d, nn.AvgPool2d)):
            if len(shape) != 3:
                if isinstance(m, nn.Conv2d) and len(shape) == 1 and positions:
                    raise ConversionError(
                        f"{where}: convolutional layers are not supported after a Linear or Flatten layer "
                        "(a Conv2d needs a (C, H, W) input; put the Conv2d layers first)")
                raise ConversionError(
                    f"{where}: needs an input of shape (C, H, W) per sample, got {shape}; pass calibration "
                    "images of shape (n, C, H, W), input_shape=(C, H, W), or start the model with "
                    "nn.Unflatten(1, (C, H, W))")
            if isinstance(m, nn.Conv2d):
                if shape[0] != m.in_channels:
                    raise ConversionError(f"{where}: in_channels={m.in_channels} but it receives {shape[0]} "
                                          f"channel(s) (sample shape {shape})")
                kernel, stride, pad, dil = m.kernel_size, m.stride, _conv_padding(where, m), m.dilation
                out_c, groups, plastic = m.out_channels, 1, True
                w = m.weight.detach().to("cpu").numpy().astype(np.float32, copy=True)
            else:
                kernel, stride, pad = (_pair(m.kernel_size, "kernel_size"), _pair(m.stride, "stride"),
                                       _pair(m.padding, "padding"))
                dil, out_c, groups, plastic = (1, 1), shape[0], shape[0], False
                divisor = m.divisor_override or kernel[0] * kernel[1]
                w = np.full((shape[0], 1) + kernel, 1.0 / divisor, dtype=np.float32)
            sides = tuple(conv_output_side(shape[1 + a], kernel[a], stride[a], pad[a], dil[a]) for a in range(2))
            if min(sides) < 1:
                raise ConversionError(f"{where}: a {kernel} kernel does not fit the {shape[1:]} input "
                                      f"(stride {stride}, padding {pad}, dilation {dil})")
            g = LayerGeometry("conv" if plastic else "avgpool", shape, (out_c,) + sides, stride, pad, dil, groups,
                              plastic, name)
            positions.append(pos)
            geometry.append(g)
            weights.append(w)
            shape = g.out_shape
    return positions, geometry, weights, spike_input



def _largest_activations(segments: list, x: torch.Tensor, batch_size: int, percentile: float,
                         apply: Callable[[list, torch.Tensor], torch.Tensor]) -> list[float]:
    """The normalisation's activation statistic of each spiking layer over the calibration data.

    ``segments[k]`` holds the modules from spiking layer k up to (excluding)
    the next; ``apply(segment, a)`` runs one. The statistic is the largest
    positive activation, or with ``percentile < 100`` that percentile of all
    positive activations (Diehl et al. 2015; Rueckauer et al. 2017); 0 for a
    layer with no positive activation.
    """
    maxima = [0.0] * len(segments)
    positives: list[list[torch.Tensor]] = [[] for _ in segments]
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            a = x[start:start + batch_size]
            for k, seg in enumerate(segments):
                a = apply(seg, a)
                if percentile < 100.0:
                    pos_a = a[a > 0]
                    if pos_a.numel():
                        maxima[k] = max(maxima[k], float(pos_a.max()))
                        positives[k].append(pos_a)
                elif a.numel():
                    # the largest positive value, or 0 if none: no copy of the positives
                    maxima[k] = max(maxima[k], float(a.max()))
    return [float(np.percentile(torch.cat(positives[k]).numpy().astype(np.float64), percentile))
            if percentile < 100.0 and positives[k] else maxima[k] for k in range(len(segments))]


def _normalisation_factors(weight_maxima: Sequence[float], activations: Sequence[float], alpha_scale: float,
                           names: Sequence[str]) -> tuple[list[float], list[float]]:
    """Data-based normalisation: the applied factors and impulse factors of every spiking layer.

    λ_l = max(largest positive weight, activation statistic) of layer l; the
    factor applied to layer l is λ_l / λ_{l-1}'s applied factor (Diehl et al.
    2015), and α_l = ``alpha_scale`` / applied_l. ``names[l]`` describes the
    layer in the error raised when λ_l is 0.
    """
    scale, alpha = [], []
    previous = 1.0
    for w_max, act, name in zip(weight_maxima, activations, names):
        lam = max(0.0, float(w_max), float(act))
        if not lam > 0:
            raise DeadLayerError(f"{name}: no positive weight and no positive activation on "
                                 "the calibration data; the normalisation factor would be 0")
        applied = lam / previous
        scale.append(applied)
        alpha.append(alpha_scale / applied)
        previous = applied
    return scale, alpha

def _layered_input_shape(calibration: torch.Tensor, input_shape: Sequence[int] | None) -> tuple:
    """The per-sample shape the model's first layer receives (``input_shape``, or the data's)."""
    if input_shape is not None:
        shape = tuple(int(v) for v in input_shape)
        if int(np.prod(shape)) != int(np.prod(calibration.shape[1:])):
            raise ConversionError(f"calibration data has {int(np.prod(calibration.shape[1:]))} values per sample "
                                  f"(shape {tuple(calibration.shape)}) but input_shape={shape}")
        return shape
    if calibration.ndim < 2:
        raise ConversionError(f"calibration data of shape {tuple(calibration.shape)}: a convolutional network "
                              "needs images of shape (n, C, H, W) (or input_shape=)")
    return tuple(int(v) for v in calibration.shape[1:])


def _from_torch_layered(model: nn.Module, layers: list[tuple[str, nn.Module]], calibration_images: Any,
                        percentile: float, alpha_scale: float, beta: Sequence[float] | None, batch_size: int,
                        dropout: str, input_shape: Sequence[int] | None) -> SpikingSpec:
    """The conversion of a convolutional network (see :func:`from_torch`)."""
    x = _calibration_tensor(calibration_images)
    shape = _layered_input_shape(x, input_shape)
    positions, geometry, weights, spike_input = _trace_layered(layers, shape)
    _check_relu_between(layers)
    x = x.reshape(x.shape[0], *shape).to(torch.float32)
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ConversionError("calibration data contains NaN or inf values")
    n_layers = len(positions)
    if beta is None:
        beta = (1.0,) * n_layers
    beta = tuple(float(b) for b in beta)
    if len(beta) != n_layers:
        raise ValueError(f"beta has {len(beta)} entries but the model has {n_layers} spiking layers "
                         "(Conv2d, AvgPool2d and Linear)")
    bounds = positions[1:] + [len(layers)]
    segments = [layers[p:q] for p, q in zip([0] + positions[1:], bounds)]
    activations = _largest_activations(segments, x, batch_size, percentile,
                                       lambda seg, a: _apply_layers(seg, a, dropout))
    with torch.no_grad():
        _check_forward_order(model, layers, x[: min(64, x.shape[0])], reference=_apply_layers)
    scale, alpha = _normalisation_factors(
        [float(w.max()) for w in weights], activations, alpha_scale,
        [_describe(p, layers[p][0], layers[p][1]) for p in positions])
    sizes = (int(np.prod(spike_input)),) + tuple(g.n_out for g in geometry)
    return SpikingSpec(weights=tuple(weights), alpha=tuple(alpha), beta=beta, layer_sizes=sizes,
                       scale=tuple(scale), percentile=percentile, alpha_scale=alpha_scale, layers=tuple(geometry))


def _check_forward_order(model: nn.Module, layers: list[tuple[str, nn.Module]], x: torch.Tensor,
                         reference: Any = None) -> None:
    """Verify that ``model.forward`` (in eval mode) equals applying the layers in order."""
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward and all(
            type(m).forward is nn.Sequential.forward for m in model.modules() if isinstance(m, nn.Sequential)):
        # nn.Sequential.forward applies its children in order by definition.
        return
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        try:
            out = model(x.to(device)).detach().to("cpu").reshape(x.shape[0], -1)
        except Exception as exc:  # noqa: BLE001 - any failure means the layout is unexpected
            raise ConversionError(
                f"{type(model).__name__}.forward failed on calibration data of shape "
                f"{tuple(x.shape)}: {exc}; SRC expects a module whose children, in order, "
                "form the network") from exc
    finally:
        for m, mode in modes.items():
            m.training = mode
    # what forward computes: nn.Dropout is the identity in eval
    ref = _layer_activations(layers, x) if reference is None else reference(layers, x).reshape(x.shape[0], -1)
    if out.shape != ref.shape or not torch.allclose(out, ref, rtol=1e-4, atol=1e-6):
        raise ConversionError(
            f"{type(model).__name__}.forward does not apply its children in registration order; "
            "SRC expects a module whose children, in order, form the network (use nn.Sequential)")


def to_torch(spec: SpikingSpec, model: nn.Module) -> nn.Module:
    """Write ``spec.weights`` back into the model's ``Linear`` (and ``Conv2d``) layers, in order.

    Only the ``weight`` tensors of the Linear and Conv2d layers are written
    (in place, under ``torch.no_grad``, keeping their device); nothing else
    (optimiser state, other parameters, train/eval mode) is touched, so
    ``to_torch(from_torch(m, x), m)`` leaves every parameter bit-identical.
    The fixed kernels of average-pooling layers (not plastic) are not
    written: the torch layer has no weight.

    Parameters
    ----------
    spec : SpikingSpec
        Weights to copy (float32, shapes ``(out_features, in_features)``;
        kernels ``(O, C, kh, kw)`` for a convolutional spec).
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
    if _is_layered(layers) or spec.layers is not None:
        linears = [(p, name, m) for p, (name, m) in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d))]
        plastic = [(k, w) for k, (w, g) in enumerate(zip(spec.weights, spec.geometry())) if g.plastic]
        if len(linears) != len(plastic):
            raise ConversionError(
                f"spec has {len(plastic)} plastic weight arrays but the model has {len(linears)} Conv2d/Linear "
                "layers")
    else:
        linears = [(p, name, m) for p, (name, m) in enumerate(layers) if isinstance(m, nn.Linear)]
        plastic = list(enumerate(spec.weights))
        if len(linears) != len(spec.weights):
            raise ConversionError(
                f"spec has {len(spec.weights)} weight matrices but the model has {len(linears)} Linear layers")
    for (p, name, lin), (k, w) in zip(linears, plastic):
        if tuple(lin.weight.shape) != tuple(w.shape):
            raise ConversionError(
                f"{_describe(p, name, lin)}: weight shape {tuple(lin.weight.shape)} does not match "
                f"spec.weights[{k}] shape {tuple(w.shape)}")
        if w.dtype != np.float32 or lin.weight.dtype != torch.float32:
            raise ConversionError(
                f"{_describe(p, name, lin)}: dtype mismatch (model {lin.weight.dtype}, spec {w.dtype}); "
                "both must be float32")
    with torch.no_grad():
        for (_, _, lin), (_, w) in zip(linears, plastic):
            lin.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32, copy=True)))
    return model
