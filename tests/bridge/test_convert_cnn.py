"""Conversion of convolutional networks (bridge.convert): geometry, normalisation, round trip, rejections."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import ConversionError, LayerGeometry, from_torch, is_convolutional, to_torch, weight_layers

torch.set_num_threads(1)


def _cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 28, 28)),
                         nn.Conv2d(1, 4, 5, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 6, 5, stride=1, padding=2, dilation=1, bias=False), nn.ReLU(), nn.Dropout(0.2),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 6 * 6, 10, bias=False), nn.ReLU())


def test_geometry_of_a_small_cnn():
    spec = from_torch(_cnn(), torch.rand(20, 28, 28))
    kinds = [g.kind for g in spec.layers]
    assert kinds == ["conv", "avgpool", "conv", "avgpool", "dense"]
    assert [g.out_shape for g in spec.layers] == [(4, 24, 24), (4, 12, 12), (6, 12, 12), (6, 6, 6), (10,)]
    assert spec.layer_sizes == (784, 4 * 576, 4 * 144, 6 * 144, 216, 10)
    assert [g.plastic for g in spec.layers] == [True, False, True, False, True]
    assert spec.layers[2].padding == (2, 2) and spec.layers[1].stride == (2, 2) and spec.layers[1].groups == 4
    assert spec.weights[1].shape == (4, 1, 2, 2) and np.all(spec.weights[1] == 0.25)
    assert is_convolutional(_cnn()) and not is_convolutional(nn.Sequential(nn.Linear(3, 2, bias=False)))
    assert [type(m) for m in weight_layers(_cnn())] == [nn.Conv2d, nn.Conv2d, nn.Linear]


def test_normalisation_by_hand():
    # one 1x1 conv (weight 2) -> ReLU -> 2x2 average pooling -> Flatten -> Linear (weights 0.5, -1)
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[4].weight.copy_(torch.tensor([[0.5], [-1.0]]))
    x = torch.tensor([[[[0.1, 0.3], [0.2, 0.6]]], [[[0.0, 0.1], [0.1, 0.2]]]])  # (n=2, 1, 2, 2)
    spec = from_torch(model, x, alpha_scale=3.0)
    # conv: lambda = max(2, max(2x) = 1.2) = 2; pool: max(0.25, mean of 2x = 0.6) = 0.6;
    # dense: max(0.5, max(0.5 * 0.6) = 0.3) = 0.5
    lam = [2.0, 0.6, 0.5]
    applied = [lam[0], lam[1] / lam[0], lam[2] / (lam[1] / lam[0])]
    np.testing.assert_allclose(spec.scale, applied, rtol=1e-6)
    np.testing.assert_allclose(spec.alpha, [3.0 / a for a in applied], rtol=1e-6)
    # a percentile below 100 replaces the maximum activation of the conv layer (its weight 2 still rules)
    p50 = from_torch(model, x, percentile=50.0)
    assert p50.scale[0] == pytest.approx(2.0)
    assert p50.scale[1] < spec.scale[1]


def test_input_shape_from_data_or_argument():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3, bias=False))
    x4 = torch.rand(5, 1, 6, 6)
    a = from_torch(model, x4)
    b = from_torch(model, x4.reshape(5, 36), input_shape=(1, 6, 6))
    assert a.layers == b.layers and a.alpha == b.alpha
    with pytest.raises(ConversionError, match=r"needs an input of shape \(C, H, W\)"):
        from_torch(model, x4.reshape(5, 36))
    with pytest.raises(ConversionError, match="in_channels=1 but it receives 2"):
        from_torch(model, torch.rand(5, 2, 6, 6))


def test_round_trip_is_bit_identical():
    model = _cnn(3)
    before = [p.detach().clone() for p in model.parameters()]
    spec = from_torch(model, torch.rand(30, 784))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # to_torch must write every weight, kernels included
    to_torch(spec, model)
    after = list(model.parameters())
    assert len(after) == 3
    for a, b in zip(before, after):
        assert torch.equal(a, b)
    assert torch.equal(model[2].weight, torch.tensor(spec.weights[0]))


def test_to_torch_rejects_a_mismatched_spec():
    spec = from_torch(_cnn(), torch.rand(4, 784))
    other = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 26 * 26, 10, bias=False))
    with pytest.raises(ConversionError, match="3 plastic weight arrays but the model has 2"):
        to_torch(spec, other)
    wrong = _cnn()
    wrong[2] = nn.Conv2d(1, 4, 3, bias=False)
    with pytest.raises(ConversionError, match=r"layer 2 \(Conv2d.*shape"):
        to_torch(spec, wrong)


def test_custom_module_forward_is_checked():
    class Net(nn.Module):
        def __init__(self, swap=False):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, bias=False)
            self.act = nn.ReLU()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(2 * 4 * 4, 3, bias=False)
            self.swap = swap

        def forward(self, x):
            h = self.conv(x)
            return self.fc(self.flat(h if self.swap else self.act(h)))

    x = torch.rand(6, 1, 6, 6)
    assert from_torch(Net(), x).layer_sizes == (36, 32, 3)
    with pytest.raises(ConversionError, match="registration order"):
        from_torch(Net(swap=True), x)


@pytest.mark.parametrize("layers, pos, why", [
    ([nn.Conv2d(1, 2, 3)], 0, "Conv2d has a bias"),
    ([nn.Conv2d(1, 2, 3, bias=False, groups=1), nn.ReLU(), nn.MaxPool2d(2)], 2, "max pooling is not supported"),
    ([nn.Conv2d(1, 2, 3, bias=False, padding=1, padding_mode="reflect")], 0, "padding_mode='reflect'"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Conv2d(2, 2, 3, bias=False, groups=2)], 2, "groups=2"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)], 2, "ceil_mode=True"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)], 2,
     "count_include_pad=False"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1)], 2, "explicit kernel"),
    ([nn.Conv1d(1, 2, 3, bias=False)], 0, "other than Conv2d"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2, bias=False)], 0,
     "not followed by a ReLU before the next spiking layer"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False)], 2, "put a Flatten before"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(7, 2, bias=False)], 3,
     "in_features=7 does not match the 32 values"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(2)], 2, "Flatten(start_dim=2"),
    ([nn.Conv2d(1, 2, 7, bias=False)], 0, "does not fit"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(2)], 2, "normalisation layers are not supported"),
    ([nn.Conv2d(1, 2, 3, bias=False), nn.Sigmoid()], 1, "activation Sigmoid"),
])
def test_rejected_layers_name_the_layer_and_the_reason(layers, pos, why):
    model = nn.Sequential(*layers)
    with pytest.raises(ConversionError) as info:
        from_torch(model, torch.rand(3, 1, 6, 6))
    msg = str(info.value)
    assert f"layer {pos} ({type(layers[pos]).__name__}" in msg, msg
    assert why in msg, msg


def test_conv_after_linear_is_rejected():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16, bias=False), nn.ReLU(), nn.Unflatten(1, (1, 4, 4)),
                          nn.Conv2d(1, 1, 2, bias=False))
    with pytest.raises(ConversionError, match=r"layer 4 \(Conv2d.*not supported after a Linear"):
        from_torch(model, torch.rand(3, 36))


def test_layer_geometry_validation():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        LayerGeometry("conv", (2, 4, 4), (3, 3, 3), groups=3)
    with pytest.raises(ValueError, match="padding"):
        LayerGeometry("conv", (1, 4, 4), (1, 3, 3), padding=(-1, 0))
    with pytest.raises(ValueError, match=r"maps \(C, H, W\)"):
        LayerGeometry("avgpool", (16,), (4,))
    g = LayerGeometry("conv", (2, 5, 5), (3, 3, 3), stride=2, padding=1)
    assert g.stride == (2, 2) and g.padding == (1, 1) and g.n_in == 50 and g.n_out == 27
