"""``sleep-snn export-nir``: a torch model file in, a NIR file out that reads back exactly."""

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("nir")

from bridge.convert import from_torch  # noqa: E402
from bridge.nir import from_nir, nir_dynamics, read_nir  # noqa: E402
from bridge.presets import preset  # noqa: E402
from scenarios import cli  # noqa: E402
from spiking.data import load_dataset  # noqa: E402


@pytest.fixture
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32, bias=False), nn.ReLU(), nn.Dropout(0.25), nn.Linear(32, 16, bias=False),
                         nn.ReLU(), nn.Linear(16, 10, bias=False)).eval()


def test_state_dict_before_and_after_sleep(tmp_path, model, capsys):
    path = tmp_path / "mlp.pt"
    torch.save(model.state_dict(), path)
    out = tmp_path / "net.nir"
    assert cli.main(["export-nir", str(path), "--data", "digits", "--preset", "cifar10", "--out", str(out)]) == 0
    assert "before sleep" in capsys.readouterr().out
    spec = from_nir(out)
    images = load_dataset("digits", "train", size=8).flat()
    ref = from_torch(model, images, alpha_scale=preset("cifar10").alpha_scale, beta=preset("cifar10").beta)
    assert all(np.array_equal(a, b) for a, b in zip(spec.weights, ref.weights))
    assert spec.alpha == ref.alpha and spec.beta == ref.beta and spec.scale == ref.scale
    dyn = nir_dynamics(out)
    assert (dyn.dt, dyn.decay, dyn.threshold) == (1.0, 0.999, 1.0)
    meta = read_nir(out).metadata
    assert meta["state"].startswith("before") and "cifar10" in meta["command"]

    slept = tmp_path / "slept.nir"
    assert cli.main(["export-nir", str(path), "--data", "digits", "--preset", "cifar10", "--sleep", "--steps", "200",
                     "--seed", "3", "--out", str(slept), "--dtype", "float64"]) == 0
    assert "after 200 sleep steps (seed 3)" in capsys.readouterr().out
    after = from_nir(slept)
    assert after.alpha == ref.alpha  # the sleep keeps the impulse factors of the conversion
    assert any(not np.array_equal(a, b) for a, b in zip(after.weights, ref.weights))  # and changed weights
    assert read_nir(slept).metadata["sleep_steps"] == 200


def test_bad_model_files_exit_2(tmp_path, model, capsys):
    assert cli.main(["export-nir", str(tmp_path / "missing.pt"), "--data", "digits", "--out", str(tmp_path / "x.nir")]) == 2
    assert "no such model file" in capsys.readouterr().err
    pickled = tmp_path / "module.pt"
    torch.save(model, pickled)
    assert cli.main(["export-nir", str(pickled), "--data", "digits", "--out", str(tmp_path / "x.nir")]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert cli.main(["export-nir", str(pickled), "--allow-pickle", "--data", "digits", "--preset", "cifar10",
                     "--out", str(tmp_path / "x.nir")]) == 0
    biased = tmp_path / "biased.pt"
    torch.save(nn.Sequential(nn.Linear(64, 10)).state_dict(), biased)
    assert cli.main(["export-nir", str(biased), "--data", "digits", "--out", str(tmp_path / "y.nir")]) == 2
    assert "biases" in capsys.readouterr().err
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    assert cli.main(["export-nir", str(tmp_path / "ok.pt"), "--data", "digits", "--preset", "nope",
                     "--out", str(tmp_path / "z.nir")]) == 2
    assert "--preset nope" in capsys.readouterr().err
    assert not (tmp_path / "y.nir").exists() and not (tmp_path / "z.nir").exists()
