"""The robustness study on seed 000's own setting, the small CNN, and the search of its SRC preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from scenarios.experiments import robustness as rob
from scenarios.experiments import robustness_tune as tune_mod

torch.set_num_threads(1)


def _quiet(_msg):
    pass


def _tiny_cnn(**overrides):
    kw = dict(model="cnn", channels=(4, 8), trials=1, levels={k: (0.4,) for k in ("gaussian", "saltpepper", "speckle")},
              n_test=120, sharpness_batch=40, sleep_steps=300, sam_steps=2, models=("baseline", "src"))
    kw.update(overrides)
    return rob.quick_config(**kw)


def test_cnn_run_records_layers_and_differs_from_baseline(tmp_path):
    res = rob.run(_tiny_cnn(), log=_quiet)
    rob.save(res, tmp_path)
    t = res["trials"][0]
    assert t["architecture"] == "1x28x28-c5x4-p2-c5x8-p2-128-10"
    assert res["config"]["model"] == "cnn" and res["config"]["channels"] == [4, 8]
    src = t["src"]
    assert src["preset"] == rob.CNN_SRC_PRESET
    assert src["layers"] == ["conv", "avgpool", "conv", "avgpool", "dense"]
    assert src["n_weights"] == [4 * 25, 4 * 4, 8 * 4 * 25, 8 * 4, 10 * 128]
    assert len(src["activations"]["before"]) == len(src["activations"]["after"]) == 5
    for k in (1, 3):  # the pooling kernels are fixed
        assert src["weight_change"][k]["fraction_changed"] == 0.0
    b, s = t["eval"]["baseline"], t["eval"]["src"]
    assert any(b[k]["accuracy"] != s[k]["accuracy"] or b[k]["sharpness_seed000"] != s[k]["sharpness_seed000"]
               for k in ("gaussian", "saltpepper", "speckle")), "SRC should change the CNN"
    table = (tmp_path / "table.md").read_text()
    assert "What the sleep did per spiking layer" in table and "| 2 avgpool | 16 | fixed" in table
    assert "1x28x28-c5x4-p2-c5x8-p2-128-10" in table


def test_layer_activation_stats_by_hand():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        model[3].weight.copy_(torch.tensor([[2.0, 1.0]]))
    X = np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)
    st = rob.layer_activation_stats(model, X)
    # layer 1 after ReLU: [[1, 0], [3, 0]]; layer 2 (no ReLU): [2, 6]
    assert [d["layer"] for d in st] == ["Linear", "Linear"]
    assert st[0]["mean"] == pytest.approx(1.0) and st[0]["active"] == pytest.approx(0.5) and st[0]["max"] == 3.0
    assert st[1]["mean"] == pytest.approx(4.0) and st[1]["active"] == 1.0 and st[1]["max"] == 6.0


def test_presets_models_and_config():
    p = rob.src_preset(rob.CNN_SRC_PRESET)
    assert len(p.beta) == 5 and p.alpha_scale == 1.0 and p.kernel_update in ("mean", "sum")
    assert rob.src_preset(rob.CNN_SRC_PRESET, steps=7).steps == 7
    assert rob.src_preset("fashion").beta == (40.446884, 27.596929, 33.109393)
    about = json.loads(rob.PRESETS_FILE.read_text())["_about"]
    assert "validation" in about and "test" in about
    cfg = rob.RobustnessConfig(model="cnn")
    assert rob.preset_name_for(cfg) == rob.CNN_SRC_PRESET and rob.preset_name_for(rob.RobustnessConfig()) == "fashion"
    m = rob.make_model(cfg, (28, 28), 10, seed=0)
    assert m(torch.rand(3, 28, 28)).shape == (3, 10)
    assert rob.architecture(rob.RobustnessConfig(), (28, 28), 10) == "784-1200-1200-10"
    with pytest.raises(ValueError, match="model"):
        rob.RobustnessConfig(model="rnn")
    with pytest.raises(ValueError, match="src_preset='nope'"):
        rob.RobustnessConfig(src_preset="nope")
    with pytest.raises(ValueError, match="channels"):
        rob.RobustnessConfig(channels=(0,))
    assert rob.quick_config(model="cnn").channels == (6, 12)


def test_tune_on_a_tiny_split_resumes_and_refuses_other_settings(tmp_path):
    cfg = _tiny_cnn(epochs=1)
    tcfg = tune_mod.TuneConfig(budget=3, validation=200, eval_images=60, steps=150, n_startup=2)
    summary = tune_mod.tune(cfg, tcfg, tmp_path, log=_quiet)
    assert len(summary["candidates"]) == 3 and summary["layers"] == ["conv", "avgpool", "conv", "avgpool", "dense"]
    start = tune_mod.start_point(summary["layers"])
    assert summary["candidates"][0]["x"] == pytest.approx(start)  # the authors' preset carried over comes first
    assert summary["best"]["score"] == max(c["score"] for c in summary["candidates"])
    assert 0 <= summary["baseline"]["score"] <= 1 and summary["n_eval"] == 60
    assert json.loads((tmp_path / "search_summary.json").read_text())["best"]["number"] == summary["best"]["number"]
    more = tune_mod.tune(cfg, tune_mod.TuneConfig(budget=4, validation=200, eval_images=60, steps=150, n_startup=2),
                         tmp_path, log=_quiet)
    assert len(more["candidates"]) == 4
    assert [c["x"] for c in more["candidates"][:3]] == [c["x"] for c in summary["candidates"]]
    assert more["candidates"][3]["x"] not in [c["x"] for c in summary["candidates"]]
    with pytest.raises(ValueError, match="other settings"):
        tune_mod.tune(cfg, tune_mod.TuneConfig(budget=4, validation=200, eval_images=60, steps=100), tmp_path,
                      log=_quiet)
    p = tune_mod.params_of(summary["best"]["x"], 5, 150)
    assert p.alpha_scale == 1.0 and len(p.beta) == 5 and p.steps == 150
    with pytest.raises(ValueError, match="eval_images"):
        tune_mod.TuneConfig(validation=10, eval_images=20)
