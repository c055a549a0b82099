"""Tests for scenarios.commands.patches: the run-save-plot flow and bad options."""

import json

import numpy as np
import torch

from scenarios.commands import patches as cmd
from scenarios.experiments import patches as pt

torch.set_num_threads(1)


def test_quick_run_writes_outputs(tmp_path, capsys):
    assert cmd.main(["--quick", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "table.md").read_text()
    assert "| overlap |" in table
    for name in ("patches_accuracy", "patches_weights"):
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.pdf").is_file()
    out = capsys.readouterr().out
    assert table in out and f"wrote {tmp_path / 'result.json'} and {tmp_path / 'table.md'}" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["config"]["overlaps"] == [4, 14, 24] and result["config"]["steps"] == 3000
    runs = result["runs"]
    assert len(runs) == 3
    for r in runs:
        for s in pt.STAGES:
            for k in ("all", "task1", "task2"):
                assert 0.0 <= r["acc"][s][k] <= 1.0
    # the SRC row differs from the post-task-2 row (accuracy or, at least, weights)
    assert any(r["acc"]["SRC"]["all"] != r["acc"]["T2"]["all"] for r in runs)
    w = runs[0]["weights"]
    assert not np.array_equal(np.array(w["T2"]), np.array(w["SRC"]))


def test_quick_authors_layout_no_plot(tmp_path):
    assert cmd.main(["--quick", "--n-on", "authors", "--no-plot", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["config"]["overlaps"] == [4, 12, 20] and result["config"]["n_on"] == "authors"
    assert not list(tmp_path.glob("*.png"))


def test_bad_options_exit_2(capsys):
    assert cmd.main(["--n-on", "0", "--out", "/nonexistent"]) == 2
    assert "n_on" in capsys.readouterr().err
    assert cmd.main(["--overlaps", "5-3", "--out", "/nonexistent"]) == 2
    assert "empty range" in capsys.readouterr().err
