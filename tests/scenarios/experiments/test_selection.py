"""The validation-split selections: the baselines' coefficient grid and the Optuna SRC preset search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bridge.presets import preset
from scenarios.experiments import incremental as inc
from scenarios.experiments import selection as sel
from scenarios.runs.results import load_result

TINY = dict(dataset="digits", n_tasks=3, trials=1, hidden=(16, 16), n_per_task=60, epochs=1,
            sleep_steps=30, sleep_increment=10, correlations=False, validation=30)


def test_candidate_round_trip_and_schedule_scale():
    base = preset("fashion")
    x = sel._from_params(base)
    p = sel.params_from_trial(base, x)
    assert p.max_rate == base.max_rate and p.beta == base.beta and p.decay == pytest.approx(base.decay)
    assert all(lo <= x[k] <= hi for k, (lo, hi) in sel.SEARCH_SPACE.items())
    cfg = inc.IncrementalConfig()
    scaled = sel._scaled_config(cfg, {**x, "sleep_scale": 0.5})
    assert (scaled.sleep_steps, scaled.sleep_increment) == (7500, 2500)
    entry = sel.preset_entry(cfg, base, {**x, "sleep_scale": 2.0})
    assert entry["sleep_steps"] == 30000 and entry["beta"] == list(base.beta)
    assert sel._candidate_key(x) == sel._candidate_key(dict(reversed(list(x.items()))))


def test_selections_need_a_validation_split(tmp_path):
    cfg = inc.IncrementalConfig(**{**TINY, "validation": 0})
    with pytest.raises(ValueError, match="validation"):
        sel.select_coefficients(cfg, tmp_path)
    with pytest.raises(ValueError, match="validation"):
        sel.search(cfg, 2, tmp_path)
    with pytest.raises(ValueError, match="prune_after"):
        sel.search(inc.IncrementalConfig(**TINY), 2, tmp_path, prune_after="S3")
    with pytest.raises(ValueError, match="n_startup_trials"):
        sel.search(inc.IncrementalConfig(**TINY), 2, tmp_path, n_startup_trials=-1)


def test_best_value_takes_the_best_score_and_breaks_ties_to_the_largest_value():
    assert sel.best_value({0.1: 0.2, 1.0: 0.5, 10.0: 0.3}) == 1.0
    assert sel.best_value({0.1: 0.1992, 1.0: 0.1992, 10.0: 0.1992, 100.0: 0.1022}) == 10.0
    with pytest.raises(ValueError, match="scores"):
        sel.best_value({})


def test_select_coefficients_picks_the_best_mean(tmp_path):
    cfg = inc.IncrementalConfig(**TINY)
    summary = sel.select_coefficients(cfg, tmp_path, ["owm_alpha"], grids={"owm_alpha": (0.01, 1.0)},
                                      seeds=(1000,), log=lambda s: None)
    scores = summary["scores"]["owm_alpha"]
    assert set(scores) == {"0.01", "1"}
    # the best mean; a tie goes to the largest value (the strongest regularisation)
    assert summary["best"]["owm_alpha"] == max((0.01, 1.0), key=lambda v: (scores[f"{v:g}"], v))
    row = load_result(tmp_path / "runs" / "owm__seed=1000__coef=owm_alpha__value=0.01")
    assert row["score"] == scores["0.01"] and len(row["per_task"]) == 3
    assert json.loads((tmp_path / "selection.json").read_text())["best"] == summary["best"]


def test_a_coefficient_that_makes_training_diverge_is_recorded_and_never_chosen(tmp_path):
    cfg = inc.IncrementalConfig(**TINY)
    summary = sel.select_coefficients(cfg, tmp_path, ["ewc_lambda"], grids={"ewc_lambda": (0.1, 1e30)},
                                      seeds=(1000,), log=lambda s: None)
    assert summary["scores"]["ewc_lambda"]["1e+30"] is None and summary["best"]["ewc_lambda"] == 0.1
    row = load_result(tmp_path / "runs" / "ewc__seed=1000__coef=ewc_lambda__value=1e+30")
    assert row["score"] is None and "diverged" in row["diverged"]
    with pytest.raises(ValueError, match="training diverged with every value"):
        sel.select_coefficients(cfg, tmp_path / "all", ["ewc_lambda"], grids={"ewc_lambda": (1e30,)},
                                seeds=(1000,), log=lambda s: None)


_SEARCH_SCRIPT = textwrap.dedent("""
    import sys
    from scenarios.experiments import incremental as inc, selection as sel
    if __name__ == "__main__":
        cfg = inc.IncrementalConfig(**{tiny!r})
        sel.search(cfg, int(sys.argv[2]), sys.argv[1], seeds=(1000,), prune_after="S1", n_startup_trials=1,
                   log=lambda s: print(s, flush=True))
""")


def _finished(out: Path) -> int:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if not (out / "journal.log").exists():
        return 0
    study = optuna.load_study(study_name=sel.STUDY_NAME,
                              storage=JournalStorage(JournalFileBackend(str(out / "journal.log"))))
    return sum(t.state.is_finished() and t.state.name != "FAIL" for t in study.trials)


def test_a_killed_search_resumes_without_rerunning_finished_trials(tmp_path):
    out = tmp_path / "search"
    script = tmp_path / "search.py"
    script.write_text(_SEARCH_SCRIPT.format(tiny=TINY))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # far more trials than can finish before the kill: on an idle machine the tiny trials take well
    # under a second each, and a search of 6 could end between two polls
    n_asked = 60
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(n_asked)], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while _finished(out) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _finished(out) >= 2, proc.stdout.read().decode() if proc.poll() is not None else "too slow"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its Dask workers, mid-trial
        proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/result.json")}
    n_before = _finished(out)
    assert n_before < n_asked
    summary = sel.search(inc.IncrementalConfig(**TINY), n_before + 1, out, seeds=(1000,), prune_after="S1",
                         n_startup_trials=1, log=lambda s: None)
    # every point that had finished was kept, not run again
    for name, mtime in done_before.items():
        assert (out / "runs" / name / "result.json").stat().st_mtime_ns == mtime
    assert _finished(out) == n_before + 1
    states = summary["states"]
    assert states["COMPLETE"] + states["PRUNED"] == n_before + 1
    assert summary["base"] is not None and summary["base"]["number"] == 0  # the base preset was trial 0
    assert summary["best"]["value"] >= summary["base"]["value"]
    assert summary["best"]["preset"]["alpha_scale"] == preset("mnist").alpha_scale
    # the trials of the killed run that were finished kept their values
    by_number = {t["number"]: t for t in summary["trials"]}
    assert by_number[0]["state"] in ("COMPLETE", "PRUNED")
    # another search with other settings cannot use this journal
    with pytest.raises(ValueError, match="other settings"):
        sel.search(inc.IncrementalConfig(**TINY), 9, out, seeds=(1000, 1001), prune_after="S1")


def test_a_candidate_whose_sleep_is_too_busy_is_rejected_and_pruned(tmp_path):
    cfg = inc.IncrementalConfig(**TINY)
    free = sel.search(cfg, 1, tmp_path / "free", seeds=(1000,), prune_after=None, n_startup_trials=1,
                      max_sleep_spikes=None, log=lambda s: None)
    assert free["states"]["COMPLETE"] == 1
    # the preset of a trial, for scoring it on the test set (--search-trial DIR[:N])
    chosen = sel.trial_preset(tmp_path / "free")  # the best: here trial 0, the base preset
    assert chosen["number"] == 0 and chosen["name"] == "free#0" and chosen["base"] == "mnist"
    assert chosen["params"].beta == preset("mnist").beta and chosen["params"].decay == pytest.approx(preset("mnist").decay)
    assert (chosen["sleep_steps"], chosen["sleep_increment"]) == (TINY["sleep_steps"], TINY["sleep_increment"])
    assert chosen["value"] == free["best"]["value"]
    with pytest.raises(ValueError, match="trial 3: not a complete trial .* complete trials: 0"):
        sel.trial_preset(tmp_path / "free", 3)
    with pytest.raises(ValueError, match="has no journal.log"):
        sel.trial_preset(tmp_path / "nowhere")
    from scenarios.commands.incremental import main as incremental_main
    assert incremental_main(["--quick", "--search-trial", f"{tmp_path / 'free'}:3", "--out", str(tmp_path / "x")]) == 2
    assert incremental_main(["--quick", "--search-trial", str(tmp_path / "free"), "--preset", "mnist",
                             "--out", str(tmp_path / "x")]) == 2
    assert incremental_main(["--quick", "--search-trial", str(tmp_path / "free"), "--arms", "src", "--trials", "1",
                             "--no-plot", "--out", str(tmp_path / "x")]) == 0
    record = json.loads((tmp_path / "x" / "result.json").read_text())
    assert record["preset"]["name"] == "free#0"
    assert record["preset"]["params"]["beta"] == list(chosen["params"].beta)
    assert record["sleep_schedule"][0] == chosen["sleep_steps"]
    busy = load_result(next((tmp_path / "free" / "runs").glob("*stage=end")))["spikes_per_step"]
    assert max(sum(s[1:]) for s in busy) > 0  # the base preset's sleeps make the hidden layers fire
    # a limit under that activity abandons the base trial in its first sleep
    summary = sel.search(cfg, 1, tmp_path / "limited", seeds=(1000,), prune_after=None, n_startup_trials=1,
                         max_sleep_spikes=1e-6, log=lambda s: None)
    (trial,) = summary["trials"]
    assert trial["state"] == "PRUNED" and summary["best"] is None
    assert "above max_spikes_per_step=1e-06" in trial["user_attrs"]["rejected"]
    # only the state after the first task (shared by every trial) is kept
    assert [f.parent.name for f in (tmp_path / "limited" / "runs").glob("*/state.pt")] == [
        "src__seed=1000__cand=common__stage=T1"]
    with pytest.raises(ValueError, match="max_sleep_spikes=-1"):
        sel.search(cfg, 1, tmp_path / "bad", seeds=(1000,), max_sleep_spikes=-1.0)
