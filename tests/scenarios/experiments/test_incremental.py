"""Tests for scenarios.experiments.incremental (class-incremental SRC, Tadros et al. 2022)."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from bridge.conventions import AuthorsDropout, StraightThroughReLU
from bridge.presets import PRESETS, SRCParams, preset
from scenarios.ann.mlp import Trainer, make_mlp
from scenarios.experiments import incremental as inc

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- bookkeeping
def test_stage_labels():
    assert inc.stage_labels(3, sleep=True) == ["T1", "S1", "T2", "S2", "T3", "S3"]
    assert inc.stage_labels(3, sleep=False) == ["T1", "T2", "T3"]


def test_sleep_schedule_matches_authors():
    # 15000 + (k-1)*5000: numiterations + (ii-1)*numiterations/3
    assert inc.sleep_schedule(5) == [15000, 20000, 25000, 30000, 35000]
    assert inc.sleep_schedule(2, 100, 10) == [100, 110]


def test_task_classes():
    assert inc.task_classes(5) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert inc.task_classes(2) == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]


@pytest.mark.parametrize("n_old, expected", [(12000, 100), (24000, 200), (36000, 300), (48000, 400),
                                             (250, 2), (0, 0)])
def test_rehearsal_count_rounds_to_hundreds(n_old, expected):
    # authors: round(n * 0.0075, -2): 90 -> 100, 180 -> 200, 270 -> 300, 360 -> 400
    assert inc.rehearsal_count(n_old, 0.0075) == expected


def test_rehearsal_count_zero_fraction():
    assert inc.rehearsal_count(12000, 0.0) == 0


def test_config_validation():
    with pytest.raises(ValueError, match="dataset"):
        inc.IncrementalConfig(dataset="cifar")
    with pytest.raises(ValueError, match="arms"):
        inc.IncrementalConfig(arms=("nope",))
    cfg = inc.IncrementalConfig(arms=("parallel", "sequential"))
    assert cfg.arms == ("sequential", "parallel")  # table order
    assert cfg.sizes == (784, 1200, 1200, 10)
    assert inc.IncrementalConfig(dataset="digits").preset_name == "mnist"


# ----------------------------------------------------------------------------- model
def test_build_model_conventions_share_initial_weights():
    a = inc.build_model((16, 8, 8, 3), "authors", seed=3)
    t = inc.build_model((16, 8, 8, 3), "torch", seed=3)
    assert [type(m) for m in a] == [nn.Flatten, nn.Linear, nn.ReLU, AuthorsDropout, nn.Linear, nn.ReLU,
                                    AuthorsDropout, nn.Linear, StraightThroughReLU]
    assert [type(m) for m in t] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU,
                                    nn.Dropout, nn.Linear, nn.ReLU]
    for la, lt in zip(inc._linears(a), inc._linears(t)):
        assert torch.equal(la.weight, lt.weight)
    # the protocol's initialisation: U(-0.01, 0.01)
    w = torch.cat([lin.weight.detach().flatten() for lin in inc._linears(a)])
    assert 0.009 < float(w.abs().max()) <= 0.01
    with pytest.raises(ValueError, match="convention"):
        inc.build_model((16, 8, 3), "matlab")


# ----------------------------------------------------------------------------- sleep
def test_sleep_model_updates_weights_in_place_both_conventions():
    x = np.random.default_rng(0).random((30, 16), dtype=np.float32)
    params = preset("fashion", steps=200, mask_size=0, image_side=4, max_rate=400.0,
                    beta=(0.05, 0.05, 0.05))
    for conv in ("authors", "torch"):
        m = inc.build_model((16, 20, 20, 3), conv, seed=0)
        before = [lin.weight.detach().clone() for lin in inc._linears(m)]
        info = inc.sleep_model(m, x, params, conv, seed=1)
        after = [lin.weight.detach() for lin in inc._linears(m)]
        assert not torch.equal(before[0], after[0])
        assert info["steps"] == 200 and len(info["spikes_per_step"]) == 4
        assert info["spikes_per_step"][1] > 0


# ----------------------------------------------------------------------------- presets
def test_resolve_preset_builtin_and_unknown():
    assert inc.resolve_preset("fashion") == preset("fashion")
    assert inc.resolve_preset("fashion", steps=7).steps == 7
    with pytest.raises(ValueError, match="unknown SRC preset"):
        inc.resolve_preset("no-such-preset")


def test_resolve_preset_tuned_file(tmp_path, monkeypatch):
    f = tmp_path / "tuned.json"
    f.write_text(json.dumps({"_about": "x", "toy-tuned": {
        "max_rate": 100.0, "inc": 0.01, "dec": 0.001, "beta": [1.0, 2.0, 3.0], "alpha_scale": 4.0}}))
    monkeypatch.setattr(inc, "TUNED_PRESETS_FILE", f)
    p = inc.resolve_preset("toy-tuned")
    assert p.beta == (1.0, 2.0, 3.0) and p.max_rate == 100.0 and p.steps == 15000


def test_tuned_presets_file_is_valid():
    # the file ships with the package (setup.cfg package_data) and holds at least fashion-tuned
    assert inc.TUNED_PRESETS_FILE.is_file()
    tuned = inc._load_tuned()
    assert "fashion-tuned" in tuned
    fields = {f.name for f in dataclasses.fields(SRCParams)}
    for name, entry in tuned.items():
        assert name not in PRESETS, f"tuned preset {name!r} clashes with a built-in preset"
        unknown = set(entry) - fields - {"sleep_steps", "sleep_increment", "scores"}
        assert not unknown, f"{name}: unknown keys {sorted(unknown)} (a typo would be silently ignored)"
        p = inc.resolve_preset(name)
        assert isinstance(p, SRCParams)
        for k in fields & set(entry):
            want = tuple(entry[k]) if k == "beta" else entry[k]
            assert getattr(p, k) == want, f"{name}.{k}: {getattr(p, k)!r} != {want!r}"
        steps, increment = inc.preset_schedule(name)
        assert steps >= 1 and increment >= 0
        scores = entry["scores"]
        assert scores["base"] in PRESETS
        for key in ("validation", "base_validation", "test", "base_test"):
            assert 0.0 <= scores[key] <= 1.0, f"{name}: scores.{key}={scores[key]!r}"
        assert scores["validation_seeds"] and scores["test_seeds"]
        # a tuned preset is chosen for beating its base on the validation split
        assert scores["validation"] > scores["base_validation"]
    # a built-in preset carries no schedule of its own
    assert inc.preset_schedule("fashion") is None


# ----------------------------------------------------------------------------- correlations
def test_class_correlations_shapes():
    m = make_mlp((16, 12, 12, 3), dropout=0.0, seed=0)
    tr = Trainer(m)
    rng = np.random.default_rng(0)
    x = rng.random((60, 16), dtype=np.float32)
    y = np.repeat([0, 1, 2], 20)
    out = inc.class_correlations(tr, x, y, [0, 1, 2], per_class=5)
    assert set(out) == {"layer1", "layer2"}
    c = np.array(out["layer1"]["class_corr"])
    assert c.shape == (3, 3)
    assert np.allclose(np.diag(c), 1.0)
    assert -1 <= out["layer2"]["between"] <= 1


# ----------------------------------------------------------------------------- merging and saving
def _fake_result(seed, final, config=None):
    arms = {"sequential": {"acc": [[0.9, 0.0], [0.0, 0.9]], "overall": [0.45, 0.2]},
            "src": {"acc": [[0.9, 0.0], [0.8, 0.0], [0.0, 0.9], [0.3, 0.6]], "overall": [0.45, 0.4, 0.45, final]}}
    cfg = {"dataset": "fashion", "trials": 1, "seed": seed, "convention": "authors"}
    cfg.update(config or {})
    return {"config": cfg, "preset": {"name": "fashion"}, "arms": ["sequential", "src"],
            "trials": [{"seed": seed, "arms": arms, "seconds": 1.0}], "wall_seconds": 2.0,
            "started": str(seed)}


def test_merge_results():
    merged = inc.merge_results([_fake_result(0, 0.4), _fake_result(1, 0.5)])
    assert merged["seeds"] == [0, 1] and merged["config"]["trials"] == 2
    src = next(r for r in merged["table"] if r["arm"] == "src")
    assert src["values"] == [0.4, 0.5] and src["mean"] == pytest.approx(0.45)
    assert src["sd"] == pytest.approx(np.std([0.4, 0.5], ddof=1))
    with pytest.raises(ValueError, match="duplicate seeds"):
        inc.merge_results([_fake_result(0, 0.4), _fake_result(0, 0.5)])
    with pytest.raises(ValueError, match="convention"):
        inc.merge_results([_fake_result(0, 0.4), _fake_result(1, 0.5, {"convention": "torch"})])


def test_merge_fills_src_fields_added_after_a_run_with_their_defaults():
    """A run recorded before an SRCParams field existed merges with one that records its default,
    not with one that records another value (the message names the field)."""
    old, new = _fake_result(0, 0.4), _fake_result(1, 0.5)
    old["preset"] = {"name": "fashion", "params": {"max_rate": 181.0}}
    new["preset"] = {"name": "fashion", "params": {"max_rate": 181.0, "kernel_update": "mean"}}
    assert inc.merge_results([old, new])["seeds"] == [0, 1]
    other = _fake_result(1, 0.5)
    other["preset"] = {"name": "fashion", "params": {"max_rate": 181.0, "kernel_update": "sum"}}
    with pytest.raises(ValueError, match="kernel_update"):
        inc.merge_results([old, other])


def _tiny_config(**kw):
    base = dict(dataset="digits", n_tasks=2, trials=1, hidden=(16, 16), n_per_task=60, epochs=1,
                sleep_steps=30, sleep_increment=10, arms=("sequential", "src"), correlations=False)
    return inc.IncrementalConfig(**{**base, **kw})


def test_run_save_and_merge_saved_runs(tmp_path):
    from scenarios.runs.results import to_jsonable

    results = []
    for seed in (0, 1):
        r = inc.run(_tiny_config(seed=seed), log=lambda s: None)
        path = inc.save(r, tmp_path / f"s{seed}")
        assert path == tmp_path / f"s{seed}" / "result.json"
        assert json.loads(path.read_text()) == to_jsonable(r)
        assert (tmp_path / f"s{seed}" / "table.md").read_text() == inc.table_markdown(r)
        results.append(r)
    assert results[0]["stage_labels"] == {"sequential": ["T1", "T2"], "src": ["T1", "S1", "T2", "S2"]}
    assert [s["steps"] for s in results[0]["trials"][0]["arms"]["src"]["sleeps"]] == [30, 40]
    merged = inc.merge([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert merged["seeds"] == [0, 1] and merged["config"]["trials"] == 2
    src = next(row for row in merged["table"] if row["arm"] == "src")
    assert src["values"] == [results[0]["table"][1]["values"][0], results[1]["table"][1]["values"][0]]
    assert json.loads((tmp_path / "merged" / "result.json").read_text())["seeds"] == [0, 1]
    assert "seeds [0, 1]" in (tmp_path / "merged" / "table.md").read_text()
    with pytest.raises(ValueError, match="result.json"):
        inc.merge([tmp_path / "s0", tmp_path / "missing"])


def test_sleep_model_skips_dead_networks():
    x = np.random.default_rng(0).random((30, 16), dtype=np.float32)
    params = preset("fashion", steps=50, mask_size=0, image_side=4)
    for conv in ("authors", "torch"):
        m = inc.build_model((16, 8, 8, 3), conv, seed=0)
        with torch.no_grad():
            inc._linears(m)[0].weight.copy_(-torch.rand(8, 16))  # first layer can never be active
        before = [lin.weight.detach().clone() for lin in inc._linears(m)]
        info = inc.sleep_model(m, x, params, conv, seed=1)
        assert info["steps"] == 0 and "no positive" in info["skipped"]
        assert all(torch.equal(a, b.weight) for a, b in zip(before, inc._linears(m)))


def test_run_arm_stopped_and_continued_equals_one_run():
    cfg = inc.IncrementalConfig(dataset="digits", n_tasks=3, hidden=(16, 16), n_per_task=60, epochs=2,
                                sleep_steps=30, sleep_increment=10, arms=("src",), correlations=False)
    data = inc.load_task_data(cfg)
    params = preset("mnist")
    fresh = inc.run_arm("src", cfg, data, 3, params)
    first = inc.run_arm("src", cfg, data, 3, params, stop="T1")
    assert first["stages"] == ["T1"] and "state" in first
    # another arm run from the same state must not corrupt it (the momentum buffer is cloned)
    inc.run_arm("src", cfg, data, 3, dataclasses.replace(params, inc=0.3, dec=0.03), state=first["state"])
    second = inc.run_arm("src", cfg, data, 3, params, stop="S2", state=first["state"])
    assert second["stages"] == ["T1", "S1", "T2", "S2"]
    rest = inc.run_arm("src", cfg, data, 3, params, state=second["state"])
    assert "state" not in rest
    for key in ("stages", "acc", "overall", "train_sizes"):
        assert rest[key] == fresh[key]
    assert [s["weight_change"] for s in rest["sleeps"]] == [s["weight_change"] for s in fresh["sleeps"]]
    with pytest.raises(ValueError, match="stop"):
        inc.run_arm("src", cfg, data, 3, params, stop="S9")
    with pytest.raises(ValueError, match="without a continual-learning method"):
        inc.run_arm("ewc", dataclasses.replace(cfg, ewc_lambda=1.0), data, 3, params, stop="T1")


def test_sleep_every_n_tasks():
    assert inc.sleep_tasks(5, 1) == [0, 1, 2, 3, 4]
    assert inc.sleep_tasks(5, 2) == [1, 3, 4]
    assert inc.sleep_tasks(5, 3) == [2, 4]
    assert inc.sleep_tasks(5, 5) == [4] and inc.sleep_tasks(5, 9) == [4]
    assert inc.stage_labels(5, True, 2) == ["T1", "T2", "S2", "T3", "T4", "S4", "T5", "S5"]
    assert inc.phases(3, True, 3) == [("train", 0), ("train", 1), ("train", 2), ("sleep", 2)]
    cfg = _tiny_config(n_tasks=3, sleep_every=2, arms=("src",))
    r = inc.run(cfg, log=lambda s: None)
    src = r["trials"][0]["arms"]["src"]
    assert src["stages"] == ["T1", "T2", "S2", "T3", "S3"]
    # a sleep after task k keeps the length of the schedule for k
    assert [s["steps"] for s in src["sleeps"]] == [40, 50] and r["sleep_tasks"] == [2, 3]
    with pytest.raises(ValueError, match="sleep_every"):
        inc.IncrementalConfig(sleep_every=0)


def test_protocols_set_epochs_loss_and_initialisation():
    code, paper = inc.IncrementalConfig(), inc.IncrementalConfig(protocol="paper")
    assert (code.epochs, code.loss, code.init_scale) == (2, "mse", 0.01)
    assert (paper.epochs, paper.loss, paper.init_scale) == (10, "ce_task", 0.02)
    assert inc.IncrementalConfig(protocol="paper", epochs=3).epochs == 3  # explicit values win
    with pytest.raises(ValueError, match="protocol"):
        inc.IncrementalConfig(protocol="matlab")
    w = torch.cat([m.weight.detach().flatten() for m in
                   inc._linears(inc.build_model((16, 8, 3), seed=0, init_scale=paper.init_scale))])
    assert 0.019 < float(w.abs().max()) <= 0.02


def test_arm_runs_expand_icarl_per_memory_size():
    cfg = inc.IncrementalConfig(arms=("sequential", "icarl", "icarl_src"), memory=(200, 100))
    assert inc.arm_runs(cfg) == [("sequential", "sequential", None), ("icarl_k200", "icarl", 200),
                                 ("icarl_k100", "icarl", 100), ("icarl_src_k200", "icarl_src", 200),
                                 ("icarl_src_k100", "icarl_src", 100)]
    assert inc.run_label("icarl_src", 100) == "iCaRL + SRC (K = 100)"
    with pytest.raises(ValueError, match="memory"):
        inc.IncrementalConfig(memory=(0,))


def test_methods_get_the_selected_coefficients(monkeypatch, tmp_path):
    path = tmp_path / "selected.json"
    path.write_text(json.dumps({"code": {"ewc_lambda": 3.0, "si_c": 0.5, "owm_alpha": 0.2}}))
    monkeypatch.setattr(inc, "SELECTED_COEFFICIENTS_FILE", path)
    cfg = inc.IncrementalConfig(si_c=7.0)
    assert inc.make_method("ewc", cfg, 0).params.lam == 3.0
    assert inc.make_method("si", cfg, 0).params.c == 7.0  # given values win
    assert inc.make_method("owm", cfg, 0).params.alpha == 0.2
    assert inc.make_method("icarl", cfg, 0, 500).params.memory == 500
    with pytest.raises(ValueError, match="protocol='paper'"):
        inc.IncrementalConfig(protocol="paper").coefficient("ewc_lambda")


def test_table2_pairs_icarl_with_and_without_sleep():
    def row(method, k, values):
        return {"arm": f"{method}_k{k}", "method": method, "memory": k, "label": inc.run_label(method, k),
                "values": values}
    result = {"table": [row("icarl", 100, [0.50, 0.52, 0.55]), row("icarl_src", 100, [0.55, 0.56, 0.54])]}
    text = inc.table2_markdown(result)
    assert "| 100 | 52.3 ± 2.5 | 55.0 ± 1.0 | +2.7 ± 3.2" in text and "| 2 / 3 |" in text
    assert inc.table2_markdown({"table": [row("icarl", 100, [0.5])]}) == ""


# ----------------------------------------------------------------------------- paired comparison
def _two_seed_run(finals, preset="fashion", **config):
    r = inc.merge_results([_fake_result(s, f, config) for s, f in zip((0, 1, 2), finals)])
    r["preset"] = {"name": preset, "params": {"max_rate": 181.0 if preset == "fashion" else 100.0}}
    return r


def test_compare_results_pairs_by_seed():
    a = _two_seed_run([0.40, 0.50, 0.45], preset="trial 3")
    b = _two_seed_run([0.42, 0.44, 0.45])
    b["trials"] = b["trials"][::-1]                   # pairing is by seed, not by position
    c = inc.compare_results(a, b)
    assert c["seeds"] == [0, 1, 2]
    assert c["a"] == [0.40, 0.50, 0.45] and c["b"] == [0.42, 0.44, 0.45]
    d = np.array([-0.02, 0.06, 0.0])
    assert c["difference"]["mean"] == pytest.approx(d.mean())
    assert c["difference"]["sd"] == pytest.approx(d.std(ddof=1))
    assert c["difference"]["wins"] == 1 and c["differs_in"] == ["preset"]
    text = inc.compare_markdown(c)
    assert "| 1 | 50.0 | 44.0 | +6.0 |" in text and "+1.3 ± 4.2 points" in text
    a["config"]["ewc_lambda"] = 1000.0                # a coefficient of an arm not compared is no difference
    assert inc.compare_results(a, b)["differs_in"] == ["preset"]
    for run in (a, b):
        for t in run["trials"]:
            t["arms"]["ewc"] = t["arms"]["src"]
    assert inc.compare_results(a, b, arm="ewc")["differs_in"] == ["ewc_lambda", "preset"]
    same = inc.compare_results(a, a, arm="src", arm_b="sequential")   # two arms of one run
    assert same["b"] == [0.2, 0.2, 0.2] and same["differs_in"] == []
    assert same["difference"]["mean"] == pytest.approx(np.mean([0.2, 0.3, 0.25]))


def test_compare_results_refuses_other_test_data_and_too_few_seeds():
    a, b = _two_seed_run([0.4, 0.5, 0.45]), _two_seed_run([0.4, 0.5, 0.45], n_per_task=1000)
    with pytest.raises(ValueError, match="n_per_task"):
        inc.compare_results(a, b)
    one = inc.merge_results([_fake_result(0, 0.4), _fake_result(7, 0.4)])
    with pytest.raises(ValueError, match=">= 2 seeds"):
        inc.compare_results(a, one)
    with pytest.raises(ValueError, match="arm 'owm' is not in the first run; it has sequential, src"):
        inc.compare_results(a, a, arm="owm")


def test_compare_command_writes_files_and_exits_2_on_user_errors(tmp_path, capsys):
    from scenarios.commands.incremental import main
    from scenarios.runs.results import write_json

    runs = {"a": _two_seed_run([0.40, 0.50, 0.45], preset="trial 3"), "b": _two_seed_run([0.42, 0.44, 0.45])}
    for name, run in runs.items():
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "result.json", run)
    assert main(["--compare", f"{tmp_path / 'a'},{tmp_path / 'b'}", "--out", str(tmp_path / "c")]) == 0
    saved = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert saved["seeds"] == [0, 1, 2] and saved["difference"]["n"] == 3
    assert (tmp_path / "c" / "comparison.md").read_text() == inc.compare_markdown(saved)
    assert main(["--compare", str(tmp_path / "a"), "--out", str(tmp_path / "c")]) == 2
    assert "--compare=" in capsys.readouterr().err
    assert main(["--compare", f"{tmp_path / 'a'},{tmp_path / 'missing'}", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err
