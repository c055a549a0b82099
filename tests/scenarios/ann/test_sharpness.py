"""Tests for scenarios.ann.sharpness on a quadratic with known Hessian, and on a small MLP."""

import numpy as np
import pytest
import torch
from torch import nn

from scenarios.ann.mlp import loss_function, make_mlp
from scenarios.ann.sharpness import hessian_top_eigenvalue, sam_sharpness, sharpness_seed000

torch.set_num_threads(1)

EIGS = torch.tensor([10.0, 5.0, 3.0, 2.0, 1.0], dtype=torch.float64)


def _spd():
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    return q @ torch.diag(EIGS) @ q.T


A = _spd()
THETA = torch.tensor([1.0, -2.0, 0.5, 0.3, 1.5], dtype=torch.float64)
X = torch.zeros(1, 1, dtype=torch.float64)  # unused by the model; one "sample"
Y = torch.zeros(1)


class Quadratic(nn.Module):
    """Model whose output is its parameter vector; the loss is ½θᵀAθ."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(THETA.clone())
        self.extra = nn.Dropout(0.5)  # only to check that train flags are restored

    def forward(self, x):
        return self.theta


def quad_loss(out, y):
    return 0.5 * out @ A @ out


def L(t):
    return float(0.5 * t @ A @ t)


def exact_max_increase(rho):
    """max_{‖d‖<=ρ} L(θ+d) − L(θ) for the convex quadratic (trust-region secular equation)."""
    g = A @ THETA
    lo, hi = float(EIGS.max()) * (1 + 1e-12), 1e8
    for _ in range(300):
        mu = 0.5 * (lo + hi)
        d = torch.linalg.solve(mu * torch.eye(5, dtype=torch.float64) - A, g)
        lo, hi = (mu, hi) if d.norm() > rho else (lo, mu)
    return L(THETA + d) - L(THETA)


def _snapshot(model):
    return [p.detach().clone() for p in model.parameters()], [m.training for m in model.modules()]


def _assert_restored(model, snap):
    params, modes = snap
    assert all(torch.equal(p, s) for p, s in zip(model.parameters(), params))
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())


def test_hessian_top_eigenvalue_quadratic():
    m = Quadratic()
    m.train()
    snap = _snapshot(m)
    res = hessian_top_eigenvalue(m, quad_loss, X, Y, tol=1e-6, max_iter=200)
    assert res["converged"] and res["iterations"] < 200
    assert res["eigenvalue"] == pytest.approx(10.0, rel=1e-3)
    _assert_restored(m, snap)
    short = hessian_top_eigenvalue(m, quad_loss, X, Y, tol=1e-12, max_iter=3)
    assert short["iterations"] == 3 and not short["converged"]


def test_sharpness_seed000_closed_form():
    m = Quadratic()
    m.eval()
    snap = _snapshot(m)
    eps = 0.1
    g = A @ THETA
    u = g / g.norm()
    losses = [L(THETA), L(THETA + eps * u), L(THETA - eps * u)]
    res = sharpness_seed000(m, quad_loss, X, Y, eps)
    assert res["loss"] == pytest.approx(losses[0], rel=1e-12)
    assert res["loss_plus"] == pytest.approx(losses[1], rel=1e-12)
    assert res["loss_minus"] == pytest.approx(losses[2], rel=1e-12)
    assert res["sharpness"] == pytest.approx(max(losses) - min(losses), rel=1e-10)
    # closed form of the spread: 2ε‖g‖ (the ½ε²ûᵀAû terms cancel)
    assert res["sharpness"] == pytest.approx(2 * eps * float(g.norm()), rel=1e-10)
    assert res["grad_norm"] == pytest.approx(float(g.norm()))
    assert res["eps"] == eps and res["n_samples"] == 1 and res["batch_size"] == 1
    _assert_restored(m, snap)
    assert sharpness_seed000(m, quad_loss, X, Y, 0.0)["sharpness"] == 0.0


def test_sam_sharpness_one_step_closed_form_and_bounds():
    m = Quadratic()
    m.train()
    snap = _snapshot(m)
    g = A @ THETA
    for rho in (0.05, 0.5, 2.0):
        one_closed = L(THETA + rho * g / g.norm()) - L(THETA)
        one = sam_sharpness(m, quad_loss, X, Y, rho, steps=1)
        assert one["sharpness"] == pytest.approx(one_closed, rel=1e-10)
        assert one["steps"] == 1 and one["delta_norm"] == pytest.approx(rho)
        multi = sam_sharpness(m, quad_loss, X, Y, rho, steps=10)
        exact = exact_max_increase(rho)
        bound = float(g.norm()) * rho + 0.5 * float(EIGS.max()) * rho ** 2
        assert multi["one_step_sharpness"] == pytest.approx(one_closed, rel=1e-10)
        assert multi["sharpness"] >= one["sharpness"]
        assert multi["sharpness"] <= exact * (1 + 1e-9) <= bound
        assert multi["delta_norm"] <= rho * (1 + 1e-12)
        # ascent gets most of the way from the one-step value to the exact maximum
        assert exact - multi["sharpness"] <= 0.1 * (exact - one_closed) + 1e-12
    _assert_restored(m, snap)


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_negative_radius_raises(bad):
    m = Quadratic()
    with pytest.raises(ValueError, match="eps"):
        sharpness_seed000(m, quad_loss, X, Y, bad)
    with pytest.raises(ValueError, match="rho"):
        sam_sharpness(m, quad_loss, X, Y, bad)


def _mlp_problem():
    model = make_mlp((20, 16, 16, 4), dropout=0.25, init="kaiming", seed=0)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random((64, 20), dtype=np.float32))
    y = torch.as_tensor(rng.integers(0, 4, 64))
    return model, loss_function("mse", 4), x, y


def test_mlp_parameters_bit_identical_and_mode_restored():
    model, lf, x, y = _mlp_problem()
    model.train()
    snap = _snapshot(model)
    r1 = sharpness_seed000(model, lf, x, y, eps=0.05)
    r2 = sam_sharpness(model, lf, x, y, rho=0.05, steps=3)
    r3 = hessian_top_eigenvalue(model, lf, x, y, max_iter=20)
    _assert_restored(model, snap)
    assert r1["sharpness"] > 0 and r2["sharpness"] >= r2["one_step_sharpness"] > 0
    assert r3["eigenvalue"] > 0
    # dropout is off during the measurements: repeated calls agree exactly
    assert sharpness_seed000(model, lf, x, y, eps=0.05) == r1


def test_mlp_chunked_evaluation_matches_full_batch():
    model, lf, x, y = _mlp_problem()
    full = sharpness_seed000(model, lf, x, y, eps=0.05)
    chunked = sharpness_seed000(model, lf, x, y, eps=0.05, batch_size=16)
    assert chunked["batch_size"] == 16 and full["batch_size"] == 64
    for key in ("loss", "loss_plus", "loss_minus", "sharpness", "grad_norm"):
        assert chunked[key] == pytest.approx(full[key], rel=1e-4)
    h_full = hessian_top_eigenvalue(model, lf, x, y, max_iter=30, tol=1e-6)
    h_chunk = hessian_top_eigenvalue(model, lf, x, y, max_iter=30, tol=1e-6, batch_size=20)
    assert h_chunk["eigenvalue"] == pytest.approx(h_full["eigenvalue"], rel=1e-3)


def test_mlp_hessian_eigenvalue_matches_dense_hessian():
    torch.manual_seed(0)
    model = make_mlp((6, 5, 3), dropout=0.0, init="kaiming", relu_output=False, seed=1)
    lf = loss_function("ce", 3)
    x = torch.rand(30, 6)
    y = torch.randint(0, 3, (30,))
    params = list(model.parameters())
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def flat_loss(vec):
        ws = torch.split(vec, sizes)
        h = torch.relu(x @ ws[0].view(shapes[0]).T)
        return lf(h @ ws[1].view(shapes[1]).T, y)

    H = torch.autograd.functional.hessian(flat_loss, torch.cat([p.detach().flatten() for p in params]))
    evals = torch.linalg.eigvalsh(H.double())
    dominant = float(evals[evals.abs().argmax()])
    res = hessian_top_eigenvalue(model, lf, x, y, tol=1e-7, max_iter=1000)
    assert res["eigenvalue"] == pytest.approx(dominant, rel=1e-3)
