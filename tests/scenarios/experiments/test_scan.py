"""Scans on a real Dask LocalCluster: completion, resumption after SIGKILL, parameter errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios.experiments.scan import parse_param
from scenarios.runs.grid import COMPILED_MARK, build_lock, grid_points, point_key, seed_build_dir

SCAN = ["--dataset", "digits", "--n-train", "8", "--n-test", "10", "--t-present", "50",
        "--t-rest", "20", "--backend", "numpy", "--sleep-ratio", "0", "0.3", "--seeds", "0", "1",
        "--workers", "2", "--no-figures"]


def _scan_cmd(out):
    return [sys.executable, "-m", "scenarios.cli", "scan", *SCAN, "--out", str(out)]


def _results(out):
    return sorted(p.parent.name for p in (Path(out) / "runs").glob("*/result.json"))


def test_grid_points_and_keys():
    pts = grid_points([0.0, 0.1], [3, 4], {"sigma": [1.0, 2.0]})
    assert len(pts) == 2 * 2 * 2 + 2  # + one plasticity-off baseline per seed
    keys = {point_key(p) for p in pts}
    assert len(keys) == len(pts)
    assert "ratio=0.1__seed=3__sigma=2" in keys
    assert "frozen__ratio=0__seed=4" in keys


def test_seed_build_dir_copies_only_a_finished_build(tmp_path):
    root = tmp_path / "build"
    unfinished = root / "abc-1"
    (unfinished / "code_objects").mkdir(parents=True)
    (unfinished / "main").write_text("partial")
    assert seed_build_dir(root, "abc", root / "abc-9") is None
    assert not (root / "abc-9").exists()

    done = root / "abc-2"
    (done / "code_objects").mkdir(parents=True)
    (done / "results").mkdir()
    (done / "results" / "x").write_text("old run")
    obj = done / "code_objects" / "a.o"
    obj.write_text("object")
    os.utime(obj, (1_000_000, 1_000_000))
    (done / COMPILED_MARK).touch()
    (root / "other-3").mkdir()
    (root / "other-3" / COMPILED_MARK).touch()

    new = root / "abc-9"
    with build_lock(root / "abc.lock"):
        assert seed_build_dir(root, "abc", new) == done
    assert (new / "code_objects" / "a.o").read_text() == "object"
    # modification times are kept, so make sees the objects as up to date
    assert (new / "code_objects" / "a.o").stat().st_mtime == 1_000_000
    assert not (new / "results").exists()
    assert not (new / COMPILED_MARK).exists()
    # an existing directory is never overwritten
    assert seed_build_dir(root, "abc", new) is None


def test_unknown_param_is_named():
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        parse_param("gamma=1,2")
    assert parse_param("sigma=0,1.5") == ("sigma", [0.0, 1.5])


def test_scan_survives_sigkill_and_resumes_without_duplicates(tmp_path):
    out = tmp_path / "scan"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(_scan_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    deadline = time.time() + 600
    while time.time() < deadline and len(_results(out)) < 1:
        time.sleep(0.5)
    assert len(_results(out)) >= 1, "no run finished before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(_results(out))
    assert n_before < 6, "the scan finished before it could be killed"
    subprocess.run(_scan_cmd(out), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, timeout=900)
    keys = _results(out)
    expected = sorted(point_key(p) for p in grid_points([0.0, 0.3], [0, 1], {}))
    assert keys == expected  # exactly one result per grid point
    # no half-written files were left behind
    assert not list(out.rglob("*.tmp"))
    rows = (out / "summary.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(expected)
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["pixel_baseline"] <= 1
    arms = {t["arm"] for t in summary["table"]}
    assert arms == {"sleep", "frozen"}
    for t in summary["table"]:
        assert 0 <= t["accuracy_mean"] <= 1 and t["n_seeds"] == 2
