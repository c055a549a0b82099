"""Figures of a scan from its saved summary, and the dispatcher :func:`scenarios.figures.plot_result`."""

import json

import pytest

from scenarios.figures import plot_result
from scenarios.figures.scan import plot, plot_accuracy_vs_ratio, plot_noise_ratio_heatmap


def _summary(sigmas=(0.0, 1.0), ratios=(0.0, 0.2)):
    table = [{"arm": "sleep", "ratio": r, "sigma": s, "accuracy_mean": 0.5 + 0.1 * r + 0.01 * s,
              "accuracy_sd": 0.02, "n_seeds": 2, "achieved_ratio": r, "seeds": [0, 1]}
             for s in sigmas for r in ratios]
    table.append({"arm": "frozen", "ratio": 0.0, "sigma": None, "accuracy_mean": 0.4, "accuracy_sd": 0.01,
                  "n_seeds": 2, "achieved_ratio": 0.0, "seeds": [0, 1]})
    return {"table": table, "pixel_baseline": 0.7, "config": {"dataset": "digits"}}


def _scan_dir(tmp_path, summary):
    d = tmp_path / "scan"
    (d / "runs").mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "summary.csv").write_text("key\n")
    return d


def test_accuracy_lines_per_sigma_and_heatmap():
    summary = _summary()
    ax = plot_accuracy_vs_ratio(summary)
    labels = ax.get_legend_handles_labels()[1]
    assert sorted(labels) == ["plasticity off", "raw pixels", "sigma=0", "sigma=1"]
    ax = plot_noise_ratio_heatmap(summary)
    im = ax.get_images()[0].get_array()
    assert im.shape == (2, 2) and im[1, 1] == pytest.approx(100 * (0.5 + 0.02 + 0.01))


def test_plot_of_a_scan_directory(tmp_path):
    d = _scan_dir(tmp_path, _summary())
    files = plot(d, tmp_path / "figs")
    names = sorted(f.name for f in files)
    assert names == ["accuracy_vs_sleep_ratio.pdf", "accuracy_vs_sleep_ratio.png",
                     "noise_ratio_heatmap.pdf", "noise_ratio_heatmap.png"]
    assert all(f.exists() and f.parent == tmp_path / "figs" for f in files)
    # the dispatcher recognises a scan folder (summary.csv, no result.json)
    assert sorted(f.name for f in plot_result(d)) == names


def test_plot_result_errors(tmp_path):
    from scenarios.runs.results import ResultFileError

    with pytest.raises(ResultFileError, match="nothing to plot"):
        plot_result(tmp_path)
    (tmp_path / "result.json").write_text(json.dumps({"kind": "dream"}))
    with pytest.raises(ValueError, match="unknown result kind 'dream'"):
        plot_result(tmp_path)
