"""The E/I experiment: train the Brian2 E/I network with STDP (and optionally
sleep), then read it out.

One simulation shows the training images with plasticity on (the sleep
controller may put the network to sleep between them), then, with plasticity
and sleep off, the read-out images: the training images again and the test
images. Spike counts per image (all E and I neurons) are the features of a
scikit-learn read-out fitted on the training images and scored on the test
images. Follows the protocol of arXiv 2601.08447 with its evaluation quirks
removed (official splits, frozen weights while recording features, the whole
test subset scored).

:func:`run_ei` runs one such simulation and returns ``(meta, arrays)`` for
:func:`scenarios.runs.results.save_result` (``DIR/result.json`` and
``DIR/arrays.npz``); the ``sleep-snn ei`` command (:mod:`scenarios.commands.ei`)
saves them and draws the figures of :mod:`scenarios.figures.ei`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

__all__ = ["Schedule", "load_schedule", "sleep_record", "network_record", "network_arrays", "SIMULATION_NPZ", "simulation_arrays", "readout_from_output", "pixel_baseline", "training_sleep_ratio",
           "summarise_run", "run_ei"]


@dataclasses.dataclass
class Schedule:
    """Images of one simulation: training block, then read-out train and test images."""

    images: np.ndarray          # (n, n_pixels) intensities in [0, 1]
    labels: np.ndarray          # (n,)
    n_train: int                # training block
    n_readout_train: int        # read-out training images (after the training block)
    n_test: int
    dataset: str
    size: int
    files: tuple = ()           # the data files read (path, bytes, sha256), see spiking.data.file_record

    @property
    def readout_train(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_readout_train)

    @property
    def readout_test(self) -> slice:
        return slice(self.n_train + self.n_readout_train, None)

    @property
    def image_schedule(self):
        """The :class:`spiking.network.ImageSchedule` of these images (training block, then probes)."""
        from spiking.network import ImageSchedule

        return ImageSchedule.blocks(self.images, self.n_train)


def load_schedule(dataset: str, n_train: int, n_test: int, *, size: int = 15,
                  data_dir=None, data_seed: int = 0, n_readout_train: int | None = None) -> Schedule:
    """Load and arrange the images of one E/I simulation."""
    from spiking.data import load_dataset

    if n_train < 1:
        raise ValueError(f"n_train={n_train} must be >= 1")
    if n_test < 1:
        raise ValueError(f"n_test={n_test} must be >= 1")
    train = load_dataset(dataset, "train", size=size, n=n_train, seed=data_seed, data_dir=data_dir)
    test = load_dataset(dataset, "test", size=size, n=n_test, seed=data_seed, data_dir=data_dir)
    n_ro = n_train if n_readout_train is None else int(n_readout_train)
    if not 1 <= n_ro <= n_train:
        raise ValueError(f"n_readout_train={n_readout_train} must lie in [1, n_train={n_train}]")
    images = np.concatenate([train.flat(), train.flat()[:n_ro], test.flat()]).astype(float)
    labels = np.concatenate([train.labels, train.labels[:n_ro], test.labels])
    files = tuple({f["path"]: f for f in train.files + test.files}.values())
    return Schedule(images=images, labels=labels, n_train=n_train, n_readout_train=n_ro,
                    n_test=n_test, dataset=dataset, size=size, files=files)


#: File name of the arrays :func:`run_ei` saves before its read-out.
SIMULATION_NPZ = "simulation.npz"


def simulation_arrays(out, schedule: Schedule) -> dict:
    """The arrays of a finished simulation that no read-out has touched (counts, labels, weights)."""
    arrays = {"counts_exc": out.counts_exc, "counts_inh": out.counts_inh, "labels": schedule.labels,
              "sleep_counts_exc": out.sleep_counts_exc, "sleep_counts_inh": out.sleep_counts_inh,
              "weights_t": out.weights_t}
    for k, v in out.final_weights.items():
        arrays[f"w_{k}"] = v
    return arrays


def readout_from_output(out, schedule: Schedule, method: str = "logreg", seed: int = 0):
    """Fit the read-out on a run's per-image spike counts."""
    from spiking.readout import fit_readout

    feats = np.concatenate([out.counts_exc, out.counts_inh], axis=1).astype(float)
    return fit_readout(feats[schedule.readout_train], schedule.labels[schedule.readout_train],
                       feats[schedule.readout_test], schedule.labels[schedule.readout_test],
                       method=method, seed=seed)


def pixel_baseline(schedule: Schedule, method: str = "logreg", seed: int = 0):
    """The same read-out on the raw pixels of the same images."""
    from spiking.readout import fit_readout

    x = schedule.images
    return fit_readout(x[schedule.readout_train], schedule.labels[schedule.readout_train],
                       x[schedule.readout_test], schedule.labels[schedule.readout_test],
                       method=method, seed=seed)


def training_sleep_ratio(sleep_time: float, n_train: int, t_present: float, t_rest: float) -> float:
    """Sleep / (sleep + wake) over the training block, where sleep can happen.

    Parameters
    ----------
    sleep_time : float
        Total sleep time of the run (s).
    n_train : int
        Training images (each shown for ``t_present`` then ``t_rest``).
    t_present, t_rest : float
        Presentation and rest time per image (s).

    Returns
    -------
    float
        The achieved sleep ratio of training, in [0, 1).
    """
    total = sleep_time + n_train * (t_present + t_rest)
    return sleep_time / total if total > 0 else 0.0


def sleep_record(out, **more) -> dict:
    """The sleep part of an E/I result: episodes, sleep and wake time, achieved ratio, replay spikes."""
    return {"episodes": out.episodes, "n_episodes": len(out.episodes),
            "sleep_time_s": out.sleep_time, "wake_time_s": out.wake_time,
            "achieved_ratio": out.sleep_ratio, **more,
            "replay_spikes_exc": int(out.sleep_counts_exc.sum()),
            "replay_spikes_inh": int(out.sleep_counts_inh.sum())}


def network_record(out, params, sleep) -> dict:
    """The network part of an E/I result: total weights, parameters, wall times, versions."""
    from spiking.params import as_plain_dict
    from scenarios.runs.results import package_versions

    W = out.weights
    return {"W0": out.W0,
            "W_initial": {p: float(v[0]) if len(v) else None for p, v in W.items()},
            "W_final": {p: float(v[-1]) if len(v) else None for p, v in W.items()},
            "params": as_plain_dict(params), "sleep_params": as_plain_dict(sleep),
            "wall_seconds": {"compile": out.compile_seconds, "run": out.run_seconds},
            "sim_time_s": out.sim_time, "realtime_factor": out.realtime_factor,
            "versions": package_versions()}


def network_arrays(out) -> dict:
    """The arrays of an E/I run's weights and raster: ``W_<pathway>`` (total weight over time),
    ``w_<pathway>`` (final weights), ``raster_<population>``."""
    arrays = {f"W_{p}": v for p, v in out.weights.items()}
    arrays.update({f"w_{k}": v for k, v in out.final_weights.items()})
    arrays.update({f"raster_{k}": v for k, v in out.raster.items()})
    return arrays


def summarise_run(out, schedule: Schedule, params, sleep, readout, *, seed: int,
                  extra: dict | None = None) -> tuple[dict, dict]:
    """``(meta, arrays)`` of one E/I run, ready for :func:`scenarios.runs.results.save_result`."""
    from brian2 import second

    t_present = float(params.t_present / second)
    meta = {
        "kind": "ei",
        "dataset": schedule.dataset, "size": schedule.size,
        "n_train": schedule.n_train, "n_readout_train": schedule.n_readout_train,
        "n_test": schedule.n_test,
        "seed": seed, "backend": out.backend,
        "data_files": list(schedule.files), "build": out.build,
        "accuracy": readout.accuracy,
        "readout": {"method": readout.method, "train_accuracy": readout.details.get("train_accuracy"),
                    "confusion": readout.confusion, "classes": readout.classes},
        "mean_rate_hz": {"train": out.mean_rates(t_present, "train"),
                         "readout": out.mean_rates(t_present, "probe")},
        "sleep": sleep_record(out, training_ratio=training_sleep_ratio(
            out.sleep_time, schedule.n_train, t_present, float(params.t_rest / second))),
        **network_record(out, params, sleep),
    }
    if extra:
        meta.update(extra)
    arrays = {"weights_t": out.weights_t, "counts_exc": out.counts_exc, "counts_inh": out.counts_inh,
              "labels": schedule.labels, "sleep_counts_exc": out.sleep_counts_exc,
              "sleep_counts_inh": out.sleep_counts_inh,
              "readout_predictions": readout.predictions}
    arrays.update(network_arrays(out))
    return meta, arrays


def run_ei(params, sleep, schedule: Schedule, *, backend: str = "cpp_standalone", directory=None,
           seed: int = 0, readout: str = "logreg", extra: dict | None = None,
           log=print, compile_mode: str | None = None, save_simulation=None) -> tuple[dict, dict]:
    """One E/I run: train (with sleep as ``sleep`` allows), read out, summarise.

    Parameters
    ----------
    params : spiking.params.EINetworkParams
        The network.
    sleep : spiking.sleep.SleepParams
        The sleep controller.
    schedule : Schedule
        The images (see :func:`load_schedule`).
    backend : str
        Brian2 device or code generation target (``cpp_standalone``, ``numpy``, ...).
    directory : path-like, optional
        Build directory of a standalone backend, kept; by default the network
        is compiled once into the shared build cache (:mod:`spiking.buildcache`).
    seed : int
        Network and noise seed, also the seed of the read-out.
    readout : str
        ``logreg`` | ``pca_qda`` | ``diehl_cook``.
    extra : dict, optional
        More metadata (e.g. ``command``), stored after ``pixel_baseline_accuracy``.
    log : callable
        Receives the progress line.
    compile_mode : str, optional
        Compiler flags of a standalone build (:func:`spiking.backend.resolve_compile_mode`).
    save_simulation : path-like, optional
        A directory: the simulation's arrays (spike counts, labels, weights)
        are written there as ``simulation.npz`` as soon as the simulation
        ends, before the read-out, so that a failing read-out loses no
        simulation (:func:`simulation_arrays`).

    Returns
    -------
    meta : dict
        Metadata of :func:`summarise_run` plus ``pixel_baseline_accuracy``
        (the same read-out on the raw pixels) and ``total_wall_seconds``.
    arrays : dict
        The arrays of :func:`summarise_run`.
    """
    from spiking.backend import is_standalone
    from spiking.network import EISimulation

    t0 = time.perf_counter()
    log(f"[ei] {schedule.dataset}: {schedule.n_train} training images, {schedule.n_readout_train} + "
        f"{schedule.n_test} read-out images; backend {backend}; sleep {sleep.mode}, "
        f"ratio {sleep.sleep_ratio}")
    build = Path(directory) if directory is not None and is_standalone(backend) else None
    with EISimulation(params, sleep, schedule.images, schedule.n_train, backend=backend,
                      directory=build, seed=seed, compile_mode=compile_mode) as sim:
        out = sim.run(seed=seed)
    saved = None
    if save_simulation is not None:
        from scenarios.runs.results import write_npz

        saved = write_npz(Path(save_simulation) / SIMULATION_NPZ, simulation_arrays(out, schedule))
    try:
        result = readout_from_output(out, schedule, readout, seed=seed)
    except Exception as exc:
        if saved is not None:  # the simulation is kept; say where
            exc.add_note(f"the simulation's spike counts and weights are saved in {saved}")
        raise
    pixels = pixel_baseline(schedule, readout, seed=seed)
    meta, arrays = summarise_run(out, schedule, params, sleep, result, seed=seed,
                                 extra={"pixel_baseline_accuracy": pixels.accuracy, **(extra or {}),
                                        "total_wall_seconds": time.perf_counter() - t0})
    return meta, arrays
