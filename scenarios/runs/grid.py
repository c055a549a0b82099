"""The grid runner: every point of a parameter grid, once, on Dask, resumable.

A *grid* is a list of points (dicts of parameter values, with at least a
``seed``). A *point function* ``func(point, config)`` runs one point and saves
its result atomically to ``<config["out"]>/runs/<point_key(point)>/result.json``
(:func:`scenarios.runs.results.save_result` writes that file last, so it marks
a finished run). :func:`run_grid` submits every point that is not finished yet
to a Dask cluster (a :class:`~dask.distributed.LocalCluster` of one-thread
worker processes, or an existing scheduler given by its address, for example
one started by dask-jobqueue on SLURM/PBS), so a grid that was killed at any
moment is resumed by running it again: finished points are skipped,
unfinished ones are run, and each point ends with exactly one result.

A resumed grid never mixes results made with other settings. The *settings*
of a grid are everything shared by its points that changes a result (the
data and the files read, the sizes, the model's parameters, the backend and
compile mode, the version of the code that computes a result; the grid's
axes are in the point keys). :func:`run_grid` writes them to
``<out>/manifest.json`` on the first run and stores their hash in the
config (``settings_key``), which the point function records in each
``result.json``. A later run whose settings differ stops with a
:class:`GridError` that names each setting that differs; a run directory
whose result has another ``settings_key`` is never counted as finished.

A ``result.json`` that cannot be read (a truncated file, a full disk) is moved
aside as ``result.json.damaged`` and its point is run again.

A point that raises stops the grid with its error (the points still running
are cancelled; finished results are kept). Workers of a local cluster exit
when the process that started them is gone, and their compiled programs with
them (:mod:`spiking.processes`).

Used by ``sleep-snn scan`` (:mod:`scenarios.experiments.scan`), ``sleep-snn
sgsnn`` (:mod:`scenarios.experiments.sgsnn`) and the validation-split
selections of ``sleep-snn incremental`` (:mod:`scenarios.experiments.selection`:
the baselines' coefficients, the Optuna search for SRC presets).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Callable

from scenarios.runs.results import RESULT_JSON, ResultFileError, load_result, to_jsonable, write_json

__all__ = ["MANIFEST", "GridError", "point_key", "grid_points", "settings_key", "settings_diff",
           "check_manifest", "code_fingerprint", "finished", "check_scheduler", "run_grid",
           "remove_stale_temporaries"]

#: Settings of a grid directory, written on its first run.
MANIFEST = "manifest.json"
#: Seconds to wait for an existing Dask scheduler before giving up.
CONNECT_TIMEOUT = 5.0


class GridError(ValueError):
    """A grid cannot run as asked: settings that differ from its directory's, an unreachable scheduler, no workers."""


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


# --- settings ----------------------------------------------------------------------

def code_fingerprint(modules) -> str:
    """Hash of the code of ``modules`` (their syntax trees without docstrings and comments).

    Editing a docstring or a comment keeps the fingerprint; any change of the
    code changes it.

    Parameters
    ----------
    modules : sequence of str
        Importable module names (found without importing them).

    Returns
    -------
    str
        16 hex digits.
    """
    h = hashlib.sha256()
    for name in sorted(modules):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise ValueError(f"code_fingerprint: module {name!r} not found")
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(getattr(body[0], "value", None), ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        h.update(name.encode() + b"\0" + ast.dump(tree).encode())
    return h.hexdigest()[:16]


def settings_key(settings: dict) -> str:
    """Hash of a grid's settings (their JSON form), 16 hex digits."""
    text = json.dumps(to_jsonable(settings), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def settings_diff(old: dict, new: dict) -> list[str]:
    """The settings that differ, as ``"name: old -> new"`` (nested names joined by dots)."""
    a, b = _flat(to_jsonable(old)), _flat(to_jsonable(new))
    missing = object()
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, missing), b.get(k, missing)
        if va != vb:
            show = lambda v: "(not set)" if v is missing else json.dumps(v)  # noqa: E731
            out.append(f"{k}: {show(va)} -> {show(vb)}")
    return out


def check_manifest(out: str | os.PathLike, settings: dict) -> str:
    """Write ``out/manifest.json`` or check that it holds ``settings``; returns their key.

    Parameters
    ----------
    out : path-like
        The grid directory.
    settings : dict
        Everything shared by the grid's points that changes a result (JSON-able
        through :func:`scenarios.runs.results.to_jsonable`).

    Returns
    -------
    str
        :func:`settings_key` of ``settings``.

    Raises
    ------
    GridError
        The directory's manifest holds other settings (the message lists
        them), or it has runs but no manifest (made by an older version).
    """
    out = Path(out)
    key = settings_key(settings)
    path = out / MANIFEST
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ResultFileError(f"{path} cannot be read ({exc}); it records the settings of the runs in "
                                  f"{out}: restore it, or use another output directory") from None
        if stored.get("settings_key") != key:
            diff = settings_diff(stored.get("settings", {}), settings)
            shown = "; ".join(diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
            raise GridError(f"{out} holds runs made with other settings ({shown}). Use another output "
                            f"directory for these settings, or the stored ones (in {path}) to resume")
        return key
    if any((out / "runs").glob(f"*/{RESULT_JSON}")):
        raise GridError(f"{out} has finished runs but no {MANIFEST} (an older version made them), so their "
                        "settings cannot be checked; use another output directory")
    write_json(path, {"settings_key": key, "settings": settings})
    return key


def finished(run_dir: str | os.PathLike, key: str | None = None, log=print) -> bool:
    """True when ``run_dir`` holds a readable result (made with settings ``key``, when given).

    A ``result.json`` that cannot be read is renamed ``result.json.damaged``
    (replacing an older one) and the run counts as unfinished.

    Raises
    ------
    GridError
        The result was made with other settings (another ``settings_key``).
    """
    path = Path(run_dir) / RESULT_JSON
    if not path.exists():
        return False
    try:
        meta = load_result(path)
    except ResultFileError as exc:
        aside = path.with_name(RESULT_JSON + ".damaged")
        os.replace(path, aside)
        log(f"[grid] {exc}; moved it to {aside.name} and running that point again")
        return False
    if key is not None and meta.get("settings_key") != key:
        raise GridError(f"{path} was made with other settings (settings_key {meta.get('settings_key')!r}, "
                        f"this grid's is {key!r}); use another output directory")
    return True


# --- Dask ---------------------------------------------------------------------------

def _connect(scheduler: str, timeout: float):
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise GridError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler there within "
                        f"{timeout:g} s ({exc}); check the address, or leave --scheduler out to run "
                        "local workers") from None
    except (ValueError, TypeError) as exc:
        raise GridError(f"--scheduler {scheduler!r}: not a scheduler address ({exc}); "
                        "e.g. tcp://HOST:8786") from None


def check_scheduler(scheduler: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Connect to a Dask scheduler and disconnect, so that a wrong address fails before any work.

    Raises
    ------
    GridError
        It cannot be reached within ``timeout`` seconds.
    """
    _connect(scheduler, timeout).close()


def _exit_with(owner: int) -> None:
    from spiking.processes import exit_when_gone

    exit_when_gone(owner)


def run_grid(points: list[dict], config: dict, func: Callable[[dict, dict], dict], workers: int = 2,
             scheduler: str | None = None, progress: bool = True, label: str = "grid",
             settings: dict | None = None, connect_timeout: float = CONNECT_TIMEOUT) -> list[dict]:
    """Run every unfinished point on Dask.

    Parameters
    ----------
    points : list of dict
        The grid (see :func:`grid_points`).
    config : dict
        Settings shared by every point; ``config["out"]`` is the grid's directory.
        With ``settings``, ``config["settings_key"]`` is set to their key.
    func : callable
        ``func(point, config)`` runs one point in a worker, saves
        ``<out>/runs/<point_key(point)>/result.json`` (atomically, e.g. with
        :func:`scenarios.runs.results.save_result`, recording
        ``config["settings_key"]`` as ``settings_key``) and returns a summary row.
    workers : int
        Local worker processes (one thread each) when no ``scheduler`` is given.
    scheduler : str, optional
        Address of an existing Dask scheduler.
    progress : bool
        Show progress: a bar on a terminal, one line per finished point otherwise.
    label : str
        Name of the grid in the messages and the progress bar (e.g. ``"scan"``).
    settings : dict, optional
        What changes a result (see :func:`check_manifest`); checked against
        the directory's manifest before anything runs.
    connect_timeout : float
        Seconds to wait for ``scheduler``.

    Returns
    -------
    list of dict
        The rows returned by ``func`` for the points run by this call (points
        whose result already existed are skipped, which makes any grid resumable).

    Raises
    ------
    GridError
        Settings that differ from the directory's, ``workers`` < 1, or a
        scheduler that cannot be reached.
    Exception
        The error of the first point that failed.
    """
    if scheduler is None and int(workers) < 1:
        raise GridError(f"workers={workers}: must be >= 1")
    out = Path(config["out"])
    key = None
    if settings is not None:
        key = check_manifest(out, settings)
        config["settings_key"] = key
    log = lambda text: print(text.replace("[grid]", f"[{label}]"), flush=True)  # noqa: E731
    todo = [p for p in points if not finished(out / "runs" / point_key(p), key, log)]
    done = len(points) - len(todo)
    log(f"[{label}] {len(points)} runs, {done} already finished, {len(todo)} to run")
    rows = []
    if not todo:
        remove_stale_temporaries(out, points)
        return rows
    from dask.distributed import LocalCluster, as_completed

    if scheduler:
        client, cluster = _connect(scheduler, connect_timeout), None
    else:
        from dask.distributed import Client

        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
        # local workers (and their nannies) exit when this process is gone
        client.run(_exit_with, os.getpid(), nanny=True)
        client.run(_exit_with, os.getpid())
    bar = None
    try:
        futures = {client.submit(func, p, config, key=f"run-{point_key(p)}", pure=False): p for p in todo}
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(points), initial=done, unit="run", desc=label)
        for n, fut in enumerate(as_completed(futures), start=done + 1):
            try:
                rows.append(fut.result())
            except Exception:
                for other in futures:
                    other.cancel()
                log(f"[{label}] run {point_key(futures[fut])} failed; the {n - 1} finished runs are kept in "
                    f"{out / 'runs'} (run the same command again to resume)")
                raise
            if bar is not None:
                bar.update(1)
            elif progress:
                log(f"[{label}] {n}/{len(points)} runs finished ({point_key(futures[fut])})")
    finally:
        if bar is not None:
            bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    remove_stale_temporaries(out, points)
    return rows


def remove_stale_temporaries(out: str | Path, points: list[dict]) -> list[Path]:
    """Delete the temporary files a killed worker left in the directories of finished points.

    :func:`scenarios.runs.results.save_result` writes each file to a temporary
    ``.<name>.*.tmp`` first; a worker killed in the middle leaves that file
    behind, and the point is then run again elsewhere. Once the point's
    ``result.json`` exists, no writer of this grid is left for it, so what
    remains there is garbage.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    for p in points:
        run_dir = Path(out) / "runs" / point_key(p)
        if (run_dir / "result.json").exists():
            for tmp in run_dir.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
