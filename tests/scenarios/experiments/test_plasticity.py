"""Tests for scenarios.experiments.plasticity: task construction, a tiny run, the summary, merging."""

import json
import math

import numpy as np
import pytest
import torch

from scenarios.experiments import plasticity as pl
from scenarios.runs.seeds import derived_seed

torch.set_num_threads(1)


def _quiet(_msg):
    pass


def _tiny(**overrides):
    kw = dict(tasks=3, trials=1, hidden=(32, 32), sleep_steps=200, sharpness_batch=40)
    kw.update(overrides)
    return pl.quick_config(**kw)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plast")
    pl.save(pl.run(_tiny(), log=_quiet), out)
    return out


def _check_arms(tr, n_tasks):
    """Shapes, ranges and the relations between the arms of one trial."""
    for arm in tr["arms"]:
        a = tr["arms"][arm]
        acc = np.asarray(a["acc_matrix"])
        assert acc.shape == (n_tasks, n_tasks)
        assert np.all((acc >= 0) & (acc <= 1))  # also no NaN: every task is tested after every task
        assert len(a["new_task_accuracy"]) == n_tasks
        assert all(0 <= v <= 1 for v in a["new_task_accuracy"])
        assert len(a["sharpness_seed000"]) == n_tasks
        assert all(math.isfinite(v) and v >= 0 for v in a["sharpness_seed000"])
        assert len(a["train_loss"]) == n_tasks and all(math.isfinite(v) for v in a["train_loss"])
        if arm != "src":  # no sleep: the new-task accuracy is the diagonal
            np.testing.assert_allclose(a["new_task_accuracy"], np.diag(acc))
            assert "sleeps" not in a
    src, sgd = tr["arms"]["src"], tr["arms"]["sgd"]
    pre = np.asarray(src["acc_matrix_pre_sleep"])
    assert pre.shape == (n_tasks, n_tasks) and np.all((pre >= 0) & (pre <= 1))
    np.testing.assert_allclose(src["new_task_accuracy"], np.diag(pre))
    # SGD and SGD + SRC share initial weights and data order: identical until the first sleep ...
    assert pre[0].tolist() == sgd["acc_matrix"][0]
    assert src["new_task_accuracy"][0] == sgd["new_task_accuracy"][0]
    assert src["sharpness_seed000"][0] == sgd["sharpness_seed000"][0]
    # ... and the sleeps change the network
    assert not np.array_equal(np.asarray(src["acc_matrix"]), np.asarray(sgd["acc_matrix"])) or \
        src["sharpness_seed000"][1:] != sgd["sharpness_seed000"][1:]
    seen = np.cumsum(tr["n_train_per_task"])
    assert [s["task"] for s in src["sleeps"]] == list(range(n_tasks))
    assert [s["calibration_images"] for s in src["sleeps"]] == seen.tolist()
    assert [s["seed"] for s in src["sleeps"]] == [derived_seed(tr["seed"], 104729, k) for k in range(n_tasks)]


def test_tiny_run_saves_result_and_table(tiny_run):
    out = tiny_run
    for name in ("result.json", "table.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "result.json").read_text())
    assert res["kind"] == "plasticity"
    assert res["arms"] == ["sgd", "sam", "gnp", "src"]
    assert res["config"]["setting"] == "class" and res["dataset"]["n_out"] == 2
    tr = res["trials"][0]
    assert len(tr["tasks"]) == 3 and len(set(tr["tasks"])) == 3
    _check_arms(tr, 3)
    assert all(s["steps"] == 200 for s in tr["arms"]["src"]["sleeps"])
    table = (out / "table.md").read_text()
    for label in ("SGD", "SAM", "GNP", "SGD + SRC", "mean per-task change"):
        assert label in table
    assert table == pl.table(res)


def test_summary_matches_definitions(tiny_run):
    res = pl.load(tiny_run)
    summ = pl.summarise(res)
    assert summ == res["summary"]
    for arm in res["arms"]:
        d = np.asarray(res["trials"][0]["arms"][arm]["new_task_accuracy"])
        acc = np.asarray(res["trials"][0]["arms"][arm]["acc_matrix"])
        assert summ[arm]["mean_per_task_change"]["mean"] == pytest.approx(np.mean(np.diff(d)))
        assert summ[arm]["slope"]["mean"] == pytest.approx(np.polyfit(np.arange(3), d, 1)[0])
        assert summ[arm]["final_average_accuracy"]["mean"] == pytest.approx(acc[-1].mean())
        assert summ[arm]["first_new_task_accuracy"]["mean"] == pytest.approx(d[0])


def test_make_tasks_class_and_permuted():
    cfg = pl.quick_config(tasks=5)
    train, test = pl._load(cfg, "train"), pl._load(cfg, "test")
    tasks = pl.make_tasks(cfg, 0, train, test)
    assert len(tasks) == 5 and len({t.name for t in tasks}) == 5
    for t in tasks:
        assert set(np.unique(t.y_train)) == {0, 1} and t.x_train.shape[1] == 784
    assert [t.name for t in pl.make_tasks(cfg, 0, train, test)] == [t.name for t in tasks]
    assert [t.name for t in pl.make_tasks(cfg, 1, train, test)] != [t.name for t in tasks]

    pcfg = pl.quick_config(setting="permuted", tasks=3, n_train=100, n_test=50)
    ptasks = pl.make_tasks(pcfg, 0, train, test)
    assert [t.x_train.shape for t in ptasks] == [(100, 784)] * 3
    np.testing.assert_array_equal(ptasks[0].y_train, ptasks[1].y_train)
    assert not np.array_equal(ptasks[0].x_train, ptasks[1].x_train)
    # a permutation keeps each image's pixel values
    np.testing.assert_allclose(np.sort(ptasks[0].x_train, axis=1), np.sort(ptasks[2].x_train, axis=1))


def test_config_validation():
    with pytest.raises(ValueError, match="45"):
        pl.PlasticityConfig(tasks=46)
    with pytest.raises(ValueError, match="setting"):
        pl.PlasticityConfig(setting="domain")
    with pytest.raises(ValueError, match="arms"):
        pl.PlasticityConfig(arms=("adam",))
    assert pl.PlasticityConfig(setting="permuted", tasks=60).tasks == 60
    assert pl._sleep_steps(pl.PlasticityConfig(), 0) == 15000
    assert pl._sleep_steps(pl.PlasticityConfig(), 2) == 25000
    assert pl._sleep_steps(pl.PlasticityConfig(sleep_steps=100), 4) == 100


def test_merge_combines_trials(tiny_run, tmp_path):
    other = tmp_path / "seed3"
    pl.save(pl.run(_tiny(seed=3), log=_quiet), other)
    merged = pl.merge([tiny_run, other], tmp_path / "m")
    assert pl.load(tmp_path / "m") == merged
    assert merged["seeds"] == [0, 3] and merged["config"]["trials"] == 2
    assert merged["summary"]["sgd"]["final_average_accuracy"]["sd"] is not None
    with pytest.raises(ValueError, match="repeated"):
        pl.merge([tiny_run, tiny_run])


@pytest.mark.slow
def test_quick_default_size(tmp_path):
    """The documented --quick configuration: digits, 4 class-pair tasks, 2 trials, all four arms."""
    cfg = pl.quick_config()
    res = pl.run(cfg, log=_quiet)
    pl.save(res, tmp_path)
    assert pl.load(tmp_path)["trials"] == res["trials"]
    assert res["config"]["quick"] is True and res["config"]["tasks"] == 4
    assert res["arms"] == list(pl.ARMS) and res["seeds"] == [0, 1]
    assert res["dataset"] == {"name": "digits", "n_out": 2, "image_shape": [28, 28]}
    train, test = pl._load(cfg, "train"), pl._load(cfg, "test")
    for tr in res["trials"]:
        tasks = pl.make_tasks(cfg, tr["seed"], train, test)
        assert tr["tasks"] == [t.name for t in tasks] and len(set(tr["tasks"])) == 4
        # all images of the two classes of each pair (n_train = n_test = None)
        assert tr["n_train_per_task"] == [len(t.y_train) for t in tasks]
        assert tr["n_test_per_task"] == [len(t.y_test) for t in tasks]
        assert all(200 < n < 320 for n in tr["n_train_per_task"])
        assert all(80 < n < 140 for n in tr["n_test_per_task"])
        _check_arms(tr, 4)
        assert all(s["steps"] == 500 for s in tr["arms"]["src"]["sleeps"])
        assert tr["arms"]["src"]["preset"] == "mnist"
        # the sleeps change what SGD + SRC learns next; SAM trains differently from SGD from the start
        assert tr["arms"]["src"]["new_task_accuracy"][1:] != tr["arms"]["sgd"]["new_task_accuracy"][1:]
        assert not np.array_equal(tr["arms"]["src"]["acc_matrix"], tr["arms"]["sgd"]["acc_matrix"])
        assert tr["arms"]["sam"]["train_loss"] != tr["arms"]["sgd"]["train_loss"]
    assert res["trials"][0]["tasks"] != res["trials"][1]["tasks"]
    for arm in res["arms"]:
        s = res["summary"][arm]
        finals = [np.nanmean(np.asarray(tr["arms"][arm]["acc_matrix"])[-1]) for tr in res["trials"]]
        assert s["final_average_accuracy"]["mean"] == pytest.approx(np.mean(finals))
        assert s["final_average_accuracy"]["sd"] == pytest.approx(np.std(finals, ddof=1))
        assert 0 <= s["mean_new_task_accuracy"]["mean"] <= 1
