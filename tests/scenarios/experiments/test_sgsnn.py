"""Tests for scenarios.experiments.sgsnn: the scan grid, one grid point, the summary of a scan directory."""

import csv
import json
import math

import numpy as np
import pytest
import torch

import scenarios.experiments.sgsnn as sg
from scenarios.runs.grid import point_key

torch.set_num_threads(1)


def _config(out, **kw):
    config = {"dataset": "digits", "data_dir": None, "data_seed": 0, "n_train": 40, "n_test": 30, "epochs": 1,
              "hidden": 8, "steps": 5, "batch": 20, "lr": 5e-4, "logit_scale": 0.1, "sleep_steps": None,
              "sigma_mV": 3.0, "lam": 0.9997, "w_tgt": None, "eta_plus": 1e-4, "eta_minus": 1.05e-4,
              "threads": 1, "out": str(out), "seeds": [0, 1], "arms": ["ff"], "ratios": [0.0, 0.5],
              "log_every": 0, "stdp_scan": None, "command": "sleep-snn sgsnn (test)"}
    config.update(kw)
    return config


def test_grid_points_per_arm_ratio_and_seed(tmp_path):
    points = sg.grid(_config(tmp_path, arms=["ff", "recurrent"]))
    assert len(points) == 2 * 2 * 2
    ff = [p for p in points if p.get("arm") != "recurrent"]
    assert sorted((p["ratio"], p["seed"]) for p in ff) == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
    keys = [point_key(p) for p in points]
    assert len(set(keys)) == len(keys)
    assert sum(k.startswith("recurrent__") for k in keys) == 4


def test_point_is_saved_and_not_rerun(tmp_path):
    config = _config(tmp_path)
    point = {"arm": "sleep", "ratio": 0.5, "seed": 0}
    row = sg.run_sgsnn_point(point, config)
    run_dir = tmp_path / "runs" / point_key(point)
    meta = json.loads((run_dir / "result.json").read_text())
    assert (run_dir / "arrays.npz").is_file()
    assert meta["kind"] == "sgsnn_run" and meta["arm"] == "ff" and meta["n_train"] == 40
    assert meta["model"]["hidden"] == 8 and meta["model"]["n_in"] == 225
    assert meta["sleep"]["interval"] == 2 and meta["sleep"]["n_phases"] == 1
    assert row["accuracy"] == meta["accuracy"] and 0 <= row["accuracy"] <= 1
    mtime = (run_dir / "result.json").stat().st_mtime_ns
    assert sg.run_sgsnn_point(point, config) == row  # a finished point is read back, not run again
    assert (run_dir / "result.json").stat().st_mtime_ns == mtime


def test_summarise_mean_sd_per_arm_and_ratio(tmp_path):
    config = _config(tmp_path)
    for ratio, seed in ((0.0, 0), (0.0, 1), (0.5, 0)):
        sg.run_sgsnn_point({"arm": "sleep", "ratio": ratio, "seed": seed}, config)
    summary = sg.summarise(tmp_path, config)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert len(rows) == 3
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["kind"] == "sgsnn" and res["config"]["command"] == config["command"]
    assert [(t["ratio"], t["n_seeds"]) for t in res["table"]] == [(0.0, 2), (0.5, 1)]
    acc0 = [float(r["accuracy"]) for r in rows if float(r["ratio"]) == 0.0]
    two, one = res["table"]
    assert two["accuracy_mean"] == pytest.approx(np.mean(acc0))
    assert two["accuracy_sd"] == pytest.approx(np.std(acc0, ddof=1))
    assert one["accuracy_sd"] is None and math.isnan(summary["table"][1]["accuracy_sd"])
    md = (tmp_path / "summary.md").read_text()
    assert f"| {sg.ARM_LABELS['ff']} | 0 | {100 * two['accuracy_mean']:.1f} ± " in md
    assert f"| {sg.ARM_LABELS['ff']} | 0.5 | {100 * one['accuracy_mean']:.1f} | 1 |" in md


def test_summarise_needs_finished_runs(tmp_path):
    with pytest.raises(RuntimeError, match="no finished runs"):
        sg.summarise(tmp_path)
