"""Tests for scenarios.figures.sgsnn: figures of a saved SG-SNN scan directory."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

import scenarios.experiments.sgsnn as exp
from scenarios.figures import sgsnn as fig


def _run_meta(arm, ratio, seed, train=60.0, sleep=6.0):
    return {"arm": arm, "point": {"ratio": ratio, "seed": seed}, "n_train": 200,
            "model": {"epochs": 1, "hidden": 64, "steps": 20},
            "wall_seconds": {"train": train, "sleep": sleep}}


@pytest.fixture
def scan_dir(tmp_path):
    """A scan directory as ``sleep-snn sgsnn`` leaves it (only the fields the figures read)."""
    table = [{"arm": "ff", "ratio": 0.0, "accuracy_mean": 0.7, "accuracy_sd": 0.02, "n_seeds": 2},
             {"arm": "ff", "ratio": 0.5, "accuracy_mean": 0.68, "accuracy_sd": None, "n_seeds": 1},
             {"arm": "recurrent", "ratio": 0.0, "accuracy_mean": 0.6, "accuracy_sd": 0.05, "n_seeds": 2}]
    (tmp_path / "result.json").write_text(json.dumps({"kind": "sgsnn", "table": table, "stdp_scan": None,
                                                      "config": {"dataset": "digits"}}))
    for i, meta in enumerate([_run_meta("ff", 0.0, 0), _run_meta("ff", 0.0, 1, train=70.0),
                              _run_meta("ff", 0.5, 0), _run_meta("recurrent", 0.0, 0)]):
        d = tmp_path / "runs" / f"run{i}"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(meta))
    return tmp_path


def test_labels_match_the_scan_table():
    assert fig.ARM_LABELS == exp.ARM_LABELS


def test_plot_writes_both_figures(scan_dir, tmp_path):
    out = tmp_path / "figs"
    names = sorted(p.name for p in fig.plot(scan_dir, out))
    assert names == ["sgsnn_accuracy_vs_ratio.pdf", "sgsnn_accuracy_vs_ratio.png",
                     "sgsnn_train_time.pdf", "sgsnn_train_time.png"]
    assert all((out / n).stat().st_size > 0 for n in names)


def test_plot_without_runs_has_no_timing_figure(scan_dir):
    for p in (scan_dir / "runs").glob("*/result.json"):
        p.unlink()
    names = sorted(p.name for p in fig.plot(scan_dir, prefix="x_"))
    assert names == ["x_accuracy_vs_ratio.pdf", "x_accuracy_vs_ratio.png"]


def test_plot_accuracy_draws_each_arm_and_the_stdp_curve(scan_dir):
    res = json.loads((scan_dir / "result.json").read_text())
    stdp = (np.array([0.0, 0.5]), np.array([0.6, 0.62]), np.array([0.01, np.nan]))
    ax = fig.plot_accuracy(res, stdp)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == [f"{exp.ARM_LABELS['ff']} (n=2)", f"{exp.ARM_LABELS['recurrent']} (n=2)",
                      "STDP-SNN + read-out"]
    x, y = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(x, [0.0, 0.5])
    np.testing.assert_allclose(y, [70.0, 68.0])
    plt.close("all")


def test_plot_timing_stacks_wake_and_sleep(scan_dir):
    ax = fig.plot_timing(fig.read_runs(scan_dir))
    # ff at ratio 0: mean wake (54 + 64) / 2 s = 0.983 min, then sleep 0.1 min on top
    heights = {(round(p.get_x() + p.get_width() / 2, 3), round(p.get_y(), 4)): p.get_height() for p in ax.patches}
    ff0 = [h for (x, y), h in heights.items() if x == -0.2]
    assert sorted(ff0) == pytest.approx(sorted([59.0 / 60, 6.0 / 60]))
    plt.close("all")


def test_read_stdp_curve(tmp_path, capsys):
    assert fig.read_stdp_curve(None) is None
    assert fig.read_stdp_curve(tmp_path) is None
    assert "no " in capsys.readouterr().err
    rows = [{"arm": "sleep", "ratio": 0.2, "accuracy_mean": 0.66, "accuracy_sd": 0.01},
            {"arm": "frozen", "ratio": 0.0, "accuracy_mean": 0.5, "accuracy_sd": 0.0},
            {"arm": "sleep", "ratio": 0.0, "accuracy_mean": 0.67, "accuracy_sd": None},
            {"arm": "sleep", "ratio": 0.2, "accuracy_mean": 0.1, "accuracy_sd": 0.1}]
    (tmp_path / "summary.json").write_text(json.dumps({"table": rows}))
    ratios, means, sds = fig.read_stdp_curve(tmp_path)
    np.testing.assert_array_equal(ratios, [0.0, 0.2])
    np.testing.assert_array_equal(means, [0.67, 0.66])  # the first row of a ratio is kept
    assert np.isnan(sds[0]) and sds[1] == 0.01
