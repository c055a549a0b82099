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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["gate", "weight_change", "BRIAN2_ON_POST", "BRIAN2_ON_PRE"]

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
