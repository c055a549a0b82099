"""Tests for scenarios.commands.sgsnn: the options, --quick and the whole scan on Dask."""

import json
from pathlib import Path

from scenarios.commands import sgsnn as cmd


def _config(argv):
    return cmd.config_from_args(cmd.build_parser().parse_args(argv), argv)


def test_quick_fills_only_options_not_given(tmp_path):
    c = _config(["--quick", "--hidden", "32", "--sleep-ratios", "0.25", "--out", str(tmp_path)])
    assert c["hidden"] == 32 and c["ratios"] == [0.25]  # given
    assert c["dataset"] == "digits" and c["n_train"] == 200 and c["steps"] == 20 and c["seeds"] == [0]
    assert c["out"] == str(tmp_path.resolve()) and c["arms"] == ["ff"]
    assert c["command"] == f"sleep-snn sgsnn --quick --hidden 32 --sleep-ratios 0.25 --out {tmp_path}"
    full = _config(["--arms", "ff", "recurrent", "--stdp-scan", "rel/dir"])
    assert full["n_train"] == 10000 and full["ratios"] == [0.0, 0.1, 0.2, 0.3] and full["seeds"] == [0, 1, 2]
    assert full["arms"] == ["ff", "recurrent"] and full["stdp_scan"] == str(Path("rel/dir").resolve())
    assert _config(["--recurrent"])["arms"] == ["recurrent"]


def test_quick_run(tmp_path, capsys):
    out = tmp_path / "q"
    assert cmd.main(["--quick", "--workers", "1", "--out", str(out)]) == 0
    assert (out / "summary.csv").exists() and (out / "summary.md").exists()
    for name in ("sgsnn_accuracy_vs_ratio", "sgsnn_train_time"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()
    res = json.loads((out / "result.json").read_text())
    assert res["kind"] == "sgsnn"
    assert [(t["arm"], t["ratio"], t["n_seeds"]) for t in res["table"]] == [("ff", 0.0, 1), ("ff", 0.5, 1)]
    for row in res["table"]:
        assert 0.0 <= row["accuracy_mean"] <= 1.0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["ratio=0.5__seed=0", "ratio=0__seed=0"]
    printed = capsys.readouterr().out
    assert (out / "summary.md").read_text() in printed and "[sgsnn] 4 figure files" in printed
    # resumed: nothing is run again
    assert cmd.main(["--quick", "--no-figures", "--out", str(out)]) == 0
    assert "2 runs, 2 already finished, 0 to run" in capsys.readouterr().out
