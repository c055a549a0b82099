"""``--quick`` runs of the issue's studies through the command line, and the content they write:
the reference-protocol scan, the long-horizon probe run and the class-incremental STDP run."""

import json

import numpy as np
import pytest

from scenarios import cli


def _load(path):
    return json.loads(path.read_text())


def test_reference_scan_quick_writes_curve_gain_and_rescored_readout(tmp_path):
    """Two quirk sets that differ only in the read-out (reference, reference without QDA) share the
    network: same weights, different read-out; the summary has the curve, the gain table and the
    read-out quirks scored again, whose ``as run`` column reproduces each saved accuracy."""
    out = tmp_path / "ref"
    assert cli.main(["scan", "--protocol", "reference", "--quick", "--seeds", "0", "--sleep-ratios", "0", "0.1",
                     "--quirk-sets", "reference", "reference-c", "--no-frozen-baseline", "--workers", "1",
                     "--out", str(out)]) == 0
    runs = {p.parent.name: _load(p) for p in (out / "runs").glob("*/result.json")}
    assert sorted(runs) == sorted(f"ratio={r}__seed=0__quirks={q}" for r in ("0", "0.1")
                                  for q in ("reference", "reference-qda_readout"))
    for r in ("0", "0.1"):
        a, b = runs[f"ratio={r}__seed=0__quirks=reference"], runs[f"ratio={r}__seed=0__quirks=reference-qda_readout"]
        assert a["W_final"] == b["W_final"] and a["sleep"]["episodes"] == b["sleep"]["episodes"]
        assert a["readout"]["method"] == "pca_qda" and b["readout"]["method"] == "logreg"
        assert a["dataset"] == "digits" and a["n_training_presentations"] == 30 * 4
    assert runs["ratio=0.1__seed=0__quirks=reference"]["sleep"]["n_episodes"] > 0
    assert runs["ratio=0__seed=0__quirks=reference"]["sleep"]["n_episodes"] == 0
    summary = _load(out / "summary.json")
    assert len(summary["table"]) == 4 and "paper" not in summary  # the paper has no digits curve
    rescored = {r["key"]: r["variants"] for r in summary["readout_ablation"]}
    assert set(rescored) == set(runs)  # every run of the single seed kept its counts
    for key, variants in rescored.items():
        assert variants["as run"] == pytest.approx(runs[key]["accuracy"], abs=1e-12)
        if key.endswith("quirks=reference"):
            assert variants["without qda_readout"] == pytest.approx(
                runs[key + "-qda_readout"]["accuracy"], abs=1e-12)
            assert {"without last_test_batch", "without merged_bins", "project read-out"} <= set(variants)
        else:
            assert set(variants) == {"as run", "without last_test_batch", "without merged_bins", "project read-out"}
    md = (out / "summary.md").read_text()
    assert "## Accuracy against the sleep ratio" in md and "## Sleep gain per quirk set" in md
    assert "| reference-qda_readout | 0.1 |" in md and "## Read-out quirks scored again" in md
    assert (out / "accuracy_vs_sleep_ratio.png").exists() and (out / "total_weight_with_without_sleep.pdf").exists()


@pytest.mark.slow
def test_horizon_quick_writes_curves_and_figures(tmp_path):
    out = tmp_path / "hz"
    assert cli.main(["horizon", "--quick", "--out", str(out)]) == 0
    summary = _load(out / "summary.json")
    assert set(summary["curves"]) == {"none", "schedule", "trigger"} and summary["n_runs"] == 3
    n_blocks = 1 + -(-2 * 120 // 80)  # before training, then every 80 of 240 training images
    for c, cur in summary["curves"].items():
        assert cur["images_seen"] == [0, 80, 160, 240][:n_blocks]
        assert len(cur["accuracy_mean"]) == n_blocks and all(0 <= a <= 1 for a in cur["accuracy_mean"])
        assert cur["seeds"] == [0]
    assert summary["curves"]["none"]["training_ratio"] == 0
    assert summary["curves"]["schedule"]["training_ratio"] > 0
    arrays = np.load(out / "runs" / "ratio=0__seed=0__condition=none" / "arrays.npz")
    assert arrays["probe_counts"].shape[0] == n_blocks and np.all(np.diff(arrays["weights_seen"]) >= 0)
    md = (out / "summary.md").read_text()
    assert "| none | 0.000 |" in md and "| schedule |" in md
    for name in ("accuracy_vs_images_seen", "total_weight_vs_images_seen"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()


@pytest.mark.slow
def test_stdp_incremental_quick_writes_matrices_and_figures(tmp_path):
    out = tmp_path / "inc"
    assert cli.main(["stdp-incremental", "--quick", "--conditions", "none", "schedule", "--out", str(out)]) == 0
    summary = _load(out / "summary.json")
    assert set(summary["conditions"]) == {"none", "schedule"}
    for c, d in summary["conditions"].items():
        acc = np.array(d["acc_mean"], dtype=float)
        assert acc.shape == (5, 5)
        assert np.all(np.isnan(acc[np.triu_indices(5, 1)]))  # tasks not seen yet are not scored
        assert np.all((acc[np.tril_indices(5)] >= 0) & (acc[np.tril_indices(5)] <= 1))
        assert len(d["drift_mean"]) == 5 and d["seeds"] == [0]
    md = (out / "summary.md").read_text()
    assert "Stage x task accuracy (%), none" in md and "| after T5 |" in md
    for name in ("stage_task_accuracy", "feature_drift"):
        assert (out / f"{name}.png").exists()
