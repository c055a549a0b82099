"""Tests for scenarios.experiments.robustness: a tiny run, the summary, merging, the configuration."""

import json
import math

import numpy as np
import pytest
import torch

from scenarios.experiments import robustness as rob

torch.set_num_threads(1)


def _quiet(_msg):
    pass


def _tiny(**overrides):
    """A run far below --quick size (a few seconds): digits, 1 trial, one level per type."""
    kw = dict(trials=1, hidden=(48, 48), levels={k: (0.4,) for k in ("gaussian", "saltpepper", "speckle")},
              n_test=150, sharpness_batch=40, sleep_steps=300, sam_steps=2)
    kw.update(overrides)
    return rob.quick_config(**kw)


def _run_saved(out, **overrides):
    result = rob.run(_tiny(**overrides), log=_quiet)
    path = rob.save(result, out)
    assert path == out / "result.json"
    return result


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
    _run_saved(out)
    return out


def test_tiny_run_saves_result_and_table(tiny_run):
    out = tiny_run
    for name in ("result.json", "table.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "result.json").read_text())
    _check_result(res, 1)
    assert res["config"]["quick"] is True
    assert res["dataset"]["name"] == "digits" and res["dataset"]["n_test"] == 150
    assert res["dataset"]["sharpness_batch"] == 40
    table = (out / "table.md").read_text()
    for label in ("baseline (SGD)", "SRC (baseline + sleep)", "SAM", "GNP", "SRC vs baseline"):
        assert label in table
    assert table == rob.table(res)


def test_summary_averages_over_all_levels(tiny_run):
    res = rob.load(tiny_run)
    summ = rob.summarise(res)
    t = res["trials"][0]
    for m in rob.MODELS:
        vals = [v for k in res["distortions"] for v in t["eval"][m][k]["accuracy"]]
        assert summ["all_levels"][m]["accuracy"]["mean"] == pytest.approx(np.mean(vals))
        assert summ["all_levels"][m]["accuracy"]["sd"] is None  # one trial: no sd
        assert summ["clean"][m]["accuracy"]["mean"] == pytest.approx(t["eval"][m]["clean"]["accuracy"])
    d = summ["src_vs_baseline"]["accuracy"]["difference"]["mean"]
    assert d == pytest.approx(summ["all_levels"]["src"]["accuracy"]["mean"]
                              - summ["all_levels"]["baseline"]["accuracy"]["mean"])
    assert summ == res["summary"]


def test_merge_combines_trials(tiny_run, tmp_path):
    other = tmp_path / "seed5"
    _run_saved(other, seed=5)
    merged = rob.merge([tiny_run, other], tmp_path / "merged")
    _check_result(merged, 2)
    assert merged["seeds"] == [0, 5]
    assert (tmp_path / "merged" / "table.md").is_file()
    assert merged["summary"]["all_levels"]["src"]["accuracy"]["sd"] is not None
    different = tmp_path / "other_eps"
    _run_saved(different, seed=6, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        rob.merge([tiny_run, different])
    with pytest.raises(ValueError, match="repeated"):
        rob.merge([tiny_run, tiny_run])


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
    with pytest.raises(ValueError, match="saltpepper"):
        rob.RobustnessConfig(levels={"saltpepper": (1.5,)})
    q = rob.quick_config()
    assert q.dataset == "digits" and q.quick


def test_model_subset(tmp_path):
    res = _run_saved(tmp_path, models=("baseline", "src"))
    assert res["models"] == ["baseline", "src"] and set(res["trials"][0]["eval"]) == {"baseline", "src"}
    assert "SRC vs baseline" in (tmp_path / "table.md").read_text()
    with pytest.raises(ValueError, match="baseline"):
        rob.RobustnessConfig(models=("src",))
