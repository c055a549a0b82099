"""Tests for scenarios.commands.plasticity: options, the run-save-plot flow, merging from the command line."""

import json

import pytest
import torch

from scenarios.commands import plasticity as cmd
from scenarios.experiments import plasticity as pl

torch.set_num_threads(1)

TINY = ["--quick", "--tasks", "3", "--trials", "1", "--hidden", "32,32", "--sleep-steps", "200",
        "--sharpness-batch", "40"]


def test_tiny_run_writes_everything_and_merges(tmp_path, capsys):
    run = tmp_path / "run"
    assert cmd.main(TINY + ["--out", str(run)]) == 0
    for name in ("result.json", "table.md", "plasticity_curves.png", "plasticity_curves.pdf",
                 "plasticity_matrices.png", "plasticity_matrices.pdf"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    res = json.loads((run / "result.json").read_text())
    assert res["config"]["tasks"] == 3 and res["config"]["hidden"] == [32, 32] and res["config"]["quick"]
    assert all(s["steps"] == 200 for s in res["trials"][0]["arms"]["src"]["sleeps"])
    out = capsys.readouterr().out
    for arm in res["arms"]:  # one summary line per arm
        assert any(line.startswith(f"{arm:4s} new-task acc first") for line in out.splitlines()), arm

    other = tmp_path / "seed3"
    assert cmd.main(TINY + ["--seed", "3", "--no-plot", "--out", str(other)]) == 0
    assert not (other / "plasticity_curves.png").exists()
    assert cmd.main(["--merge", str(run), str(other), "--no-plot", "--out", str(tmp_path / "m")]) == 0
    merged = pl.load(tmp_path / "m")
    assert merged["seeds"] == [0, 3] and merged["config"]["trials"] == 2


def test_cli_arm_selection(tmp_path):
    with pytest.raises(SystemExit):
        cmd.main(["--quick", "--optimizer", "adam", "--out", str(tmp_path)])
    args = cmd.build_parser().parse_args(["--optimizer", "sgd", "--no-src"])
    assert cmd.config_from_args(args).arms == ("sgd",)
    assert cmd.config_from_args(cmd.build_parser().parse_args([])) == pl.PlasticityConfig()
    q = cmd.config_from_args(cmd.build_parser().parse_args(["--quick", "--tasks", "5"]))
    assert q == pl.quick_config(tasks=5)


@pytest.mark.slow
def test_quick_permuted(tmp_path):
    assert cmd.main(["--quick", "--setting", "permuted", "--n-train", "300", "--n-test", "200",
                     "--out", str(tmp_path)]) == 0
    res = pl.load(tmp_path)
    assert res["dataset"]["n_out"] == 10
    assert res["trials"][0]["n_train_per_task"] == [300] * 4 and res["trials"][0]["tasks"][0] == "perm0"
