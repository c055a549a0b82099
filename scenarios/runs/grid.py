"""The grid runner: every point of a parameter grid, once, on Dask, resumable.

A *grid* is a list of points (dicts of parameter values, with at least a
``seed``). A *point function* ``func(point, config)`` runs one point and saves
its result atomically to ``<config["out"]>/runs/<point_key(point)>/result.json``
(:func:`scenarios.runs.results.save_result` writes that file last, so it marks
a finished run). :func:`run_grid` submits every point whose ``result.json`` does
not exist yet to a Dask cluster (a :class:`~dask.distributed.LocalCluster` of
one-thread worker processes, or an existing scheduler given by its address, for
example one started by dask-jobqueue on SLURM/PBS), so a grid that was killed
at any moment is resumed by running it again: finished points are skipped,
unfinished ones are run, and each point ends with exactly one result.

Point functions that compile a Brian2 standalone program share the build
between workers with :func:`build_lock` and :func:`seed_build_dir`: the first
worker compiles, the others wait on the lock and start from a copy of its
build directory, in which ``make`` finds every object up to date.

Used by ``sleep-snn scan`` (:mod:`scenarios.experiments.scan`), ``sleep-snn
sgsnn`` (:mod:`scenarios.experiments.sgsnn`) and the validation-split
selections of ``sleep-snn incremental`` (:mod:`scenarios.experiments.selection`:
the baselines' coefficients, the Optuna search for SRC presets).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
from pathlib import Path
from typing import Callable

__all__ = ["COMPILED_MARK", "point_key", "grid_points", "run_grid", "build_lock", "seed_build_dir"]


def point_key(point: dict) -> str:
    """Directory name of a grid point, e.g. ``ratio=0.1__seed=3__sigma=2``.

    ``arm`` (unless ``"sleep"``), ``ratio`` (if the grid has one) and
    ``seed`` come first, then the other fields in name order.
    """
    parts = [f"{k}={point[k]:g}" if isinstance(point[k], float) else f"{k}={point[k]}"
             for k in sorted(point) if k not in ("ratio", "seed", "arm")]
    head = [f"{point['arm']}"] if point.get("arm", "sleep") != "sleep" else []
    if "ratio" in point:
        head.append(f"ratio={point['ratio']:g}")
    head.append(f"seed={point['seed']}")
    return "__".join(head + parts)


def grid_points(ratios, seeds, extra: dict, frozen_baseline: bool = True) -> list[dict]:
    """All grid points (plus one plasticity-off baseline run per seed)."""
    names = sorted(extra)
    points = []
    for combo in itertools.product(*(extra[n] for n in names)):
        for ratio in ratios:
            for seed in seeds:
                p = {"arm": "sleep", "ratio": float(ratio), "seed": int(seed)}
                p.update(dict(zip(names, combo)))
                points.append(p)
    if frozen_baseline:
        for seed in seeds:
            points.append({"arm": "frozen", "ratio": 0.0, "seed": int(seed)})
    return points


#: File that marks a build directory whose binary finished compiling.
COMPILED_MARK = ".compiled"


@contextlib.contextmanager
def build_lock(path: Path):
    """Exclusive lock on ``path`` (``flock``), held while one worker compiles.

    Workers of one machine, or of several that share ``DIR`` over a file
    system with working ``flock``, then compile each network structure once.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def seed_build_dir(root: Path, key: str, build: Path) -> Path | None:
    """Start a new build directory from a finished one of the same structure.

    Copies (keeping modification times) the first ``root/<key>-*`` directory
    that holds :data:`COMPILED_MARK` to ``build``, without its ``results``;
    Brian2 then rewrites only source files whose content changed and ``make``
    recompiles only those. Does nothing if ``build`` exists or no finished
    build is found.

    Returns
    -------
    Path or None
        The directory copied, or None.
    """
    if build.exists():
        return None
    for candidate in sorted(root.glob(f"{key}-*")):
        if candidate != build and candidate.is_dir() and (candidate / COMPILED_MARK).exists():
            shutil.copytree(candidate, build, symlinks=True,
                            ignore=shutil.ignore_patterns("results", COMPILED_MARK))
            return candidate
    return None


def run_grid(points: list[dict], config: dict, func: Callable[[dict, dict], dict], workers: int = 2,
             scheduler: str | None = None, progress: bool = True, label: str = "grid") -> list[dict]:
    """Run every unfinished point on Dask.

    Parameters
    ----------
    points : list of dict
        The grid (see :func:`grid_points`).
    config : dict
        Settings shared by every point; ``config["out"]`` is the grid's directory.
    func : callable
        ``func(point, config)`` runs one point in a worker, saves
        ``<out>/runs/<point_key(point)>/result.json`` (atomically, e.g. with
        :func:`scenarios.runs.results.save_result`) and returns a summary row.
    workers : int
        Local worker processes (one thread each) when no ``scheduler`` is given.
    scheduler : str, optional
        Address of an existing Dask scheduler.
    progress : bool
        Show a progress bar.
    label : str
        Name of the grid in the messages and the progress bar (e.g. ``"scan"``).

    Returns
    -------
    list of dict
        The rows returned by ``func`` for the points run by this call (points
        whose result already existed are skipped, which makes any grid resumable).
    """
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    out = Path(config["out"])
    todo = [p for p in points if not (out / "runs" / point_key(p) / "result.json").exists()]
    done = len(points) - len(todo)
    print(f"[{label}] {len(points)} runs, {done} already finished, {len(todo)} to run", flush=True)
    rows = []
    if todo:
        if scheduler:
            client = Client(scheduler)
            cluster = None
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        try:
            futures = [client.submit(func, p, config, key=f"run-{point_key(p)}", pure=False)
                       for p in todo]
            bar = tqdm(total=len(points), initial=done, unit="run", desc=label, disable=not progress)
            for fut in as_completed(futures):
                rows.append(fut.result())
                bar.update(1)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return rows


