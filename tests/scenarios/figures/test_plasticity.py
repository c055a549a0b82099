"""Tests for scenarios.figures.plasticity: the figures of a saved plasticity result."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from scenarios.experiments import plasticity as pl
from scenarios.figures import plasticity as fig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("plast_fig")
    cfg = pl.quick_config(tasks=3, trials=1, hidden=(16, 16), epochs=1, sleep_steps=100, sharpness_batch=20)
    pl.save(pl.run(cfg, log=lambda _msg: None), out)
    return out


def test_labels_match_the_result_table():
    assert fig.ARM_LABELS == pl.ARM_LABELS
    assert set(fig.ARM_STYLES) == set(pl.ARMS)


def test_plot_reads_saved_result(saved, tmp_path):
    names = sorted(p.name for p in fig.plot(saved, out_dir=tmp_path))
    assert names == ["plasticity_curves.pdf", "plasticity_curves.png", "plasticity_matrices.pdf",
                     "plasticity_matrices.png"]
    assert all((tmp_path / n).stat().st_size > 0 for n in names)
    plt.close("all")


def test_plot_new_task_accuracy_draws_each_arm(saved):
    res = pl.load(saved)
    ax = fig.plot_new_task_accuracy(res)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == [fig.ARM_LABELS[a] for a in res["arms"]]
    x, y = lines[0].get_data()
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_allclose(y, 100 * np.asarray(res["trials"][0]["arms"]["sgd"]["new_task_accuracy"]))
    plt.close("all")


def test_plot_matrix_shows_the_accuracy_matrix(saved):
    res = pl.load(saved)
    ax = fig.plot_matrix(res, "src")
    shown = ax.get_images()[0].get_array()
    np.testing.assert_allclose(shown, 100 * np.asarray(res["trials"][0]["arms"]["src"]["acc_matrix"]))
    assert ax.get_title() == "SGD + SRC"
    plt.close("all")
