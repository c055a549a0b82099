"""Tests for scenarios.experiments.robustness: a tiny end-to-end run, the summary, merging, plotting, the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from scenarios.experiments import robustness as rob

torch.set_num_threads(1)

# A run far below --quick size (a few seconds): digits, 1 trial, one level per type.
TINY = ["--quick", "--trials", "1", "--hidden", "48,48", "--levels", "0.4", "--n-test", "150",
        "--sharpness-batch", "40", "--sleep-steps", "300", "--sam-steps", "2"]


def _check_result(res, n_trials, kinds=("gaussian", "saltpepper", "speckle")):
    assert res["kind"] == "robustness"
    assert res["models"] == list(rob.MODELS)
    assert list(res["distortions"]) == list(kinds)
    assert len(res["trials"]) == n_trials
    for key in ("eps", "rho", "sharpness_batch", "seed", "n_train", "n_test", "loss", "sam_train_rho", "gnp_coef"):
        assert key in res["config"]
    assert res["dataset"]["n_train"] > 0 and res["dataset"]["n_test"] > 0
    assert res["wall_s"] > 0
    differs = False
    for t in res["trials"]:
        assert set(t["eval"]) == set(rob.MODELS)
        assert t["src"]["steps"] >= 1 and t["src"]["seed"] == t["seed"]
        for m in rob.MODELS:
            ev = t["eval"][m]
            points = [ev["clean"]] + [
                {q: ev[k][q][i] for q in ("accuracy", "sharpness_seed000", "sharpness_sam")}
                for k in kinds for i in range(len(ev[k]["levels"]))]
            for p in points:
                assert 0.0 <= p["accuracy"] <= 1.0
                assert math.isfinite(p["sharpness_seed000"]) and p["sharpness_seed000"] >= 0
                assert math.isfinite(p["sharpness_sam"])
        for k in kinds:
            b, s = t["eval"]["baseline"][k], t["eval"]["src"][k]
            if b["accuracy"] != s["accuracy"] or b["sharpness_seed000"] != s["sharpness_seed000"]:
                differs = True
    assert differs, "SRC should change the model somewhere"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rob")
    assert rob.main(TINY + ["--out", str(out)]) == 0
    return out


def test_tiny_run_writes_everything(tiny_run):
    out = tiny_run
    for name in ("result.json", "table.md", "figure1_curves.png", "figure1_curves.pdf",
                 "figure2_averages.png", "figure2_averages.pdf"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "result.json").read_text())
    _check_result(res, 1)
    assert res["config"]["quick"] is True
    assert res["dataset"]["name"] == "digits" and res["dataset"]["n_test"] == 150
    assert res["dataset"]["sharpness_batch"] == 40
    table = (out / "table.md").read_text()
    for label in ("baseline (SGD)", "SRC (baseline + sleep)", "SAM", "GNP", "SRC vs baseline"):
        assert label in table


def test_summary_averages_over_all_levels(tiny_run):
    res = rob.load(tiny_run)
    summ = rob.summarize(res)
    t = res["trials"][0]
    for m in rob.MODELS:
        vals = [v for k in res["distortions"] for v in t["eval"][m][k]["accuracy"]]
        assert summ["all_levels"][m]["accuracy"]["mean"] == pytest.approx(np.mean(vals))
        assert summ["clean"][m]["accuracy"]["mean"] == pytest.approx(t["eval"][m]["clean"]["accuracy"])
    d = summ["src_vs_baseline"]["accuracy"]["difference"]["mean"]
    assert d == pytest.approx(summ["all_levels"]["src"]["accuracy"]["mean"]
                              - summ["all_levels"]["baseline"]["accuracy"]["mean"])


def test_plot_reads_saved_result(tiny_run, tmp_path):
    paths = rob.plot(tiny_run, out_dir=tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["figure1_curves.pdf", "figure1_curves.png", "figure2_averages.pdf", "figure2_averages.png"]
    import matplotlib.pyplot as plt

    res = rob.load(tiny_run)
    ax = rob.plot_curves(res, "gaussian", "sharpness_seed000")
    assert len(ax.get_lines()) == len(rob.MODELS)
    ax2 = rob.plot_averages(res, "accuracy")
    assert ax2 is not None
    plt.close("all")


def test_merge_combines_trials(tiny_run, tmp_path):
    other = tmp_path / "seed5"
    assert rob.main(TINY + ["--seed", "5", "--no-plot", "--out", str(other)]) == 0
    merged = rob.merge([tiny_run, other], tmp_path / "merged")
    _check_result(merged, 2)
    assert merged["seeds"] == [0, 5]
    assert (tmp_path / "merged" / "table.md").is_file()
    assert merged["summary"]["all_levels"]["src"]["accuracy"]["sd"] is not None
    different = tmp_path / "other_eps"
    assert rob.main(TINY + ["--seed", "6", "--eps", "0.1", "--no-plot", "--out", str(different)]) == 0
    with pytest.raises(ValueError, match="eps"):
        rob.merge([tiny_run, different])
    with pytest.raises(ValueError, match="repeated"):
        rob.merge([tiny_run, tiny_run])


def test_parse_levels():
    kinds = ("gaussian", "saltpepper", "speckle")
    assert rob.parse_levels(None, kinds) is None
    assert rob.parse_levels(["0.1,0.3"], kinds) == {k: (0.1, 0.3) for k in kinds}
    got = rob.parse_levels(["0.2", "speckle=0.5,1"], kinds)
    assert got["gaussian"] == (0.2,) and got["speckle"] == (0.5, 1.0)
    with pytest.raises(ValueError, match="not one of"):
        rob.parse_levels(["blur=0.1"], kinds)
    with pytest.raises(ValueError, match="numbers"):
        rob.parse_levels(["a,b"], kinds)


def test_config_validation_and_levels():
    cfg = rob.RobustnessConfig(levels={"gaussian": [0.1]})
    assert cfg.levels_for("gaussian") == (0.1,)
    assert cfg.levels_for("speckle") == (0.25, 0.5, 0.75, 1.0)
    assert cfg.to_json()["levels"]["saltpepper"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    with pytest.raises(ValueError, match="dataset"):
        rob.RobustnessConfig(dataset="cifar")
    with pytest.raises(ValueError, match="distortion"):
        rob.RobustnessConfig(distortions=("blur",))
    with pytest.raises(ValueError, match="eps"):
        rob.RobustnessConfig(eps=-1)
    with pytest.raises(ValueError, match="trials"):
        rob.RobustnessConfig(trials=0)
    q = rob.quick_config()
    assert q.dataset == "digits" and q.quick


def test_cli_rejects_bad_levels(tmp_path, capsys):
    with pytest.raises(SystemExit):
        rob.main(["--quick", "--levels", "saltpepper=1.5", "--out", str(tmp_path)])


@pytest.mark.slow
def test_quick_default_size(tmp_path):
    """The documented --quick run (digits, 2 trials, all three distortions)."""
    assert rob.main(["--quick", "--out", str(tmp_path)]) == 0
    res = rob.load(tmp_path)
    _check_result(res, 2)
    assert res["wall_s"] < 120


def test_model_subset(tmp_path):
    assert rob.main(TINY + ["--models", "baseline,src", "--no-plot", "--out", str(tmp_path)]) == 0
    res = rob.load(tmp_path)
    assert res["models"] == ["baseline", "src"] and set(res["trials"][0]["eval"]) == {"baseline", "src"}
    assert "SRC vs baseline" in (tmp_path / "table.md").read_text()
    with pytest.raises(ValueError, match="baseline"):
        rob.RobustnessConfig(models=("src",))


def test_bench_hessian_json_line(capsys):
    from scenarios.bench import hessian as bench_hessian

    assert bench_hessian.main(["--n-images", "8", "--max-iter", "2", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rec = json.loads(last)
    for key in ("seconds", "iterations", "eigenvalue", "n_params", "n_images"):
        assert key in rec
    assert rec["n_params"] == 784 * 1200 + 1200 * 1200 + 1200 * 10
    assert rec["n_images"] == 8 and rec["iterations"] <= 2 and rec["threads"] == 1
    assert math.isfinite(rec["eigenvalue"])
