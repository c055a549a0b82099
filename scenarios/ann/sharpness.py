"""Loss-landscape sharpness of a trained model.

Three measures, for any torch model, loss function ``loss_fn(outputs, y)`` and
data ``(X, y)``; all evaluate the model in eval mode (dropout off) on the data
given — full batch, or accumulated over chunks of ``batch_size`` samples
(which assumes ``loss_fn`` returns a *mean* over the samples, so that chunk
losses weighted by chunk size give the full-batch loss). Every result records
``n_samples`` and ``batch_size``.

1. :func:`sharpness_seed000` — the estimate of seed 000 (Chawda, Delanois,
   Krishnan & Bazhenov, *Sleep-like replay reduces loss-landscape sharpness to
   improve generalization*): ``S(θ; ε) = max_{‖Δ‖≤ε} L(θ+Δ) − min_{‖Δ‖≤ε}
   L(θ+Δ)``, approximated by the spread (max − min) of the losses at ``θ`` and
   ``θ ± ε·g/‖g‖`` with ``g = ∇L(θ)``.
2. :func:`sam_sharpness` — the SAM sharpness of Foret, Kleiner, Mobahi &
   Neyshabur (ICLR 2021), ``max_{‖Δ‖₂≤ρ} L(θ+Δ) − L(θ)``, by projected
   normalised-gradient ascent; the first step is SAM's ``Δ = ρ·g/‖g‖``.
3. :func:`hessian_top_eigenvalue` — dominant Hessian eigenvalue by power
   iteration on Hessian-vector products (double back-propagation), the
   sharpness measure of Lyle et al. (2023) used in seed 003.

Norms are global ℓ2 norms over all trainable parameters (those with
``requires_grad``). All three functions leave the parameters bit-identical to
how they found them (saved clones are copied back, also on error), restore each
module's train/eval flag, and do not touch ``.grad`` (gradients are taken with
``torch.autograd.grad``).
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["sharpness_seed000", "sam_sharpness", "hessian_top_eigenvalue"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- helpers
def _trainable(model: nn.Module) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    return params


@contextlib.contextmanager
def _preserved(model: nn.Module, params: list[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
    """Eval mode and gradients on inside; parameters and train flags restored after."""
    saved = [p.detach().clone() for p in params]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.enable_grad():
            yield saved
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
        for m, flag in modes:
            m.training = flag


def _chunks(X, y, batch_size: int | None):
    n = len(X)
    if n == 0:
        raise ValueError("X is empty")
    if len(y) != n:
        raise ValueError(f"X has {n} samples but y has {len(y)}")
    if batch_size is None or batch_size >= n:
        yield X, y, 1.0
        return
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: must be >= 1 or None")
    for i in range(0, n, batch_size):
        xc, yc = X[i:i + batch_size], y[i:i + batch_size]
        yield xc, yc, len(xc) / n


def _loss(model, loss_fn, X, y, batch_size) -> float:
    total = 0.0
    with torch.no_grad():
        for xc, yc, w in _chunks(X, y, batch_size):
            total += w * float(loss_fn(model(xc), yc))
    return total


def _grad(model, loss_fn, X, y, batch_size, params) -> list[torch.Tensor]:
    acc = [torch.zeros_like(p) for p in params]
    for xc, yc, w in _chunks(X, y, batch_size):
        gs = torch.autograd.grad(loss_fn(model(xc), yc), params, allow_unused=True)
        for a, g in zip(acc, gs):
            if g is not None:
                a.add_(g, alpha=w)
    return acc


def _hvp(model, loss_fn, X, y, batch_size, params, v) -> list[torch.Tensor]:
    acc = [torch.zeros_like(p) for p in params]
    for xc, yc, w in _chunks(X, y, batch_size):
        gs = torch.autograd.grad(loss_fn(model(xc), yc), params, create_graph=True, allow_unused=True)
        dot = sum((g * vi).sum() for g, vi in zip(gs, v) if g is not None)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            continue  # the loss is linear (or constant) in the parameters here
        hv = torch.autograd.grad(dot, params, allow_unused=True)
        for a, h in zip(acc, hv):
            if h is not None:
                a.add_(h, alpha=w)
    return acc


def _norm(ts: Sequence[torch.Tensor]) -> float:
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in ts))


def _dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    return sum(float((x.double() * y.double()).sum()) for x, y in zip(a, b))


def _set(params, saved, direction=None, scale: float = 0.0) -> None:
    """params ← saved + scale·direction (exactly saved if direction is None)."""
    with torch.no_grad():
        for i, (p, s) in enumerate(zip(params, saved)):
            if direction is None:
                p.copy_(s)
            else:
                p.copy_(s + scale * direction[i])


def _check_radius(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}: must be a finite number >= 0")
    return float(value)


# --------------------------------------------------------------------------- measures
def sharpness_seed000(model: nn.Module, loss_fn: LossFn, X, y, eps: float, batch_size: int | None = None) -> dict:
    """Seed 000's sharpness: spread of the loss at ``θ`` and ``θ ± ε·g/‖g‖``.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable
        ``loss_fn(model(X), y) -> scalar tensor`` (a mean over samples if
        ``batch_size`` is used).
    X, y : torch.Tensor
        Data, on the model's device.
    eps : float
        Radius ε, ``>= 0``.
    batch_size : int, optional
        Evaluate in chunks of this many samples (default: one batch).

    Returns
    -------
    dict
        ``sharpness`` (max − min of the three losses), ``loss`` (at θ),
        ``loss_plus``, ``loss_minus``, ``eps``, ``grad_norm``, ``n_samples``,
        ``batch_size``. With ``g = 0`` all three losses coincide and the
        sharpness is 0.
    """
    eps = _check_radius("eps", eps)
    params = _trainable(model)
    with _preserved(model, params) as saved:
        loss0 = _loss(model, loss_fn, X, y, batch_size)
        g = _grad(model, loss_fn, X, y, batch_size, params)
        gn = _norm(g)
        scale = eps / gn if gn > 0 else 0.0
        _set(params, saved, g, scale)
        loss_plus = _loss(model, loss_fn, X, y, batch_size)
        _set(params, saved, g, -scale)
        loss_minus = _loss(model, loss_fn, X, y, batch_size)
    losses = (loss0, loss_plus, loss_minus)
    return {
        "sharpness": max(losses) - min(losses),
        "loss": loss0,
        "loss_plus": loss_plus,
        "loss_minus": loss_minus,
        "eps": eps,
        "grad_norm": gn,
        "n_samples": len(X),
        "batch_size": len(X) if batch_size is None else min(int(batch_size), len(X)),
    }


def sam_sharpness(model: nn.Module, loss_fn: LossFn, X, y, rho: float, steps: int = 5,
                  step_size: float | None = None, batch_size: int | None = None) -> dict:
    """SAM sharpness ``max_{‖Δ‖₂≤ρ} L(θ+Δ) − L(θ)`` by projected gradient ascent.

    Step 1 is SAM's first-order solution ``Δ₁ = ρ·g/‖g‖``, ``g = ∇L(θ)``.
    Each further step moves ``Δ ← Δ + α·∇L(θ+Δ)/‖∇L(θ+Δ)‖`` and projects
    ``Δ`` back onto the ball ``‖Δ‖ ≤ ρ``. The result is the largest increase
    over all iterates, so it is never below the one-step value and (up to
    rounding of the projection) never above the true maximum.

    Parameters
    ----------
    model, loss_fn, X, y, batch_size
        As in :func:`sharpness_seed000`.
    rho : float
        Radius ρ, ``>= 0``.
    steps : int
        Number of ascent steps, ``>= 1`` (1 = Foret et al.'s estimate).
    step_size : float, optional
        α of the later steps; default ``ρ`` (on a convex quadratic this
        converges to the true maximum within a few steps).

    Returns
    -------
    dict
        ``sharpness`` (max increase), ``one_step_sharpness``, ``increases``
        (per step), ``loss`` (at θ), ``loss_max``, ``delta_norm`` (‖Δ‖ of the
        best iterate), ``rho``, ``steps`` (taken; fewer if a gradient vanished),
        ``step_size``, ``grad_norm`` (at θ), ``n_samples``, ``batch_size``.
    """
    rho = _check_radius("rho", rho)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps={steps!r}: must be an integer >= 1")
    alpha = rho if step_size is None else _check_radius("step_size", step_size)
    params = _trainable(model)
    with _preserved(model, params) as saved:
        loss0 = _loss(model, loss_fn, X, y, batch_size)
        g = _grad(model, loss_fn, X, y, batch_size, params)
        gn0 = _norm(g)
        scale = rho / gn0 if gn0 > 0 else 0.0
        delta = [scale * gi for gi in g]
        _set(params, saved, delta, 1.0)
        increases = [_loss(model, loss_fn, X, y, batch_size) - loss0]
        best_norm = _norm(delta)
        best = increases[0]
        for _ in range(1, steps):
            if gn0 == 0:
                break
            _set(params, saved, delta, 1.0)
            g = _grad(model, loss_fn, X, y, batch_size, params)
            gn = _norm(g)
            if gn == 0:
                break
            delta = [d + (alpha / gn) * gi for d, gi in zip(delta, g)]
            dn = _norm(delta)
            if dn > rho:
                delta = [d * (rho / dn) for d in delta]
            _set(params, saved, delta, 1.0)
            increases.append(_loss(model, loss_fn, X, y, batch_size) - loss0)
            if increases[-1] > best:
                best, best_norm = increases[-1], _norm(delta)
    return {
        "sharpness": best,
        "one_step_sharpness": increases[0],
        "increases": increases,
        "loss": loss0,
        "loss_max": loss0 + best,
        "delta_norm": best_norm,
        "rho": rho,
        "steps": len(increases),
        "step_size": alpha,
        "grad_norm": gn0,
        "n_samples": len(X),
        "batch_size": len(X) if batch_size is None else min(int(batch_size), len(X)),
    }


def hessian_top_eigenvalue(model: nn.Module, loss_fn: LossFn, X, y, tol: float = 1e-4, max_iter: int = 100,
                           seed: int = 0, batch_size: int | None = None) -> dict:
    """Dominant eigenvalue of the loss Hessian by power iteration.

    Starts from a random unit vector (``torch.Generator`` seeded with
    ``seed``), repeats ``v ← Hv/‖Hv‖`` with Hessian-vector products from double
    back-propagation, and reports the Rayleigh quotient ``vᵀHv``. Power
    iteration finds the eigenvalue of largest *magnitude*; near a minimum that
    is the top (positive) eigenvalue.

    Parameters
    ----------
    model, loss_fn, X, y, batch_size
        As in :func:`sharpness_seed000`.
    tol : float
        Stop when the relative change of the estimate between two iterations
        is ``<= tol``.
    max_iter : int
        Maximum number of Hessian-vector products, ``>= 1``.
    seed : int
        Seed of the start vector.

    Returns
    -------
    dict
        ``eigenvalue``, ``iterations`` (Hessian-vector products done),
        ``converged``, ``rel_change`` (last relative change), ``tol``,
        ``n_samples``, ``batch_size``.
    """
    if not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol={tol!r}: must be a finite number > 0")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter={max_iter!r}: must be an integer >= 1")
    params = _trainable(model)
    gen = torch.Generator().manual_seed(int(seed))
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in params]
    vn = _norm(v)
    v = [t / vn for t in v]
    lam, prev, rel, converged, it = 0.0, None, math.inf, False, 0
    with _preserved(model, params):
        for it in range(1, max_iter + 1):
            hv = _hvp(model, loss_fn, X, y, batch_size, params, v)
            lam = _dot(v, hv)
            hn = _norm(hv)
            if hn == 0:
                lam, rel, converged = 0.0, 0.0, True
                break
            v = [t / hn for t in hv]
            if prev is not None:
                rel = abs(lam - prev) / max(abs(prev), 1e-300)
                if rel <= tol:
                    converged = True
                    break
            prev = lam
    return {
        "eigenvalue": lam,
        "iterations": it,
        "converged": converged,
        "rel_change": rel,
        "tol": tol,
        "n_samples": len(X),
        "batch_size": len(X) if batch_size is None else min(int(batch_size), len(X)),
    }
