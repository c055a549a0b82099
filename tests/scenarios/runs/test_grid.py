"""The grid runner (scenarios.runs.grid): points and keys, settings manifests, damaged results, failures."""

import json
import time

import pytest

from scenarios.runs.grid import (GridError, check_manifest, check_scheduler, code_fingerprint, finished,
                                 grid_points, point_key, run_grid, remove_stale_temporaries, settings_diff,
                                 settings_key)
from scenarios.runs.results import save_result


def test_grid_points_and_keys():
    pts = grid_points([0.0, 0.1], [3, 4], {"sigma": [1.0, 2.0]})
    assert len(pts) == 2 * 2 * 2 + 2  # + one plasticity-off baseline per seed
    keys = {point_key(p) for p in pts}
    assert len(keys) == len(pts)
    assert "ratio=0.1__seed=3__sigma=2" in keys
    assert "frozen__ratio=0__seed=4" in keys


def test_manifest_is_written_then_checked(tmp_path):
    settings = {"n_train": 300, "params": {"t_present": "100. ms"}, "files": [{"sha256": "ab"}]}
    key = check_manifest(tmp_path, settings)
    assert key == settings_key(settings) == json.loads((tmp_path / "manifest.json").read_text())["settings_key"]
    assert check_manifest(tmp_path, dict(settings)) == key  # the same settings resume
    other = {"n_train": 100, "params": {"t_present": "50. ms"}, "files": [{"sha256": "ab"}], "code": "x"}
    with pytest.raises(GridError) as info:
        check_manifest(tmp_path, other)
    msg = str(info.value)
    for text in ("n_train: 300 -> 100", 'params.t_present: "100. ms" -> "50. ms"', 'code: (not set) -> "x"'):
        assert text in msg
    assert settings_diff({"a": [1]}, {"a": [1]}) == []


def test_runs_without_manifest_or_with_other_settings_are_not_reused(tmp_path):
    save_result(tmp_path / "runs" / "ratio=0__seed=0", {"settings_key": None})
    with pytest.raises(GridError, match="no manifest.json"):
        check_manifest(tmp_path, {"n": 1})
    with pytest.raises(GridError, match="made with other settings"):
        finished(tmp_path / "runs" / "ratio=0__seed=0", key="abc")
    save_result(tmp_path / "runs" / "ratio=0__seed=1", {"settings_key": "abc"})
    assert finished(tmp_path / "runs" / "ratio=0__seed=1", key="abc")
    assert not finished(tmp_path / "runs" / "nothing", key="abc")


def test_a_damaged_result_is_put_aside_and_run_again(tmp_path):
    run = tmp_path / "ratio=0__seed=0"
    save_result(run, {"settings_key": "k", "accuracy": 0.5})
    text = (run / "result.json").read_text()
    (run / "result.json").write_text(text[: len(text) // 2])  # truncated
    said = []
    assert not finished(run, "k", log=said.append)
    assert not (run / "result.json").exists()
    assert (run / "result.json.damaged").read_text() == text[: len(text) // 2]
    assert str(run / "result.json") in said[0] and "running that point again" in said[0]


def test_code_fingerprint_ignores_docstrings(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "fp_mod.py").write_text('"""One."""\ndef f():\n    """Doc."""\n    return 1  # note\n')
    a = code_fingerprint(["fp_mod"])
    (tmp_path / "fp_mod.py").write_text('"""Two."""\ndef f():\n    """Other doc."""\n    return 1\n')
    assert code_fingerprint(["fp_mod"]) == a
    (tmp_path / "fp_mod.py").write_text('"""Two."""\ndef f():\n    return 2\n')
    assert code_fingerprint(["fp_mod"]) != a


def test_no_workers_and_no_scheduler_are_errors(tmp_path):
    # issue 15, item 5: --workers 0 waited forever at "0/1"
    with pytest.raises(GridError, match="workers=0: must be >= 1"):
        run_grid([{"ratio": 0.0, "seed": 0}], {"out": str(tmp_path)}, _ok, workers=0)
    # issue 15, item 10: an unreachable scheduler took 32 s and a chained traceback
    t0 = time.perf_counter()
    with pytest.raises(GridError, match="cannot connect to a Dask scheduler there within 0.5 s"):
        check_scheduler("tcp://127.0.0.1:1", timeout=0.5)
    assert time.perf_counter() - t0 < 20


def _ok(point, config):
    return {}


def _fail_on_seed_1(point, config):
    if point["seed"] == 1:
        raise ArithmeticError("point 1 cannot be computed")
    time.sleep(0.5)
    return {"seed": point["seed"]}


def test_a_failing_point_stops_the_grid_with_its_error(tmp_path, capsys):
    points = grid_points([0.0], [0, 1, 2], {}, frozen_baseline=False)
    with pytest.raises(ArithmeticError, match="point 1 cannot be computed"):
        run_grid(points, {"out": str(tmp_path)}, _fail_on_seed_1, workers=1, label="test")
    assert "[test] run ratio=0__seed=1 failed" in capsys.readouterr().out


def test_stale_temporaries_of_finished_points_are_removed(tmp_path):
    finished, running = {"arm": "sleep", "ratio": 0.0, "seed": 0}, {"arm": "sleep", "ratio": 0.0, "seed": 1}
    for p in (finished, running):
        d = tmp_path / "runs" / point_key(p)
        d.mkdir(parents=True)
        (d / ".arrays.npz.abc123.tmp").write_text("half written by a killed worker")
    (tmp_path / "runs" / point_key(finished) / "result.json").write_text("{}")
    removed = remove_stale_temporaries(tmp_path, [finished, running])
    assert [r.name for r in removed] == [".arrays.npz.abc123.tmp"]
    assert not list((tmp_path / "runs" / point_key(finished)).glob("*.tmp"))
    # a point without result.json may still be written by a live worker: left alone
    assert list((tmp_path / "runs" / point_key(running)).glob(".*.tmp"))
