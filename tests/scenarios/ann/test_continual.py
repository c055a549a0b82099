"""EWC, SI, OWM and iCaRL against the formulas of their papers, on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scenarios.ann.continual import (EWC, ICaRL, OWM, SI, ContinualPlugin, EWCParams, ICaRLParams, OWMParams,
                                     SIParams, fisher_diagonal, herding_order, linear_layers,
                                     nearest_mean_predict, normalise_features)
from scenarios.ann.mlp import TrainConfig, Trainer, make_mlp


def _tiny(sizes=(4, 3, 2), relu_output=False, seed=0):
    return make_mlp(sizes, dropout=0.0, init="kaiming", relu_output=relu_output, seed=seed)


# ---------------------------------------------------------------- EWC
def test_ewc_penalty_gradient_is_its_closed_form():
    """∂/∂θ (λ/2) Σ_t Σ_i F_t,i (θ_i − θ*_t,i)² = λ Σ_t F_t (θ − θ*_t)."""
    model = _tiny()
    trainer = Trainer(model, TrainConfig(lr=0.1, momentum=0.0), plugins=[EWC(EWCParams(lam=7.5))])
    ewc = trainer.plugins[0]
    gen = torch.Generator().manual_seed(3)
    weights = [m.weight for m in linear_layers(model)]
    for _ in range(2):  # two earlier tasks
        fisher = [torch.rand(w.shape, generator=gen) for w in weights]
        star = [w.detach() + torch.randn(w.shape, generator=gen) for w in weights]
        ewc.tasks.append((fisher, star))
    model.zero_grad()
    ewc.penalty(trainer).backward()
    for k, w in enumerate(weights):
        expected = 7.5 * sum(f[k] * (w.detach() - s[k]) for f, s in ewc.tasks)
        torch.testing.assert_close(w.grad, expected, rtol=1e-5, atol=1e-6)


def test_empirical_fisher_is_the_mean_squared_per_sample_gradient():
    model = _tiny((5, 4, 3))
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    for loss in ("ce", "mse", "ce_task"):
        classes = [0, 1, 2] if loss == "ce_task" else None
        fisher = fisher_diagonal(model, x, y, loss=loss, classes=classes, targets="data", batch_size=3)
        brute = [torch.zeros_like(m.weight) for m in linear_layers(model)]
        for n in range(7):
            model.zero_grad()
            out = model(x[n:n + 1])
            if loss == "mse":
                nll = 0.5 * ((out - torch.nn.functional.one_hot(y[n:n + 1], 3).float()) ** 2).sum()
            else:
                nll = torch.nn.functional.cross_entropy(out, y[n:n + 1], reduction="sum")
            nll.backward()
            for k, m in enumerate(linear_layers(model)):
                brute[k] += m.weight.grad ** 2 / 7
        for f, b in zip(fisher, brute):
            torch.testing.assert_close(f, b, rtol=1e-5, atol=1e-7)


def test_sampled_fisher_of_a_gaussian_output_is_the_input_second_moment():
    """Squared error = unit Gaussian likelihood: E[(∂ log p/∂W_kj)²] = E[ε_k²] a_j² = mean_n a_j²."""
    model = _tiny((6, 3), relu_output=False)  # one Linear: the output is W x
    x = torch.rand(20, 6, generator=torch.Generator().manual_seed(2)).repeat(2000, 1)
    fisher = fisher_diagonal(model, x, torch.zeros(x.shape[0], dtype=torch.long), loss="mse",
                             generator=torch.Generator().manual_seed(0))[0]
    expected = (x ** 2).mean(0).expand(3, 6)
    torch.testing.assert_close(fisher, expected, rtol=0.03, atol=0.0)


# ---------------------------------------------------------------- SI
def _quadratic_task():
    # one bias-free Linear on the inputs e_1, e_2, e_3: the squared error is a separable quadratic
    # L = Σ_kj (1/3)·½ (W_kj − t_kj)², every weight its own 1-D quadratic with curvature 1/3
    x = torch.eye(3)
    y = torch.tensor([0, 1, 0])
    target = torch.nn.functional.one_hot(y, 2).float().t()  # t_kj: output k, input j
    return x, y, target


def test_si_path_integral_equals_the_loss_decrease_per_weight():
    """ω_i = −Σ g_i Δθ_i equals ∫ −g_i dθ_i = L_i(θ_start) − L_i(θ_end) for small steps."""
    x, y, target = _quadratic_task()
    model = _tiny((3, 2), relu_output=False, seed=4)
    si = SI(SIParams(c=0.0))
    trainer = Trainer(model, TrainConfig(lr=0.03, momentum=0.0, batch_size=3, epochs=300), plugins=[si])
    w0 = model[1].weight.detach().clone()
    trainer.fit(x, y, 2)
    w1 = model[1].weight.detach()
    exact = 0.5 / 3 * ((w0 - target) ** 2 - (w1 - target) ** 2)
    assert float(exact.abs().min()) > 1e-3  # every weight moved
    torch.testing.assert_close(si.omega[0], exact, rtol=0.01, atol=1e-6)
    # Ω = ω / (Δ² + ξ) after the task, θ̃ the final weights
    torch.testing.assert_close(si.importance[0], torch.clamp(si.omega[0] / ((w1 - w0) ** 2 + 1e-3), min=0))
    torch.testing.assert_close(si.reference[0], w1)


def test_si_omega_is_the_discrete_sum_of_gradient_times_step():
    """With plain SGD (Δθ = −lr g) the accumulated ω is lr Σ_t g_t² exactly."""
    x, y, target = _quadratic_task()
    model = _tiny((3, 2), relu_output=False, seed=5)
    si = SI()
    trainer = Trainer(model, TrainConfig(lr=0.1, momentum=0.0, batch_size=3, epochs=5), plugins=[si])
    w = model[1].weight.detach().clone()
    expected = torch.zeros_like(w)
    for _ in range(5):
        g = (w - target) / 3.0  # gradient of the separable quadratic
        expected += 0.1 * g ** 2
        w = w - 0.1 * g
    trainer.fit(x, y, 2)
    torch.testing.assert_close(si.omega[0], expected, rtol=1e-4, atol=1e-7)


def test_si_penalty_gradient():
    model = _tiny()
    si = SI(SIParams(c=2.0))
    trainer = Trainer(model, TrainConfig(), plugins=[si])
    assert si.penalty(trainer) is None  # nothing learned yet
    gen = torch.Generator().manual_seed(0)
    si.importance = [torch.rand(p.shape, generator=gen) for p in trainer.params]
    si.reference = [p.detach() + torch.randn(p.shape, generator=gen) for p in trainer.params]
    model.zero_grad()
    si.penalty(trainer).backward()
    for p, om, ref in zip(trainer.params, si.importance, si.reference):
        torch.testing.assert_close(p.grad, 2 * 2.0 * om * (p.detach() - ref))


# ---------------------------------------------------------------- OWM
def test_owm_projector_is_the_regularised_inverse():
    """After updates with x_1..x_n: P = α (α I + X Xᵀ)⁻¹."""
    owm = OWM(OWMParams(alpha=0.3))
    model = _tiny((5, 2), relu_output=False)
    Trainer(model, TrainConfig(), plugins=[owm])
    xs = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    for v in xs:
        owm.update(0, v)
    X = xs.double().t()
    expected = 0.3 * torch.linalg.inv(0.3 * torch.eye(5, dtype=torch.float64) + X @ X.t())
    torch.testing.assert_close(owm.projectors[0].double(), expected, rtol=1e-4, atol=1e-5)


def _two_tasks(plugins):
    """Task 1: three inputs, each fitted on its own (so each is one recorded batch mean); task 2: 40 others."""
    gen = torch.Generator().manual_seed(7)
    old_x = torch.rand(3, 30, generator=gen)
    new_x = torch.rand(40, 30, generator=gen)
    model = _tiny((30, 4), relu_output=False, seed=1)
    trainer = Trainer(model, TrainConfig(lr=0.1, momentum=0.0, batch_size=40, epochs=20), plugins=plugins)
    for k in range(3):
        trainer.fit(old_x[k:k + 1], torch.tensor([k]), 4)
    w = model[1].weight
    before_old, before_new = (old_x @ w.t()).detach(), (new_x @ w.t()).detach()
    trainer.fit(new_x, torch.full((40,), 3), 4)
    after_old, after_new = (old_x @ w.t()).detach(), (new_x @ w.t()).detach()
    return float((after_old - before_old).abs().max()), float((after_new - before_new).abs().max())


def test_owm_update_leaves_the_outputs_on_old_inputs_unchanged():
    change_old, change_new = _two_tasks([OWM(OWMParams(alpha=1e-4))])
    assert change_new > 0.1  # the new task was learned
    assert change_old < 1e-3 * change_new


def test_plain_training_changes_the_old_outputs():
    """The control of the test above: without the projection the old outputs move."""
    change_old, change_new = _two_tasks([])
    assert change_old > 0.1 * change_new


# ---------------------------------------------------------------- iCaRL
def test_herding_picks_the_sample_nearest_the_class_mean_first():
    rng = np.random.default_rng(0)
    feats = rng.random((50, 8))
    phi = normalise_features(feats)
    order = herding_order(feats, 6)
    assert order[0] == int(np.argmin(np.linalg.norm(phi - phi.mean(0), axis=1)))
    assert len(set(order.tolist())) == 6
    # the second one makes the best mean of two with the first
    pair = np.linalg.norm(phi.mean(0) - (phi[order[0]] + phi) / 2, axis=1)
    pair[order[0]] = np.inf
    assert order[1] == int(np.argmin(pair))


def test_nearest_mean_of_exemplars():
    means = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    feats = np.array([[5.0, 0.1], [0.2, 3.0], [-2.0, -0.5], [0.1, 0.1]])
    pred = nearest_mean_predict(feats, means, classes=[4, 7, 9])
    assert pred.tolist() == [4, 7, 9, 4]  # (0.1, 0.1) normalised is equidistant from 4 and 7: the first wins


def test_icarl_memory_targets_and_classifier():
    gen = torch.Generator().manual_seed(0)
    model = make_mlp((6, 8, 4), dropout=0.0, relu_output=False, init="kaiming", seed=0)
    icarl = ICaRL(ICaRLParams(memory=12))
    trainer = Trainer(model, TrainConfig(lr=0.05, momentum=0.0, batch_size=5, epochs=3), plugins=[icarl])
    x1, y1 = torch.rand(20, 6, generator=gen), torch.tensor([0, 1] * 10)
    trainer.fit(x1, y1, 4)
    assert {c: len(e) for c, e in icarl.exemplars.items()} == {0: 6, 1: 6}
    first0 = icarl.exemplars[0].copy()
    old = [p.detach().clone() for p in model.parameters()]
    ex_x, ex_y = icarl.replay()
    assert ex_x.shape == (12, 6) and sorted(ex_y.tolist()) == [0] * 6 + [1] * 6
    x2 = torch.cat([torch.rand(20, 6, generator=gen), torch.as_tensor(ex_x)])
    y2 = torch.cat([torch.tensor([2, 3] * 10), torch.as_tensor(ex_y)])
    # distillation targets: the old network's sigmoid on the old classes, one-hot on the new ones
    icarl.before_fit(trainer, x2, y2)
    t = icarl.targets(x2, y2, 4)
    with torch.no_grad():
        q = torch.sigmoid(model(x2))[:, :2]
    torch.testing.assert_close(t[:, :2], q)
    torch.testing.assert_close(t[:, 2:], torch.nn.functional.one_hot(y2, 4).float()[:, 2:])
    icarl.seen = [0, 1]  # undo the manual before_fit
    trainer.fit(x2, y2, 4)
    assert not all(torch.equal(a, b) for a, b in zip(old, model.parameters()))
    assert {c: len(e) for c, e in icarl.exemplars.items()} == {0: 3, 1: 3, 2: 3, 3: 3}
    np.testing.assert_array_equal(icarl.exemplars[0], first0[:3])  # trimmed from the end of the herding order
    pred = icarl.predict(trainer, x2.numpy())
    assert set(np.unique(pred)) <= {0, 1, 2, 3}
    means, classes = icarl.class_means(trainer)
    np.testing.assert_array_equal(pred, nearest_mean_predict(trainer.hidden_activations(x2.numpy(), -2),
                                                             means, classes))


def test_plugins_do_not_change_plain_sgd():
    """A trainer with a do-nothing plugin takes exactly the plain SGD steps."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(30, 4, generator=gen), torch.randint(0, 2, (30,), generator=gen)
    a, b = _tiny(seed=2), _tiny(seed=2)
    Trainer(a, TrainConfig(batch_size=7, epochs=2)).fit(x, y, 2)
    Trainer(b, TrainConfig(batch_size=7, epochs=2), plugins=[ContinualPlugin()]).fit(x, y, 2)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="EWCParams.lam"):
        EWCParams(lam=-1)
    with pytest.raises(ValueError, match="SIParams.xi"):
        SIParams(xi=0)
    with pytest.raises(ValueError, match="OWMParams.alpha"):
        OWMParams(alpha=0)
    with pytest.raises(ValueError, match="ICaRLParams.memory"):
        ICaRLParams(memory=0)
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(_tiny(), TrainConfig(optimizer="sam"), plugins=[SI()])
