"""One E/I run under a :class:`~scenarios.experiments.protocol.Protocol`, and the
reproduction / ablation tables of the reference protocol (arXiv 2601.08447).

:func:`run_protocol` trains the network on the protocol's schedule
(:func:`~scenarios.experiments.protocol.build_schedule`), with its network and
sleep quirks applied for the run's sleep ratio, and scores the protocol's
read-out; it returns ``(meta, arrays)`` for
:func:`scenarios.runs.results.save_result`. A scan runs it once per grid
point when its configuration holds a protocol (``sleep-snn scan --protocol
reference``, quirk sets as the ``quirks`` grid axis), see
:mod:`scenarios.experiments.scan`.

:func:`ablation_table` turns the rows of such a scan into the gain of sleep
(ratio > 0 minus ratio 0, per quirk set, mean ± sd over seeds), and
:data:`PAPER` holds the paper's numbers it is compared with.
"""

from __future__ import annotations

import time

import numpy as np

from scenarios.experiments.ei import network_arrays, network_record, sleep_record
from scenarios.experiments.protocol import (QUIRK_STAGES, QUIRKS, Protocol, ProtocolSchedule, build_schedule,
                                            protocol_readout, quirk_set, readout_on_rows)

__all__ = ["PAPER", "READOUT_QUIRKS", "run_protocol", "summarise_protocol_run", "ablation_table", "ratio_curve",
           "readout_variants", "rescore_run", "readout_ablation", "protocol_markdown"]

#: The quirks that act on the read-out only: a saved run can be scored again without them.
READOUT_QUIRKS = tuple(q for q in QUIRKS if QUIRK_STAGES[q] == {"readout"})

#: The paper's 5-seed STDP-network test accuracies (%) at sleep ratios 0 / 0.1 / 0.2 / 0.3
#: (the 0.3 entry is read off its figure, "about").
PAPER = {
    "fashion": {0.0: 53.8, 0.1: 62.0, 0.2: 45.4, 0.3: 34.0},
    "mnist": {0.0: 63.0, 0.1: 66.0, 0.2: 74.2, 0.3: 71.0},
    "kmnist": {0.0: 57.3, 0.1: 66.2, 0.2: 52.7, 0.3: 44.0},
}


def summarise_protocol_run(out, ps: ProtocolSchedule, protocol: Protocol, params, sleep, readout, *,
                           seed: int, ratio: float, extra: dict | None = None) -> tuple[dict, dict]:
    """``(meta, arrays)`` of one protocol run, ready for :func:`scenarios.runs.results.save_result`.

    ``meta`` has the keys a scan's summary row reads (``accuracy``,
    ``sleep.training_ratio``, ``mean_rate_hz``, ``W_initial``/``W_final``).
    """
    from brian2 import second

    t_present = float(params.t_present / second)
    rec = ps.schedule.recorded
    row_of = {p: k for k, p in enumerate(rec)}
    rows_tr = np.array([row_of[p] for p in ps.readout_train])
    rows_te = np.array([row_of[p] for p in ps.test])
    counts = {"exc": out.counts_exc, "inh": out.counts_inh}
    rates = {part: {pop: float(c[rows].mean() / t_present) for pop, c in counts.items()}
             for part, rows in (("readout_train", rows_tr), ("test", rows_te))}
    meta = {
        "kind": "ei_protocol",
        "dataset": ps.dataset, "size": ps.size, "n_train": ps.n_train, "n_test": ps.n_test,
        "n_training_presentations": ps.n_training_presentations,
        "protocol": protocol.to_dict(), "quirks": protocol.label,
        "seed": seed, "ratio": float(ratio), "backend": out.backend,
        "accuracy": readout.accuracy,
        "readout": {"method": readout.method, "train_accuracy": readout.details.get("train_accuracy"),
                    "n_rows": readout.details.get("n_rows"), "confusion": readout.confusion,
                    "classes": readout.classes, "details": {k: v for k, v in readout.details.items()
                                                            if k not in ("train_accuracy",)}},
        "mean_rate_hz": {"readout": rates["test"], "readout_train": rates["readout_train"]},
        "sleep": sleep_record(out, train_wake_time_s=out.train_wake_time, training_ratio=out.training_sleep_ratio),
        **network_record(out, params, sleep),
    }
    if extra:
        meta.update(extra)
    arrays = {"weights_t": out.weights_t, "weights_wake_t": out.weights_wake_t,
              "counts_exc": out.counts_exc, "counts_inh": out.counts_inh, "recorded": rec,
              "labels": np.asarray(ps.labels)[rec], "readout_train_rows": rows_tr, "test_rows": rows_te,
              "sleep_counts_exc": out.sleep_counts_exc, "sleep_counts_inh": out.sleep_counts_inh,
              "readout_predictions": readout.predictions}
    arrays.update(network_arrays(out))
    return meta, arrays


def run_protocol(params, sleep, protocol: Protocol, *, dataset: str, n_train: int, n_test: int,
                 ratio: float, seed: int = 0, size: int = 15, data_dir=None, data_seed: int = 0,
                 backend: str = "cpp_standalone", directory=None, readout: str = "logreg",
                 sim=None, ps: ProtocolSchedule | None = None, extra: dict | None = None,
                 log=print) -> tuple[dict, dict]:
    """One run of ``protocol`` at sleep ratio ``ratio``.

    Parameters
    ----------
    params : spiking.params.EINetworkParams
        The project network; the protocol's network quirks are applied to it.
    sleep : spiking.sleep.SleepParams
        The project sleep controller; the protocol's sleep quirks and
        ``ratio`` are applied to it.
    protocol : Protocol
    dataset, n_train, n_test, size, data_dir, data_seed
        The images (:func:`~scenarios.experiments.protocol.build_schedule`).
    ratio : float
        Sleep ratio of the run (0 = no sleep).
    seed : int
        Network seed (also the read-out seed and, with ``mixed_split``, the split).
    backend, directory
        Brian2 backend and (standalone) build directory, used when ``sim`` is None.
    readout : str
        Read-out method of the project protocol.
    sim : spiking.network.EISimulation, optional
        A simulation built for this structure and schedule shape (a scan
        re-uses one); the schedule is passed to it at run time.
    ps : ProtocolSchedule, optional
        The schedule, if already built.
    extra : dict, optional
        More metadata.
    log : callable

    Returns
    -------
    (meta, arrays)
    """
    from pathlib import Path

    from spiking.backend import is_standalone
    from spiking.network import EISimulation

    t0 = time.perf_counter()
    run_params = protocol.network_params(params, ratio)
    run_sleep = protocol.sleep_params(sleep, ratio)
    if ps is None:
        ps = build_schedule(protocol, dataset, n_train, n_test, size=size, data_dir=data_dir,
                            data_seed=data_seed, seed=seed)
    log(f"[protocol] {protocol.label}: {ps.n_training_presentations} training presentations, ratio {ratio}, "
        f"seed {seed}")
    if sim is None:
        build = Path(directory) / "build" if directory is not None and is_standalone(backend) else None
        with EISimulation(run_params, run_sleep, ps.schedule, backend=backend, directory=build,
                          seed=seed, progress=False, raster_exc=40, raster_inh=10) as own:
            out = own.run(seed=seed)
    else:
        out = sim.run(seed=seed, sleep=run_sleep, params=run_params, schedule=ps.schedule)
    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1)
    result = protocol_readout(feats, ps, protocol, method=readout, seed=seed)
    meta, arrays = summarise_protocol_run(out, ps, protocol, run_params, run_sleep, result, seed=seed,
                                          ratio=ratio, extra=extra)
    meta["total_wall_seconds"] = time.perf_counter() - t0
    return meta, arrays


# --- tables of a protocol scan --------------------------------------------------

def _group(rows, keys):
    out = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return out


def ratio_curve(rows: list[dict], quirks: str | None = None) -> list[dict]:
    """Accuracy and achieved ratio per requested ratio (mean ± sd over seeds) of one quirk set.

    Parameters
    ----------
    rows : list of dict
        Summary rows of a protocol scan (:func:`scenarios.experiments.scan.collect_rows`).
    quirks : str, optional
        Quirk-set label (rows without a ``quirks`` axis match any).
    """
    from scenarios.runs.stats import mean_sd

    sel = [r for r in rows if r.get("arm", "sleep") == "sleep"
           and (quirks is None or r.get("quirks", quirks) == quirks)]
    out = []
    for (ratio,), rs in sorted(_group(sel, ["ratio"]).items()):
        acc_m, acc_s = mean_sd([r["accuracy"] for r in rs])
        ach_m, ach_s = mean_sd([r["achieved_ratio"] for r in rs])
        out.append({"ratio": ratio, "accuracy_mean": acc_m, "accuracy_sd": acc_s,
                    "achieved_mean": ach_m, "achieved_sd": ach_s, "n_seeds": len(rs),
                    "seeds": sorted(r["seed"] for r in rs)})
    return out


def ablation_table(rows: list[dict], ratio: float = 0.1) -> list[dict]:
    """The sleep gain of each quirk set: accuracy at ``ratio`` minus at 0, paired by seed.

    Parameters
    ----------
    rows : list of dict
        Summary rows with ``quirks``, ``ratio``, ``seed`` and ``accuracy``.
    ratio : float
        The sleeping condition compared with ratio 0.

    Returns
    -------
    list of dict
        Per quirk set: ``quirks``, ``acc0`` / ``acc_r`` (mean, sd), ``gain``
        (mean and sd of the per-seed differences), ``n`` seeds paired,
        ``achieved`` ratio, and ``significant`` (|mean gain| > sd of the gain
        and > the larger seed sd of the two conditions).
    """
    from scenarios.runs.stats import mean_sd

    out = []
    sel = [r for r in rows if r.get("arm", "sleep") == "sleep"]
    for (q,), rs in _group(sel, ["quirks"]).items():
        by = {(r["ratio"], r["seed"]): r for r in rs}
        seeds = sorted({s for (rt, s) in by if rt == 0.0} & {s for (rt, s) in by if rt == ratio})
        if not seeds:
            continue
        a0 = [by[(0.0, s)]["accuracy"] for s in seeds]
        ar = [by[(ratio, s)]["accuracy"] for s in seeds]
        d = [y - x for x, y in zip(a0, ar)]
        m0, s0 = mean_sd(a0)
        mr, sr = mean_sd(ar)
        gm, gs = mean_sd(d)
        ach, _ = mean_sd([by[(ratio, s)]["achieved_ratio"] for s in seeds])
        spread = max(s0 or 0.0, sr or 0.0)
        out.append({"quirks": q, "n_quirks": len(quirk_set(q)), "acc0": (m0, s0), "acc_r": (mr, sr),
                    "gain": (gm, gs), "n": len(seeds), "achieved": ach,
                    "significant": bool(len(seeds) > 1 and abs(gm) > max(spread, gs or 0.0))})
    order = {"none": 0, "reference": 1}
    out.sort(key=lambda t: (order.get(t["quirks"], 2 if not t["quirks"].startswith("reference-") else 3),
                            t["quirks"]))
    return out


# --- read-out quirks scored again on saved runs ---------------------------------

def readout_variants(protocol: Protocol) -> dict:
    """The read-out variants of a run made under ``protocol``: label -> Protocol.

    ``as run`` (the protocol itself), ``without NAME`` for each read-out
    quirk (:data:`READOUT_QUIRKS`) that is on, and ``project read-out`` (every
    read-out quirk off) when more than one is on. The network and its
    schedule are the same in every variant; only the read-out of the saved
    counts changes.
    """
    on = [q for q in READOUT_QUIRKS if protocol.on(q)]
    out = {"as run": protocol}
    for q in on:
        out[f"without {q}"] = protocol.with_quirks(protocol.quirks - {q})
    if len(on) > 1:
        out["project read-out"] = protocol.with_quirks(protocol.quirks - set(on))
    return out


def rescore_run(meta: dict, arrays: dict, variants: dict | None = None, method: str = "logreg") -> dict:
    """Accuracy of a saved protocol run under read-out variants (no simulation).

    Parameters
    ----------
    meta, arrays : dict
        A run saved by :func:`summarise_protocol_run` with its counts
        (``counts_exc``, ``counts_inh``; a scan keeps them for its first seed).
    variants : dict, optional
        Label -> :class:`~scenarios.experiments.protocol.Protocol`; default
        :func:`readout_variants` of the run's protocol.
    method : str
        Read-out of the variants without ``qda_readout``.

    Returns
    -------
    dict
        Label -> ``{"quirks", "accuracy", "n_rows"}``. The ``as run`` variant
        reproduces ``meta["accuracy"]``.

    Raises
    ------
    ValueError
        The run has no counts.
    """
    missing = [k for k in ("counts_exc", "counts_inh", "labels", "readout_train_rows", "test_rows")
               if k not in arrays]
    if missing:
        raise ValueError(f"run {meta.get('key', '?')} has no {', '.join(missing)} (a scan keeps the counts of "
                         "its first seed only)")
    base = dict(meta["protocol"])
    protocol = Protocol(**{**base, "quirks": frozenset(base.get("quirks", ()))})
    variants = readout_variants(protocol) if variants is None else variants
    counts = np.concatenate([arrays["counts_exc"], arrays["counts_inh"]], axis=1)
    if not protocol.on("qda_readout"):  # the run's own read-out method
        method = meta.get("readout", {}).get("method", method)
    out = {}
    for label, prot in variants.items():
        res = readout_on_rows(counts, arrays["labels"], arrays["readout_train_rows"], arrays["test_rows"], prot,
                              method=method, seed=int(meta["seed"]))
        out[label] = {"quirks": prot.label, "accuracy": float(res.accuracy), "n_rows": res.details["n_rows"]}
    return out


def readout_ablation(run_dirs, method: str = "logreg") -> list[dict]:
    """:func:`rescore_run` of every saved run that has its counts.

    Returns
    -------
    list of dict
        One row per run: ``key``, ``quirks``, ``ratio``, ``seed``, ``achieved``
        (training sleep ratio) and ``variants`` (label -> accuracy).
    """
    from scenarios.runs.results import load_arrays, load_result

    rows = []
    for d in run_dirs:
        meta = load_result(d)
        if meta.get("kind") != "ei_protocol":
            continue
        arrays = load_arrays(d)
        if "counts_exc" not in arrays:
            continue
        scores = rescore_run(meta, arrays, method=method)
        rows.append({"key": meta.get("key", str(d)), "quirks": meta["quirks"], "ratio": meta["ratio"],
                     "seed": meta["seed"], "achieved": meta["sleep"].get("training_ratio"),
                     "variants": {k: v["accuracy"] for k, v in scores.items()}})
    rows.sort(key=lambda r: (r["quirks"], r["ratio"], r["seed"]))
    return rows


def _pct(m, s=None) -> str:
    text = f"{100 * m:.1f}"
    return text + (f" ± {100 * s:.1f}" if s is not None and s == s else "")


def protocol_markdown(rows: list[dict], dataset: str, ratio: float = 0.1, quirks: str = "reference") -> list[str]:
    """Markdown lines of a protocol scan: the ratio curve of each quirk set beside the paper's,
    and (with more than one quirk set) the ablation table of :func:`ablation_table`.

    Parameters
    ----------
    rows : list of dict
        Summary rows of the scan.
    dataset : str
        Selects the paper's curve (:data:`PAPER`), if it has one.
    ratio : float
        The sleeping condition of the gain table.
    quirks : str
        Quirk-set label of rows without a ``quirks`` axis (the scan's protocol).
    """
    paper = PAPER.get(dataset, {})
    rows = [{**r, "quirks": r.get("quirks") or quirks} for r in rows]
    sets = sorted({r.get("quirks") for r in rows if r.get("arm", "sleep") == "sleep"}, key=lambda q: str(q))
    lines = ["## Accuracy against the sleep ratio", "",
             "| quirks | requested ratio | achieved ratio (training) | accuracy % (mean ± sd) | seeds | paper % |",
             "|---|---|---|---|---|---|"]
    for q in sets:
        for c in ratio_curve(rows, q):
            p = paper.get(float(c["ratio"]))
            lines.append(f"| {q} | {c['ratio']:g} | {c['achieved_mean']:.3f} | "
                         f"{_pct(c['accuracy_mean'], c['accuracy_sd'])} | {c['n_seeds']} | "
                         f"{'' if p is None else f'{p:.1f}'} |")
    ratios = sorted({float(r["ratio"]) for r in rows if r.get("arm", "sleep") == "sleep" and r["ratio"] > 0})
    ratios = [ratio] + [r for r in ratios if r != ratio] if ratio in ratios else ratios
    tables = [(r, t) for r in ratios for t in ablation_table(rows, r)]
    if tables:
        lines += ["", "## Sleep gain per quirk set (accuracy at the ratio minus at ratio 0, paired by seed)", "",
                  "| quirks | ratio | accuracy at 0 % | accuracy at ratio | gain (pp) | seeds | achieved ratio | "
                  "beyond seed spread |", "|---|---|---|---|---|---|---|---|"]
        for r, t in tables:
            lines.append(f"| {t['quirks']} | {r:g} | {_pct(*t['acc0'])} | {_pct(*t['acc_r'])} | {_pct(*t['gain'])} | "
                         f"{t['n']} | {t['achieved']:.3f} | {'yes' if t['significant'] else 'no'} |")
    return lines
