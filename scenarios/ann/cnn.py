"""A small bias-free ReLU convolutional network that SRC converts (seed 000's setting).

Seed 000 (Chawda, Delanois, Krishnan & Bazhenov, *Sleep-like replay reduces
loss-landscape sharpness to improve generalization*) trains "a small CNN"
and sleeps it with the convolutional version of Sleep Replay Consolidation
(Delanois, Ahuja, Krishnan, Tadros & Bazhenov, "Improving Robustness of
Convolutional Networks Through Sleep-Like Replay", ICMLA 2023). Neither text
that the project has gives the layers, so the project uses the classic small
form, documented here and in ``docs/results/robustness.md``:

``Flatten, Unflatten(1, (1, 28, 28))`` (so that the network reads images of
any shape, like the MLP), then for each entry ``c`` of ``channels``:
``Conv2d(c_prev, c, kernel, bias=False), ReLU, AvgPool2d(pool)``; then
``Flatten, Linear(bias=False)`` to the classes and a ReLU output (as the SRC
MLP). Default ``channels=(16, 32)``, ``kernel=5``, ``pool=2``: 28×28 →
16×24×24 → 16×12×12 → 32×8×8 → 32×4×4 → 512 → 10 (13 200 + 5 120
weights). No biases (SRC needs none), average pooling (max pooling has no
integrate-and-fire equivalent, see :func:`bridge.convert.from_torch`).
Training uses :class:`scenarios.ann.mlp.Trainer` unchanged.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["INITS", "make_cnn", "cnn_shapes"]

#: Initialisations of :func:`make_cnn`.
INITS = ("torch", "kaiming", "uniform")


def cnn_shapes(input_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (16, 32), kernel: int = 5,
               pool: int = 2) -> list[tuple]:
    """The feature-map shapes of :func:`make_cnn`: input, then after each conv and each pooling.

    Raises
    ------
    ValueError
        If a kernel or a pooling does not fit its input.
    """
    c, h, w = (int(v) for v in input_shape)
    shapes = [(c, h, w)]
    for k, ch in enumerate(channels):
        h, w = h - kernel + 1, w - kernel + 1
        if h < 1 or w < 1:
            raise ValueError(f"channels={tuple(channels)}: the {kernel}x{kernel} kernel of conv layer {k} does not "
                             f"fit its {shapes[-1][1:]} input")
        shapes.append((int(ch), h, w))
        h, w = h // pool, w // pool
        if h < 1 or w < 1:
            raise ValueError(f"pool={pool}: the pooling after conv layer {k} does not fit its {shapes[-1][1:]} input")
        shapes.append((int(ch), h, w))
    return shapes


def make_cnn(input_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (16, 32), kernel: int = 5,
             pool: int = 2, n_classes: int = 10, init: str = "kaiming", init_scale: float = 0.01,
             relu_output: bool = True, seed: int = 0) -> nn.Sequential:
    """Build the small bias-free ReLU CNN of the robustness study (see the module docstring).

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, H, W)`` of one image (pixels).
    channels : sequence of int
        Output channels of each conv layer (each >= 1; at least one layer).
    kernel : int
        Side of the square conv kernels in pixels (>= 1).
    pool : int
        Side and stride of the square average pooling after each conv layer (>= 1).
    n_classes : int
        Outputs (>= 2).
    init : {"kaiming", "torch", "uniform"}
        ``"kaiming"`` (default, the robustness study's): weights ~ U(-b, b),
        ``b = sqrt(6 / fan_in)`` (He et al. 2015, for ReLU); ``"torch"``:
        ``b = 1 / sqrt(fan_in)`` (PyTorch's default for these layers, a
        smaller scale that trains more stably with squared error);
        ``"uniform"``: U(-init_scale, init_scale) as the SRC authors' MLP (too
        small for four layers of a CNN to train in a few epochs).
    init_scale : float
        Half-width of the ``"uniform"`` initialisation (> 0).
    relu_output : bool
        ReLU after the output layer (as the SRC MLP).
    seed : int
        Seed of the initial weights (a private ``torch.Generator``; the global
        torch RNG is left as it was).

    Returns
    -------
    torch.nn.Sequential
        On the CPU, float32, accepted by :func:`bridge.convert.from_torch`.
    """
    channels = tuple(int(c) for c in channels)
    if not channels or min(channels) < 1:
        raise ValueError(f"channels={channels!r}: need at least one conv layer with >= 1 channel")
    if kernel < 1 or pool < 1:
        raise ValueError(f"kernel={kernel}, pool={pool}: both must be >= 1")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}: must be >= 2")
    if init not in INITS:
        raise ValueError(f"init={init!r}: must be one of {INITS}")
    if not (init_scale > 0 and math.isfinite(init_scale)):
        raise ValueError(f"init_scale={init_scale!r}: must be a finite number > 0")
    shapes = cnn_shapes(input_shape, channels, kernel, pool)
    gen = torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = [nn.Flatten(), nn.Unflatten(1, tuple(int(v) for v in input_shape))]
    c_prev = int(input_shape[0])
    weighted = []
    with torch.random.fork_rng(devices=[]):  # the modules' default init draws from the global RNG
        for c in channels:
            conv = nn.Conv2d(c_prev, c, kernel, bias=False)
            layers += [conv, nn.ReLU(), nn.AvgPool2d(pool)]
            weighted.append(conv)
            c_prev = c
        n_flat = int(math.prod(shapes[-1]))
        lin = nn.Linear(n_flat, int(n_classes), bias=False)
        layers += [nn.Flatten(), lin]
        weighted.append(lin)
        if relu_output:
            layers.append(nn.ReLU())
    with torch.no_grad():
        for m in weighted:
            fan_in = m.weight[0].numel()
            bound = {"kaiming": math.sqrt(6.0 / fan_in), "torch": 1.0 / math.sqrt(fan_in)}.get(init, init_scale)
            m.weight.uniform_(-bound, bound, generator=gen)
    return nn.Sequential(*layers)
