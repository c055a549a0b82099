"""The search for the SRC preset of the robustness study, on a validation split.

Tadros et al. (Nat. Commun. 13:7742, 2022) and Delanois et al. (ICMLA 2023)
chose their SRC parameters with a genetic algorithm. Here a Tree-structured
Parzen Estimator (Optuna's ``TPESampler``; Bergstra et al., NeurIPS 2011)
searches them for the network of a :class:`~scenarios.experiments.robustness.RobustnessConfig`
(the CNN of seed 000's setting, or the MLP):

1. ``validation`` training images (a fixed permutation with seed ``seed``)
   are held out; one network (seed ``seed``) is trained on the rest with the
   study's recipe. The test set is never read.
2. Each candidate sleeps a copy of that network (:func:`bridge.src.sleep`,
   ``steps`` steps, mean image and calibration = the remaining training
   images, raster seed ``seed``) and is scored by its accuracy on the first
   ``eval_images`` validation images under every distortion and level of the
   configuration (the noise drawn with seed ``seed``), averaged over all
   points: the quantity seed 000 reports. The clean validation accuracy is
   recorded too.
3. The search box (:data:`SEARCH_SPACE`, log-uniform): ``max_rate``, ``inc``,
   ``dec``, the gate width ``g_scale`` and one threshold factor ``beta_l``
   per spiking layer, and the kernel-update rule (mean or sum,
   :func:`bridge.rule.shared_weight_change`) for a CNN. ``g_scale`` is
   searched because the authors' 0.001 belongs to their MLP's weights
   (about 0.01): the CNN's weights are ten times larger, so with 0.001 the
   gate is a step function that freezes every positive weight and lets
   only negative ones move. ``alpha_scale`` is fixed at 1: spikes depend only on
   ``alpha_l / beta_l`` (a neuron fires when ``sum(alpha_l W s) >= beta_l``)
   and the plasticity on neither, so a common factor of ``alpha_scale`` and
   the betas changes nothing. The first candidate is the authors'
   ``fashion`` preset carried over (its betas divided by its
   ``alpha_scale``; pooling layers 1).

Every finished candidate is in Optuna's journal ``study.log`` in the output
directory, so a killed search resumes where it stopped (a candidate that was
running is run again); ``search_config.json`` records the settings, and a
resumed search with other settings is refused. ``search_summary.json`` holds
every candidate, the best one and the baseline's scores. ``sleep-snn robustness
--tune BUDGET`` runs it (:mod:`scenarios.commands.robustness`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.experiments.robustness import RobustnessConfig, architecture, make_model
from scenarios.runs.results import to_jsonable

__all__ = ["SEARCH_SPACE", "TuneConfig", "tune", "params_of", "start_point", "best_candidates", "preset_entry"]

#: Search box (log-uniform) of the searched parameters; ``beta`` holds for every spiking layer.
SEARCH_SPACE = {"max_rate": (20.0, 600.0), "inc": (1e-4, 0.2), "dec": (1e-5, 0.02), "g_scale": (1e-4, 1.0),
                "beta": (0.03, 30.0)}


@dataclass(frozen=True)
class TuneConfig:
    """Settings of the preset search (all recorded in ``search_config.json``).

    Attributes
    ----------
    budget : int
        Candidates in all (>= 1), the first included.
    validation : int
        Training images held out as the validation split (>= 1).
    eval_images : int
        Validation images used for the objective (>= 1, <= ``validation``).
    steps : int
        Sleep steps of every candidate (>= 1).
    seed : int
        Seed of the split, of the network, of the sleep input and of the distortion noise.
    search_seed : int
        Seed of the TPE sampler.
    n_startup : int
        Candidates drawn at random before TPE models the scores (>= 1).
    start : tuple of dict
        Candidates tried right after the first one (e.g. the best of an
        earlier search, :func:`best_candidates`), before TPE draws its own.
    """

    budget: int = 60
    validation: int = 10000
    eval_images: int = 2000
    steps: int = 10000
    seed: int = 1000
    search_seed: int = 0
    n_startup: int = 15
    start: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", tuple(dict(x) for x in self.start))
        for name in ("budget", "validation", "eval_images", "steps", "n_startup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TuneConfig.{name}={v!r}: must be an integer >= 1")
        if self.eval_images > self.validation:
            raise ValueError(f"TuneConfig.eval_images={self.eval_images} must be <= validation={self.validation}")


def _beta_names(n_layers: int) -> list[str]:
    return [f"beta{k}" for k in range(n_layers)]


def start_point(kinds: list[str]) -> dict:
    """The first candidate: the authors' ``fashion`` preset carried over to these layers.

    Its betas divided by its ``alpha_scale`` go to the weighted layers in
    order (the last one repeated if there are more), pooling layers get 1.
    """
    from bridge.presets import preset

    p = preset("fashion")
    betas = [b / p.alpha_scale for b in p.beta]
    x: dict[str, Any] = {"max_rate": p.max_rate, "inc": p.inc, "dec": p.dec, "g_scale": p.g_scale}
    k = 0
    for i, kind in enumerate(kinds):
        if kind == "avgpool":
            x[f"beta{i}"] = 1.0
        else:
            x[f"beta{i}"] = betas[min(k, len(betas) - 1)]
            k += 1
    if "conv" in kinds:
        x["kernel_update"] = "mean"
    return x


def params_of(x: dict, n_layers: int, steps: int, image_side: int = 28):
    """The :class:`~bridge.presets.SRCParams` of a candidate ``x`` (authors' mask 11×11, decay 0.999)."""
    from bridge.presets import SRCParams

    return SRCParams(max_rate=x["max_rate"], inc=x["inc"], dec=x["dec"], g_scale=x.get("g_scale", 0.001),
                     beta=tuple(float(x[b]) for b in _beta_names(n_layers)), alpha_scale=1.0, steps=steps,
                     mask_size=11, image_side=image_side, kernel_update=x.get("kernel_update", "mean"))


def _split(n: int, validation: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if validation >= n:
        raise ValueError(f"validation={validation} must be smaller than the {n} training images")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[validation:]), np.sort(order[:validation])


def _accuracy(model, X, y, batch: int = 2500) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.as_tensor(X[i:i + batch])).argmax(1) for i in range(0, len(X), batch)])
    return float((pred.numpy() == y).mean())


def _scores(model, clean, sets, y) -> dict:
    per_kind = {k: [_accuracy(model, Xd, y) for Xd in d.values()] for k, d in sets.items()}
    points = [a for v in per_kind.values() for a in v]
    return {"score": float(np.mean(points)), "clean": _accuracy(model, clean, y),
            "per_kind": {k: float(np.mean(v)) for k, v in per_kind.items()}}


def tune(cfg: RobustnessConfig, tcfg: TuneConfig, out: str | os.PathLike, log=print) -> dict:
    """Search SRC parameters for ``cfg``'s network on a validation split (see the module docstring).

    Returns
    -------
    dict
        The content of ``search_summary.json``: ``best`` (the candidate,
        ``score``, ``clean``, ``per_kind``, ``params``), ``baseline`` (the
        network's scores without sleep), ``candidates`` (all finished ones in
        order), ``config``, ``tune``, ``architecture``, ``seconds``.
    """
    import optuna
    import torch

    from bridge.src import sleep
    from scenarios.ann.distortions import distorted_sets
    from scenarios.ann.mlp import TrainConfig, Trainer
    from spiking.data import load_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg.threads))
    settings = {"config": cfg.to_json(), "tune": dataclasses.asdict(tcfg)}
    settings["config"].pop("threads", None)
    settings = json.loads(json.dumps(to_jsonable(settings)))  # as it is read back (tuples become lists)
    cfg_path = out / "search_config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        # the budget may grow; everything else must match
        if {**old, "tune": {**old["tune"], "budget": None}} != {**settings, "tune": {**settings["tune"], "budget": None}}:
            raise ValueError(f"{out} holds a search made with other settings ({cfg_path}); use another --out")
    else:
        cfg_path.write_text(json.dumps(settings, indent=1))

    t_start = time.perf_counter()
    size = 28 if cfg.dataset == "digits" else None
    tr = load_dataset(cfg.dataset, "train", size=size, n=cfg.n_train, seed=0, data_dir=cfg.data_dir)
    i_train, i_val = _split(len(tr.labels), tcfg.validation, tcfg.seed)
    X_tr, y_tr = tr.images[i_train], tr.labels[i_train]
    X_val, y_val = tr.images[i_val][:tcfg.eval_images], tr.labels[i_val][:tcfg.eval_images]
    n_classes = int(tr.labels.max()) + 1
    image_shape = tuple(tr.images.shape[1:])

    # the network, trained once (kept on disk, so a resumed search does not train it again)
    model = make_model(cfg, image_shape, n_classes, tcfg.seed)
    weights_path = out / "network.pt"
    if weights_path.exists():
        model.load_state_dict(torch.load(weights_path))
        log(f"tune: loaded the trained network from {weights_path}")
    else:
        tc = TrainConfig(lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, loss=cfg.loss, seed=tcfg.seed)
        t0 = time.perf_counter()
        Trainer(model, tc).fit(X_tr, y_tr, n_classes)
        torch.save(model.state_dict(), out / "network.pt.tmp")
        os.replace(out / "network.pt.tmp", weights_path)
        log(f"tune: trained {architecture(cfg, image_shape, n_classes)} on {len(y_tr)} images in "
            f"{time.perf_counter() - t0:.0f} s")
    sets = {k: distorted_sets(X_val, k, cfg.levels_for(k), seed=tcfg.seed) for k in cfg.distortions}
    baseline = _scores(model, X_val, sets, y_val)
    log(f"tune: baseline validation accuracy {100 * baseline['score']:.2f} % over the distortions, "
        f"{100 * baseline['clean']:.2f} % clean ({len(y_val)} of {len(i_val)} validation images)")

    from bridge.convert import from_torch, to_torch

    # the conversion depends on the network and the data only (alpha_scale is 1): done once
    spec = from_torch(model, X_tr, alpha_scale=1.0)
    mean = X_tr.reshape(len(X_tr), -1).mean(axis=0, dtype=np.float64)
    kinds = [g.kind for g in spec.geometry()]
    n_layers = len(kinds)

    def objective(trial) -> float:
        lo, hi = SEARCH_SPACE["beta"]
        x = {k: trial.suggest_float(k, *SEARCH_SPACE[k], log=True) for k in ("max_rate", "inc", "dec", "g_scale")}
        x.update({b: trial.suggest_float(b, lo, hi, log=True) for b in _beta_names(n_layers)})
        if "conv" in kinds:
            x["kernel_update"] = trial.suggest_categorical("kernel_update", ["mean", "sum"])
        params = params_of(x, n_layers, tcfg.steps, image_side=int(image_shape[-1]))
        t0 = time.perf_counter()
        res = sleep(spec, mean, params, seed=tcfg.seed)
        slept = to_torch(res.spec_after, copy.deepcopy(model))
        sc = _scores(slept, X_val, sets, y_val)
        trial.set_user_attr("clean", sc["clean"])
        trial.set_user_attr("per_kind", sc["per_kind"])
        trial.set_user_attr("spikes_per_step", [float(v) for v in res.spikes_per_step])
        trial.set_user_attr("fraction_changed", [float(c.fraction_changed) for c in res.weight_change])
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        log(f"tune: candidate {trial.number}: {100 * sc['score']:.2f} % (clean {100 * sc['clean']:.2f} %), "
            f"spikes/step {np.array2string(res.spikes_per_step, precision=3)}, {time.perf_counter() - t0:.0f} s")
        return sc["score"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.log")))
    sampler = optuna.samplers.TPESampler(seed=tcfg.search_seed, n_startup_trials=tcfg.n_startup)
    study = optuna.create_study(study_name="src-preset", storage=storage, sampler=sampler, direction="maximize",
                                load_if_exists=True)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not study.trials:
        study.enqueue_trial(start_point(kinds))
        for x in tcfg.start:
            study.enqueue_trial(x)
    else:  # a resumed search: a new sampler seed, or it would replay the candidates it drew before
        study.sampler = optuna.samplers.TPESampler(seed=tcfg.search_seed + len(study.trials),
                                                   n_startup_trials=tcfg.n_startup)
    left = tcfg.budget - len(done)
    if left > 0:
        log(f"tune: {len(done)} candidate(s) done, {left} to go")
        study.optimize(objective, n_trials=left, catch=(FloatingPointError,))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    cands = [{"number": t.number, "x": dict(t.params), "score": t.value, **t.user_attrs} for t in done]
    best = max(cands, key=lambda c: c["score"])
    best_params = params_of(best["x"], n_layers, tcfg.steps, image_side=int(image_shape[-1]))
    summary = {
        "kind": "robustness-tune",
        "config": settings["config"], "tune": settings["tune"],
        "architecture": architecture(cfg, image_shape, n_classes), "layers": kinds,
        "n_train": int(len(y_tr)), "n_validation": int(len(i_val)), "n_eval": int(len(y_val)),
        "baseline": baseline,
        "best": {**best, "params": dataclasses.asdict(best_params)},
        "start": cands[0] if cands and cands[0]["number"] == 0 else None,
        "candidates": cands,
        "seconds": time.perf_counter() - t_start,
    }
    tmp = out / "search_summary.json.tmp"
    tmp.write_text(json.dumps(to_jsonable(summary), indent=1))
    os.replace(tmp, out / "search_summary.json")
    log(f"tune: best candidate {best['number']}: {100 * best['score']:.2f} % over the distortions "
        f"(baseline {100 * baseline['score']:.2f} %), clean {100 * best['clean']:.2f} % "
        f"(baseline {100 * baseline['clean']:.2f} %)")
    return summary


def best_candidates(summary_path: str | os.PathLike, top: int = 5) -> tuple:
    """The ``top`` best candidates (parameter dicts) of an earlier ``search_summary.json``."""
    summary = json.loads(Path(summary_path).read_text())
    ranked = sorted(summary["candidates"], key=lambda c: -c["score"])
    return tuple(dict(c["x"]) for c in ranked[:int(top)])


def preset_entry(summary: dict, command: str) -> dict:
    """The entry of the best candidate of a search for ``robustness_presets.json``.

    Holds the :class:`~bridge.presets.SRCParams` fields of the best candidate
    and ``scores``: its validation score and the baseline's (fractions), the
    search's size and the ``command`` that ran it.
    """
    best = summary["best"]
    entry = {k: v for k, v in best["params"].items()}
    entry["scores"] = {
        "validation_distorted": best["score"], "validation_clean": best["clean"],
        "baseline_validation_distorted": summary["baseline"]["score"],
        "baseline_validation_clean": summary["baseline"]["clean"],
        "candidate": best["number"], "candidates": len(summary["candidates"]),
        "n_train": summary["n_train"], "n_eval": summary["n_eval"], "architecture": summary["architecture"],
        "command": command,
    }
    return entry
