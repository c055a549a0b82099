"""The plasticity rule of Sleep Replay Consolidation: what it is, in one place.

Tadros, Krishnan, Ramyaa & Bazhenov, "Sleep-like unsupervised replay reduces
catastrophic forgetting in artificial neural networks", Nat. Commun. 13:7742
(2022). When post-synaptic neuron ``i`` spikes during sleep, each of its
incoming weights changes, in the same time step:

* ``w_ij += inc * g(w_ij)`` if pre-synaptic neuron ``j`` spiked in this step,
* ``w_ij -= dec * g(w_ij)`` if it was silent,

with the gate ``g(w) = 2 * (1 - 1 / (1 + exp(-w / g_scale)))``: about 2 for
``w << 0``, 1 at 0 and about 0 for ``w >> g_scale``, so strong positive weights
are practically frozen and negative ones move fastest. Weights of neurons that
did not spike do not change. There are no weight bounds.

:func:`gate` and :func:`weight_change` are the rule; every implementation calls
them or, for Brian2, runs :data:`BRIAN2_ON_POST`, the same rule as Brian2 code
(checked against :func:`weight_change` by the test suite):

* :mod:`bridge.src_torch` (sparse and dense kernels, CPU and CUDA) calls
  :func:`weight_change` on the incoming weights of the neurons that spiked;
* :mod:`bridge.src_brian2` runs :data:`BRIAN2_ON_POST` as the ``on_post``
  code of its plastic synapses.

Shared weights (convolutional layers)
-------------------------------------
In a convolutional layer one kernel weight ``w[o, c, i, j]`` is the weight of
many synapses: from input ``(c, y*s + i*d - p, x*s + j*d - p)`` to output
``(o, y, x)`` at every output position ``(y, x)`` (stride ``s``, dilation
``d``, zero padding ``p``; a tap that falls into the padding is no synapse).
When several of these post neurons spike in one step, each synapse asks for
its own change ``+inc*g(w)`` or ``-dec*g(w)``; all of them see the same ``w``
and so the same ``g(w)``. :func:`shared_weight_change` combines them:

* ``"sum"``: the sum of the per-synapse changes,
  ``g(w) * (inc * n_plus - dec * n_minus)``, with ``n_plus`` the spiking post
  neurons whose pre neuron at this tap spiked and ``n_minus`` those whose pre
  neuron was silent. This is what the unrolled network would do if each
  synapse applied its change to the one shared value (and what
  back-propagation does with the gradients of a shared weight);
* ``"mean"``: that sum divided by ``n_plus + n_minus``, the mean change per
  synapse that asks for one. A step in which one post neuron spikes changes
  the kernel exactly as the fully-connected rule would; a step in which many
  spike changes it by at most one synapse's step, so ``inc`` and ``dec`` keep
  their meaning as the size of one step, whatever the size of the feature map.

Neither Tadros et al. (2022) nor the description of their convolutional
version (Delanois, Ahuja, Krishnan, Tadros & Bazhenov, "Improving Robustness
of Convolutional Networks Through Sleep-Like Replay", ICMLA 2023) that the
project could read fixes this choice, so it is a parameter
(``SRCParams.kernel_update``). With one output position (a 1x1 feature map)
both equal :func:`weight_change` exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["gate", "weight_change", "shared_weight_change", "KERNEL_UPDATES", "BRIAN2_ON_POST",
           "BRIAN2_ON_PRE"]

#: How :func:`shared_weight_change` combines the changes of the synapses of one shared weight.
KERNEL_UPDATES = ("mean", "sum")

#: Brian2 ``on_pre`` code of a plastic SRC pathway: add the weight to the
#: post neuron's summed input of this step, and stamp the step of this pre spike.
BRIAN2_ON_PRE = "I_post += w\nlastpre = t_in_timesteps"

#: Brian2 ``on_post`` code: the rule of :func:`weight_change` for one synapse of a
#: spiking post neuron (``lastpre == t_in_timesteps``: the pre neuron spiked in this step).
BRIAN2_ON_POST = ("gw = 2*(1 - 1/(1 + exp(-w/g_scale)))\n"
                  "w = w + gw*(inc*int(lastpre == t_in_timesteps) - dec*int(lastpre != t_in_timesteps))")


def gate(w: Any, g_scale: float = 0.001) -> Any:
    """The plasticity gate ``g(w) = 2 * (1 - 1 / (1 + exp(-w / g_scale)))``.

    Parameters
    ----------
    w : numpy.ndarray or torch.Tensor
        Weights (ANN units, dimensionless).
    g_scale : float
        Width of the gate (dimensionless, > 0); the authors use 0.001.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same type and dtype as ``w``, values in [0, 2]. Overflow of ``exp``
        for very negative ``w`` gives exactly 2 (no NaN).
    """
    if isinstance(w, torch.Tensor):
        e = torch.exp(w / (-g_scale))
        return torch.rsub(e.add_(1.0).reciprocal_(), 1.0).mul_(2.0)
    with np.errstate(over="ignore"):
        w = np.asarray(w)
        e = np.exp(w / w.dtype.type(-g_scale)) if w.dtype.kind == "f" else np.exp(-w / g_scale)
        one = e.dtype.type(1.0)
        return e.dtype.type(2.0) * (one - one / (one + e))


def weight_change(w: Any, pre_spiked: Any, inc: float, dec: float, g_scale: float) -> Any:
    """The SRC weight change of the incoming weights of neurons that spiked.

    Parameters
    ----------
    w : torch.Tensor or numpy.ndarray
        Shape ``(n_pre, k)``: column ``c`` holds the incoming weights of the
        ``c``-th post neuron that spiked in this step (ANN units).
    pre_spiked : torch.Tensor or numpy.ndarray of bool
        Shape ``(n_pre,)``: which pre neurons spiked in this step.
    inc, dec : float
        Increase and decrease factors (dimensionless, >= 0).
    g_scale : float
        Width of the gate (see :func:`gate`).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``dw`` of the shape and dtype of ``w``: ``inc * g(w)`` in the rows of
        pre neurons that spiked, ``-dec * g(w)`` elsewhere. The new weights
        are ``w + dw``.
    """
    g = gate(w, g_scale)
    if isinstance(w, torch.Tensor):
        return torch.where(pre_spiked.unsqueeze(1), g * inc, g * (-dec))
    pre = np.asarray(pre_spiked, dtype=bool)[:, None]
    one = g.dtype.type
    return np.where(pre, g * one(inc), g * one(-dec))


def shared_weight_change(w: Any, n_plus: Any, n_synapses: Any, inc: float, dec: float, g_scale: float,
                         combine: str = "mean") -> Any:
    """The SRC change of shared (convolution kernel) weights in one step.

    Each shared weight ``w`` stands for ``n_synapses`` synapses onto post
    neurons that spiked in this step; in ``n_plus`` of them the pre neuron
    spiked too. Per synapse the rule of :func:`weight_change` asks for
    ``+inc*g(w)`` (pre spiked) or ``-dec*g(w)`` (pre silent); the module
    docstring explains how they are combined.

    Parameters
    ----------
    w : torch.Tensor or numpy.ndarray
        Shared weights (any shape, e.g. a kernel ``(O, C, kh, kw)``; ANN units).
    n_plus : torch.Tensor or numpy.ndarray
        Same shape: number of synapses of each weight whose post neuron spiked
        and whose pre neuron spiked (>= 0, integral values in ``w``'s dtype).
    n_synapses : torch.Tensor or numpy.ndarray
        Same shape: number of synapses of each weight whose post neuron
        spiked (>= ``n_plus``).
    inc, dec : float
        Increase and decrease factors (dimensionless, >= 0).
    g_scale : float
        Width of the gate (see :func:`gate`).
    combine : {"mean", "sum"}
        ``"sum"``: ``g(w) * (inc*n_plus - dec*(n_synapses - n_plus))``;
        ``"mean"``: that divided by ``n_synapses`` (0 where ``n_synapses`` is 0).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``dw`` of the shape and dtype of ``w``; 0 where ``n_synapses`` is 0.
        With ``n_synapses = 1`` both modes equal :func:`weight_change`
        bit for bit.
    """
    if combine not in KERNEL_UPDATES:
        raise ValueError(f"combine={combine!r} is not known; allowed: {', '.join(KERNEL_UPDATES)}")
    g = gate(w, g_scale)
    if isinstance(w, torch.Tensor):
        n_minus = n_synapses - n_plus
        dw = g * (n_plus * inc - n_minus * dec)
        if combine == "mean":
            dw = torch.where(n_synapses > 0, dw / n_synapses.clamp(min=1), torch.zeros_like(dw))
        return dw
    one = g.dtype.type
    n_plus = np.asarray(n_plus, dtype=g.dtype)
    n_synapses = np.asarray(n_synapses, dtype=g.dtype)
    dw = g * (n_plus * one(inc) - (n_synapses - n_plus) * one(dec))
    if combine == "mean":
        dw = np.where(n_synapses > 0, dw / np.maximum(n_synapses, one(1)), one(0))
    return dw.astype(g.dtype, copy=False)
