"""The SRC plasticity rule (bridge.rule): closed form, torch = numpy, and the Brian2 code = the rule."""

import numpy as np
import pytest
import torch

from bridge.rule import BRIAN2_ON_POST, BRIAN2_ON_PRE, gate, weight_change


def test_gate_closed_form():
    w = np.array([-1.0, -0.01, 0.0, 0.001, 0.01, 1.0])
    with np.errstate(over="ignore"):
        expected = 2.0 * (1.0 - 1.0 / (1.0 + np.exp(-w / 0.001)))
        np.testing.assert_allclose(gate(w, 0.001), expected, rtol=1e-12)
    assert gate(np.array([0.0]))[0] == 1.0
    assert gate(np.array([-1.0]))[0] == 2.0  # exp overflow gives exactly 2, not NaN
    assert gate(np.array([1.0]))[0] == 0.0
    # 1/(1+e) with e = exp(-1): g(g_scale) = 2 (1 - 1/(1 + 1/e))
    assert gate(np.array([0.002]), 0.002)[0] == pytest.approx(2 * (1 - 1 / (1 + np.exp(-1.0))))


def test_weight_change_by_hand():
    w = np.array([[0.0, -0.5], [0.0, 0.5]], dtype=np.float64)  # (n_pre=2, k=2)
    pre = np.array([True, False])
    dw = weight_change(w, pre, inc=0.1, dec=0.01, g_scale=0.001)
    # row 0: pre spiked -> +inc*g ; row 1: silent -> -dec*g; g(0)=1, g(-0.5)=2, g(0.5)=0
    np.testing.assert_allclose(dw, [[0.1, 0.2], [-0.01, -0.0]], atol=1e-15)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_torch_and_numpy_rule_agree(dtype, rtol):
    # to rounding: numpy's and torch's exp may differ in the last bit
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((50, 7)) * 0.005).astype(dtype)
    pre = rng.random(50) < 0.3
    a = weight_change(w, pre, 0.041001, 0.003344, 0.001)
    b = weight_change(torch.from_numpy(w), torch.from_numpy(pre), 0.041001, 0.003344, 0.001).numpy()
    assert a.dtype == b.dtype == dtype
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


def test_brian2_code_applies_the_rule():
    """One step of plastic Synapses running BRIAN2_ON_PRE/ON_POST (numpy target) = weight_change."""
    import brian2
    from brian2 import Network, NeuronGroup, SpikeGeneratorGroup, Synapses, ms

    from spiking.backend import use_backend

    n_pre, n_post = 5, 3
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((n_pre, n_post)) * 0.004  # (pre, post)
    w0[0, 0], w0[1, 0] = -0.5, 0.5                       # gate 2 and gate 0
    pre_spikes = np.array([0, 2, 3])
    inc, dec, g_scale = 0.05, 0.004, 0.001
    with use_backend("numpy"):
        dt = 1 * ms
        pre = SpikeGeneratorGroup(n_pre, pre_spikes, np.zeros(len(pre_spikes)) * ms, dt=dt,
                                  when="thresholds", order=0)
        # post neurons 0 and 2 spike in the first step, neuron 1 never does
        post = NeuronGroup(n_post, "I : 1", threshold="(i != 1) and (t < 0.5*ms)", dt=dt)
        post.thresholder["spike"].when = "thresholds"
        post.thresholder["spike"].order = 2
        syn = Synapses(pre, post, model="w : 1\nlastpre : integer", on_pre=BRIAN2_ON_PRE,
                       on_post=BRIAN2_ON_POST, dt=dt,
                       namespace={"inc": inc, "dec": dec, "g_scale": g_scale})
        syn.connect(i=np.repeat(np.arange(n_pre), n_post), j=np.tile(np.arange(n_post), n_pre))
        syn.w = w0.ravel()
        syn.lastpre = -1
        syn.pre.when, syn.pre.order = "thresholds", 1
        syn.post.when, syn.post.order = "thresholds", 3
        with np.errstate(over="ignore"):
            Network(pre, post, syn).run(dt, namespace={})
        w1 = np.zeros_like(w0)
        w1[np.asarray(syn.i[:]), np.asarray(syn.j[:])] = np.asarray(syn.w[:])
        brian2.start_scope()
    pre_mask = np.isin(np.arange(n_pre), pre_spikes)
    expected = w0.copy()
    with np.errstate(over="ignore"):
        for j in (0, 2):
            expected[:, j] = w0[:, j] + weight_change(w0[:, [j]], pre_mask, inc, dec, g_scale)[:, 0]
    np.testing.assert_allclose(w1, expected, rtol=0, atol=1e-15)
    assert np.array_equal(w1[:, 1], w0[:, 1])  # silent post neuron: no change
    assert w1[0, 0] > w0[0, 0] and w1[1, 0] == pytest.approx(w0[1, 0])  # gate 2 vs gate 0
