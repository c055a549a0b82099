"""Tests for scenarios.experiments.incremental (class-incremental SRC, Tadros et al. 2022)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from bridge.convert import from_torch
from bridge.presets import preset
from scenarios.experiments import incremental as inc
from scenarios.ann.mlp import make_mlp

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


# ----------------------------------------------------------------------------- modules
def test_authors_dropout_train_and_eval():
    torch.manual_seed(0)
    d = inc.AuthorsDropout(0.25)
    x = torch.ones(10000)
    d.train()
    y = d(x)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}  # no 1/(1-p) rescaling
    assert abs(float(y.mean()) - 0.75) < 0.02
    d.eval()
    assert torch.allclose(d(x), torch.full_like(x, 0.75))


def test_straight_through_relu_gradient_is_identity():
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
    y = inc.StraightThroughReLU()(x)
    assert torch.equal(y.detach(), torch.relu(x.detach()))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(4))


def test_build_model_conventions_share_initial_weights():
    a = inc.build_model((16, 8, 8, 3), "authors", seed=3)
    t = inc.build_model((16, 8, 8, 3), "torch", seed=3)
    assert [type(m) for m in a] == [nn.Flatten, nn.Linear, nn.ReLU, inc.AuthorsDropout, nn.Linear, nn.ReLU,
                                    inc.AuthorsDropout, nn.Linear, inc.StraightThroughReLU]
    for la, lt in zip(inc._linears(a), inc._linears(t)):
        assert torch.equal(la.weight, lt.weight)


# ----------------------------------------------------------------------------- normalisation
def _hand_model(convention):
    m = inc.build_model((2, 2, 1), convention, dropout=0.25, seed=0)
    lin1, lin2 = inc._linears(m)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0.5], [-1.0, 2.0]]))
        lin2.weight.copy_(torch.tensor([[0.5, 0.25]]))
    return m


def test_authors_conventions_normalise_by_hand():
    m = _hand_model("authors")
    x = np.array([[1.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    # layer 1: relu([1.5, 1], [0.5, 2]) * 0.75 -> max 1.5; max weight 2 -> lambda1 = 2
    # layer 2 (output, not scaled): 0.5*h1 + 0.25*h2 with h = 0.75*relu(W1 x):
    #   x1: 0.75*(0.75 + 0.25) = 0.75; x2: 0.75*(0.25 + 0.5) = 0.5625 -> lambda2 = max(0.5, 0.75) = 0.75
    spec = from_torch(m, x, alpha_scale=2.0, beta=(1.0, 3.0))
    assert spec.scale == pytest.approx((2.0, 0.75 / 2.0))
    assert spec.alpha == pytest.approx((1.0, 2.0 / 0.375))
    assert spec.beta == (1.0, 3.0)
    assert spec.layer_sizes == (2, 2, 1)


def test_non_inverted_dropout_option_equals_the_authors_modules():
    # the authors' weights behind a plain nn.Dropout: dropout="non-inverted" gives their conversion
    a = inc.build_model((16, 12, 12, 3), "authors", seed=1)
    t = inc.build_model((16, 12, 12, 3), "torch", seed=1)
    x = np.random.default_rng(0).random((40, 16), dtype=np.float32)
    ours = from_torch(a, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0))
    plain = from_torch(t, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0), dropout="non-inverted")
    assert ours.scale == plain.scale and ours.alpha == plain.alpha
    inverted = from_torch(t, x, alpha_scale=5.0, beta=(1.0, 2.0, 3.0))
    # layer 1's activation is taken after its dropout: without the 0.75 it is 1/0.75 larger
    assert inverted.scale[0] == pytest.approx(ours.scale[0] / 0.75, rel=1e-6)


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
    if not inc.TUNED_PRESETS_FILE.is_file():
        pytest.skip("no tuned presets yet")
    for name in inc._load_tuned():
        inc.resolve_preset(name)


# ----------------------------------------------------------------------------- correlations
def test_class_correlations_shapes():
    m = make_mlp((16, 12, 12, 3), dropout=0.0, seed=0)
    from scenarios.ann.mlp import Trainer
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


# ----------------------------------------------------------------------------- end to end
def test_quick_run_writes_outputs(tmp_path):
    assert inc.main(["--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    table = (tmp_path / "table.md").read_text()
    for label in ("Sequential training", "SRC", "Rehearsal", "Rehearsal + SRC", "Parallel training"):
        assert f"| {label}" in table
    for name in ("incremental_stages", "incremental_correlation", "incremental_summary"):
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.pdf").is_file()
    rows = {r["arm"]: r for r in result["table"]}
    assert set(rows) == set(inc.ARMS)
    for r in rows.values():
        assert all(0.0 <= v <= 1.0 for v in r["values"])
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
    # plotting again from the saved result works on its own
    assert inc.plot(tmp_path, out_dir=tmp_path / "again")


def test_main_rejects_bad_arguments(capsys):
    assert inc.main(["--arms", "bogus", "--out", "/nonexistent"]) == 2
    assert "arms" in capsys.readouterr().err
    # the search: needs a validation split and at least one worker
    assert inc.main(["--quick", "--tune", "2", "--out", "/nonexistent"]) == 2
    assert "validation" in capsys.readouterr().err
    assert inc.main(["--quick", "--validation", "40", "--tune", "2", "--tune-workers", "0",
                     "--out", "/nonexistent"]) == 2
    assert "workers=0" in capsys.readouterr().err


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


def test_run_arm_start_state_cache_is_not_corrupted():
    cfg = inc.IncrementalConfig(dataset="digits", n_tasks=2, hidden=(16, 16), n_per_task=60, epochs=2,
                                sleep_steps=30, sleep_increment=10, arms=("src",), correlations=False)
    data = inc.load_task_data(cfg)
    params = preset("mnist")
    fresh = inc.run_arm("src", cfg, data, 3, params)
    cache = {}
    first = inc.run_arm("src", cfg, data, 3, params, start_state=cache)
    other = inc.run_arm("src", cfg, data, 3, dataclasses_replace(params, inc=0.3, dec=0.03), start_state=cache)
    again = inc.run_arm("src", cfg, data, 3, params, start_state=cache)
    # the sleep statistics after task 2 depend on every weight: a corrupted cached
    # momentum buffer (or model state) would change them
    assert first["acc"] == fresh["acc"] and again["acc"] == fresh["acc"]
    assert again["sleeps"][1]["weight_change"] == fresh["sleeps"][1]["weight_change"]
    assert again["sleeps"][1]["scale"] == fresh["sleeps"][1]["scale"]
    assert "model" in cache and other["acc"][0] == fresh["acc"][0]


def dataclasses_replace(obj, **kw):
    import dataclasses
    return dataclasses.replace(obj, **kw)


def test_tune_workers_give_the_same_search_and_resume(tmp_path):
    # a tiny search on digits: two seeds per candidate, evaluated serially and
    # in two processes; the scores (and so the chosen candidate) must agree
    cfg = inc.IncrementalConfig(**{**inc.QUICK, "n_tasks": 2, "epochs": 2, "n_per_task": 120,
                                   "hidden": (32, 32), "sleep_steps": 200, "sleep_increment": 0,
                                   "validation": 40, "arms": ("src",), "correlations": False})
    kw = dict(budget=3, base="mnist", n_random=2, seeds=(1, 2), confirm_seeds=(), n_confirm=1,
              radius=2.0, log=lambda s: None)
    serial = inc.tune(cfg, out=tmp_path / "serial", workers=1, **kw)
    parallel = inc.tune(cfg, out=tmp_path / "parallel", workers=2, **kw)

    def scores(d):
        return [(r["tag"], r["seed"], r["score"]) for r in
                map(json.loads, (d / "search.jsonl").read_text().splitlines())]

    assert sorted(scores(tmp_path / "serial")) == sorted(scores(tmp_path / "parallel"))
    assert len(scores(tmp_path / "serial")) == 6  # 3 candidates x 2 seeds
    assert parallel["best_tag"] == serial["best_tag"]
    assert parallel["best_score"] == serial["best_score"]
    # a finished search run again evaluates nothing new and gives the same answer
    again = inc.tune(cfg, out=tmp_path / "serial", workers=1, **kw)
    assert len(scores(tmp_path / "serial")) == 6
    assert again["best_score"] == serial["best_score"]
    with pytest.raises(ValueError, match="workers=0"):
        inc.tune(cfg, out=tmp_path / "bad", workers=0, **kw)


def test_search_candidates_averages_by_seed_and_ranks():
    x = {"inc": 0.1}
    recs = [{"tag": "c0000", "seed": 1, "x": x, "score": 0.40},
            {"tag": "c0000", "seed": 2, "x": x, "score": 0.50},
            {"tag": "c0001", "seed": 1, "x": x, "score": 0.60},
            {"tag": "c0001", "seed": 2, "x": x, "score": 0.20},
            {"tag": "c0001", "seed": 9, "x": x, "score": 1.00}]   # a confirmation seed
    rows = inc.search_candidates(recs, seeds=(1, 2))
    assert [r["tag"] for r in rows] == ["c0000", "c0001"]
    assert rows[0]["mean"] == pytest.approx(0.45) and rows[1]["mean"] == pytest.approx(0.40)
    assert rows[1]["scores"] == {1: 0.60, 2: 0.20}
    # all seeds: c0001 = (0.6 + 0.2 + 1.0) / 3 = 0.6 ranks first
    assert [r["tag"] for r in inc.search_candidates(recs)] == ["c0001", "c0000"]
    assert inc.search_candidates(recs, seeds=(5,)) == []
