"""Tests of bridge.conventions (the SRC authors' training conventions) and their conversion."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from bridge.conventions import AuthorsDropout, StraightThroughReLU
from bridge.convert import from_torch

torch.set_num_threads(1)


def _torch_mlp(sizes, seed=0, p=0.25):
    """Bias-free ReLU MLP with inverted dropout after each hidden ReLU and an output ReLU."""
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for k in range(len(sizes) - 1):
        lin = nn.Linear(sizes[k], sizes[k + 1], bias=False)
        with torch.no_grad():
            lin.weight.uniform_(-1.0, 1.0, generator=gen)
        layers += [lin, nn.ReLU()]
        if k < len(sizes) - 2:
            layers.append(nn.Dropout(p))
    return nn.Sequential(*layers)


def _authors(model):
    """The same weights behind the authors' modules (dropout not inverted, straight-through output ReLU)."""
    mods = list(copy.deepcopy(model).children())
    out = [AuthorsDropout(m.p) if isinstance(m, nn.Dropout)
           else StraightThroughReLU() if isinstance(m, nn.ReLU) and i == len(mods) - 1 else m
           for i, m in enumerate(mods)]
    return nn.Sequential(*out)


def _linears(model):
    return [m for m in model if isinstance(m, nn.Linear)]


def test_authors_dropout_train_and_eval():
    torch.manual_seed(0)
    d = AuthorsDropout(0.25)
    x = torch.ones(10000)
    d.train()
    y = d(x)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}  # no 1/(1-p) rescaling
    assert abs(float(y.mean()) - 0.75) < 0.02
    d.eval()
    assert torch.allclose(d(x), torch.full_like(x, 0.75))


def test_authors_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match="p="):
        AuthorsDropout(1.0)
    with pytest.raises(ValueError, match="p="):
        AuthorsDropout(-0.1)


def test_straight_through_relu_gradient_is_identity():
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
    y = StraightThroughReLU()(x)
    assert torch.equal(y.detach(), torch.relu(x.detach()))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(4))


def _hand_model():
    m = _authors(_torch_mlp((2, 2, 1)))
    lin1, lin2 = _linears(m)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0.5], [-1.0, 2.0]]))
        lin2.weight.copy_(torch.tensor([[0.5, 0.25]]))
    return m


def test_authors_conventions_normalise_by_hand():
    m = _hand_model()
    assert [type(x) for x in m] == [nn.Flatten, nn.Linear, nn.ReLU, AuthorsDropout, nn.Linear,
                                    StraightThroughReLU]
    x = np.array([[1.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    # layer 1: relu([1.5, 1], [0.5, 2]) * 0.75 -> max 1.5; max weight 2 -> lambda1 = 2
    # layer 2 (output, not scaled): 0.5*h1 + 0.25*h2 with h = 0.75*relu(W1 x):
    #   x1: 0.75*(0.75 + 0.25) = 0.75; x2: 0.75*(0.25 + 0.5) = 0.5625 -> lambda2 = max(0.5, 0.75) = 0.75
    spec = from_torch(m, x, alpha_scale=2.0, beta=(1.0, 3.0))
    assert spec.scale == pytest.approx((2.0, 0.75 / 2.0))
    assert spec.alpha == pytest.approx((1.0, 2.0 / 0.375))
    assert spec.beta == (1.0, 3.0)
    assert spec.layer_sizes == (2, 2, 1)


def test_non_inverted_dropout_option_equals_the_authors_modules():
    # the authors' weights behind a plain nn.Dropout: dropout="non-inverted" gives their conversion
    t = _torch_mlp((16, 12, 12, 3), seed=1)
    a = _authors(t)
    x = np.random.default_rng(0).random((40, 16), dtype=np.float32)
    ours = from_torch(a, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0))
    plain = from_torch(t, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0), dropout="non-inverted")
    assert ours.scale == plain.scale and ours.alpha == plain.alpha
    assert all(np.array_equal(u, v) for u, v in zip(ours.weights, plain.weights))
    inverted = from_torch(t, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0))
    # layer 1's activation is taken after its dropout: without the 0.75 it is 1/0.75 larger
    assert inverted.scale[0] == pytest.approx(ours.scale[0] / 0.75, rel=1e-6)
    with pytest.raises(ValueError, match="dropout="):
        from_torch(t, x, dropout="authors")
