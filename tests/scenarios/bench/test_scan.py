"""``sleep-snn bench scan`` (slow: two standalone builds)."""

import json
import math

import pytest

from scenarios.commands import bench


@pytest.mark.slow
def test_bench_scan_json_line(capsys):
    assert bench.main(["scan", "--runs", "2", "--workers", "2", "--n-train", "8", "--n-test", "10",
                       "--t-present", "50", "--t-rest", "20", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["benchmark"] == "scan" and rec["runs"] == 2 and rec["workers"] == 2
    assert rec["wall_seconds"] > 0 and rec["wall_seconds_1_worker"] > 0 and rec["first_run_seconds"] > 0
    assert math.isfinite(rec["rerun_seconds_1_worker"])  # one worker re-runs its binary for the second seed
    assert rec["runs_per_hour"] == pytest.approx(2 / rec["wall_seconds"] * 3600.0)
