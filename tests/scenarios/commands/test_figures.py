"""``sleep-snn figures DIR``."""

import json

from scenarios import cli


def test_figures_of_a_scan_directory(tmp_path, capsys):
    d = tmp_path / "scan"
    (d / "runs").mkdir(parents=True)
    (d / "summary.csv").write_text("key\n")
    (d / "summary.json").write_text(json.dumps({
        "table": [{"arm": "sleep", "ratio": r, "accuracy_mean": 0.5, "accuracy_sd": None, "n_seeds": 1,
                   "achieved_ratio": r, "seeds": [0]} for r in (0.0, 0.1)],
        "pixel_baseline": None, "config": {"dataset": "digits"}}))
    out = tmp_path / "figs"
    assert cli.main(["figures", str(d), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"[figures] {d}: 2 files"
    assert (out / "accuracy_vs_sleep_ratio.png").exists() and (out / "accuracy_vs_sleep_ratio.pdf").exists()


def test_figures_of_nothing_is_an_error(tmp_path, capsys):
    assert cli.main(["figures", str(tmp_path)]) == 2
    assert "nothing to plot" in capsys.readouterr().err
