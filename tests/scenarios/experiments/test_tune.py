"""Tests for scenarios.experiments.tune (the search for a tuned SRC preset on a validation split)."""

import json

import pytest
import torch

from bridge.presets import preset
from scenarios.experiments import tune as tn
from scenarios.experiments.incremental import QUICK, IncrementalConfig

torch.set_num_threads(1)


def _cfg(**kw):
    base = {**QUICK, "n_tasks": 2, "epochs": 2, "n_per_task": 120, "hidden": (32, 32), "sleep_steps": 200,
            "sleep_increment": 0, "validation": 40, "arms": ("src",), "correlations": False}
    return IncrementalConfig(**{**base, **kw})


def test_parameter_vector_round_trip_and_clipping():
    base = preset("mnist")
    x = tn._from_params(base)
    assert set(x) == set(tn.SEARCH_SPACE)
    assert x["leak_steps"] == pytest.approx(1.0 / (1.0 - base.decay)) and x["sleep_scale"] == 1.0
    back = tn._to_params(base, x)
    assert back.max_rate == base.max_rate and back.beta == tuple(base.beta_for(3))
    assert back.decay == pytest.approx(base.decay)
    clipped = tn._clip({**x, "inc": 10.0, "dec": 0.0})
    assert clipped["inc"] == tn.SEARCH_SPACE["inc"][1] and clipped["dec"] == tn.SEARCH_SPACE["dec"][0]
    cfg = _cfg(sleep_steps=200, sleep_increment=50)
    assert tn._scaled_config(cfg, {"sleep_scale": 1.0}) is cfg
    scaled = tn._scaled_config(cfg, {"sleep_scale": 0.5})
    assert (scaled.sleep_steps, scaled.sleep_increment) == (100, 25)


def test_tune_needs_a_validation_split_and_workers(tmp_path):
    with pytest.raises(ValueError, match="validation"):
        tn.tune(_cfg(validation=0), 2, tmp_path)
    with pytest.raises(ValueError, match="workers=0"):
        tn.tune(_cfg(), 2, tmp_path, workers=0)


def test_tune_workers_give_the_same_search_and_resume(tmp_path):
    # a tiny search on digits: two seeds per candidate, evaluated serially and
    # in two processes; the scores (and so the chosen candidate) must agree
    cfg = _cfg()
    kw = dict(budget=3, base="mnist", n_random=2, seeds=(1, 2), confirm_seeds=(), n_confirm=1,
              radius=2.0, log=lambda s: None)
    serial = tn.tune(cfg, out=tmp_path / "serial", workers=1, **kw)
    parallel = tn.tune(cfg, out=tmp_path / "parallel", workers=2, **kw)

    def scores(d):
        return [(r["tag"], r["seed"], r["score"]) for r in
                map(json.loads, (d / "search.jsonl").read_text().splitlines())]

    assert sorted(scores(tmp_path / "serial")) == sorted(scores(tmp_path / "parallel"))
    assert len(scores(tmp_path / "serial")) == 6  # 3 candidates x 2 seeds
    assert parallel["best_tag"] == serial["best_tag"]
    assert parallel["best_score"] == serial["best_score"]
    summary = json.loads((tmp_path / "serial" / "search_summary.json").read_text())
    assert summary["best_tag"] == serial["best_tag"] and summary["n_evaluations"] == 6
    # a finished search run again evaluates nothing new and gives the same answer
    again = tn.tune(cfg, out=tmp_path / "serial", workers=1, **kw)
    assert len(scores(tmp_path / "serial")) == 6
    assert again["best_score"] == serial["best_score"]
    with pytest.raises(ValueError, match="workers=0"):
        tn.tune(cfg, out=tmp_path / "bad", workers=0, **kw)
