"""Tests for spiking.sgsnn: the surrogate-gradient SNN, its sleep phase and its training."""

import numpy as np
import pytest
import torch

import spiking.sgsnn as sg
import spiking.sleep
from spiking.sleep import SleepParams


def test_decay_is_the_shared_function():
    assert sg.power_law_decay is spiking.sleep.power_law_decay


def test_spike_forward_binary_and_surrogate_nonzero():
    u = torch.tensor([-0.5, -0.01, 0.0, 0.01, 0.5], requires_grad=True)
    s = sg.spike(u)
    assert set(s.detach().tolist()) <= {0.0, 1.0}
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    s.sum().backward()
    assert torch.all(u.grad > 0)
    assert u.grad[2] == pytest.approx(1.0)
    assert u.grad[0] == pytest.approx(1.0 / (1.0 + 25.0 * 0.5) ** 2)


def _model(rec=False):
    torch.manual_seed(0)
    return sg.SGSNN(sg.SGSNNConfig(hidden=32, steps=10, recurrent=rec))


def test_ratio_zero_leaves_weights_identical():
    m = _model(rec=True)
    w0 = {k: v.detach().clone() for k, v in m.state_dict().items()}
    sleep = SleepParams(mode="schedule", sleep_ratio=0.0)
    for it in range(1, 50):
        assert sg.maybe_sleep(m, it, sleep) is None
    assert sg.sleep_phase(m, sleep, n_steps=20)["steps"] == 0
    for k, v in m.state_dict().items():
        assert torch.equal(v, w0[k])


def test_sleep_without_stdp_and_noise_is_pure_decay():
    m = _model(rec=True)
    sleep = SleepParams(mode="schedule", sleep_ratio=0.2, lam=0.99)
    w0 = {k: w.detach().clone() for k, w in m.weights().items()}
    n = 25
    sg.sleep_phase(m, sleep, sg.SleepSTDP(stdp=False, noise=False), n_steps=n)
    tgt = sg.weight_targets(sleep)
    for k, w in m.weights().items():
        ref = spiking.sleep.power_law_decay(w0[k].double(), tgt[k], sleep.lam, steps=n)
        assert torch.allclose(w.detach().double(), ref, rtol=1e-4, atol=1e-7)


def test_sleep_interval_and_schedule():
    assert sg.sleep_interval(0) is None
    assert sg.sleep_interval(0.1) == 10
    assert sg.sleep_interval(0.3) == 3
    m = _model()
    sleep = SleepParams(mode="schedule", sleep_ratio=0.5)
    slept = [it for it in range(1, 7) if sg.maybe_sleep(m, it, sleep, sg.SleepSTDP(sleep_steps=3)) is not None]
    assert slept == [2, 4, 6]


def test_noise_sigma_in_threshold_units():
    from brian2 import mV

    assert sg.noise_sigma(SleepParams(sigma=3 * mV)) == pytest.approx(3.0 / sg.MV_PER_THRESHOLD)


def test_recurrent_arm_starts_as_the_feed_forward_network():
    torch.manual_seed(0)
    ff = sg.SGSNN(sg.SGSNNConfig(n_in=16, hidden=32, steps=20))
    rec = sg.SGSNN(sg.SGSNNConfig(n_in=16, hidden=32, steps=20, recurrent=True))
    rec.fc1.load_state_dict(ff.fc1.state_dict())
    rec.fc2.load_state_dict(ff.fc2.state_dict())
    x = torch.rand(8, 16) * 3
    assert torch.equal(rec.rec.weight, torch.zeros(32, 32))
    assert torch.equal(rec(x), ff(x))
    assert ff(x).sum() > 0  # the comparison is not between two silent networks


@pytest.mark.parametrize("field, value", [("logit_scale", 0.0), ("beta", 1.5), ("steps", 0), ("lr", -1e-3),
                                          ("hidden", 0), ("batch", None)])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        sg.SGSNNConfig(**{field: value})


def test_config_error_names_value_and_range():
    with pytest.raises(ValueError, match=r"^epochs=0: must be an integer >= 1$"):
        sg.SGSNNConfig(epochs=0)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 16)).astype(np.float32) * 0.2
    x[np.arange(n), y] += 1.0  # a learnable pixel per class
    return x, y


def test_train_sgsnn_is_seeded_and_records_the_sleep():
    xtr, ytr = _data(60, 0)
    xte, yte = _data(30, 1)
    cfg = sg.SGSNNConfig(hidden=16, steps=5, batch=20, epochs=2)
    sleep = SleepParams(mode="schedule", sleep_ratio=0.5)
    a = sg.train_sgsnn(xtr, ytr, xte, yte, cfg=cfg, sleep=sleep, seed=3)
    b = sg.train_sgsnn(xtr, ytr, xte, yte, cfg=cfg, sleep=sleep, seed=3)
    assert a["accuracy"] == b["accuracy"] and np.array_equal(a["loss"], b["loss"])
    assert a["model"].cfg.n_in == 16 and a["iterations"] == 6 and len(a["epoch_accuracy"]) == 2
    assert 0 <= a["accuracy"] <= 1 and a["accuracy"] == a["epoch_accuracy"][-1]
    s = a["sleep"]
    assert s["interval"] == 2 and s["n_phases"] == 3
    assert s["sleep_steps"] == 3 * cfg.steps and s["wake_steps"] == 6 * cfg.steps
    assert s["achieved_ratio"] == pytest.approx(1 / 3)
    awake = sg.train_sgsnn(xtr, ytr, xte, yte, cfg=cfg, sleep=SleepParams(mode="schedule", sleep_ratio=0.0),
                           seed=3)
    assert awake["sleep"]["n_phases"] == 0 and awake["sleep"]["achieved_ratio"] == 0.0
    assert not torch.equal(awake["model"].fc1.weight, a["model"].fc1.weight)  # sleep changed the weights
