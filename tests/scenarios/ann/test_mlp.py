"""Tests for scenarios.ann.mlp: model layout, training, SAM/GNP, task helpers."""

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from scenarios.ann.mlp import (
    TrainConfig,
    Trainer,
    denormals_flushed,
    first_n_per_task,
    make_mlp,
    permute_pixels,
    rehearsal_indices,
    squared_error,
    task_splits,
)

torch.set_num_threads(1)

SIZES = (16, 12, 12, 3)


def _data(n=60, seed=0):
    """A small linearly separable 3-class problem on 4x4 'images'."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 16), dtype=np.float32) * 0.2
    for k in range(3):
        x[y == k, 5 * k:5 * k + 5] += 0.8
    return x.reshape(n, 4, 4), y


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- make_mlp
def test_make_mlp_only_allowed_modules_and_layout():
    m = make_mlp((784, 1200, 1200, 10), dropout=0.25)
    kinds = [type(x) for x in m]
    assert kinds == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU]
    for mod in m.modules():
        assert isinstance(mod, (nn.Sequential, nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout))
    linears = [x for x in m if isinstance(x, nn.Linear)]
    assert all(lin.bias is None for lin in linears)
    assert [lin.weight.shape for lin in linears] == [(1200, 784), (1200, 1200), (10, 1200)]
    w = torch.cat([lin.weight.flatten() for lin in linears])
    assert w.abs().max() <= 0.01 and w.abs().max() > 0.0099  # U(-0.01, 0.01)


def test_make_mlp_no_dropout_no_output_relu():
    m = make_mlp(SIZES, dropout=0.0, relu_output=False)
    assert [type(x) for x in m] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


def test_make_mlp_kaiming_and_seed():
    a, b, c = make_mlp(SIZES, init="kaiming", seed=3), make_mlp(SIZES, init="kaiming", seed=3), make_mlp(SIZES, init="kaiming", seed=4)
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(c))
    assert a[1].weight.abs().max() > 0.1  # much wider than U(-0.01, 0.01)


def test_make_mlp_authors_convention_same_weights():
    from bridge.conventions import AuthorsDropout, StraightThroughReLU

    a = make_mlp(SIZES, dropout=0.25, seed=5, convention="authors")
    t = make_mlp(SIZES, dropout=0.25, seed=5)
    assert [type(x) for x in a] == [nn.Flatten, nn.Linear, nn.ReLU, AuthorsDropout, nn.Linear, nn.ReLU,
                                    AuthorsDropout, nn.Linear, StraightThroughReLU]
    assert all(d.p == 0.25 for d in a if isinstance(d, AuthorsDropout))
    assert _same(_weights(a), _weights(t))  # the swap happens after the initialisation
    # no output ReLU, no dropout: nothing to swap but the modules stay the plain ones
    b = make_mlp(SIZES, dropout=0.0, relu_output=False, convention="authors")
    assert [type(x) for x in b] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


@pytest.mark.parametrize("kw, word", [({"dropout": 1.0}, "dropout"), ({"init": "xavier"}, "init"),
                                      ({"sizes": (5,)}, "sizes"), ({"init_scale": 0.0}, "init_scale"),
                                      ({"convention": "matlab"}, "convention")])
def test_make_mlp_validation(kw, word):
    with pytest.raises(ValueError, match=word):
        make_mlp(**kw)


# ----------------------------------------------------------------------------- loss
def test_squared_error_normalisation():
    out = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    y = torch.tensor([0, 1])
    # sample 1: 0; sample 2: 0.5 * (0.25 + 0.25) = 0.25; mean = 0.125
    assert squared_error(out, y).item() == pytest.approx(0.125)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_sgd_lowers_loss_on_separable_problem(loss):
    x, y = _data()
    model = make_mlp(SIZES, dropout=0.0, init="kaiming", relu_output=(loss == "mse"), seed=0)
    tr = Trainer(model, TrainConfig(lr=0.1, epochs=1, batch_size=10, loss=loss))
    lf = tr.loss_fn(3)
    with torch.no_grad():
        before = lf(model(torch.as_tensor(x)), torch.as_tensor(y)).item()
    hist = tr.fit(x, y, 3, epochs=30)
    with torch.no_grad():
        after = lf(model(torch.as_tensor(x)), torch.as_tensor(y)).item()
    assert len(hist) == 30
    assert after < 0.5 * before
    assert tr.accuracy(x, y) > 0.9


def test_training_reproducible_and_seed_dependent():
    x, y = _data()
    def run(seed):
        m = make_mlp(SIZES, seed=0)
        tr = Trainer(m, TrainConfig(epochs=2, batch_size=7, seed=seed))
        tr.fit(x, y, 3)
        tr.fit(x, y, 3)
        return _weights(m)
    assert _same(run(1), run(1))
    assert not _same(run(1), run(2))


def test_fit_leaves_global_rng_alone():
    x, y = _data()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(make_mlp(SIZES), TrainConfig(epochs=1)).fit(x, y, 3)
    assert torch.equal(torch.rand(3), expected)


def test_momentum_buffer_persists_across_fit_calls():
    x, y = _data()
    a = Trainer(make_mlp(SIZES, seed=0), TrainConfig(epochs=1, batch_size=20))
    b = Trainer(make_mlp(SIZES, seed=0), TrainConfig(epochs=1, batch_size=20))
    opt_a = a.optimizer
    a.fit(x, y, 3)
    b.fit(x, y, 3)
    assert a.optimizer is opt_a
    bufs = [a.optimizer.state[p]["momentum_buffer"].clone() for p in a.params]
    assert len(bufs) == 3 and all(buf.abs().sum() > 0 for buf in bufs)
    b.reset_momentum()  # b starts task 2 with a fresh buffer, a keeps its buffer
    assert len(b.optimizer.state) == 0
    a.fit(x[:20], y[:20], 3)
    b.fit(x[:20], y[:20], 3)
    # after one step of task 2: buf = 0.5 * old_buf + grad in a, buf = grad in b
    new_a = [a.optimizer.state[p]["momentum_buffer"] for p in a.params]
    new_b = [b.optimizer.state[p]["momentum_buffer"] for p in b.params]
    for na, nb, old in zip(new_a, new_b, bufs):
        torch.testing.assert_close(na, nb + 0.5 * old)
    assert not _same(_weights(a.model), _weights(b.model))


@pytest.mark.parametrize("opt, kw", [("sam", {"sam_rho": 0.0}), ("gnp", {"gnp_coef": 0.0})])
def test_sam_rho0_and_gnp_coef0_equal_sgd(opt, kw):
    x, y = _data()
    def run(**cfg):
        m = make_mlp(SIZES, dropout=0.25, seed=0)
        tr = Trainer(m, TrainConfig(epochs=2, batch_size=15, seed=5, **cfg))
        tr.fit(x, y, 3)
        return _weights(m)
    sgd = run()
    assert _same(run(optimizer=opt, **kw), sgd)
    nonzero = {"sam": {"sam_rho": 0.5}, "gnp": {"gnp_coef": 1.0}}[opt]
    assert not _same(run(optimizer=opt, **nonzero), sgd)


def test_sam_uses_gradient_at_perturbed_point():
    """One SAM step with momentum 0 equals θ − lr·∇L(θ + ρ g/‖g‖)."""
    x, y = _data(n=10)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    m = make_mlp(SIZES, dropout=0.0, init="kaiming", seed=1)
    ref = make_mlp(SIZES, dropout=0.0, init="kaiming", seed=1)
    cfg = TrainConfig(lr=0.05, momentum=0.0, epochs=1, batch_size=10, optimizer="sam", sam_rho=0.3)
    Trainer(m, cfg).fit(x, y, 3)
    params = list(ref.parameters())
    lf = Trainer(ref, cfg).loss_fn(3)
    g = torch.autograd.grad(lf(ref(xt), yt), params)
    norm = torch.sqrt(sum((gi ** 2).sum() for gi in g))
    with torch.no_grad():
        for p, gi in zip(params, g):
            p.add_(0.3 * gi / norm)
    g2 = torch.autograd.grad(lf(ref(xt), yt), params)
    with torch.no_grad():
        for p, gi, g2i in zip(params, g, g2):
            p.sub_(0.3 * gi / norm).sub_(0.05 * g2i)
    for a, b in zip(m.parameters(), params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_gnp_matches_explicit_penalty_gradient():
    """One GNP step with momentum 0 equals θ − lr·∇(L + c‖∇L‖²)."""
    x, y = _data(n=10)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    m = make_mlp(SIZES, dropout=0.0, init="kaiming", seed=2)
    ref = make_mlp(SIZES, dropout=0.0, init="kaiming", seed=2)
    cfg = TrainConfig(lr=0.05, momentum=0.0, epochs=1, batch_size=10, optimizer="gnp", gnp_coef=0.7)
    Trainer(m, cfg).fit(x, y, 3)
    params = list(ref.parameters())
    lf = Trainer(ref, cfg).loss_fn(3)
    def objective():
        g = torch.autograd.grad(lf(ref(xt), yt), params, create_graph=True)
        return lf(ref(xt), yt) + 0.7 * sum((gi ** 2).sum() for gi in g)
    full = torch.autograd.grad(objective(), params)
    with torch.no_grad():
        for p, gi in zip(params, full):
            p.sub_(0.05 * gi)
    for a, b in zip(m.parameters(), params):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    sgd = make_mlp(SIZES, dropout=0.0, init="kaiming", seed=2)
    Trainer(sgd, dataclasses.replace(cfg, optimizer="sgd")).fit(x, y, 3)
    assert not _same(_weights(sgd), _weights(m))


def test_predict_accuracy_hidden_activations_eval_mode():
    x, y = _data()
    m = make_mlp(SIZES, dropout=0.5, init="kaiming", seed=0)
    tr = Trainer(m)
    assert m.training
    p1, p2 = tr.predict(x), tr.predict(x)  # deterministic: dropout off
    assert p1.shape == (60,) and np.array_equal(p1, p2) and m.training
    assert tr.accuracy(x, y) == pytest.approx(np.mean(p1 == y))
    h0 = tr.hidden_activations(x, 0)
    h_out = tr.hidden_activations(x, -1)
    assert h0.shape == (60, 12) and h0.min() >= 0
    np.testing.assert_allclose(h_out, tr.outputs(x), rtol=1e-6)
    manual = torch.relu(torch.as_tensor(x.reshape(60, 16)) @ m[1].weight.T).detach().numpy()
    np.testing.assert_allclose(h0, manual, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="layer"):
        tr.hidden_activations(x, 3)


def test_fit_input_validation():
    x, y = _data()
    tr = Trainer(make_mlp(SIZES))
    with pytest.raises(ValueError, match="labels"):
        tr.fit(x, y + 5, 3)
    with pytest.raises(ValueError, match="n_classes"):
        tr.fit(x, y, 4)  # model has 3 outputs
    with pytest.raises(ValueError, match="samples"):
        tr.fit(x, y[:10], 3)


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("field, value, allowed", [
    ("lr", 0.0, "> 0"), ("lr", float("nan"), "finite"), ("momentum", 1.0, "0 <= momentum < 1"),
    ("momentum", -0.1, "0 <= momentum < 1"), ("epochs", 0, ">= 1"), ("epochs", 1.5, "integer"),
    ("batch_size", 0, ">= 1"), ("loss", "l1", "mse"), ("optimizer", "adam", "sgd"),
    ("sam_rho", -0.01, ">= 0"), ("gnp_coef", -1.0, ">= 0"), ("seed", -1, ">= 0"), ("device", "gpu7", "device"),
])
def test_trainconfig_validation_names_field_value_range(field, value, allowed):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    msg = str(err.value)
    assert f"TrainConfig.{field}" in msg and repr(value) in msg and allowed in msg


def test_trainconfig_defaults_are_tadros():
    c = TrainConfig()
    assert (c.lr, c.momentum, c.epochs, c.batch_size, c.loss, c.optimizer) == (0.1, 0.5, 2, 100, "mse", "sgd")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


# ----------------------------------------------------------------------------- task helpers
def test_task_splits_and_first_n():
    labels = np.array([0, 3, 1, 2, 9, 8, 0, 1, 5, 4, 3])
    splits = task_splits(labels)
    assert [s.tolist() for s in splits] == [[0, 2, 6, 7], [1, 3, 10], [8, 9], [], [4, 5]]
    assert all(s.dtype == np.int64 for s in splits)
    assert [s.tolist() for s in task_splits(labels, ((3,), (0, 9)))] == [[1, 10], [0, 4, 6]]
    assert [s.tolist() for s in first_n_per_task(splits, 2)] == [[0, 2], [1, 3], [8, 9], [], [4, 5]]
    assert first_n_per_task(splits[0], 3).tolist() == [0, 2, 6]
    with pytest.raises(ValueError, match="repeats"):
        task_splits(labels, ((0, 1), (1, 2)))


def test_rehearsal_indices():
    old = [np.array([0, 2, 6, 7]), np.array([1, 3, 10, 11, 12, 13])]
    assert rehearsal_indices(old, 0.0, seed=0).size == 0
    assert rehearsal_indices(old, 1.0, seed=0).tolist() == [0, 1, 2, 3, 6, 7, 10, 11, 12, 13]
    half = rehearsal_indices(old, 0.5, seed=1)
    assert half.size == 5 and set(half) <= {0, 1, 2, 3, 6, 7, 10, 11, 12, 13} and len(set(half)) == 5
    assert np.array_equal(half, rehearsal_indices(old, 0.5, seed=1))
    draws = {tuple(rehearsal_indices(old, 0.5, seed=s)) for s in range(10)}
    assert len(draws) > 1
    assert rehearsal_indices([], 0.5, seed=0).size == 0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            rehearsal_indices(old, bad, seed=0)


def test_permute_pixels():
    imgs = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    p = permute_pixels(imgs, seed=0)
    assert p.shape == imgs.shape and p.dtype == imgs.dtype
    assert not np.array_equal(p, imgs)
    assert np.array_equal(np.sort(p.reshape(2, -1), axis=1), imgs.reshape(2, -1))
    # the same permutation for every image (and for every call with this seed)
    assert np.array_equal(p[1] - p[0], np.full((3, 3), 9.0))
    assert np.array_equal(permute_pixels(imgs, seed=0), p)
    assert not np.array_equal(permute_pixels(imgs, seed=1), p)


def test_training_flushes_denormals_and_switches_it_off_afterwards(monkeypatch):
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    assert float(tiny * 2.0) > 0
    with denormals_flushed():
        assert float(tiny * 2.0) == 0.0
    assert float(tiny * 2.0) > 0
    # the same trained weights with and without it: flushed values are below a weight's rounding step
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 16)).astype(np.float32), rng.integers(0, 3, 64)
    x[:, :4] = 0.0  # inputs without gradient: their momentum buffers decay to the denormal range
    runs = []
    for flush in (True, False):
        model = make_mlp(SIZES, seed=0)
        trainer = Trainer(model, TrainConfig(epochs=40, batch_size=8, seed=0))
        with monkeypatch.context() as m:
            if not flush:
                m.setattr("scenarios.ann.mlp.denormals_flushed", contextlib.nullcontext)
            trainer.fit(x, y, 3)
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_a_diverging_training_raises_instead_of_returning_nan():
    from scenarios.ann.mlp import TrainingDivergedError

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 16)).astype(np.float32), rng.integers(0, 3, 64)
    trainer = Trainer(make_mlp(SIZES, seed=0), TrainConfig(epochs=3, batch_size=8, lr=1e12, seed=0))
    with pytest.raises(TrainingDivergedError, match=r"training diverged: the mean loss of epoch \d is (nan|inf)"):
        trainer.fit(x, y, 3)
