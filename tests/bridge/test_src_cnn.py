"""SRC on convolutional networks (bridge.src_torch.LayeredNetwork, bridge.rule.shared_weight_change).

Closed forms (one step of a 4x4 input through a 2x2 kernel, by hand), the shared-weight rule
against the unrolled per-synapse rule, a CNN with 1x1 feature maps against the MLP path,
sparse == dense, CUDA == CPU, and the Brian2 backend's early error.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import LayerGeometry, SpikingSpec, from_torch
from bridge.presets import SRCParams
from bridge.rule import shared_weight_change, weight_change
from bridge.src import simulate, sleep
from bridge.src_torch import LayeredNetwork

torch.set_num_threads(1)

HAS_CUDA = torch.cuda.is_available()


def _params(steps=1, **kw):
    base = dict(max_rate=100.0, inc=0.1, dec=0.05, beta=(1.0,), alpha_scale=1.0, decay=0.5,
                steps=steps, mask_size=0, image_side=1, g_scale=1.0)
    base.update(kw)
    return SRCParams(**base)


def _g(w):  # g(w) with g_scale = 1
    return 2 * (1 - 1 / (1 + math.exp(-w)))


# --------------------------------------------------------------------------
# One step of a 1-channel 4x4 input through a 2x2 kernel, by hand
# --------------------------------------------------------------------------
S_IN = np.array([[1, 0, 0, 1],
                 [0, 1, 0, 0],
                 [0, 0, 0, 0],
                 [1, 0, 1, 0]], dtype=bool)
KERNEL = np.array([[0.6, 0.2], [-0.4, 0.8]])
THRESHOLD = 0.7


def _one_conv_layer(combine, dtype="float64"):
    g = LayerGeometry("conv", (1, 4, 4), (1, 3, 3))
    params = _params(inc=0.1, dec=0.05, kernel_update=combine)
    return LayeredNetwork([KERNEL.reshape(1, 1, 2, 2)], [g], alpha=[1.0], thresholds=[THRESHOLD],
                          params=params, device="cpu", dtype=dtype, mode="sparse")


@pytest.mark.parametrize("combine", ["sum", "mean"])
def test_one_step_4x4_input_2x2_kernel_by_hand(combine):
    net = _one_conv_layer(combine)
    (spk,) = net.step(torch.from_numpy(S_IN.ravel()))
    # membrane u[y, x] = sum_ij K[i, j] s[y+i, x+j] (alpha 1, v starts at 0)
    u = np.array([[1.4, -0.4, 0.2],
                  [0.2, 0.6, 0.0],
                  [-0.4, 0.8, -0.4]])
    fired = u >= THRESHOLD  # (0, 0) with 1.4 and (2, 1) with 0.8
    assert fired.sum() == 2 and fired[0, 0] and fired[2, 1]
    np.testing.assert_array_equal(spk.numpy().reshape(3, 3), fired)
    np.testing.assert_allclose(net.v[0].numpy().reshape(3, 3), np.where(fired, 0.0, u), atol=1e-15)
    # kernel taps for the two spiking posts (0,0) and (2,1): the pre neuron at post + (i, j)
    #   tap (0,0): s[0,0]=1, s[2,1]=0 -> n+ 1, n- 1      tap (0,1): s[0,1]=0, s[2,2]=0 -> n+ 0, n- 2
    #   tap (1,0): s[1,0]=0, s[3,1]=0 -> n+ 0, n- 2      tap (1,1): s[1,1]=1, s[3,2]=1 -> n+ 2, n- 0
    n_plus = np.array([[1, 0], [0, 2]])
    n_minus = np.array([[1, 2], [2, 0]])
    inc, dec = 0.1, 0.05
    dw = np.array([[_g(KERNEL[i, j]) * (inc * n_plus[i, j] - dec * n_minus[i, j]) for j in range(2)]
                   for i in range(2)])
    if combine == "mean":
        dw = dw / 2  # two synapses per tap asked for a change
    np.testing.assert_allclose(net.weights[0].numpy().reshape(2, 2), KERNEL + dw, rtol=1e-13)
    assert net.counts_numpy().tolist() == [5, 2]


def test_silent_step_changes_nothing():
    net = _one_conv_layer("sum")
    assert net.step(torch.zeros(16, dtype=torch.bool)) == []  # no input: the layer is skipped
    np.testing.assert_array_equal(net.weights[0].numpy().reshape(2, 2), KERNEL)


# --------------------------------------------------------------------------
# The shared-weight rule = the per-synapse rule of the unrolled network, combined
# --------------------------------------------------------------------------
def _unrolled(kernel, in_shape, stride, padding, dilation):
    """Dense matrix of a conv (O, C, kh, kw) and the tap index of every synapse (-1: none)."""
    o_, c_, kh, kw = kernel.shape
    c, h, w = in_shape
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    n_in, n_out = c * h * w, o_ * oh * ow
    mat = np.zeros((n_out, n_in))
    tap = -np.ones((n_out, n_in), dtype=np.int64)
    for o in range(o_):
        for y in range(oh):
            for x in range(ow):
                post = (o * oh + y) * ow + x
                for ci in range(c_):
                    for i in range(kh):
                        for j in range(kw):
                            yy = y * stride[0] + i * dilation[0] - padding[0]
                            xx = x * stride[1] + j * dilation[1] - padding[1]
                            if 0 <= yy < h and 0 <= xx < w:
                                pre = (ci * h + yy) * w + xx
                                mat[post, pre] = kernel[o, ci, i, j]
                                tap[post, pre] = ((o * c_ + ci) * kh + i) * kw + j
    return mat, tap, (o_, oh, ow)


@pytest.mark.parametrize("combine", ["sum", "mean"])
@pytest.mark.parametrize("stride, padding, dilation", [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 2))])
def test_kernel_update_equals_unrolled_synapses(combine, stride, padding, dilation):
    rng = np.random.default_rng(3)
    in_shape = (2, 6, 7)
    kernel = rng.normal(0, 0.5, size=(3, 2, 3, 2))
    mat, tap, out_shape = _unrolled(kernel, in_shape, stride, padding, dilation)
    g = LayerGeometry("conv", in_shape, out_shape, stride, padding, dilation)
    pre = rng.random(int(np.prod(in_shape))) < 0.4
    # thresholds low enough that many, not all, post neurons spike
    u = mat @ pre
    us = np.unique(u)
    k = int(0.6 * len(us))
    th = float(us[k - 1] + us[k]) / 2  # between two values: rounding cannot flip a spike
    net = LayeredNetwork([kernel], [g], [1.0], [th], _params(kernel_update=combine, inc=0.07, dec=0.03),
                         "cpu", "float64", "sparse")
    (spk,) = net.step(torch.from_numpy(pre))
    fired = u >= th
    np.testing.assert_array_equal(spk.numpy(), fired)
    # the unrolled network: every synapse of a spiking post neuron asks for its own change
    per_syn = weight_change(mat.T[:, fired], pre, 0.07, 0.03, 1.0).T  # (n_fired, n_in)
    taps = tap[fired]
    valid = taps >= 0
    total = np.bincount(taps[valid], weights=per_syn[valid], minlength=kernel.size)
    count = np.bincount(taps[valid], minlength=kernel.size)
    expected = total if combine == "sum" else np.where(count > 0, total / np.maximum(count, 1), 0.0)
    np.testing.assert_allclose(net.weights[0].numpy().ravel(), kernel.ravel() + expected, rtol=1e-12, atol=1e-15)


def test_shared_weight_change_with_one_synapse_is_weight_change():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.01, size=(40, 1)).astype(np.float32)
    pre = rng.random(40) < 0.5
    ref = weight_change(w, pre, 0.041001, 0.003344, 0.001)[:, 0]
    for combine in ("sum", "mean"):
        for lib in (np, torch):
            wv = w[:, 0] if lib is np else torch.from_numpy(w[:, 0])
            n_plus = pre.astype(np.float32) if lib is np else torch.from_numpy(pre.astype(np.float32))
            ones = np.ones(40, np.float32) if lib is np else torch.ones(40)
            got = shared_weight_change(wv, n_plus, ones, 0.041001, 0.003344, 0.001, combine)
            got = got if lib is np else got.numpy()
            if lib is np:
                np.testing.assert_array_equal(got, ref)  # bit for bit
            else:
                np.testing.assert_allclose(got, ref, rtol=2e-6)  # torch's exp may differ in the last bit
    with pytest.raises(ValueError, match="combine='max'"):
        shared_weight_change(w, w, w, 0.1, 0.1, 0.001, "max")


# --------------------------------------------------------------------------
# A CNN with 1x1 feature maps is an MLP
# --------------------------------------------------------------------------
def _cnn_1x1(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 8, 4, bias=False), nn.ReLU(),
                         nn.Conv2d(8, 6, 1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(6, 3, bias=False),
                         nn.ReLU())


def _mlp_of(cnn):
    mlp = nn.Sequential(nn.Linear(16, 8, bias=False), nn.ReLU(), nn.Linear(8, 6, bias=False), nn.ReLU(),
                        nn.Linear(6, 3, bias=False), nn.ReLU())
    with torch.no_grad():
        mlp[0].weight.copy_(cnn[1].weight.reshape(8, 16))
        mlp[2].weight.copy_(cnn[3].weight.reshape(6, 8))
        mlp[4].weight.copy_(cnn[6].weight)
    return mlp


@pytest.mark.parametrize("combine", ["sum", "mean"])
def test_cnn_with_1x1_maps_equals_mlp(combine):
    cnn = _cnn_1x1()
    mlp = _mlp_of(cnn)
    calib = torch.rand(50, 16)
    s_cnn = from_torch(cnn, calib)
    s_mlp = from_torch(mlp, calib)
    assert s_cnn.layers is not None and s_mlp.layers is None
    assert s_cnn.layer_sizes == s_mlp.layer_sizes == (16, 8, 6, 3)
    np.testing.assert_allclose(s_cnn.alpha, s_mlp.alpha, rtol=1e-6)
    s_cnn = dataclasses.replace(s_cnn, alpha=s_mlp.alpha, beta=(0.3, 0.2, 0.2))
    s_mlp = dataclasses.replace(s_mlp, beta=(0.3, 0.2, 0.2))
    params = _params(steps=300, decay=0.9, inc=0.02, dec=0.01, kernel_update=combine)
    raster = np.random.default_rng(1).random((300, 16)) < 0.3
    w_c, n_c = simulate(s_cnn, raster, params, dtype="float64")
    w_m, n_m = simulate(s_mlp, raster, params, dtype="float64")
    assert n_c.tolist() == n_m.tolist()
    assert min(n_c) > 10  # every layer spiked
    for a, b in zip(w_c, w_m):
        np.testing.assert_allclose(a.reshape(b.shape), b, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------
# A small CNN: sparse == dense, CUDA == CPU, weights written back, Brian2 refused
# --------------------------------------------------------------------------
def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 12, 12)), nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, stride=1, padding=1, bias=False), nn.ReLU(),
                         nn.AvgPool2d(5), nn.Flatten(), nn.Linear(6, 3, bias=False), nn.ReLU())


def _small_spec_and_raster(steps=400, seed=0):
    images = torch.rand(64, 12, 12)
    spec = from_torch(small_cnn(seed), images)
    spec = dataclasses.replace(spec, beta=(0.4, 0.3, 0.4, 0.3, 0.3))
    raster = np.random.default_rng(seed).random((steps, 144)) < 0.25
    return spec, raster


@pytest.mark.parametrize("combine", ["sum", "mean"])
def test_sparse_equals_dense(combine):
    spec, raster = _small_spec_and_raster()
    params = _params(steps=len(raster), decay=0.95, inc=0.02, dec=0.01, kernel_update=combine)
    w_s, n_s = simulate(spec, raster, params, dtype="float64", torch_mode="sparse")
    w_d, n_d = simulate(spec, raster, params, dtype="float64", torch_mode="dense")
    assert n_s.tolist() == n_d.tolist()
    assert min(n_s) > 0, n_s
    for a, b in zip(w_s, w_d):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    # the pooling kernels are fixed; the conv and dense weights moved
    for w0, w1, g in zip(spec.weights, w_s, spec.layers):
        assert np.array_equal(w0, w1.astype(np.float32)) == (not g.plastic)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_cuda_equals_cpu(mode):
    spec, raster = _small_spec_and_raster()
    params = _params(steps=len(raster), decay=0.95, inc=0.02, dec=0.01)
    w_c, n_c = simulate(spec, raster, params, dtype="float64", torch_mode="sparse")
    w_g, n_g = simulate(spec, raster, params, dtype="float64", device="cuda", torch_mode=mode)
    assert n_c.tolist() == n_g.tolist()
    for a, b in zip(w_c, w_g):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sleep_writes_kernels_back_and_reports_layers():
    model = small_cnn(1)
    images = np.random.default_rng(0).random((80, 12, 12)).astype(np.float32)
    params = _params(steps=300, decay=0.95, inc=0.02, dec=0.01, beta=(0.4, 0.3, 0.4, 0.3, 0.3), max_rate=200.0,
                     image_side=12)
    before = [p.detach().clone() for p in model.parameters()]
    res = sleep(model, images, params, seed=4)
    assert res.spikes_per_layer.shape == (6,) and res.spikes_per_layer[1] > 0
    assert res.spec_after.layers == res.spec_before.layers
    after = [m.weight.detach().numpy() for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    plastic = [w for w, g in zip(res.spec_after.weights, res.spec_after.layers) if g.plastic]
    for a, w in zip(after, plastic):
        np.testing.assert_array_equal(a, w)
    assert not torch.equal(before[0], model[2].weight)
    assert res.weight_change[1].fraction_changed == 0.0  # the first pooling layer is fixed
    # the same seed on the spec gives the same result (the model path only adds the conversion)
    res2 = sleep(res.spec_before, images, params, seed=4)
    for a, b in zip(res.spec_after.weights, res2.spec_after.weights):
        np.testing.assert_array_equal(a, b)


def test_brian2_backend_refuses_convolutional_networks_early():
    spec, raster = _small_spec_and_raster(steps=5)
    with pytest.raises(ValueError, match="fully-connected layers only"):
        simulate(spec, raster, _params(steps=5), backend="brian2")
    with pytest.raises(ValueError, match="fully-connected layers only"):
        sleep(small_cnn(), np.random.rand(10, 12, 12), _params(steps=5, beta=(1.0,)), backend="brian2")
    with pytest.raises(ValueError, match="fully-connected layers only"):
        sleep(spec, np.random.rand(10, 144), _params(steps=5, beta=(1.0,)), backend="brian2")


def test_beta_per_spiking_layer_is_checked():
    with pytest.raises(ValueError, match="5 layers"):
        sleep(small_cnn(), np.random.rand(10, 12, 12), _params(steps=5, beta=(1.0, 1.0)))


def test_spec_geometry_validation():
    w = np.zeros((1, 1, 2, 2), np.float32)
    ok = SpikingSpec(weights=(w,), alpha=(1.0,), beta=(1.0,), layer_sizes=(16, 9), scale=(1.0,),
                     layers=(LayerGeometry("conv", (1, 4, 4), (1, 3, 3)),))
    assert not ok.is_fully_connected and ok.geometry()[0].kind == "conv"
    with pytest.raises(ValueError, match=r"maps \(4, 4\) to \(3, 3\), not \(2, 2\)"):
        SpikingSpec(weights=(w,), alpha=(1.0,), beta=(1.0,), layer_sizes=(16, 4), scale=(1.0,),
                    layers=(LayerGeometry("conv", (1, 4, 4), (1, 2, 2)),))
    with pytest.raises(ValueError, match="4-D"):
        SpikingSpec(weights=(np.zeros((9, 16), np.float32),), alpha=(1.0,), beta=(1.0,), layer_sizes=(16, 9),
                    scale=(1.0,), layers=(LayerGeometry("conv", (1, 4, 4), (1, 3, 3)),))
    with pytest.raises(ValueError, match="2-D"):  # without layers: an MLP, as before
        SpikingSpec(weights=(w,), alpha=(1.0,), beta=(1.0,), layer_sizes=(16, 9), scale=(1.0,))
    with pytest.raises(ValueError, match="kind='pool'"):
        LayerGeometry("pool", (1, 4, 4), (1, 2, 2))
    mlp = SpikingSpec(weights=(np.zeros((3, 4), np.float32),), alpha=(1.0,), beta=(1.0,), layer_sizes=(4, 3),
                      scale=(1.0,))
    assert mlp.is_fully_connected and mlp.layers is None
    assert mlp.geometry() == (LayerGeometry("dense", (4,), (3,)),)


def test_event_driven_impulse_equals_convolution():
    spec, raster = _small_spec_and_raster(steps=200)
    params = _params(steps=200, decay=0.95, inc=0.02, dec=0.01)
    nets = []
    for event in (True, False):
        net = LayeredNetwork(spec.weights, spec.layers, spec.alpha, spec.beta, params, "cpu", "float64", "sparse")
        if event:
            assert all((f is None) == (g.kind == "dense") for f, g in zip(net._fanout, spec.layers))
        else:
            net._fanout = [None] * len(net._fanout)
        with torch.no_grad():
            net.run_chunk(raster)
        nets.append(net)
    assert nets[0].counts_numpy().tolist() == nets[1].counts_numpy().tolist()
    for a, b in zip(nets[0].weights_numpy(), nets[1].weights_numpy()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # the fan-out table holds every synapse once: as many as the unrolled convolution has
    fan, g = nets[0]._fanout[0], spec.layers[0]
    assert fan.post.numel() == g.out_shape[0] * g.out_shape[1] * g.out_shape[2] * 9
