"""Tests for scenarios.experiments.plasticity: task construction, a tiny end-to-end run, summary, plotting."""

import json
import math

import numpy as np
import pytest
import torch

from scenarios.experiments import plasticity as pl

torch.set_num_threads(1)

TINY = ["--quick", "--tasks", "3", "--trials", "1", "--hidden", "32,32", "--sleep-steps", "200",
        "--sharpness-batch", "40"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plast")
    assert pl.main(TINY + ["--out", str(out)]) == 0
    return out


def test_tiny_run_writes_everything(tiny_run):
    out = tiny_run
    for name in ("result.json", "table.md", "plasticity_curves.png", "plasticity_curves.pdf",
                 "plasticity_matrices.png", "plasticity_matrices.pdf"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    res = json.loads((out / "result.json").read_text())
    assert res["kind"] == "plasticity"
    assert res["arms"] == ["sgd", "sam", "gnp", "src"]
    assert res["config"]["setting"] == "class" and res["dataset"]["n_out"] == 2
    tr = res["trials"][0]
    assert len(tr["tasks"]) == 3 and len(set(tr["tasks"])) == 3
    for arm in res["arms"]:
        a = tr["arms"][arm]
        acc = np.asarray(a["acc_matrix"])
        assert acc.shape == (3, 3)
        assert np.all((acc >= 0) & (acc <= 1))
        assert len(a["new_task_accuracy"]) == 3
        assert all(0 <= v <= 1 for v in a["new_task_accuracy"])
        assert all(math.isfinite(v) and v >= 0 for v in a["sharpness_seed000"])
        if arm != "src":  # no sleep: the new-task accuracy is the diagonal
            np.testing.assert_allclose(a["new_task_accuracy"], np.diag(acc))
    src = tr["arms"]["src"]
    assert len(src["sleeps"]) == 3 and all(s["steps"] == 200 for s in src["sleeps"])
    np.testing.assert_allclose(src["new_task_accuracy"], np.diag(np.asarray(src["acc_matrix_pre_sleep"])))
    # SGD and SGD+SRC share initial weights and data order: they differ only through sleep
    assert not np.allclose(np.asarray(src["acc_matrix"]), np.asarray(tr["arms"]["sgd"]["acc_matrix"])) or \
        src["sharpness_seed000"][1:] != tr["arms"]["sgd"]["sharpness_seed000"][1:]
    assert tr["arms"]["sgd"]["new_task_accuracy"][0] == src["new_task_accuracy"][0]
    table = (out / "table.md").read_text()
    for label in ("SGD", "SAM", "GNP", "SGD + SRC", "mean per-task change"):
        assert label in table


def test_summary_matches_definitions(tiny_run):
    res = pl.load(tiny_run)
    summ = pl.summarize(res)
    for arm in res["arms"]:
        d = np.asarray(res["trials"][0]["arms"][arm]["new_task_accuracy"])
        acc = np.asarray(res["trials"][0]["arms"][arm]["acc_matrix"])
        assert summ[arm]["mean_per_task_change"]["mean"] == pytest.approx(np.mean(np.diff(d)))
        assert summ[arm]["slope"]["mean"] == pytest.approx(np.polyfit(np.arange(3), d, 1)[0])
        assert summ[arm]["final_average_accuracy"]["mean"] == pytest.approx(acc[-1].mean())
        assert summ[arm]["first_new_task_accuracy"]["mean"] == pytest.approx(d[0])


def test_plot_reads_saved_result(tiny_run, tmp_path):
    names = sorted(p.name for p in pl.plot(tiny_run, out_dir=tmp_path))
    assert names == ["plasticity_curves.pdf", "plasticity_curves.png", "plasticity_matrices.pdf",
                     "plasticity_matrices.png"]
    import matplotlib.pyplot as plt

    ax = pl.plot_new_task_accuracy(pl.load(tiny_run))
    assert len(ax.get_lines()) == 4
    plt.close("all")


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


def test_cli_arm_selection(tmp_path):
    with pytest.raises(SystemExit):
        pl.main(["--quick", "--optimizer", "adam", "--out", str(tmp_path)])
    args = pl.build_parser().parse_args(["--optimizer", "sgd", "--no-src"])
    assert pl.config_from_args(args).arms == ("sgd",)


@pytest.mark.slow
def test_quick_default_size(tmp_path):
    assert pl.main(["--quick", "--out", str(tmp_path)]) == 0
    res = pl.load(tmp_path)
    assert len(res["trials"]) == 2 and res["config"]["tasks"] == 4


@pytest.mark.slow
def test_quick_permuted(tmp_path):
    assert pl.main(["--quick", "--setting", "permuted", "--n-train", "300", "--n-test", "200",
                    "--out", str(tmp_path)]) == 0
    res = pl.load(tmp_path)
    assert res["dataset"]["n_out"] == 10


def test_merge_combines_trials(tiny_run, tmp_path):
    other = tmp_path / "seed3"
    assert pl.main(TINY + ["--seed", "3", "--no-plot", "--out", str(other)]) == 0
    assert pl.main(["--merge", str(tiny_run), str(other), "--no-plot", "--out", str(tmp_path / "m")]) == 0
    merged = pl.load(tmp_path / "m")
    assert merged["seeds"] == [0, 3] and merged["config"]["trials"] == 2
    assert merged["summary"]["sgd"]["final_average_accuracy"]["sd"] is not None
    with pytest.raises(ValueError, match="repeated"):
        pl.merge([tiny_run, tiny_run])
