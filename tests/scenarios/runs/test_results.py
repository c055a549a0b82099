"""Result files (scenarios.runs.results): round trips, atomic writes, damaged files named."""

import json
import os
import stat

import numpy as np
import pytest
from brian2 import ms

from scenarios.runs.results import (ARRAYS_NPZ, RESULT_JSON, TABLE_MD, ResultFileError, load_arrays,
                                    load_result, merge_results, save_result, to_jsonable)


def test_round_trip_of_meta_arrays_and_table(tmp_path):
    meta = {"accuracy": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True), "t": 250 * ms,
            "nan": float("nan"), "shape": (1, 2), "path": tmp_path}
    arrays = {"w": np.arange(6.0).reshape(2, 3), "none": None}
    path = save_result(tmp_path / "run", meta, arrays, table=lambda m: f"acc {m['accuracy']}\n")
    assert path == tmp_path / "run" / RESULT_JSON
    back = load_result(tmp_path / "run")
    assert back == {"accuracy": 0.5, "n": 3, "ok": True, "t": "250. ms", "nan": None, "shape": [1, 2],
                    "path": str(tmp_path)}
    assert load_result(path) == back  # the file itself works too
    a = load_arrays(tmp_path / "run")
    assert set(a) == {"w"} and np.array_equal(a["w"], arrays["w"])
    assert (tmp_path / "run" / TABLE_MD).read_text() == "acc 0.5\n"
    # strict JSON: no NaN token
    assert "NaN" not in path.read_text()


def test_files_get_the_usual_permissions(tmp_path):
    path = save_result(tmp_path, {"a": 1}, {"x": np.zeros(2)})
    umask = os.umask(0)
    os.umask(umask)
    for f in (path, tmp_path / ARRAYS_NPZ):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask


def test_no_temporary_files_are_left(tmp_path):
    save_result(tmp_path, {"a": 1}, {"x": np.zeros(2)}, table=lambda m: "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARRAYS_NPZ, RESULT_JSON, TABLE_MD]


def test_missing_and_truncated_results_name_the_file(tmp_path):
    with pytest.raises(ResultFileError, match="no result.json in"):
        load_result(tmp_path)
    path = save_result(tmp_path, {"accuracy": 0.5, "runs": list(range(50))})
    path.write_text(path.read_text()[:40])  # a run killed while an old version wrote it
    with pytest.raises(ResultFileError, match=str(path)):
        load_result(tmp_path)
    assert load_arrays(tmp_path) == {}


def test_to_jsonable_converts_nested_dataclasses():
    from spiking.sleep import SleepParams

    d = to_jsonable({"sleep": SleepParams()})
    json.dumps(d, allow_nan=False)
    assert d["sleep"]["mode"] == "trigger" and d["sleep"]["sigma"].endswith("mV")


def _trial_result(directory, seed, config):
    save_result(directory, {"config": dict(config, seed=seed), "trials": [{"seed": seed, "acc": seed / 10}],
                            "wall_s": 1.0, "command": f"run {seed}"})
    return directory


def test_merge_combines_trials_and_rejects_other_settings(tmp_path):
    a = _trial_result(tmp_path / "a", 0, {"lr": 0.1})
    b = _trial_result(tmp_path / "b", 1, {"lr": 0.1})
    merged = merge_results([a, b], summarize=lambda r: {"n": len(r["trials"])})
    assert merged["seeds"] == [0, 1] and merged["summary"] == {"n": 2}
    assert merged["config"]["trials"] == 2 and merged["wall_s"] == 2.0
    c = _trial_result(tmp_path / "c", 2, {"lr": 0.2})
    with pytest.raises(ValueError, match=r"differs in \['lr'\]"):
        merge_results([a, c], summarize=dict)
    with pytest.raises(ValueError, match="repeated trial seeds"):
        merge_results([a, a], summarize=dict)
