"""Tests of bridge.src: Sleep Replay Consolidation in torch and Brian2."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import SpikingSpec, from_torch
from bridge.presets import SRCParams, preset
from bridge.src import SleepActivityError, SleepResult, gate, input_raster, mean_image, simulate, sleep

torch.set_num_threads(1)

HAS_CUDA = torch.cuda.is_available()


def _spec(weights, alpha, beta=None):
    weights = tuple(np.asarray(w, np.float32) for w in weights)
    sizes = (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
    n = len(weights)
    return SpikingSpec(weights=weights, alpha=tuple(alpha), beta=tuple(beta or (1.0,) * n),
                       layer_sizes=sizes, scale=(1.0,) * n)


def _params(steps, **kw):
    base = dict(max_rate=100.0, inc=0.1, dec=0.05, beta=(1.0,), alpha_scale=1.0, decay=0.5,
                steps=steps, mask_size=0, image_side=1, g_scale=1.0)
    base.update(kw)
    return SRCParams(**base)


# --------------------------------------------------------------------------
# A hand-computed 3-2-2 network, two steps
# --------------------------------------------------------------------------
W1 = [[0.5, 0.3, -0.2], [0.1, 0.2, 0.6]]
W2 = [[0.7, -0.4], [0.2, 0.9]]
RASTER = np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)


def _g(w):  # g(w) with g_scale = 1
    return 2 * (1 - 1 / (1 + math.exp(-w)))


def _expected_3_2_2():
    inc, dec = 0.1, 0.05
    w1 = np.array(W1, np.float64)
    w2 = np.array(W2, np.float64)
    # step 0: input (1,1,0); layer 1: v = 2*(0.8, 0.3) = (1.6, 0.6) -> neuron 0 spikes
    w1[0, 0] = 0.5 + inc * _g(0.5)
    w1[0, 1] = 0.3 + inc * _g(0.3)
    w1[0, 2] = -0.2 - dec * _g(-0.2)
    # layer 2 (same step): pre (1,0): v = 1.5*(0.7, 0.2) = (1.05, 0.3) -> neuron 0 spikes
    w2[0, 0] = 0.7 + inc * _g(0.7)
    w2[0, 1] = -0.4 - dec * _g(-0.4)
    # step 1: input (0,0,1); layer 1: v = 0.5*(0, 0.6) + 2*(w1[0,2], 0.6) = (-0.51.., 1.5)
    assert 2 * w1[0, 2] < 1
    w1[1, 0] = 0.1 - dec * _g(0.1)
    w1[1, 1] = 0.2 - dec * _g(0.2)
    w1[1, 2] = 0.6 + inc * _g(0.6)
    # layer 2: pre (0,1): v = 0.5*(0, 0.3) + 1.5*(w2[0,1], 0.9) = (-0.69.., 1.5) -> neuron 1
    assert 1.5 * w2[0, 1] < 1
    w2[1, 0] = 0.2 - dec * _g(0.2)
    w2[1, 1] = 0.9 + inc * _g(0.9)
    return [w1, w2], np.array([3, 2, 2])


@pytest.mark.parametrize("backend, kw", [
    ("torch", {}),
    ("torch", {"torch_mode": "dense"}),
    ("brian2", {"brian2_backend": "numpy"}),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_steps_on_hand_made_3_2_2(backend, kw, dtype):
    spec = _spec([W1, W2], alpha=(2.0, 1.5))
    res = sleep(spec, np.zeros(3), _params(2), backend=backend, input_raster=RASTER, dtype=dtype, **kw)
    expected_w, expected_counts = _expected_3_2_2()
    np.testing.assert_array_equal(res.spikes_per_layer, expected_counts)
    for got, want in zip(res.spec_after.weights, expected_w):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert res.model is None and res.steps == 2 and res.seed is None
    np.testing.assert_allclose(res.spike_rate_per_layer, expected_counts / (np.array([3, 2, 2]) * 2))
    # weight change bookkeeping: layer 1 changed 6 weights (3 up, 3 down... see expected)
    ch = res.weight_change[0]
    assert ch.n_increased == 3 and ch.n_decreased == 3 and ch.fraction_changed == 1.0
    ch = res.weight_change[1]
    assert ch.n_increased == 2 and ch.n_decreased == 2
    assert ch.mean_abs_change == pytest.approx(np.abs(expected_w[1] - np.array(W2)).mean(), rel=1e-5)


def test_spike_crosses_all_layers_in_one_step():
    w = [np.ones((3, 4)), np.ones((3, 3)), np.ones((2, 3))]
    spec = _spec(w, alpha=(2.0, 2.0, 2.0))
    raster = np.array([[1, 0, 0, 0]], bool)
    for backend, kw in [("torch", {}), ("torch", {"torch_mode": "dense"}),
                        ("brian2", {"brian2_backend": "numpy"})]:
        res = sleep(spec, np.zeros(4), _params(1), backend=backend, input_raster=raster, **kw)
        np.testing.assert_array_equal(res.spikes_per_layer, [1, 3, 3, 2], err_msg=backend)


# --------------------------------------------------------------------------
# Brian2 (numpy) == torch on a 20-15-10-5 network
# --------------------------------------------------------------------------
def _random_net(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [20, 15, 10, 5]
    w = [rng.normal(0.01, 0.05, (sizes[k + 1], sizes[k])) for k in range(3)]
    return _spec(w, alpha=(3.0, 3.0, 3.0)), rng.random((200, 20)) < 0.3


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_brian2_numpy_equals_torch(dtype, rtol):
    spec, raster = _random_net()
    params = _params(200, inc=0.01, dec=0.002, g_scale=0.001, decay=0.999)
    wt, ct = simulate(spec, raster, params, backend="torch", dtype=dtype)
    wd, cd = simulate(spec, raster, params, backend="torch", dtype=dtype, torch_mode="dense")
    wb, cb = simulate(spec, raster, params, backend="brian2", dtype=dtype, brian2_backend="numpy")
    np.testing.assert_array_equal(ct, cb)
    np.testing.assert_array_equal(ct, cd)
    assert np.all(ct[1:] > 20), ct  # every layer is active, plasticity happens
    for k, (a, b, d, w0) in enumerate(zip(wt, wb, wd, spec.weights)):
        assert a.dtype == np.dtype(dtype) and b.dtype == np.dtype(dtype)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * 1e-3, err_msg=f"layer {k}")
        np.testing.assert_allclose(d, a, rtol=rtol, atol=rtol * 1e-3, err_msg=f"layer {k}")
        assert np.mean(a != w0) > 0.3  # weights changed


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_activity_limit_stops_a_busy_sleep_and_leaves_a_quiet_one_unchanged(mode):
    spec, _ = _random_net()
    raster = np.random.default_rng(3).random((2500, 20)) < 0.3  # chunks of 1000, 1000, 500 steps
    params = _params(2500, inc=0.01, dec=0.002, g_scale=0.001, decay=0.999)
    free = sleep(spec, np.zeros(20), params, input_raster=raster, torch_mode=mode)
    hidden = free.spikes_per_layer[1:].sum()
    assert hidden > 0.5 * 2500  # the network is busy: > 0.5 spikes per step, input excluded
    # the limit is checked only at chunk ends and changes nothing below it
    limited = sleep(spec, np.zeros(20), params, input_raster=raster, torch_mode=mode,
                    max_spikes_per_step=hidden / 1000 + 1)
    np.testing.assert_array_equal(limited.spikes_per_layer, free.spikes_per_layer)
    for a, b in zip(limited.spec_after.weights, free.spec_after.weights):
        np.testing.assert_array_equal(a, b)
    # a limit under the run's average is exceeded at some chunk's end
    with pytest.raises(SleepActivityError, match=r"spikes per step over its first \d+ steps, above "
                                                 r"max_spikes_per_step=0.25"):
        sleep(spec, np.zeros(20), params, input_raster=raster, torch_mode=mode,
              max_spikes_per_step=0.25)
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="max_spikes_per_step"):
            sleep(spec, np.zeros(20), params, input_raster=raster, max_spikes_per_step=bad)
    with pytest.raises(ValueError, match="only backend='torch'"):
        sleep(spec, np.zeros(20), params, input_raster=raster, backend="brian2", max_spikes_per_step=1.0)


# --------------------------------------------------------------------------
# Input raster
# --------------------------------------------------------------------------
def test_raster_masked_window_and_rate():
    params = preset("fashion", max_rate=500.0, steps=2000)  # p = 2*0.001*500*1 = 1: window all on
    r = input_raster(np.ones(784), params, seed=1)
    assert r.shape == (2000, 784) and r.dtype == bool
    assert np.all(r.sum(1) == 121)
    corners = []
    for row in r:
        ys, xs = np.divmod(np.flatnonzero(row), 28)
        assert ys.max() - ys.min() == 10 and xs.max() - xs.min() == 10
        corners.append((ys.min(), xs.min()))
    corners = np.array(corners)
    assert set(corners[:, 0]) == set(range(18)) and set(corners[:, 1]) == set(range(18))
    # rate: p = 2*dt*max_rate*x
    params = preset("fashion", max_rate=100.0, steps=3000, mask_size=0)
    r = input_raster(np.full(784, 0.5), params, seed=2)
    assert r.mean() == pytest.approx(2 * 0.001 * 100.0 * 0.5, abs=0.003)
    params = preset("fashion", max_rate=100.0, steps=3000)
    r = input_raster(np.full(784, 0.5), params, seed=2)
    assert r.sum(1).mean() == pytest.approx(121 * 0.1, rel=0.03)


def test_seed_reproducible_and_equal_to_input_raster():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 30, bias=False), nn.ReLU(), nn.Linear(30, 4, bias=False))
    with torch.no_grad():
        model[0].weight.add_(0.02)
    images = np.random.default_rng(0).random((50, 10, 10)).astype(np.float32)
    params = preset("patches", steps=300, max_rate=300.0, beta=(0.3, 0.3))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r1 = sleep(model, images, params, seed=5)
    model.load_state_dict(state)
    r2 = sleep(model, images, params, seed=5)
    model.load_state_dict(state)
    r3 = sleep(model, images, params, input_raster=input_raster(images, params, seed=5))
    model.load_state_dict(state)
    r4 = sleep(model, images, params, seed=6)
    assert r1.seed == 5 and r3.seed is None
    assert r1.spikes_per_layer[1] > 0
    for a, b, c in zip(r1.spec_after.weights, r2.spec_after.weights, r3.spec_after.weights):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert any(not np.array_equal(a, d) for a, d in zip(r1.spec_after.weights, r4.spec_after.weights))


# --------------------------------------------------------------------------
# sleep() on a torch model
# --------------------------------------------------------------------------
def _model_and_images():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 60, bias=False), nn.ReLU(), nn.Dropout(0.25),
                          nn.Linear(60, 40, bias=False), nn.ReLU(), nn.Dropout(0.25),
                          nn.Linear(40, 10, bias=False), nn.ReLU())
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.uniform_(-0.05, 0.1)
    images = np.random.default_rng(1).random((40, 28, 28)).astype(np.float32)
    return model, images


def test_sleep_updates_model_in_place():
    model, images = _model_and_images()
    original = copy.deepcopy(model)
    before = [m.weight.detach().clone() for m in model if isinstance(m, nn.Linear)]
    params = preset("fashion", steps=400, beta=(1.0, 1.0, 1.0), alpha_scale=4.0)
    res = sleep(model, images, params, seed=0)
    assert isinstance(res, SleepResult) and res.model is model
    assert res.backend == "torch" and res.device == "cpu" and res.target == "torch-sparse"
    assert res.dtype == "float32"
    assert res.spikes_per_layer.shape == (4,) and np.all(res.spikes_per_layer[:3] > 0)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for k, lin in enumerate(linears):
        np.testing.assert_array_equal(res.spec_before.weights[k], before[k].numpy())
        np.testing.assert_array_equal(res.spec_after.weights[k], lin.weight.detach().numpy())
        d = res.spec_after.weights[k].astype(np.float64) - res.spec_before.weights[k]
        ch = res.weight_change[k]
        assert ch.n_increased == int((d > 0).sum()) and ch.n_decreased == int((d < 0).sum())
    assert res.weight_change[0].fraction_changed > 0
    # alpha from the normalisation with the preset's alpha_scale, beta from the params
    ref = from_torch(original, images, alpha_scale=4.0)
    assert res.spec_before.alpha == ref.alpha and res.spec_before.scale == ref.scale
    assert res.spec_before.beta == (1.0, 1.0, 1.0)
    assert res.steps_per_second > 0 and res.seconds > 0 and res.total_seconds >= res.seconds
    np.testing.assert_allclose(res.spikes_per_step, res.spikes_per_layer / 400)


def test_mean_image_with_calibration_images():
    model, images = _model_and_images()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    params = preset("fashion", steps=100, beta=1.0, alpha_scale=4.0)
    a = sleep(model, images, params, seed=3)
    model.load_state_dict(state)
    b = sleep(model, images.reshape(40, -1).mean(0), params, seed=3, calibration_images=images)
    for x, y in zip(a.spec_after.weights, b.spec_after.weights):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="calibration_images"):
        sleep(model, images.reshape(40, -1).mean(0), params, seed=3)


def test_wrong_mean_image_size_names_expected_size():
    model, images = _model_and_images()
    params = preset("fashion", steps=10)
    with pytest.raises(ValueError, match=r"expects 784 inputs"):
        sleep(model, np.zeros(100), params)
    with pytest.raises(ValueError, match=r"expects 784 inputs"):
        sleep(model, np.zeros((5, 10, 10)), params)
    with pytest.raises(ValueError, match=r"expects 784 inputs.*1-D"):
        sleep(model, np.zeros((28, 28)), params)
    with pytest.raises(ValueError, match=r"expects 784 inputs"):
        mean_image(np.zeros(783), 784)


def test_argument_errors():
    model, images = _model_and_images()
    params = preset("fashion", steps=10)
    with pytest.raises(ValueError, match="backend='jax' is not known"):
        sleep(model, images, params, backend="jax")
    with pytest.raises(ValueError, match="device='tpu'"):
        sleep(model, images, params, device="tpu")
    with pytest.raises(ValueError, match="runs on the CPU"):
        sleep(model, images, params, backend="brian2", device="cuda")
    with pytest.raises(ValueError, match=r"input_raster must have shape \(steps, 784\)"):
        sleep(model, images, params, input_raster=np.zeros((10, 100), bool))
    with pytest.raises(ValueError, match="10 rows"):
        sleep(model, images, params, input_raster=np.zeros((12, 784), bool))
    with pytest.raises(ValueError, match="beta has 2 entries"):
        sleep(model, images, preset("fashion", steps=10, beta=(1.0, 2.0)))
    with pytest.raises(ValueError, match="mask_size=11 needs square images of image_side=28"):
        small = nn.Sequential(nn.Linear(100, 4, bias=False))
        sleep(small, np.ones((3, 100)), preset("fashion", steps=10, beta=1.0))
    with pytest.raises(TypeError, match="SRCParams"):
        sleep(model, images, {"steps": 10})


def test_gate_values():
    w = np.array([-1.0, -0.01, 0.0, 0.01, 1.0], np.float32)
    g = gate(w)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 2 * (1 - 1 / (1 + math.exp(10))), 1.0,
                                   2 * (1 - 1 / (1 + math.exp(-10))), 0.0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gate(torch.from_numpy(w)).numpy(), g, rtol=1e-6)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_cuda_equals_cpu(mode):
    spec, raster = _random_net()
    params = _params(200, inc=0.01, dec=0.002, g_scale=0.001, decay=0.999)
    wc, cc = simulate(spec, raster, params, backend="torch", dtype="float64")
    wg, cg = simulate(spec, raster, params, backend="torch", device="cuda", dtype="float64", torch_mode=mode)
    np.testing.assert_array_equal(cc, cg)
    for a, b in zip(wc, wg):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13)
    model, images = _model_and_images()
    res = sleep(model.cuda(), images, preset("fashion", steps=200, beta=1.0, alpha_scale=4.0),
                device="cuda", seed=0, torch_mode=mode)
    assert res.device == "cuda" and res.spikes_per_layer[1] > 0
    assert next(model.parameters()).is_cuda


# --------------------------------------------------------------------------
# Slow: cpp_standalone == torch on the full 784-1200-1200-10 network
# --------------------------------------------------------------------------
def _big_net():
    rng = np.random.default_rng(1)
    sizes = [784, 1200, 1200, 10]
    w = [rng.uniform(-0.01, 0.01, (sizes[k + 1], sizes[k])) for k in range(3)]
    spec = _spec(w, alpha=(40.0, 20.0, 20.0))
    params = preset("fashion", steps=300)
    mean = np.clip(rng.random(784) * 1.2, 0, 1)
    return spec, params, input_raster(mean, params, seed=3)


@pytest.mark.slow
def test_cpp_standalone_equals_torch_784_1200_1200_10(tmp_path):
    spec, params, raster = _big_net()
    # float64: the same spikes and weights to ~1e-12
    wt, ct = simulate(spec, raster, params, backend="torch", dtype="float64")
    wb, cb = simulate(spec, raster, params, backend="brian2", dtype="float64",
                      brian2_backend="cpp_standalone", build_directory=tmp_path / "f64")
    np.testing.assert_array_equal(ct, cb)
    assert np.all(ct[1:] > 50), ct
    for k, (a, b, w0) in enumerate(zip(wt, wb, spec.weights)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-14, err_msg=f"layer {k}")
        assert np.mean(a != w0) > 0.3
    # float32 (the default): the same spikes; weights equal to 1e-5 of the layer's weight
    # scale (Brian2's C++ evaluates g(w) in double before rounding, torch in float32, so
    # weights that end near 0 can differ relatively more than 1e-5 elementwise)
    wt, ct = simulate(spec, raster, params, backend="torch", dtype="float32")
    wb, cb = simulate(spec, raster, params, backend="brian2", dtype="float32",
                      brian2_backend="cpp_standalone", build_directory=tmp_path / "f32")
    np.testing.assert_array_equal(ct, cb)
    for k, (a, b) in enumerate(zip(wt, wb)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max(), err_msg=f"layer {k}")


@pytest.mark.slow
def test_cpp_standalone_hand_made_3_2_2():
    spec = _spec([W1, W2], alpha=(2.0, 1.5))
    res = sleep(spec, np.zeros(3), _params(2), backend="brian2", input_raster=RASTER)
    expected_w, expected_counts = _expected_3_2_2()
    np.testing.assert_array_equal(res.spikes_per_layer, expected_counts)
    for got, want in zip(res.spec_after.weights, expected_w):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert res.device == "cpu" and res.target == "cpp_standalone" and res.build_seconds > 0


def test_intensities_outside_0_1_are_flagged():
    # issue 15, item 10: images scaled to 0-255, or negative ones, were accepted in silence
    from bridge.src import IntensityWarning

    model, images = _model_and_images()
    params = preset("fashion", steps=10)
    with pytest.raises(ValueError, match=r"saturates .* \(images scaled to 0-255\? divide them by 255\)"):
        sleep(copy.deepcopy(model), images * 255, params)
    with pytest.raises(ValueError, match="saturates"):
        input_raster(np.full(784, 255.0), params, seed=0)
    low = preset("fashion", steps=10, max_rate=50.0)  # 1.5 x max_rate does not saturate
    with pytest.warns(IntensityWarning, match="intensities up to 1.5 exceed 1"):
        input_raster(np.full(784, 1.5), low, seed=0)
    shifted = images - 0.2  # standardised-looking images with a non-negative mean
    with pytest.warns(IntensityWarning, match="some image pixels are negative"):
        sleep(copy.deepcopy(model), shifted, params)
    with pytest.raises(ValueError, match=">= 0"):
        sleep(copy.deepcopy(model), images - 1.0, params)
