"""``sleep-snn bench nir``: the JSON line of a small export benchmark."""

import json

import pytest

pytest.importorskip("nir")

from scenarios.commands import bench  # noqa: E402


def test_bench_nir_json_line(capsys):
    assert bench.main(["nir", "--sizes", "30,20,5", "--repeats", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sizes"] == [30, 20, 5] and len(out["export_seconds"]) == 2 and out["round_trip_exact"] is True
    assert out["weights_bytes"] == 4 * (30 * 20 + 20 * 5) and out["file_bytes"] > 0


def test_bench_nir_bad_sizes_are_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        bench.main(["nir", "--sizes", "30,x"])
    assert exc.value.code == 2
