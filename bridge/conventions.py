"""The SRC authors' training conventions as torch modules.

Tadros et al. (Nat. Commun. 13:7742, 2022) trained their networks with
DeepLearnToolbox (MATLAB), whose conventions differ from PyTorch's in two
places that matter for sleep:

* **Dropout is not inverted.** Training multiplies activations by a 0/1 mask
  without rescaling; test mode multiplies hidden activations by ``1 - p``
  (0.75 for their ``p = 0.25``). PyTorch's ``nn.Dropout`` divides the kept
  units by ``1 - p`` during training and is the identity at evaluation. A
  network trained with either convention computes the same function, but the
  weights after each dropout layer differ by the factor ``1 - p``; so do the
  maximum weight that enters the normalisation and the weights that the
  sleep's gate ``g(w)`` sees. :class:`AuthorsDropout` is their convention.
* **The output ReLU has no derivative.** Their back-propagation passes the
  error ``-(y - a)`` through a ReLU output layer unchanged, so output units
  with a negative pre-activation keep learning. :class:`StraightThroughReLU`
  is ReLU forward and identity backward.

:func:`bridge.convert.from_torch` accepts both modules: it computes
activations in evaluation mode, i.e. with the authors' test-mode scaling for
:class:`AuthorsDropout`, exactly as their ``normalize_nn_data.m`` does. For a
model that holds weights trained with the authors' convention behind a plain
``nn.Dropout``, pass ``dropout="non-inverted"`` to
:func:`~bridge.convert.from_torch` (or :func:`bridge.src.sleep`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AuthorsDropout", "StraightThroughReLU"]


class AuthorsDropout(nn.Module):
    """Non-inverted dropout, as in DeepLearnToolbox (the SRC authors' ``nnff.m``).

    Training: ``x * mask`` with ``mask = rand > p`` (no rescaling). Evaluation:
    ``x * (1 - p)``.

    Parameters
    ----------
    p : float
        Probability of dropping a unit, ``0 <= p < 1``.
    """

    def __init__(self, p: float = 0.25) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p={p!r}: must satisfy 0 <= p < 1")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return x * (torch.rand_like(x) > self.p).to(x.dtype)
        return x * (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class StraightThroughReLU(nn.Module):
    """ReLU in the forward pass, identity in the backward pass.

    The SRC authors' ``nnbp.m`` back-propagates ``d = -(y - a)`` through a ReLU
    output layer without its derivative, so outputs with a negative
    pre-activation still learn. The forward value is exactly ``relu(x)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (torch.relu(x) - x).detach()
