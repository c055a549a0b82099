"""Choosing hyper-parameters of the incremental protocol on a validation split, through the grid runner.

Two selections, both scored on a hold-out of the *training* data
(``IncrementalConfig.validation`` images per task; the test set is never
used), and both run as points of :func:`scenarios.runs.grid.run_grid`, so
each evaluation is one resumable result file under ``out/runs/`` and can run
on any Dask cluster:

* :func:`select_coefficients` — the key coefficient of each continual-learning
  baseline (EWC λ, SI c, OWM α; Kirkpatrick et al. 2017, Zenke et al. 2017,
  Zeng et al. 2019) on a log grid (:data:`COEFFICIENT_GRIDS`): one point per
  (method, value, seed), scored by the final validation accuracy over all
  tasks; the best value per method (mean over seeds; ties to the largest
  value, the strongest regularisation) goes to ``selection.json``.
* :func:`search` — an SRC preset (the parameters of Tadros et al., Nat.
  Commun. 13:7742, 2022, that the authors chose with a genetic algorithm) by
  Optuna's TPE sampler (Akiba et al., KDD 2019) over :data:`SEARCH_SPACE`. The
  study lives in a journal file (``out/journal.log``,
  ``optuna.storages.JournalStorage``), so a killed search resumes: finished
  trials are kept, a trial that was running is marked failed and its
  parameters are asked again, and its points that had finished are found on
  disk and not re-run. A trial is evaluated on every seed of ``seeds`` (one
  grid point per seed and stage): the state after the first task is shared by
  every trial (the SRC parameters act only from the first sleep on); at the
  stage ``prune_after`` (default ``"S2"``, after the second sleep) the mean
  accuracy over the tasks seen so far is reported to Optuna's percentile
  pruner, which keeps only the top quarter (a trial below the 75th
  percentile of the completed trials' values there is stopped); the others continue
  from the saved state to the end. The objective is the mean final
  validation accuracy over all tasks. A candidate whose sleep fires more
  than ``max_sleep_spikes`` spikes per step (input excluded; the search
  box holds leak-free, low-threshold corners where the whole network fires
  in every step, and the event-driven sleep then takes many minutes) is
  abandoned as soon as the average is exceeded and told to Optuna as
  pruned, with the reason in its ``rejected`` attribute. The figures are
  :mod:`scenarios.figures.selection` (Optuna's plots, drawn from the journal).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bridge.presets import SRCParams
from bridge.src import SleepActivityError
from scenarios.ann.mlp import TrainingDivergedError
from scenarios.experiments.incremental import (ARM_COEFFICIENT, ARM_SPECS, IncrementalConfig, _config_dict,
                                               load_task_data, resolve_preset, run_arm, stage_labels)
from scenarios.runs.grid import point_key, run_grid
from scenarios.runs.results import RESULT_JSON, load_result, save_result, to_jsonable
from scenarios.runs.stats import mean_sd

__all__ = ["COEFFICIENT_GRIDS", "COEFFICIENT_ARMS", "MAX_SLEEP_SPIKES", "SEARCH_SPACE", "STUDY_NAME", "best_value",
           "select_coefficients", "search", "params_from_trial", "preset_entry", "trial_preset"]

#: Arm whose key coefficient each field of :class:`IncrementalConfig` is.
COEFFICIENT_ARMS = {coef: arm for arm, coef in ARM_COEFFICIENT.items()}
#: Values tried for each coefficient (log grids around the papers' values).
COEFFICIENT_GRIDS = {
    "ewc_lambda": (0.1, 1.0, 10.0, 100.0, 1e3),
    "si_c": (0.01, 0.1, 1.0, 10.0, 100.0),
    "owm_alpha": (1e-2, 0.1, 1.0, 10.0),
}
#: Search box (log-uniform) of the SRC preset search. ``alpha_scale`` is not
#: searched: dividing ``alpha_scale`` and every ``beta_l`` by the same factor
#: leaves the dynamics unchanged (spike iff Σ alpha_l·W·s >= beta_l), so it is
#: kept at the base preset's value and only the betas move.
SEARCH_SPACE = {
    # at most 500 Hz: the spike probability per step, 2·dt·max_rate·x, stays <= 1 for intensities
    # x in [0, 1] (dt = 1 ms); bridge.src.sleep refuses a saturating input
    "max_rate": (20.0, 500.0),
    "inc": (1e-3, 0.3),
    "dec": (1e-4, 0.05),
    "beta0": (1.0, 300.0),
    "beta1": (1.0, 300.0),
    "beta2": (1.0, 300.0),
    # membrane leak time constant in steps, 1 / (1 - decay); the presets' 0.999 is 1000
    "leak_steps": (20.0, 1e5),
    # multiplies the sleep schedule (sleep_steps and sleep_increment of the config)
    "sleep_scale": (0.2, 3.0),
}
#: Name of the Optuna study in the journal.
STUDY_NAME = "src-preset"
#: Default activity limit of a search's sleeps, in spikes per step of all
#: spiking layers (input excluded): the authors' Fashion preset fires 0.003
#: to 0.25 per step there; 50 is ~2 % of the 2410 neurons of 784-1200-1200-10
#: in every step.
MAX_SLEEP_SPIKES = 50.0


# --------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------
def params_from_trial(base: SRCParams, x: dict) -> SRCParams:
    """The SRC parameters of a candidate ``x`` (a point of :data:`SEARCH_SPACE`) around ``base``."""
    extra = {}
    if "leak_steps" in x:
        extra["decay"] = 1.0 - 1.0 / x["leak_steps"]
    return dataclasses.replace(base, max_rate=x["max_rate"], inc=x["inc"], dec=x["dec"],
                               beta=(x["beta0"], x["beta1"], x["beta2"]), **extra)


def _scaled_schedule(sleep_steps: int, sleep_increment: int, f: float) -> tuple[int, int]:
    """A sleep schedule ``(sleep_steps, sleep_increment)`` multiplied by ``f`` (whole steps, >= 1 step)."""
    if f == 1.0:
        return int(sleep_steps), int(sleep_increment)
    return max(1, int(round(sleep_steps * f))), int(round(sleep_increment * f))


def _scaled_config(cfg: IncrementalConfig, x: dict) -> IncrementalConfig:
    """``cfg`` with its sleep schedule multiplied by ``x["sleep_scale"]`` (if present)."""
    steps, increment = _scaled_schedule(cfg.sleep_steps, cfg.sleep_increment, x.get("sleep_scale", 1.0))
    if (steps, increment) == (cfg.sleep_steps, cfg.sleep_increment):
        return cfg
    return dataclasses.replace(cfg, sleep_steps=steps, sleep_increment=increment)


def _from_params(p: SRCParams) -> dict:
    b = p.beta_for(3)
    return {"max_rate": p.max_rate, "inc": p.inc, "dec": p.dec, "beta0": b[0], "beta1": b[1], "beta2": b[2],
            "leak_steps": 1.0 / (1.0 - p.decay), "sleep_scale": 1.0}


def _candidate_key(x: dict) -> str:
    return hashlib.sha1(json.dumps({k: float(x[k]) for k in sorted(x)}).encode()).hexdigest()[:12]


def preset_entry(cfg: IncrementalConfig, base: SRCParams, x: dict) -> dict:
    """A :data:`scenarios.experiments.incremental.TUNED_PRESETS_FILE` entry for candidate ``x``."""
    p = params_from_trial(base, x)
    scaled = _scaled_config(cfg, x)
    return {**dataclasses.asdict(p), "beta": list(p.beta), "sleep_steps": scaled.sleep_steps,
            "sleep_increment": scaled.sleep_increment}


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------
_WORKER: dict = {"key": None, "data": None}


def _worker_data(cfg: IncrementalConfig):
    """The task data of ``cfg``, loaded once per worker process."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1"))))
    key = (cfg.dataset, cfg.validation, cfg.n_tasks, cfg.n_per_task, cfg.data_dir, cfg.image_side)
    if _WORKER["key"] != key:
        _WORKER["data"] = load_task_data(cfg)
        _WORKER["key"] = key
    return _WORKER["data"]


def _coefficient_point(point: dict, config: dict) -> dict:
    """Grid point of :func:`select_coefficients`: one baseline, one coefficient value, one seed."""
    cfg: IncrementalConfig = config["cfg"]
    name = point["coef"]
    cfg = dataclasses.replace(cfg, **{name: float(point["value"])})
    t0 = time.perf_counter()
    try:
        r = run_arm(point["arm"], cfg, _worker_data(cfg), int(point["seed"]), config["params"], correlations=False,
                    stage_eval=False)
    except TrainingDivergedError as exc:  # the value makes training diverge: recorded, never chosen
        row = {**point, "score": None, "diverged": str(exc), "seconds": time.perf_counter() - t0}
    else:
        row = {**point, "score": r["overall"][-1], "per_task": r["acc"][-1], "seconds": time.perf_counter() - t0}
    save_result(Path(config["out"]) / "runs" / point_key(point), {"kind": "selection-point", **row})
    return row


def _search_point(point: dict, config: dict) -> dict:
    """Grid point of :func:`search`: one candidate, one seed, up to one stage (continuing from the last)."""
    import torch

    out = Path(config["out"])
    x = config["x"]
    cfg = _scaled_config(config["cfg"], x)
    params = params_from_trial(config["base"], x)
    previous = config["previous"].get(point["stage"])
    state = None
    if previous is not None:
        prev_dir = out / "runs" / point_key({**previous, "seed": point["seed"]})
        state = torch.load(prev_dir / "state.pt", weights_only=False)
    stop = None if point["stage"] == "end" else point["stage"]
    t0 = time.perf_counter()
    run_dir = out / "runs" / point_key(point)
    try:
        r = run_arm("src", cfg, _worker_data(cfg), int(point["seed"]), params, correlations=False,
                    stage_eval=False, stop=stop, state=state, max_sleep_spikes=config.get("max_sleep_spikes"))
    except SleepActivityError as exc:
        row = {**point, "rejected": str(exc), "seconds": time.perf_counter() - t0}
        save_result(run_dir, {"kind": "search-point", **row})
        return row
    run_dir.mkdir(parents=True, exist_ok=True)
    if "state" in r:
        torch.save(r.pop("state"), run_dir / "state.pt.tmp")
        os.replace(run_dir / "state.pt.tmp", run_dir / "state.pt")
    row = {**point, "stages": r["stages"], "acc": r["acc"], "overall": r["overall"],
           "spikes_per_step": [s["spikes_per_step"] for s in r["sleeps"]],
           "seconds": time.perf_counter() - t0}
    save_result(run_dir, {"kind": "search-point", **row})
    return row


def _load_rows(out: Path, points: Sequence[dict]) -> list[dict]:
    return [load_result(out / "runs" / point_key(p)) for p in points]


# --------------------------------------------------------------------------
# The baselines' coefficients
# --------------------------------------------------------------------------
def best_value(scores: dict) -> float:
    """The value of the best score; a tie goes to the largest value.

    Ties are common at the weak end of a grid (every value too weak to matter
    scores like plain training); the largest of them is the strongest
    regularisation that does not yet hurt.

    Parameters
    ----------
    scores : dict
        Coefficient value -> mean validation accuracy (fraction).
    """
    if not scores:
        raise ValueError("scores={}: need at least one value")
    return float(max(scores, key=lambda v: (scores[v], float(v))))


def select_coefficients(cfg: IncrementalConfig, out: str | os.PathLike,
                        coefficients: Sequence[str] = tuple(COEFFICIENT_GRIDS),
                        grids: dict | None = None, seeds: Sequence[int] = (1000,), workers: int = 1,
                        scheduler: str | None = None, log=print) -> dict:
    """Choose EWC λ, SI c and OWM α on the validation split (one grid on :func:`~scenarios.runs.grid.run_grid`).

    Parameters
    ----------
    cfg : IncrementalConfig
        The protocol; ``cfg.validation`` must be > 0.
    out : path-like
        Directory of the grid (``runs/``) and of ``selection.json``.
    coefficients : sequence of str
        Keys of :data:`COEFFICIENT_GRIDS` to select.
    grids : dict, optional
        Values per coefficient (default :data:`COEFFICIENT_GRIDS`).
    seeds : sequence of int
        Trial seeds of every value (the score is their mean).
    workers, scheduler
        Passed to :func:`~scenarios.runs.grid.run_grid`.

    Returns
    -------
    dict
        ``best`` (coefficient -> value), ``scores`` (coefficient -> value ->
        mean validation accuracy, or None where training diverged on a seed:
        such a value is never chosen), ``per_seed``, ``config``; also
        written to ``out/selection.json``.
    """
    if cfg.validation <= 0:
        raise ValueError(f"validation={cfg.validation}: the selection needs a hold-out of the training data "
                         "(validation > 0 images per task)")
    grids = {**COEFFICIENT_GRIDS, **{k: tuple(sorted(float(v) for v in vs)) for k, vs in (grids or {}).items()}}
    bad = [c for c in list(coefficients) + list(grids) if c not in COEFFICIENT_ARMS]
    if bad or not coefficients:
        raise ValueError(f"coefficients={list(coefficients)!r}: each must be one of {tuple(COEFFICIENT_ARMS)}")
    out = Path(out)
    points = [{"arm": COEFFICIENT_ARMS[c], "coef": c, "value": float(v), "seed": int(s)}
              for c in coefficients for v in grids[c] for s in seeds]
    config = {"out": str(out), "cfg": cfg, "params": resolve_preset(cfg.preset_name)}
    run_grid(points, config, _coefficient_point, workers=workers, scheduler=scheduler, label="select")
    rows = _load_rows(out, points)
    scores: dict = {}
    per_seed: dict = {}
    for c in coefficients:
        scores[c], per_seed[c] = {}, {}
        for v in grids[c]:
            vals = [r["score"] for r in rows if r["coef"] == c and r["value"] == float(v)]
            per_seed[c][f"{v:g}"] = vals
            # None: training diverged with this value on some seed
            scores[c][f"{v:g}"] = None if None in vals else float(np.mean(vals))
    trained = {c: {float(v): scores[c][f"{v:g}"] for v in grids[c] if scores[c][f"{v:g}"] is not None}
               for c in coefficients}
    empty = [c for c in coefficients if not trained[c]]
    if empty:
        raise ValueError(f"{', '.join(empty)}: training diverged with every value of the grid "
                         f"({', '.join(f'{v:g}' for v in grids[empty[0]])}); try smaller values")
    best = {c: best_value(trained[c]) for c in coefficients}
    summary = {"kind": "selection", "best": best, "scores": scores, "per_seed": per_seed, "seeds": list(seeds),
               "protocol": cfg.protocol, "config": _config_dict(cfg), "grids": {c: list(grids[c]) for c in coefficients}}
    (out / "selection.json").write_text(json.dumps(to_jsonable(summary), indent=1))
    for c in coefficients:
        log(f"[select] {c}: " + ", ".join(f"{v} -> " + ("diverged" if s is None else f"{100 * s:.1f}%")
                                          for v, s in scores[c].items())
            + f"; best {best[c]:g}")
    return summary


# --------------------------------------------------------------------------
# The SRC preset search on Optuna
# --------------------------------------------------------------------------
#: Seconds after which a lock on the journal is taken to be left by a killed process (Optuna's default: 30).
JOURNAL_LOCK_GRACE = 5


def _storage(out: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

    path = str(out / "journal.log")
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileSymlinkLock(path, JOURNAL_LOCK_GRACE)))


def _distributions() -> dict:
    from optuna.distributions import FloatDistribution

    return {k: FloatDistribution(lo, hi, log=True) for k, (lo, hi) in SEARCH_SPACE.items()}


def search(cfg: IncrementalConfig, n_trials: int, out: str | os.PathLike, seeds: Sequence[int] = (1000, 1001),
           base: str | None = None, prune_after: str | None = "S2", sampler_seed: int = 0,
           n_startup_trials: int = 10, prune_percentile: float = 25.0, workers: int = 1,
           scheduler: str | None = None, max_sleep_spikes: float | None = MAX_SLEEP_SPIKES, log=print) -> dict:
    """Optuna TPE search for an SRC preset on the validation split (see the module docstring).

    Parameters
    ----------
    cfg : IncrementalConfig
        The protocol (``cfg.validation > 0``); the SRC arm is evaluated.
    n_trials : int
        Trials to finish (complete or pruned) in the study, counting those of
        earlier runs in the same ``out``; >= 1.
    out : path-like
        Directory of the journal (``journal.log``), the grid (``runs/``) and
        ``search_summary.json``.
    seeds : sequence of int
        Trial seeds of every candidate (the score is their mean).
    base : str, optional
        Preset the search starts from (its parameters are the first trial and
        fix ``alpha_scale``, ``threshold``, ``mask_size``, ...); default the
        dataset's.
    prune_after : str or None
        Stage of the SRC arm after which a trial may be pruned (None: never).
    sampler_seed : int
        Seed of the TPE sampler.
    n_startup_trials : int
        Random trials before TPE models the objective (and before pruning).
    prune_percentile : float
        Share of the trials kept at the pruning stage, in percent, as in
        :class:`optuna.pruners.PercentilePruner`: the default 25 keeps a
        trial only if its value there is at or above the 75th percentile of
        the completed trials' values at that stage.
    workers, scheduler
        The Dask cluster of :func:`~scenarios.runs.grid.run_grid` (one local
        cluster of ``workers`` processes is kept for the whole search).
    max_sleep_spikes : float or None
        Activity limit of the sleeps (spikes per step, input excluded): a
        candidate above it is abandoned and pruned (None: no limit).

    Returns
    -------
    dict
        ``best`` (the best trial: number, value, params, ``preset``: an entry
        for the tuned-presets file), ``base`` (the first trial), ``trials``
        (number, state, value, intermediate value, params), ``config``; also
        written to ``out/search_summary.json``.
    """
    import optuna

    if cfg.validation <= 0:
        raise ValueError(f"validation={cfg.validation}: the search needs a hold-out of the training data "
                         "(validation > 0 images per task)")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r}: must be an integer >= 1")
    if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 0:
        raise ValueError(f"n_startup_trials={n_startup_trials!r}: must be an integer >= 0")
    if not seeds:
        raise ValueError("seeds: at least one seed is needed")
    if max_sleep_spikes is not None and not (isinstance(max_sleep_spikes, (int, float))
                                             and math.isfinite(max_sleep_spikes) and max_sleep_spikes > 0):
        raise ValueError(f"max_sleep_spikes={max_sleep_spikes!r}: must be a number > 0 (or None for no limit)")
    labels = stage_labels(cfg.n_tasks, True, cfg.sleep_every)
    if prune_after is not None and (prune_after not in labels or prune_after == labels[-1]):
        raise ValueError(f"prune_after={prune_after!r}: must be a stage of the SRC arm before the last, "
                         f"one of {labels[:-1]}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base_name = base or cfg.preset_name
    base_p = resolve_preset(base_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=_storage(out), direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=n_startup_trials),
        pruner=optuna.pruners.PercentilePruner(prune_percentile, n_startup_trials=n_startup_trials))
    settings = {"config": _config_dict(cfg), "seeds": [int(s) for s in seeds], "base_preset": base_name,
                "prune_after": prune_after, "search_space": SEARCH_SPACE, "max_sleep_spikes": max_sleep_spikes}
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", to_jsonable(settings))
    elif stored != to_jsonable(settings):
        diff = sorted(k for k in settings if to_jsonable(settings)[k] != stored.get(k))
        raise ValueError(f"{out / 'journal.log'} holds a search with other settings ({', '.join(diff)}); "
                         "use another directory")
    states = optuna.trial.TrialState
    if not study.trials:
        study.enqueue_trial(_clip(_from_params(base_p)), user_attrs={"base": base_name})
    for t in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        # left running by a killed search: ask its parameters again; its finished points are on disk
        study.tell(t.number, state=states.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, **t.user_attrs})
        log(f"[search] trial {t.number} was interrupted; its parameters are asked again")
    finished = (states.COMPLETE, states.PRUNED)
    n_done = len(study.get_trials(deepcopy=False, states=finished))
    log(f"[search] {n_done} of {n_trials} trials finished in {out / 'journal.log'}")
    common = {"arm": "src", "stage": "T1", "cand": "common"}
    cluster = None
    if scheduler is None and n_done < n_trials:
        from dask.distributed import LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        scheduler = cluster.scheduler_address
    try:
        if n_done < n_trials:
            config = {"out": str(out), "cfg": cfg, "base": base_p, "x": _from_params(base_p), "previous": {},
                      "max_sleep_spikes": max_sleep_spikes}
            run_grid([{**common, "seed": int(s)} for s in seeds], config, _search_point, scheduler=scheduler,
                     progress=False, label="search T1")
        while n_done < n_trials:
            trial = study.ask(_distributions())
            x = {k: float(trial.params[k]) for k in SEARCH_SPACE}
            cand = _candidate_key(x)
            t0 = time.perf_counter()
            value = _evaluate_trial(study, trial, x, cand, cfg, base_p, seeds, prune_after, out, scheduler, common,
                                    max_sleep_spikes)
            n_done += 1
            rejected = trial.user_attrs.get("rejected")
            what = f"{100 * value:.2f}%" if value is not None else (f"rejected ({rejected})" if rejected else "pruned")
            log(f"[search] trial {trial.number} ({n_done}/{n_trials}): {what} ({time.perf_counter() - t0:.0f} s)  "
                + ", ".join(f"{k} {v:.4g}" for k, v in x.items()))
    finally:
        if cluster is not None:
            cluster.close()
    summary = _search_summary(study, cfg, base_p, settings)
    (out / "search_summary.json").write_text(json.dumps(to_jsonable(summary), indent=1))
    return summary


def trial_preset(out: str | os.PathLike, number: int | None = None) -> dict:
    """The SRC preset of one complete trial of a search in ``out`` (default: its best trial).

    Reads the journal, so a search that is still running or was stopped can
    be used. This is how a search's winner (or any other trial) is evaluated
    on the test set: ``sleep-snn incremental --search-trial DIR[:N]``.

    Returns
    -------
    dict
        ``name`` (``"<directory name>#<trial>"``), ``number``, ``value``
        (validation score), ``params`` (:class:`~bridge.presets.SRCParams`),
        ``sleep_steps`` and ``sleep_increment`` (the search's schedule scaled
        by the trial's ``sleep_scale``), ``base`` (the search's base preset).

    Raises
    ------
    ValueError
        No journal in ``out``, no complete trial, or ``number`` is not a
        complete trial (the message lists the complete ones).
    """
    import optuna

    out = Path(out)
    if not (out / "journal.log").is_file():
        raise ValueError(f"search directory {str(out)!r} has no journal.log (run --search there first)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=_storage(out))
    except KeyError:
        raise ValueError(f"{out / 'journal.log'} holds no study named {STUDY_NAME!r}") from None
    complete = {t.number: t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}
    if not complete:
        raise ValueError(f"the search in {str(out)!r} has no complete trial yet")
    if number is None:
        number = max(complete.values(), key=lambda t: (t.value, -t.number)).number
    if number not in complete:
        raise ValueError(f"trial {number}: not a complete trial of the search in {str(out)!r}; complete trials: "
                         f"{', '.join(str(n) for n in sorted(complete))}")
    trial = complete[number]
    settings = study.user_attrs["settings"]
    x = {k: float(trial.params[k]) for k in SEARCH_SPACE}
    base = settings["base_preset"]
    steps, increment = _scaled_schedule(int(settings["config"]["sleep_steps"]),
                                        int(settings["config"]["sleep_increment"]), x["sleep_scale"])
    return {"name": f"{out.resolve().name}#{number}", "number": number, "value": float(trial.value),
            "params": params_from_trial(resolve_preset(base), x), "base": base,
            "sleep_steps": steps, "sleep_increment": increment}


def _clip(x: dict) -> dict:
    return {k: float(min(max(v, SEARCH_SPACE[k][0]), SEARCH_SPACE[k][1])) for k, v in x.items()}


def _evaluate_trial(study, trial, x, cand, cfg, base_p, seeds, prune_after, out, scheduler, common,
                    max_sleep_spikes=None) -> float | None:
    """Run one trial's points (pruning stage, then the end); tell Optuna; the value, or None if pruned."""
    import optuna

    config = {"out": str(out), "cfg": cfg, "base": base_p, "x": x, "previous": {},
              "max_sleep_spikes": max_sleep_spikes}
    stages = ([prune_after] if prune_after else []) + ["end"]
    previous = common
    for stage in stages:
        config["previous"] = {stage: previous}
        points = [{"arm": "src", "stage": stage, "cand": cand, "seed": int(s)} for s in seeds]
        run_grid(points, config, _search_point, scheduler=scheduler, progress=False, label=f"trial {trial.number}")
        rows = _load_rows(out, points)
        rejected = [r["rejected"] for r in rows if "rejected" in r]
        if rejected:
            trial.set_user_attr("rejected", rejected[0])
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            _drop_states(out, [{**p, "stage": s} for p in points for s in stages])
            return None
        trial.set_user_attr(f"per_seed_{stage}", [r["overall"][-1] for r in rows])
        if stage != "end":
            seen = int(stage[1:])
            value = float(np.mean([np.mean(r["acc"][-1][:seen]) for r in rows]))
            trial.report(value, step=seen)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                _drop_states(out, points)
                return None
            previous = {"arm": "src", "stage": stage, "cand": cand}
    value = float(np.mean([r["overall"][-1] for r in rows]))
    trial.set_user_attr("per_task", np.mean([r["acc"][-1] for r in rows], axis=0).tolist())
    study.tell(trial, value)
    if prune_after:
        _drop_states(out, [{"arm": "src", "stage": prune_after, "cand": cand, "seed": int(s)} for s in seeds])
    return value


def _drop_states(out: Path, points: Sequence[dict]) -> None:
    """Delete the saved states of finished points (their result.json stays)."""
    for p in points:
        f = out / "runs" / point_key(p) / "state.pt"
        if f.exists() and (f.parent / RESULT_JSON).exists():
            f.unlink()


def _search_summary(study, cfg: IncrementalConfig, base_p: SRCParams, settings: dict) -> dict:
    import optuna

    rows = []
    for t in study.trials:
        inter = t.intermediate_values
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     "intermediate": {str(k): v for k, v in inter.items()}, "params": t.params,
                     "user_attrs": t.user_attrs})
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    base_trial = next((t for t in complete if "base" in t.user_attrs), None)
    best = None
    if complete:
        bt = max(complete, key=lambda t: t.value)
        x = {k: float(bt.params[k]) for k in SEARCH_SPACE}
        best = {"number": bt.number, "value": bt.value, "params": x, "preset": preset_entry(cfg, base_p, x),
                "per_seed": bt.user_attrs.get("per_seed_end"), "per_task": bt.user_attrs.get("per_task")}
    base = None
    if base_trial is not None:
        base = {"number": base_trial.number, "value": base_trial.value, "params": base_trial.params,
                "per_seed": base_trial.user_attrs.get("per_seed_end"),
                "per_task": base_trial.user_attrs.get("per_task")}
    n_states = {s.name: sum(1 for t in study.trials if t.state == s) for s in optuna.trial.TrialState}
    return {"kind": "search", "study_name": STUDY_NAME, "best": best, "base": base, "trials": rows,
            "states": n_states, **settings, "protocol": cfg.protocol}
