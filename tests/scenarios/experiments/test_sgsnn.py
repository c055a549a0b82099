import json

import pytest
import torch

import scenarios.experiments.sgsnn as sg
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


def test_sleep_interval():
    assert sg.sleep_interval(0) is None
    assert sg.sleep_interval(0.1) == 10
    assert sg.sleep_interval(0.3) == 3


def test_quick_run(tmp_path):
    out = tmp_path / "q"
    assert sg.main(["--quick", "--workers", "1", "--out", str(out)]) == 0
    assert (out / "summary.csv").exists() and (out / "summary.md").exists()
    assert (out / "sgsnn_accuracy_vs_ratio.png").exists()
    res = json.loads((out / "result.json").read_text())
    assert res["kind"] == "sgsnn"
    for row in res["table"]:
        assert 0.0 <= row["accuracy_mean"] <= 1.0


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


@pytest.mark.parametrize("field, value", [("logit_scale", 0.0), ("beta", 1.5), ("steps", 0), ("lr", -1e-3)])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        sg.SGSNNConfig(**{field: value})
