"""Tests for scenarios.experiments.patches (the Patches toy of Tadros et al. 2022, Fig. 1)."""

import json

import numpy as np
import pytest
import torch

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


def test_connection_categories_hand_made():
    # 8 pixels: 0 shared; 1 only image 0; 2 only image 1; 3 only image 2; 4 only image 3;
    # 5 images 0 and 1 (task 1, not shared); 6 background; 7 images 1 and 2 (both tasks, not shared)
    x = np.zeros((4, 8))
    x[:, 0] = 1
    x[0, 1] = x[1, 2] = x[2, 3] = x[3, 4] = 1
    x[0, 5] = x[1, 5] = 1
    x[1, 7] = x[2, 7] = 1
    m = pt.connection_categories(x)
    assert np.flatnonzero(m["shared"]).tolist() == [0]
    assert np.flatnonzero(m["task1_unique"]).tolist() == [1, 2, 5]
    assert np.flatnonzero(m["task2_unique"]).tolist() == [3, 4]
    assert np.flatnonzero(m["background"]).tolist() == [6]
    # categories are disjoint
    total = sum(v.astype(int) for v in m.values())
    assert total.max() == 1 and total[7] == 0


def test_weights_by_category():
    x = np.zeros((4, 4))
    x[:, 0] = 1          # shared
    x[0, 1] = 1          # task 1 unique
    x[3, 2] = 1          # task 2 unique
    w = np.arange(16, dtype=float).reshape(4, 4)  # w[out, pixel]
    cats = pt.weights_by_category(w, pt.connection_categories(x))
    assert cats["task1_out"]["shared"].tolist() == [0.0, 4.0]
    assert cats["task1_out"]["task1_unique"].tolist() == [1.0, 5.0]
    assert cats["task2_out"]["task2_unique"].tolist() == [10.0, 14.0]
    assert cats["task2_out"]["background"].tolist() == [11.0, 15.0]


def test_generated_patches_categories_have_expected_sizes():
    imgs = pt.make_images(12, 25, seed=3)
    m = pt.connection_categories(imgs)
    assert m["shared"].sum() == 12
    assert m["task1_unique"].sum() == 2 * 13 and m["task2_unique"].sum() == 2 * 13
    assert m["background"].sum() == 100 - 12 - 4 * 13


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


def test_config_validation():
    with pytest.raises(ValueError, match="norm"):
        pt.PatchesConfig(norm="max")
    with pytest.raises(ValueError, match="overlaps"):
        pt.PatchesConfig(overlaps=(30,))


def test_quick_run_writes_outputs(tmp_path):
    assert pt.main(["--quick", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "table.md").read_text()
    assert "| overlap |" in table
    for name in ("patches_accuracy", "patches_weights"):
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.pdf").is_file()
    result = json.loads((tmp_path / "result.json").read_text())
    runs = result["runs"]
    assert len(runs) == 3
    for r in runs:
        for s in pt.STAGES:
            for k in ("all", "task1", "task2"):
                assert 0.0 <= r["acc"][s][k] <= 1.0
    # the SRC row differs from the post-task-2 row (accuracy or, at least, weights)
    assert any(r["acc"]["SRC"]["all"] != r["acc"]["T2"]["all"] for r in runs)
    w = runs[0]["weights"]
    assert not np.array_equal(np.array(w["T2"]), np.array(w["SRC"]))
