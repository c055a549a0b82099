"""Tests of bridge.convert (torch MLP <-> SpikingSpec) and bridge.presets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import ConversionError, SpikingSpec, from_torch, to_torch
from bridge.presets import PRESETS, SRCParams, preset


def _mlp(sizes=(12, 8, 6, 3), seed=0, final_relu=True):
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1], bias=False))
        if k < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(0.25)]
        elif final_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------
# round trip
# --------------------------------------------------------------------------
def test_round_trip_is_bit_identical():
    model = _mlp()
    x = torch.rand(50, 3, 4)  # (n, h, w) with h*w = 12
    before = _snapshot(model)
    model.train()
    spec = from_torch(model, x)
    assert model.training and all(m.training for m in model.modules())  # mode restored
    for k, v in model.state_dict().items():  # from_torch does not touch the model
        assert torch.equal(v, before[k])
    assert to_torch(spec, model) is model
    for k, v in model.state_dict().items():
        assert v.dtype == before[k].dtype
        assert torch.equal(v, before[k]), k
        assert v.numpy().tobytes() == before[k].numpy().tobytes()
    assert spec.layer_sizes == (12, 8, 6, 3)
    assert all(w.dtype == np.float32 for w in spec.weights)
    assert [w.shape for w in spec.weights] == [(8, 12), (6, 8), (3, 6)]
    assert spec.beta == (1.0, 1.0, 1.0)


def test_spec_weights_are_copies_and_read_only():
    model = _mlp()
    spec = from_torch(model, torch.rand(10, 12))
    with pytest.raises(ValueError):
        spec.weights[0][0, 0] = 1.0
    with torch.no_grad():
        model[1].weight.zero_()
    assert np.any(spec.weights[0] != 0)


def test_to_torch_writes_new_weights_and_checks_shapes():
    model = _mlp()
    spec = from_torch(model, torch.rand(10, 12))
    new = tuple(np.full_like(w, 0.5) for w in spec.weights)
    to_torch(dataclasses.replace(spec, weights=new), model)
    assert torch.all(model[1].weight == 0.5)
    other = _mlp(sizes=(12, 8, 5, 3))
    with pytest.raises(ConversionError, match=r"shape \(5, 8\).*\(6, 8\)"):
        to_torch(spec, other)
    with pytest.raises(ConversionError, match="3 weight matrices but the model has 2"):
        to_torch(spec, _mlp(sizes=(12, 8, 3)))
    with pytest.raises(ConversionError, match="float32"):
        to_torch(spec, _mlp().double())


def test_module_with_children_in_order_is_accepted():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3, bias=False)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(3, 2, bias=False)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    spec = from_torch(Net(), torch.rand(5, 4))
    assert spec.layer_sizes == (4, 3, 2)

    class Swapped(Net):
        def __init__(self):
            super().__init__()
            self.fc2 = nn.Linear(3, 3, bias=False)

        def forward(self, x):  # applies fc2 twice: not the children in order
            return self.fc2(self.act(self.fc2(self.act(self.fc1(x)))))

    with pytest.raises(ConversionError, match="registration order"):
        from_torch(Swapped(), torch.rand(5, 4))


# --------------------------------------------------------------------------
# rejected layers
# --------------------------------------------------------------------------
@pytest.mark.parametrize("bad, pos, name, why", [
    (nn.Linear(8, 6, bias=True), 3, "Linear", "bias"),
    (nn.Sigmoid(), 3, "Sigmoid", "activation Sigmoid is not supported"),
    (nn.Tanh(), 3, "Tanh", "activation Tanh is not supported"),
    (nn.BatchNorm1d(8), 3, "BatchNorm1d", "normalisation layers are not supported"),
    (nn.Conv2d(1, 1, 3), 3, "Conv2d", "convolutional layers are not supported"),
    (nn.LSTM(8, 8), 3, "LSTM", "not supported"),
])
def test_rejected_layers_name_class_and_position(bad, pos, name, why):
    layers = [nn.Linear(12, 8, bias=False), nn.ReLU(), nn.Dropout(0.1), bad,
              nn.Linear(8, 3, bias=False)]
    if isinstance(bad, nn.Linear):
        layers = [nn.Linear(12, 8, bias=False), nn.ReLU(), nn.Dropout(0.1), bad, nn.ReLU(),
                  nn.Linear(6, 3, bias=False)]
    model = nn.Sequential(*layers)
    with pytest.raises(ConversionError) as info:
        from_torch(model, torch.rand(4, 12))
    msg = str(info.value)
    assert f"layer {pos} ({name}" in msg
    assert f"named '{pos}'" in msg
    assert why in msg


def test_nan_weight_rejected():
    model = _mlp()
    with torch.no_grad():
        model[4].weight[1, 2] = float("nan")
    with pytest.raises(ConversionError, match=r"layer 4 \(Linear, named '4'\).*1 NaN/inf"):
        from_torch(model, torch.rand(4, 12))


def test_missing_relu_between_linears_rejected():
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.Dropout(0.2), nn.Linear(3, 2, bias=False))
    with pytest.raises(ConversionError, match=r"layer 0 \(Linear.*not followed by a ReLU"):
        from_torch(model, torch.rand(4, 4))


def test_nested_sequential_positions():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU()),
                          nn.Sequential(nn.Linear(3, 2, bias=False), nn.GELU()))
    with pytest.raises(ConversionError, match=r"layer 3 \(GELU, named '1.1'\)"):
        from_torch(model, torch.rand(4, 4))


@pytest.mark.parametrize("shape", [(5, 10), (5, 3, 3), (5, 784)])
def test_wrong_calibration_shape_names_expected_size(shape):
    model = _mlp()
    with pytest.raises(ConversionError, match=r"in_features=12") as info:
        from_torch(model, np.zeros(shape, np.float32))
    assert "layer 1 (Linear" in str(info.value)


def test_calibration_nan_and_empty_rejected():
    model = _mlp()
    x = np.ones((3, 12), np.float32)
    x[0, 0] = np.nan
    with pytest.raises(ConversionError, match="NaN"):
        from_torch(model, x)
    with pytest.raises(ConversionError, match="at least one sample"):
        from_torch(model, np.zeros((0, 12), np.float32))


def test_float64_model_rejected():
    with pytest.raises(ConversionError, match="float32"):
        from_torch(_mlp().double(), torch.rand(3, 12, dtype=torch.float64))


# --------------------------------------------------------------------------
# normalisation by hand
# --------------------------------------------------------------------------
def _two_layer():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(2, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 0.5]]))
        model[3].weight.copy_(torch.tensor([[2.0, -1.0]]))
    return model


def test_alpha_and_scale_hand_computed():
    # x1 = (1, 0): a1 = relu(1, 0.5) = (1, 0.5), a2 = relu(2 - 0.5) = 1.5
    # x2 = (0, 4): a1 = relu(-8, 2) = (0, 2),    a2 = relu(-2) = 0
    # layer 1: max w = 1, max a1 = 2   -> lambda1 = 2, applied1 = 2 / 1 = 2
    # layer 2: max w = 2, max a2 = 1.5 -> lambda2 = 2, applied2 = 2 / 2 = 1
    model = _two_layer()
    model.train()  # dropout must not act during calibration
    spec = from_torch(model, np.array([[1.0, 0.0], [0.0, 4.0]], np.float32), alpha_scale=3.0)
    assert spec.scale == pytest.approx((2.0, 1.0))
    assert spec.alpha == pytest.approx((1.5, 3.0))
    assert spec.alpha_scale == 3.0 and spec.percentile == 100.0


def test_percentile_hand_computed():
    # positive activations of layer 1: {1, 0.5, 2} -> median 1 -> lambda1 = max(1, 1) = 1
    # layer 2: positives {1.5} -> 1.5 -> lambda2 = max(2, 1.5) = 2 -> applied2 = 2 / 1 = 2
    spec = from_torch(_two_layer(), np.array([[1.0, 0.0], [0.0, 4.0]], np.float32),
                      percentile=50.0, alpha_scale=3.0)
    assert spec.scale == pytest.approx((1.0, 2.0))
    assert spec.alpha == pytest.approx((3.0, 1.5))


def test_weight_term_wins_when_activations_are_small():
    # tiny inputs: activations << weights, so lambda_l = max positive weight
    spec = from_torch(_two_layer(), np.array([[1e-3, 0.0]], np.float32))
    assert spec.scale == pytest.approx((1.0, 2.0))


def test_no_positive_weight_or_activation_rejected():
    model = _two_layer()
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
    with pytest.raises(ConversionError, match=r"layer 0 \(Linear.*normalisation factor would be 0"):
        from_torch(model, np.ones((2, 2), np.float32))


def test_beta_argument_and_spec_validation():
    spec = from_torch(_two_layer(), np.ones((2, 2), np.float32), beta=(2.0, 3.0))
    assert spec.beta == (2.0, 3.0)
    assert spec.thresholds(0.5) == (1.0, 1.5)
    with pytest.raises(ValueError, match="beta has 1 entries"):
        from_torch(_two_layer(), np.ones((2, 2), np.float32), beta=(2.0,))
    w = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="layer_sizes"):
        SpikingSpec(weights=(w,), alpha=(1.0,), beta=(1.0,), layer_sizes=(2, 3), scale=(1.0,))
    with pytest.raises(ValueError, match="float32"):
        SpikingSpec(weights=(w.astype(np.float64),), alpha=(1.0,), beta=(1.0,), layer_sizes=(3, 2),
                    scale=(1.0,))
    with pytest.raises(ValueError, match=r"alpha\[0\]"):
        SpikingSpec(weights=(w,), alpha=(0.0,), beta=(1.0,), layer_sizes=(3, 2), scale=(1.0,))


# --------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------
def test_presets_have_the_authors_numbers():
    f = preset("fashion")
    assert (f.max_rate, f.inc, f.dec, f.alpha_scale) == (181.047258, 0.041001, 0.003344, 31.592987)
    assert f.beta == (40.446884, 27.596929, 33.109393)
    assert (f.decay, f.threshold, f.dt, f.mask_size, f.image_side, f.g_scale) == (0.999, 1.0, 1.0, 11, 28, 0.001)
    assert f.input_probability_factor == pytest.approx(2 * 0.001 * 181.047258)
    m = preset("mnist")
    assert (m.max_rate, m.inc, m.dec, m.beta[0], m.alpha_scale) == (239.515363, 0.032064, 0.003344,
                                                                    14.548273, 55.882454)
    p = preset("patches")
    assert (p.max_rate, p.inc, p.dec, p.steps, p.mask_size, p.image_side) == (64.0, 0.0035, 0.0002, 30000, 0, 10)
    assert set(PRESETS) == {"mnist", "fashion", "cifar10", "crossmodal", "patches"}
    assert preset("cifar10").beta == (8.070491, 0.907842, 1.728840)
    assert preset("crossmodal").alpha_scale == 9.284002


def test_preset_overrides_and_unknown_names():
    assert preset("fashion", steps=10).steps == 10
    with pytest.raises(ValueError, match="allowed: mnist, fashion, cifar10, crossmodal, patches"):
        preset("svhn")
    with pytest.raises(ValueError, match="unknown SRCParams field"):
        preset("fashion", speed=3)


@pytest.mark.parametrize("field, value, allowed", [
    ("max_rate", 0.0, "> 0 Hz"),
    ("inc", -0.1, ">= 0"),
    ("dec", -1.0, ">= 0"),
    ("beta", (1.0, -2.0), "each > 0"),
    ("beta", (), "each > 0"),
    ("alpha_scale", 0.0, "> 0"),
    ("decay", 0.0, "0 < decay <= 1"),
    ("decay", 1.5, "0 < decay <= 1"),
    ("threshold", -1.0, "> 0"),
    ("dt", 0.0, "> 0 ms"),
    ("steps", 0, ">= 1"),
    ("mask_size", 29, "mask_size <= image_side=28"),
    ("mask_size", -1, "mask_size <= image_side"),
    ("image_side", 0, ">= 1"),
    ("g_scale", 0.0, "> 0"),
])
def test_param_validation_names_field(field, value, allowed):
    with pytest.raises(ValueError) as info:
        preset("fashion", **{field: value})
    msg = str(info.value)
    assert f"SRCParams.{field}=" in msg and allowed in msg


def test_param_types():
    with pytest.raises(ValueError, match="SRCParams.steps=2.5 must be an integer"):
        preset("fashion", steps=2.5)
    with pytest.raises(ValueError, match="SRCParams.inc"):
        preset("fashion", inc="a lot")
    assert preset("fashion", steps=20.0).steps == 20
    assert preset("fashion", beta=2.0).beta == (2.0,)
    assert preset("fashion", beta=2.0).beta_for(3) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="beta has 3 entries"):
        preset("fashion").beta_for(2)


def test_params_accept_brian2_units():
    from brian2 import Hz, ms, mV

    p = preset("fashion", max_rate=100 * Hz, dt=0.5 * ms)
    assert p.max_rate == pytest.approx(100.0) and p.dt == pytest.approx(0.5)
    assert isinstance(p.max_rate, float)
    with pytest.raises(ValueError, match="SRCParams.dt"):
        preset("fashion", dt=1 * mV)


def test_params_are_frozen():
    p = SRCParams(max_rate=10, inc=0.1, dec=0.1, beta=(1.0,), alpha_scale=1.0, steps=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.inc = 0.2  # type: ignore[misc]
