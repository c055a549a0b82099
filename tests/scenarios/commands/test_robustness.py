"""Tests for scenarios.commands.robustness: options, the run-save-plot flow and the printed summary."""

import json

import pytest
import torch

from scenarios.commands import robustness as cmd
from scenarios.experiments import robustness as rob

torch.set_num_threads(1)

# A run far below --quick size (a few seconds): digits, 1 trial, one level per type.
TINY = ["--quick", "--trials", "1", "--hidden", "48,48", "--levels", "0.4", "--n-test", "150",
        "--sharpness-batch", "40", "--sleep-steps", "300", "--sam-steps", "2"]


def test_tiny_run_writes_everything(tmp_path, capsys):
    assert cmd.main(TINY + ["--out", str(tmp_path)]) == 0
    for name in ("result.json", "table.md", "figure1_curves.png", "figure1_curves.pdf",
                 "figure2_averages.png", "figure2_averages.pdf"):
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["config"]["quick"] is True and res["config"]["hidden"] == [48, 48]
    assert res["distortions"] == {"gaussian": [0.4], "saltpepper": [0.4], "speckle": [0.4]}
    assert res["dataset"]["n_test"] == 150 and res["dataset"]["sharpness_batch"] == 40
    assert res["trials"][0]["src"]["steps"] == 300
    out = capsys.readouterr().out
    for m in rob.MODELS:  # one summary line per model
        assert any(line.startswith(f"{m:9s} accuracy ") and "S(eps)" in line for line in out.splitlines()), m
    assert cmd.main(["--plot-only", "--out", str(tmp_path)]) == 0


def test_parse_levels():
    kinds = ("gaussian", "saltpepper", "speckle")
    assert cmd.parse_levels(None, kinds) is None
    assert cmd.parse_levels(["0.1,0.3"], kinds) == {k: (0.1, 0.3) for k in kinds}
    got = cmd.parse_levels(["0.2", "speckle=0.5,1"], kinds)
    assert got["gaussian"] == (0.2,) and got["speckle"] == (0.5, 1.0)
    with pytest.raises(ValueError, match="not one of"):
        cmd.parse_levels(["blur=0.1"], kinds)
    with pytest.raises(ValueError, match="numbers"):
        cmd.parse_levels(["a,b"], kinds)


def test_config_from_args():
    args = cmd.build_parser().parse_args(TINY + ["--models", "baseline,src"])
    cfg = cmd.config_from_args(args)
    assert cfg.quick and cfg.dataset == "digits" and cfg.trials == 1 and cfg.hidden == (48, 48)
    assert cfg.models == ("baseline", "src") and cfg.levels_for("speckle") == (0.4,)
    full = cmd.config_from_args(cmd.build_parser().parse_args([]))
    assert full == rob.RobustnessConfig()


def test_cli_rejects_bad_levels(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cmd.main(["--quick", "--levels", "saltpepper=1.5", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "saltpepper" in capsys.readouterr().err
    assert not (tmp_path / "result.json").exists()


@pytest.mark.slow
def test_quick_default_size(tmp_path):
    """The documented --quick run (digits, 2 trials, all three distortions)."""
    assert cmd.main(["--quick", "--out", str(tmp_path)]) == 0
    res = rob.load(tmp_path)
    assert res["models"] == list(rob.MODELS) and len(res["trials"]) == 2 and res["seeds"] == [0, 1]
    assert list(res["distortions"]) == ["gaussian", "saltpepper", "speckle"]
    assert all(len(v) == 2 for v in res["distortions"].values())
    assert res["wall_s"] < 120


def test_cnn_quick_writes_table_and_figures_and_compares(tmp_path, capsys):
    """``--model cnn --quick`` (made tinier): table, figures, an SRC row that differs from the baseline row."""
    cnn = tmp_path / "cnn"
    assert cmd.main(TINY + ["--model", "cnn", "--channels", "4,8", "--models", "baseline,src", "--out", str(cnn)]) == 0
    for name in ("result.json", "table.md", "figure1_curves.png", "figure2_averages.png"):
        assert (cnn / name).is_file() and (cnn / name).stat().st_size > 0, name
    res = json.loads((cnn / "result.json").read_text())
    assert res["config"]["model"] == "cnn" and res["trials"][0]["src"]["preset"] == rob.CNN_SRC_PRESET
    rows = {line.split("|")[1].strip(): line for line in (cnn / "table.md").read_text().splitlines()
            if line.startswith("| baseline (SGD)") or line.startswith("| SRC (baseline + sleep)")}
    assert len(rows) == 2
    assert rows["baseline (SGD)"].split("|")[2:] != rows["SRC (baseline + sleep)"].split("|")[2:]
    capsys.readouterr()
    assert cmd.main(["--compare", str(cnn), str(cnn), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 0
    assert "comparison.png" in capsys.readouterr().out


def test_tune_bad_options_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cmd.main(["--quick", "--model", "cnn", "--tune", "2", "--validation", "10", "--tune-eval", "20",
                  "--out", str(tmp_path)])
    assert exc.value.code == 2 and "eval_images" in capsys.readouterr().err
