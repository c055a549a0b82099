"""The quickstart: a few-minute tour of the toolkit on real data.

1. :func:`ei_demo`: the Brian2 E/I network learns scikit-learn's handwritten
   digits (real 8x8 scans, resized to 15x15) with STDP, once without sleep and
   once with the sleep controller (same compiled binary, re-run with a sleep
   budget), and is read out with logistic regression next to the raw-pixel
   baseline.
2. :func:`src_demo`: Sleep Replay Consolidation on the patches toy task
   (Tadros et al. 2022): a two-task MLP forgets task 1, sleep brings it back.

Both save their results; the ``sleep-snn quickstart`` command
(:mod:`scenarios.commands.quickstart`) then draws their figures.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ei_demo", "SRC_DEMO", "HIST_OVERLAP", "src_demo", "src_verdicts"]


def ei_demo(out: Path, dataset: str, backend: str, n_train: int, n_test: int, seed: int,
            sleep_ratio: float, data_dir=None, log=print) -> list[dict]:
    """Train and read out the E/I network without and with sleep; save both runs.

    Parameters
    ----------
    out : Path
        Output directory: the runs go to ``out/ei_no_sleep`` and ``out/ei_sleep``
        (result.json + arrays.npz); a standalone network is compiled into the
        shared build cache (:mod:`spiking.buildcache`).
    dataset : str
        Data set of :func:`scenarios.experiments.ei.load_schedule`.
    backend : str
        Brian2 backend.
    n_train, n_test : int
        Training and test images.
    seed : int
        Network, noise and read-out seed (the same in both runs).
    sleep_ratio : float
        Sleep budget of the second run.
    data_dir : path-like, optional
        Directory of the IDX files.
    log : callable
        Receives the progress and the table of results.

    Returns
    -------
    list of dict
        One row per run: ``run``, ``accuracy``, ``sleep_ratio`` (achieved),
        ``episodes``, ``W_exc_exc_growth``, ``dir``.
    """
    from brian2 import ms

    from scenarios.experiments.ei import load_schedule, pixel_baseline, readout_from_output, summarise_run
    from spiking.network import EISimulation
    from spiking.params import EINetworkParams
    from scenarios.runs.results import save_result
    from spiking.sleep import SleepParams

    params = EINetworkParams(t_present=100 * ms, t_rest=50 * ms)
    schedule = load_schedule(dataset, n_train, n_test, data_dir=data_dir)
    pixels = pixel_baseline(schedule)
    rows = []
    log(f"[quickstart] E/I network on {dataset}: {n_train} training / {n_test} test images "
        f"({backend}; the first run compiles the network)")
    with EISimulation(params, SleepParams(sleep_ratio=0.0), schedule.images, schedule.n_train,
                      backend=backend, seed=seed) as sim:
        for label, ratio in (("no sleep", 0.0), ("sleep", sleep_ratio)):
            sleep = SleepParams(sleep_ratio=ratio)
            res = sim.run(seed=seed, sleep=sleep)
            readout = readout_from_output(res, schedule, seed=seed)
            run_dir = out / ("ei_sleep" if ratio else "ei_no_sleep")
            meta, arrays = summarise_run(res, schedule, params, sleep, readout, seed=seed,
                                         extra={"pixel_baseline_accuracy": pixels.accuracy,
                                                "command": "sleep-snn quickstart"})
            save_result(run_dir, meta, arrays)
            rows.append({"run": label, "accuracy": readout.accuracy,
                         "sleep_ratio": res.sleep_ratio, "episodes": len(res.episodes),
                         "W_exc_exc_growth": float(res.weights["exc_exc"][-1] / res.weights["exc_exc"][0]),
                         "dir": str(run_dir)})
    log(f"\n{'run':<10} {'accuracy':>9} {'slept':>7} {'episodes':>9} {'E->E weight':>12}")
    for r in rows:
        log(f"{r['run']:<10} {r['accuracy']:>9.3f} {r['sleep_ratio']:>7.1%} {r['episodes']:>9d} "
            f"{r['W_exc_exc_growth']:>11.2f}x")
    log(f"{'pixels':<10} {pixels.accuracy:>9.3f}   (logistic regression on the raw 15x15 pixels)")
    return rows


#: The patches run of the quickstart: the authors' 16-pixel layout with 4 + 4 epochs (at
#: overlap 12 sequential training forgets task 1 completely and SRC restores it, see
#: docs/results/patches.md), at the sizes of ``sleep-snn patches --quick`` (overlaps 4, 12, 20;
#: one trial; 3000 sleep steps). ``HIST_OVERLAP`` is the overlap of its weight histograms.
SRC_DEMO = {"overlaps": (4, 12, 20), "trials": 1, "n_on": "authors", "epochs2": 4, "steps": 3000}
HIST_OVERLAP = 12


def src_demo(out: Path, backend: str, log=print) -> Path:
    """Sleep Replay Consolidation on the patches task; saves the result in ``out/patches``.

    Parameters
    ----------
    out : Path
        Output directory.
    backend : str
        SRC simulator: ``torch`` or ``brian2``.
    log : callable
        Receives the progress and the table of the result.

    Returns
    -------
    Path
        The result directory ``out/patches``.
    """
    from scenarios.experiments import patches

    log("\n[quickstart] Sleep Replay Consolidation on the patches task")
    cfg = patches.PatchesConfig(**SRC_DEMO, backend=backend)
    result = patches.run(cfg, log=log)
    directory = out / "patches"
    patches.save(result, directory)
    log(patches.table_markdown(result))
    return directory


def src_verdicts(directory: Path) -> list[str]:
    """One line per overlap of a saved patches result: was task 1 forgotten, did sleep restore it?"""
    runs = json.loads((Path(directory) / "result.json").read_text())["runs"]
    lines = []
    for r in runs:
        t2, src = r["acc"]["T2"]["task1"], r["acc"]["SRC"]["task1"]
        verdict = ("no forgetting" if t2 >= 0.99 else
                   "forgotten, restored by sleep" if src >= 0.99 else
                   "forgotten, restored in part by sleep" if src > t2 else "forgotten, not restored")
        lines.append(f"overlap {r['overlap']:>2}: task 1 after task 2 {t2:.0%}, after SRC {src:.0%}: {verdict}")
    return lines
