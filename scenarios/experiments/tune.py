"""The search for a tuned SRC preset of the class-incremental protocol.

An evolutionary search in the spirit of the genetic algorithm with which
Tadros et al. (Nat. Commun. 13:7742, 2022) chose their SRC parameters: the
objective is the final accuracy over all tasks of the SRC arm of
:mod:`scenarios.experiments.incremental` on a *validation split* of the
training data (the test set is never used). Every evaluation is appended to
``search.jsonl`` in the output directory, so a killed search resumes; the
result is summarised in ``search_summary.json``. ``sleep-snn incremental
--tune BUDGET`` runs it (:mod:`scenarios.commands.incremental`); the landscape
figure is :func:`scenarios.figures.tune.plot_search`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bridge.presets import SRCParams
from scenarios.experiments.incremental import IncrementalConfig, load_task_data, resolve_preset, run_arm
from scenarios.runs.results import to_jsonable as _jsonable

__all__ = ["SEARCH_SPACE", "tune"]


#: Search box (log-uniform) of the tuned parameters. ``alpha_scale`` is not
#: searched: dividing ``alpha_scale`` and every ``beta_l`` by the same factor
#: leaves the dynamics unchanged (spike iff sum of alpha_l·W·s >= beta_l), so
#: it is kept at the base preset's value and only the betas move.
SEARCH_SPACE = {
    "max_rate": (20.0, 1000.0),
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


def _to_params(base: SRCParams, x: dict) -> SRCParams:
    extra = {}
    if "leak_steps" in x:
        extra["decay"] = 1.0 - 1.0 / x["leak_steps"]
    return dataclasses.replace(base, max_rate=x["max_rate"], inc=x["inc"], dec=x["dec"],
                               beta=(x["beta0"], x["beta1"], x["beta2"]), **extra)


def _scaled_config(cfg: IncrementalConfig, x: dict) -> IncrementalConfig:
    """``cfg`` with its sleep schedule multiplied by ``x["sleep_scale"]`` (if present)."""
    f = x.get("sleep_scale", 1.0)
    if f == 1.0:
        return cfg
    return dataclasses.replace(cfg, sleep_steps=max(1, int(round(cfg.sleep_steps * f))),
                               sleep_increment=int(round(cfg.sleep_increment * f)))


def _from_params(p: SRCParams, extended: bool = True) -> dict:
    b = p.beta_for(3)
    x = {"max_rate": p.max_rate, "inc": p.inc, "dec": p.dec, "beta0": b[0], "beta1": b[1], "beta2": b[2]}
    if extended:
        x.update(leak_steps=1.0 / (1.0 - p.decay), sleep_scale=1.0)
    return x


def _clip(x: dict) -> dict:
    return {k: float(min(max(v, SEARCH_SPACE[k][0]), SEARCH_SPACE[k][1])) for k, v in x.items()}


def _key(x: dict) -> tuple:
    return tuple((k, float(f"{x[k]:.6g}")) for k in sorted(x))


#: Per-process state of the search evaluations (:func:`_tune_init`).
_TUNE: dict = {}


def _tune_init(cfg: IncrementalConfig, base: SRCParams, threads: int) -> None:
    """Load the data of a search once per process (also a pool initializer)."""
    torch.set_num_threads(threads)
    _TUNE.clear()
    _TUNE.update(cfg=cfg, base=base, data=load_task_data(cfg), caches={})


def _tune_evaluate(job: tuple) -> dict:
    """Score one candidate ``x`` on one trial seed: the search's unit of work."""
    x, seed, tag = job
    cfg, caches = _TUNE["cfg"], _TUNE["caches"]
    t0 = time.perf_counter()
    r = run_arm("src", _scaled_config(cfg, x), _TUNE["data"], seed, _to_params(_TUNE["base"], x),
                correlations=False, start_state=caches.setdefault(seed, {}), stage_eval=False)
    return {"tag": tag, "seed": int(seed), "x": x, "score": r["overall"][-1],
            "per_task": r["acc"][-1], "seconds": time.perf_counter() - t0,
            "spikes_per_step": [sl["spikes_per_step"] for sl in r["sleeps"]]}


def tune(cfg: IncrementalConfig, budget: int, out: str | os.PathLike, base: str = "fashion",
         n_random: int | None = None, seeds: Sequence[int] = (1000,), confirm_seeds: Sequence[int] = (1001, 1002),
         n_confirm: int = 3, search_seed: int = 0, radius: float = 4.0, workers: int = 1,
         log=print) -> dict:
    """Evolutionary search for SRC parameters on a validation split.

    Objective: final validation accuracy (all tasks) of the SRC arm of ``cfg``
    (``cfg.validation`` must be > 0: that many training images per task are
    held out; the test set is never used), averaged over ``seeds``.

    Procedure: candidate 0 is the ``base`` preset; then ``n_random``
    (default ``budget // 3``) candidates drawn log-uniformly within a factor
    ``radius`` of the base values (clipped to :data:`SEARCH_SPACE`); then a
    steady-state (mu + 1) evolution
    strategy: the 4 best so far are parents, each child is a parent with
    log-normal noise (sigma 0.5 shrinking to 0.15 over the run) on every
    parameter, clipped to the box. After ``budget`` evaluations the
    ``n_confirm`` best are re-evaluated on ``confirm_seeds`` and the best mean
    over all its seeds wins. Every evaluation is appended to
    ``out/search.jsonl`` (a killed search resumes from it). With
    ``workers > 1`` the seeds of a candidate are evaluated in that many
    processes at once (one torch thread each, ``SLEEP_SNN_THREADS`` to
    change); the scores are the same as with one worker.

    Returns
    -------
    dict
        ``best`` (SRCParams fields), ``best_score``, ``evaluations``.
    """
    if cfg.validation <= 0:
        raise ValueError("tune needs cfg.validation > 0 (a hold-out of the training data)")
    if not (isinstance(workers, int) and workers >= 1):
        raise ValueError(f"workers={workers!r}: must be an integer >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "search.jsonl"
    threads = max(1, int(os.environ.get("SLEEP_SNN_THREADS", "1")))
    base_p = resolve_preset(base)
    n_random = budget // 3 if n_random is None else n_random
    done: list[dict] = []
    if log_file.is_file():
        done = [json.loads(l) for l in log_file.read_text().splitlines() if l.strip()]
        log(f"resuming: {len(done)} evaluations in {log_file}")
    stack = contextlib.ExitStack()
    if workers > 1:
        # the seeds of one candidate run side by side; spawn (not fork) keeps
        # torch's thread pools out of the children
        import concurrent.futures
        import multiprocessing

        pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_tune_init, initargs=(cfg, base_p, threads)))
        run = pool.map
    else:
        _tune_init(cfg, base_p, threads)
        run = map

    def evaluate(x: dict, eval_seeds: Sequence[int], tag: str) -> float:
        scores: dict[int, float] = {}
        for s in eval_seeds:
            hit = next((d for d in done if _key(d["x"]) == _key(x) and d["seed"] == s), None)
            if hit is not None:
                scores[s] = hit["score"]
        pending = [s for s in eval_seeds if s not in scores]
        for rec in run(_tune_evaluate, [(x, s, tag) for s in pending]):
            done.append(rec)
            with log_file.open("a") as f:
                f.write(json.dumps(_jsonable(rec)) + "\n")
            log(f"  [{tag}] seed {rec['seed']}: {rec['score']:.4f} per task "
                f"{np.round(rec['per_task'], 3).tolist()} ({rec['seconds']:.0f} s)  "
                f"x={ {k: round(v, 5) for k, v in x.items()} }")
            scores[rec["seed"]] = rec["score"]
        return float(np.mean([scores[s] for s in eval_seeds]))

    with stack:
        # candidates are generated deterministically from search_seed, so a resumed
        # search regenerates the same ones and finds them in the log by tag
        rng = np.random.default_rng(search_seed)
        population: list[tuple[float, str, dict]] = []
        x0 = _clip(_from_params(base_p))
        population.append((evaluate(x0, seeds, "c0000"), "c0000", x0))
        for i in range(1, budget):
            tag = f"c{i:04d}"
            if i <= n_random:
                x = _clip({k: float(x0[k] * np.exp(rng.uniform(-np.log(radius), np.log(radius))))
                           for k in SEARCH_SPACE})
            else:
                frac = (i - n_random) / max(1, budget - n_random)
                sigma = 0.5 - 0.35 * frac
                parents = sorted(population, key=lambda t: -t[0])[:4]
                px = parents[int(rng.integers(len(parents)))][2]
                x = _clip({k: float(v * np.exp(sigma * rng.standard_normal())) for k, v in px.items()})
            population.append((evaluate(x, seeds, tag), tag, x))
        ranked = sorted(population, key=lambda t: -t[0])[:n_confirm]
        confirmed = []
        for score, tag, x in ranked:
            full = evaluate(x, tuple(seeds) + tuple(confirm_seeds), tag)
            confirmed.append((full, tag, x))
            log(f"confirm {tag}: search {score:.4f}, over {len(seeds) + len(confirm_seeds)} seeds {full:.4f}")
    best_score, best_tag, best_x = max(confirmed, key=lambda t: t[0])
    best = _to_params(base_p, best_x)
    summary = {
        "best": {**dataclasses.asdict(best), "beta": list(best.beta)},
        "best_sleep_schedule": {"sleep_steps": _scaled_config(cfg, best_x).sleep_steps,
                                "sleep_increment": _scaled_config(cfg, best_x).sleep_increment},
        "best_tag": best_tag, "best_score": best_score,
        "base": base, "base_score": population[0][0],
        "budget": budget, "n_random": n_random, "seeds": list(seeds), "confirm_seeds": list(confirm_seeds),
        "search_seed": search_seed, "search_space": SEARCH_SPACE, "radius": radius, "workers": workers,
        "confirmed": [{"tag": t, "score": s, "x": x} for s, t, x in confirmed],
        "config": {**dataclasses.asdict(cfg), "hidden": list(cfg.hidden), "arms": list(cfg.arms)},
        "n_evaluations": len(done),
    }
    (out / "search_summary.json").write_text(json.dumps(_jsonable(summary), indent=1))
    return summary


