"""Tests for scenarios.figures.robustness: the figures of a saved robustness result."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from scenarios.experiments import robustness as rob
from scenarios.figures import robustness as fig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny saved result: digits, 1 trial, one level per distortion type."""
    out = tmp_path_factory.mktemp("rob_fig")
    cfg = rob.quick_config(trials=1, hidden=(32, 32), levels={k: (0.4,) for k in ("gaussian", "saltpepper", "speckle")},
                           n_test=120, sharpness_batch=30, sleep_steps=200, sam_steps=1)
    rob.save(rob.run(cfg, log=lambda _msg: None), out)
    return out


def test_labels_match_the_result_table():
    assert fig.MODEL_LABELS == rob.MODEL_LABELS
    assert fig.MEASURE_LABELS == rob.MEASURE_LABELS
    assert set(fig.MODEL_STYLES) == set(rob.MODELS)


def test_plot_reads_saved_result(saved, tmp_path):
    paths = fig.plot(saved, out_dir=tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["figure1_curves.pdf", "figure1_curves.png", "figure2_averages.pdf", "figure2_averages.png"]
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in paths)
    plt.close("all")


def test_plot_curves_draws_the_mean_per_model(saved):
    res = rob.load(saved)
    ax = fig.plot_curves(res, "gaussian", "accuracy")
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == [fig.MODEL_LABELS[m] for m in rob.MODELS]
    ev = res["trials"][0]["eval"]["src"]
    x, y = lines[1].get_data()
    np.testing.assert_allclose(x, [0.0, 0.4])
    np.testing.assert_allclose(y, [100 * ev["clean"]["accuracy"], 100 * ev["gaussian"]["accuracy"][0]])
    plt.close("all")


def test_plot_averages_bars_are_the_summary(saved):
    res = rob.load(saved)
    ax = fig.plot_averages(res, "sharpness_seed000", by_kind=False)
    heights = [p.get_height() for p in ax.patches]
    expect = [res["summary"]["all_levels"][m]["sharpness_seed000"]["mean"] for m in rob.MODELS]
    np.testing.assert_allclose(heights, expect)
    del res["summary"]
    with pytest.raises(ValueError, match="summary"):
        fig.plot_averages(res)
    plt.close("all")
