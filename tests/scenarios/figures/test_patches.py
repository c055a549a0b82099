"""Tests for scenarios.figures.patches (Fig. 1B and Fig. 1D of the Patches toy, from a saved result)."""

import numpy as np
import pytest
import torch

from scenarios.experiments import patches as pt
from scenarios.figures import patches as fp

torch.set_num_threads(1)


def test_connection_categories_hand_made():
    # 8 pixels: 0 shared; 1 only image 0; 2 only image 1; 3 only image 2; 4 only image 3;
    # 5 images 0 and 1 (task 1, not shared); 6 background; 7 images 1 and 2 (both tasks, not shared)
    x = np.zeros((4, 8))
    x[:, 0] = 1
    x[0, 1] = x[1, 2] = x[2, 3] = x[3, 4] = 1
    x[0, 5] = x[1, 5] = 1
    x[1, 7] = x[2, 7] = 1
    m = fp.connection_categories(x)
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
    cats = fp.weights_by_category(w, fp.connection_categories(x))
    assert cats["task1_out"]["shared"].tolist() == [0.0, 4.0]
    assert cats["task1_out"]["task1_unique"].tolist() == [1.0, 5.0]
    assert cats["task2_out"]["task2_unique"].tolist() == [10.0, 14.0]
    assert cats["task2_out"]["background"].tolist() == [11.0, 15.0]


def test_generated_patches_categories_have_expected_sizes():
    imgs = pt.make_images(12, 25, seed=3)
    m = fp.connection_categories(imgs)
    assert m["shared"].sum() == 12
    assert m["task1_unique"].sum() == 2 * 13 and m["task2_unique"].sum() == 2 * 13
    assert m["background"].sum() == 100 - 12 - 4 * 13


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("patches")
    pt.save(pt.run(pt.PatchesConfig(overlaps=(4, 14), trials=2, steps=200), log=lambda s: None), out)
    return out


def test_plot_accuracy_one_line_per_stage(saved):
    from scenarios.runs.results import load_result

    result = load_result(saved)
    ax = fp.plot_accuracy(result, "task1")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["after T1", "after T2", "after SRC"]
    first = ax.get_lines()[0]
    assert first.get_xdata().tolist() == [4, 14]
    want = [np.mean([r["acc"]["T1"]["task1"] for r in result["runs"] if r["overlap"] == ov]) for ov in (4, 14)]
    assert first.get_ydata().tolist() == pytest.approx(want)


def test_plot_weight_histograms_leaves_out_the_background(saved):
    from scenarios.runs.results import load_result

    run = next(r for r in load_result(saved)["runs"] if "weights" in r)
    ax = fp.plot_weight_histograms(run, "SRC", "task2_out", legend=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "T1-unique pixels", "T2-unique pixels", "shared pixels"]


def test_plot_writes_both_figures(saved, tmp_path):
    files = fp.plot(saved, out_dir=tmp_path, hist_overlap=4)
    assert sorted(p.name for p in files) == ["patches_accuracy.pdf", "patches_accuracy.png",
                                             "patches_weights.pdf", "patches_weights.png"]
    assert all(p.is_file() and p.parent == tmp_path for p in files)
