"""Scans on a real Dask LocalCluster (completion, resumption after SIGKILL), grid points, point parameters."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios.experiments.scan import RUNTIME_PARAMS, _params_for, _structure_key, scannable_params
from scenarios.runs.grid import grid_points, point_key

SCAN = ["--dataset", "digits", "--n-train", "8", "--n-test", "10", "--t-present", "50",
        "--t-rest", "20", "--backend", "numpy", "--sleep-ratio", "0", "0.3", "--seeds", "0", "1",
        "--workers", "2", "--no-figures"]


def _scan_cmd(out):
    return [sys.executable, "-m", "scenarios.cli", "scan", *SCAN, "--out", str(out)]


def _results(out):
    return sorted(p.parent.name for p in (Path(out) / "runs").glob("*/result.json"))


def test_point_parameters():
    from brian2 import mV, ms

    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    config = {"params": EINetworkParams(t_present=100 * ms), "sleep": SleepParams(mode="trigger")}
    params, sleep = _params_for({"arm": "sleep", "ratio": 0.2, "seed": 1, "sigma": 2.0, "w_tgt": 0.5,
                                 "eta_plus": 0.01, "t_rest": 80.0}, config)
    assert sleep.sleep_ratio == 0.2 and sleep.sigma == 2 * mV and sleep.mode == "trigger"
    assert sleep.w_tgt_inp_exc == sleep.w_tgt_exc_exc == sleep.w_tgt_inh_exc == 0.5
    assert params.stdp.eta_plus == 0.01 and params.t_rest == 80 * ms and params.t_present == 100 * ms
    # run-time parameters share one build; a network field compiles its own
    base, base_sleep = _params_for({"arm": "sleep", "ratio": 0.0, "seed": 0}, config)
    assert _structure_key(*_params_for({"arm": "sleep", "ratio": 0.3, "seed": 0, "sigma": 1.0,
                                        "eta_plus": 0.02}, config)) == _structure_key(base, base_sleep)
    assert _structure_key(params, sleep) != _structure_key(base, base_sleep)
    frozen, frozen_sleep = _params_for({"arm": "frozen", "ratio": 0.0, "seed": 0}, config)
    assert frozen.plastic is False and frozen_sleep.sleep_ratio == 0.0
    names = scannable_params()
    assert set(RUNTIME_PARAMS) <= set(names) and "t_present" in names and names == sorted(names)


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


# options written with "=" too, next to --quick (issue 15, item 3: "--sleep-ratio=0.3" scanned the default
# ratios and "--n-train=500 --quick" ran 60 images)
TINY = ["scan", "--quick", "--dataset=digits", "--n-train=4", "--n-test", "4", "--t-present", "20", "--t-rest", "10",
        "--backend", "numpy", "--sleep-ratio=0", "--seeds", "0", "--no-frozen-baseline", "--workers", "1",
        "--no-figures"]


@pytest.fixture(scope="module")
def tiny_scan(tmp_path_factory):
    from scenarios import cli

    out = tmp_path_factory.mktemp("tiny") / "scan"
    assert cli.main([*TINY, "--out", str(out)]) == 0
    return out


def test_a_resume_with_other_settings_stops_and_names_them(tiny_scan, capsys):
    # issue 15, item 1: the resumed scan reported the stored 300-image runs under the new sizes
    from scenarios import cli

    capsys.readouterr()
    changed = [*TINY, "--n-train", "3", "--t-present", "30", "--out", str(tiny_scan)]
    assert cli.main(changed) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sleep-snn scan: error: {tiny_scan} holds runs made with other settings (")
    assert "n_train: 4 -> 3" in err and 'params.t_present: "20. ms" -> "30. ms"' in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    manifest = json.loads((tiny_scan / "manifest.json").read_text())
    run = json.loads((tiny_scan / "runs" / "ratio=0__seed=0" / "result.json").read_text())
    assert run["settings_key"] == manifest["settings_key"]
    assert manifest["settings"]["data_files"][0]["name"] == "digits.csv.gz"
    assert manifest["settings"]["n_train"] == 4 and run["n_train"] == 4  # --n-train=4 won over --quick's 60
    assert sorted(p.name for p in (tiny_scan / "runs").iterdir()) == ["ratio=0__seed=0"]  # only --sleep-ratio=0


def test_a_truncated_result_is_named_then_run_again(tiny_scan, capsys):
    # issue 15, item 7: a bare JSONDecodeError stopped the resume and `sleep-snn figures`
    from scenarios import cli

    result = tiny_scan / "runs" / "ratio=0__seed=0" / "result.json"
    text = result.read_text()
    result.write_text(text[: len(text) // 3])
    capsys.readouterr()
    assert cli.main(["figures", str(tiny_scan)]) == 2
    err = capsys.readouterr().err
    assert f"{result} is not valid JSON" in err and "run the scan command again" in err
    assert cli.main([*TINY, "--out", str(tiny_scan)]) == 0
    printed = capsys.readouterr().out
    assert f"{result} is not valid JSON" in printed and "1 runs, 0 already finished, 1 to run" in printed
    assert json.loads(result.read_text())["accuracy"] == json.loads(text)["accuracy"]  # the same run again
    assert (result.parent / "result.json.damaged").read_text() == text[: len(text) // 3]
