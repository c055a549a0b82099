"""Tests for scenarios.commands.incremental: options, the run-save-plot flow, --merge, --select/--search errors."""

import json

import numpy as np
import torch

from scenarios.commands import incremental as cmd
from scenarios.experiments import incremental as inc

torch.set_num_threads(1)


def test_quick_run_writes_outputs(tmp_path, capsys):
    assert cmd.main(["--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    table = (tmp_path / "table.md").read_text()
    for label in ("Sequential training", "EWC", "SI", "OWM", "SRC", "Rehearsal", "Rehearsal + SRC",
                  "iCaRL (K = 20)", "iCaRL + SRC (K = 20)", "Parallel training"):
        assert f"| {label}" in table
    assert "| K (exemplars) | iCaRL | iCaRL + SRC |" in table  # the Table-2 layout
    for name in ("incremental_stages", "incremental_correlation", "incremental_summary", "incremental_icarl"):
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.pdf").is_file()
    out = capsys.readouterr().out
    assert table in out and f"wrote {tmp_path / 'result.json'} and {tmp_path / 'table.md'}" in out
    rows = {r["arm"]: r for r in result["table"]}
    assert set(rows) == {key for key, _, _ in inc.arm_runs(inc.IncrementalConfig(**inc.QUICK))}
    for r in rows.values():
        assert all(0.0 <= v <= 1.0 for v in r["values"])
    # every new arm learns something else than plain sequential training
    for key in ("ewc", "si", "owm", "icarl_k20", "icarl_src_k20"):
        assert result["trials"][0]["arms"][key]["acc"] != result["trials"][0]["arms"]["sequential"]["acc"], key
    # K // (classes seen) exemplars per class
    assert result["trials"][0]["arms"]["icarl_k20"]["exemplars"] == [(20 // (2 * t)) * 2 * t
                                                                     for t in range(1, len(result["tasks"]) + 1)]
    assert set(result["coefficients"]) == {"ewc_lambda", "si_c", "owm_alpha"}
    # the quick size's own SI c (the selected one diverges there), unless one is given
    assert result["coefficients"]["si_c"] == inc.QUICK_COEFFICIENTS["si_c"]
    assert cmd.config_from_args(cmd.build_parser().parse_args(["--quick", "--si-c", "3"])).si_c == 3.0
    trial = result["trials"][0]["arms"]
    n = len(result["tasks"])
    assert np.array(trial["src"]["acc"]).shape == (2 * n, n)
    assert trial["src"]["stages"] == inc.stage_labels(n, True)
    assert np.array(trial["sequential"]["acc"]).shape == (n, n)
    assert np.array(trial["rehearsal_src"]["acc"]).shape == (2 * n, n)
    assert np.array(trial["parallel"]["acc"]).shape == (1, n)
    # same seed: the SRC arm's first stage is the sequential arm's first stage
    assert trial["src"]["acc"][0] == trial["sequential"]["acc"][0]
    # sleeping changed the network
    assert trial["src"]["acc"] != [row for pair in zip(trial["sequential"]["acc"], trial["sequential"]["acc"])
                                   for row in pair]
    assert rows["src"]["values"] != rows["sequential"]["values"]
    assert len(trial["src"]["sleeps"]) == n
    assert [s["steps"] for s in trial["src"]["sleeps"]] == result["sleep_schedule"]
    assert result["versions"]["torch"] == torch.__version__
    # the --quick settings override the options
    assert result["config"]["dataset"] == "digits" and result["config"]["hidden"] == [128, 128]


def test_config_from_args_sleep_schedule():
    parse = cmd.build_parser().parse_args
    cfg = cmd.config_from_args(parse([]))
    assert (cfg.sleep_steps, cfg.sleep_increment) == (15000, 5000) and cfg.convention == "authors"
    # a tuned preset brings its own schedule, explicit options win
    cfg = cmd.config_from_args(parse(["--preset", "fashion-tuned"]))
    assert (cfg.sleep_steps, cfg.sleep_increment) == inc.preset_schedule("fashion-tuned")
    cfg = cmd.config_from_args(parse(["--preset", "fashion-tuned", "--sleep-steps", "7"]))
    assert cfg.sleep_steps == 7
    cfg = cmd.config_from_args(parse(["--arms", "parallel,src", "--hidden", "20,10", "--no-correlations"]))
    assert cfg.arms == ("src", "parallel") and cfg.hidden == (20, 10) and not cfg.correlations
    cfg = cmd.config_from_args(parse(["--protocol", "paper", "--sleep-every", "2", "--memory", "50,500",
                                      "--ewc-lambda", "3"]))
    assert (cfg.protocol, cfg.epochs, cfg.loss, cfg.init_scale) == ("paper", 10, "ce_task", 0.02)
    assert cfg.sleep_every == 2 and cfg.memory == (50, 500) and cfg.ewc_lambda == 3.0 and cfg.si_c is None


def test_main_rejects_bad_arguments(capsys):
    assert cmd.main(["--arms", "bogus", "--out", "/nonexistent"]) == 2
    assert "arms" in capsys.readouterr().err
    # the selections need a validation split and known coefficients
    assert cmd.main(["--quick", "--search", "2", "--out", "/nonexistent"]) == 2
    assert "validation" in capsys.readouterr().err
    assert cmd.main(["--quick", "--validation", "40", "--select", "ewc_lambda,nope", "--out", "/nonexistent"]) == 2
    assert "coefficients" in capsys.readouterr().err
    assert cmd.main(["--quick", "--validation", "40", "--search", "2", "--prune-after", "S9",
                     "--out", "/nonexistent"]) == 2
    assert "prune_after" in capsys.readouterr().err
    assert cmd.main(["--quick", "--validation", "40", "--select", "si_c", "--select-grid", "si_c=1,x",
                     "--out", "/nonexistent"]) == 2
    assert "--select-grid" in capsys.readouterr().err
    assert cmd._grids(["si_c=10,0.1", "owm_alpha=1"]) == {"si_c": (10.0, 0.1), "owm_alpha": (1.0,)}
    assert cmd.main(["--sleep-every", "0", "--out", "/nonexistent"]) == 2
    assert "sleep_every" in capsys.readouterr().err
    assert cmd.main(["--memory", "1,x", "--out", "/nonexistent"]) == 2
    assert "--memory" in capsys.readouterr().err
    # merging a directory without a result
    assert cmd.main(["--merge", "/nonexistent/a", "--out", "/nonexistent"]) == 2
    assert "result.json" in capsys.readouterr().err


def test_merge_flow(tmp_path, capsys):
    tiny = ["--dataset", "digits", "--tasks", "2", "--trials", "1", "--hidden", "16,16", "--n-per-task", "60",
            "--epochs", "1", "--sleep-steps", "30", "--sleep-increment", "10", "--arms", "sequential,src",
            "--no-correlations", "--no-plot"]
    for seed in (0, 1):
        assert cmd.main(tiny + ["--seed", str(seed), "--out", str(tmp_path / f"s{seed}")]) == 0
    capsys.readouterr()
    assert cmd.main(tiny + ["--merge", f"{tmp_path / 's0'},{tmp_path / 's1'}", "--out", str(tmp_path / "m")]) == 0
    merged = json.loads((tmp_path / "m" / "result.json").read_text())
    assert merged["seeds"] == [0, 1] and len(merged["trials"]) == 2
    assert (tmp_path / "m" / "table.md").read_text() in capsys.readouterr().out
    assert not list((tmp_path / "m").glob("*.png"))  # --no-plot
