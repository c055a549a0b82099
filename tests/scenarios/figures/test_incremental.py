"""Tests for scenarios.figures.incremental (Fig. 2, Fig. 4 and Table 1 from a saved result)."""

import json

import numpy as np
import pytest

from scenarios.figures import incremental as fi


def _corr(n_classes, value):
    c = np.full((n_classes, n_classes), value)
    np.fill_diagonal(c, 1.0)
    return {"class_corr": c.tolist(), "within": 0.9, "between": value, "active_fraction": 0.2}


def _result():
    """A saved-result-shaped dict: 2 tasks of 2 classes, arms sequential, src, parallel, 2 trials."""
    trials = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        src_stages = ["T1", "S1", "T2", "S2"]
        corr = [{"layer1": _corr(4, 0.1 * k), "layer2": _corr(4, 0.05 * k)} for k in range(4)]
        arms = {
            "sequential": {"stages": ["T1", "T2"], "acc": [[0.9, 0.0], [0.0, 0.9 + shift]],
                           "overall": [0.45, 0.45 + shift / 2]},
            "src": {"stages": src_stages, "acc": [[0.9, 0.0], [0.8, 0.1], [0.0, 0.9], [0.5 + shift, 0.6]],
                    "overall": [0.45, 0.45, 0.45, 0.55 + shift / 2], "correlations": corr},
            "parallel": {"stages": ["P"], "acc": [[0.8, 0.8]], "overall": [0.8]},
        }
        trials.append({"seed": seed, "arms": arms, "seconds": 1.0})
    table = []
    for arm, label in (("sequential", "Sequential training"), ("src", "My SRC label"),
                       ("parallel", "Parallel training")):
        vals = [t["arms"][arm]["overall"][-1] for t in trials]
        table.append({"arm": arm, "label": label, "values": vals, "mean": float(np.mean(vals)),
                      "sd": float(np.std(vals, ddof=1))})
    return {"scenario": "incremental", "dataset": "digits", "dataset_name": "Digits", "tasks": [[0, 1], [2, 3]],
            "arms": ["sequential", "src", "parallel"], "seeds": [0, 1], "sizes": {"eval_split": "test"},
            "stage_labels": {a: trials[0]["arms"][a]["stages"] for a in ("sequential", "src", "parallel")},
            "trials": trials, "table": table}


def test_stage_stats_mean_and_sd_over_trials():
    mu, sd = fi.stage_stats(_result(), "src")
    assert mu.shape == (4, 2) and mu[3, 0] == pytest.approx(0.55)
    assert sd[3, 0] == pytest.approx(np.std([0.5, 0.6], ddof=1)) and sd[0, 0] == 0.0
    one = _result()
    one["trials"] = one["trials"][:1]
    assert np.isnan(fi.stage_stats(one, "src")[1]).all()


def test_plot_stages_uses_the_saved_labels():
    ax = fi.plot_stages(_result(), "src")
    # the arm label is read from the saved table, the parallel mean is the dotted line
    assert ax.get_title(loc="left") == "My SRC label  (dotted: parallel 80.0%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["T1", "S1", "T2", "S2"]
    assert len(ax.patches) == 4 * 2  # stages x tasks


def test_plot_class_correlation_picks_stage_and_layer():
    ax = fi.plot_class_correlation(_result(), "S2", "layer1", n_classes=3, colorbar=False)
    img = ax.get_images()[0].get_array()
    assert img.shape == (3, 3) and img[0, 1] == pytest.approx(0.3) and img[0, 0] == 1.0
    assert "after S2" in ax.get_title() and "between 0.30" in ax.get_title()


def test_plot_summary_one_bar_per_arm():
    ax = fi.plot_summary(_result())
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Sequential", "My SRC label", "Parallel"]
    assert ax.get_ylabel() == "final test accuracy"


def test_plot_writes_every_figure(tmp_path):
    (tmp_path / "result.json").write_text(json.dumps(_result()))
    files = fi.plot(tmp_path, out_dir=tmp_path / "figs")
    names = sorted(p.name for p in files)
    assert names == sorted(f"incremental_{n}.{e}" for n in ("stages", "correlation", "summary")
                           for e in ("png", "pdf"))
    assert all(p.is_file() and p.parent == tmp_path / "figs" for p in files)
    # without correlations and staged arms only the summary is drawn
    r = _result()
    r["arms"] = ["parallel"]
    del r["trials"][0]["arms"]["src"]["correlations"]
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "result.json").write_text(json.dumps(r))
    names = sorted(p.name for p in fi.plot(tmp_path / "p"))
    assert names == ["incremental_summary.pdf", "incremental_summary.png"]


def _icarl_result():
    r = _result()
    for k, (a, b) in ((100, (0.50, 0.55)), (200, (0.60, 0.62))):
        for method, v in (("icarl", a), ("icarl_src", b)):
            key = f"{method}_k{k}"
            for t in r["trials"]:
                t["arms"][key] = {"stages": ["T1", "T2"], "acc": [[0.9, 0.0], [v, v]], "overall": [0.45, v]}
            r["table"].append({"arm": key, "method": method, "memory": k, "label": f"{method} (K = {k})",
                               "values": [v, v + 0.02], "mean": v + 0.01, "sd": 0.014})
            r["arms"].append(key)
    r["config"] = {"protocol": "paper"}
    return r


def test_plot_memory_draws_both_methods_against_k():
    ax = fi.plot_memory(_icarl_result())
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert len(lines) == 2
    np.testing.assert_allclose(np.asarray(lines[1].get_ydata(), dtype=float), [56.0, 63.0])  # iCaRL + SRC means, %
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["icarl", "icarl_src"]
    assert fi.staged_keys(_icarl_result()) == ["sequential", "src", "icarl_k100", "icarl_src_k100"]


def test_plot_sleep_every_one_point_per_run(tmp_path):
    runs = []
    for every, value in ((1, 0.55), (2, 0.45)):
        r = _result()
        r["config"] = {"sleep_every": every, "protocol": "code"}
        src = next(row for row in r["table"] if row["arm"] == "src")
        src["mean"], src["values"] = value, [value, value]
        (tmp_path / f"e{every}").mkdir()
        (tmp_path / f"e{every}" / "result.json").write_text(json.dumps(r))
        runs.append(r)
    ax = fi.plot_sleep_every(runs)
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), dtype=float), [1, 2])
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), [55.0, 45.0])
    files = fi.plot_sleep_every_dirs([tmp_path / "e2", tmp_path / "e1"], tmp_path / "out")
    assert sorted(p.name for p in files) == ["incremental_sleep_every.pdf", "incremental_sleep_every.png"]
