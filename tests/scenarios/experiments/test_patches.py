"""Tests for scenarios.experiments.patches (the Patches toy of Tadros et al. 2022, Fig. 1)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import from_torch
from bridge.presets import preset
from scenarios.experiments import patches as pt

torch.set_num_threads(1)


def test_parse_overlaps():
    assert pt.parse_overlaps("0-3") == (0, 1, 2, 3)
    assert pt.parse_overlaps("14,12,12") == (12, 14)
    assert pt.parse_overlaps("0-2, 10") == (0, 1, 2, 10)
    with pytest.raises(ValueError):
        pt.parse_overlaps("5-3")
    with pytest.raises(ValueError):
        pt.parse_overlaps("")


def test_generated_images():
    imgs = pt.make_images(12, 25, seed=3)
    assert imgs.shape == (4, 100) and imgs.dtype == np.float32
    assert imgs.sum(axis=1).tolist() == [25, 25, 25, 25]
    assert (imgs > 0).all(axis=0).sum() == 12  # the shared pixels
    assert np.array_equal(imgs, pt.make_images(12, 25, seed=3))


def test_authors_layout():
    assert pt.authors_unique(0) == 16
    assert pt.authors_unique(12) == 4
    assert pt.authors_unique(16) == 0
    assert pt.authors_unique(20) == 0
    imgs = pt.make_images(12, "authors", seed=0)
    assert imgs.sum(axis=1).tolist() == [16, 16, 16, 16]
    same = pt.make_images(18, "authors", seed=0)
    assert np.all(same == same[0]) and same[0].sum() == 18


def test_softmax_spec_by_hand():
    w = np.array([[0.3, 0.0], [0.0, 0.0]], dtype=np.float32)
    x = np.array([[1.0, 0.0]], dtype=np.float32)
    # softmax([0.3, 0]) -> max p = e^0.3 / (e^0.3 + 1)
    p = np.exp(0.3) / (np.exp(0.3) + 1)
    spec = pt.softmax_spec(w, x, alpha_scale=4.25, beta=1.045)
    assert spec.scale[0] == pytest.approx(p)
    assert spec.alpha[0] == pytest.approx(4.25 / p)
    assert spec.beta == (1.045,)


def test_softmax_spec_is_not_the_converters_normalisation():
    # the reason softmax_spec exists: from_torch on the same bias-free Linear takes the largest
    # logit (0.3 here), the authors take the largest softmax probability (0.574)
    w = np.array([[0.3, 0.0], [0.0, 0.0]], dtype=np.float32)
    x = np.array([[1.0, 0.0]], dtype=np.float32)
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w))
    conv = from_torch(nn.Sequential(lin), x, alpha_scale=4.25, beta=(1.045,))
    ours = pt.softmax_spec(w, x, alpha_scale=4.25, beta=1.045)
    assert conv.scale[0] == pytest.approx(0.3)
    assert ours.scale[0] == pytest.approx(np.exp(0.3) / (np.exp(0.3) + 1))
    assert np.array_equal(conv.weights[0], ours.weights[0]) and conv.beta == ours.beta
    # where neither the logits nor the probabilities exceed max(W), the two agree
    big = np.array([[2.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(big))
    small_x = np.array([[0.1, 0.0]], dtype=np.float32)
    assert from_torch(nn.Sequential(lin), small_x).scale == pt.softmax_spec(big, small_x, 1.0, 1.0).scale


def test_config_validation():
    with pytest.raises(ValueError, match="norm"):
        pt.PatchesConfig(norm="max")
    with pytest.raises(ValueError, match="overlaps"):
        pt.PatchesConfig(overlaps=(30,))
    with pytest.raises(ValueError, match="n_on"):
        pt.PatchesConfig(n_on=0)


@pytest.mark.parametrize("norm", ["softmax", "logits"])
def test_run_one_records_every_stage(norm):
    cfg = pt.PatchesConfig(overlaps=(14,), trials=1, steps=400, norm=norm)
    r = pt.run_one(14, 0, cfg, preset(cfg.preset), keep_weights=True)
    assert list(r["acc"]) == list(pt.STAGES)
    for s in pt.STAGES:
        assert 0.0 <= r["acc"][s]["all"] <= 1.0
        assert np.array(r["weights"][s]).shape == (4, 100)
    assert np.array(r["images"]).shape == (4, 100)
    assert r["sleep"]["seed"] is not None and len(r["sleep"]["alpha"]) == 1
    # task 1 after task 1 is learnt; sleeping changed the weights
    assert r["acc"]["T1"]["task1"] == 1.0
    assert not np.array_equal(np.array(r["weights"]["T2"]), np.array(r["weights"]["SRC"]))
    # same seed, same run
    again = pt.run_one(14, 0, cfg, preset(cfg.preset), keep_weights=True)
    assert again["weights"] == r["weights"] and again["acc"] == r["acc"]


def test_run_and_save(tmp_path):
    cfg = pt.PatchesConfig(overlaps=(4, 20), trials=2, steps=200)
    result = pt.run(cfg, log=lambda s: None)
    assert [(r["overlap"], r["seed"]) for r in result["runs"]] == [(4, 0), (4, 1), (20, 0), (20, 1)]
    assert ["weights" in r for r in result["runs"]] == [True, False, True, False]
    assert [row["overlap"] for row in result["summary"]] == [4, 20]
    row = result["summary"][0]
    assert row["T1_all_mean"] == pytest.approx(np.mean([r["acc"]["T1"]["all"] for r in result["runs"][:2]]))
    path = pt.save(result, tmp_path)
    assert path == tmp_path / "result.json"
    assert json.loads(path.read_text())["config"]["overlaps"] == [4, 20]
    table = (tmp_path / "table.md").read_text()
    assert table == pt.table_markdown(result)
    assert "| overlap |" in table and "\n| 4 |" in table and "\n| 20 |" in table
