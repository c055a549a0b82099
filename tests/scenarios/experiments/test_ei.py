"""Smoke test of ``sleep-snn ei --quick`` (a whole scenario, with content checks)."""

import json

import numpy as np
import pytest

from scenarios import cli
from scenarios.experiments.ei import load_schedule


def test_ei_quick_on_digits_is_above_chance(tmp_path):
    out = tmp_path / "ei"
    assert cli.main(["ei", "--quick", "--out", str(out), "--sleep-ratio", "0.1"]) == 0
    meta = json.loads((out / "result.json").read_text())
    assert meta["dataset"] == "digits"
    assert meta["accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 0 <= meta["sleep"]["achieved_ratio"] <= 0.1 + 1e-9
    assert meta["mean_rate_hz"]["readout"]["exc"] > 0
    arrays = np.load(out / "arrays.npz")
    assert arrays["counts_exc"].shape == (300 + 300 + 150, 200)
    assert arrays["W_exc_exc"].ndim == 1 and len(arrays["W_exc_exc"]) > 10
    for name in ("raster", "weight_histograms", "total_weight"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()


def test_n_train_larger_than_dataset_names_n():
    with pytest.raises(ValueError, match="n=5000"):
        load_schedule("digits", 5000, 10)


def test_unknown_command_is_an_error(capsys):
    assert cli.main(["dream"]) == 2
    assert "unknown command" in capsys.readouterr().err
