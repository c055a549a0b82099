"""Result files: ``result.json`` (metadata) + ``arrays.npz`` (+ ``table.md``), and merging.

Every run of the project writes its result with :func:`save_result`: the
arrays first, then the Markdown table (if any), then ``result.json``, each
atomically (a temporary file in the same directory, then ``os.replace``). So an
interrupted run never leaves a half-written file, and "``result.json``
exists" means "this run is finished" for a resumed scan.

:func:`load_result` reads the metadata and names the file in its error when it
is missing or not valid JSON; :func:`load_arrays` reads the arrays;
:func:`merge_results` combines the trials of runs made with the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["RESULT_JSON", "ARRAYS_NPZ", "TABLE_MD", "MERGE_FREE", "ResultFileError", "to_jsonable",
           "write_json", "write_text", "write_npz", "save_result", "load_result", "load_arrays", "merge_results",
           "package_versions"]

#: File names of a result directory.
RESULT_JSON = "result.json"
ARRAYS_NPZ = "arrays.npz"
TABLE_MD = "table.md"
#: Config fields that may differ between results that :func:`merge_results` combines.
MERGE_FREE = ("seed", "trials", "threads")


class ResultFileError(ValueError):
    """A result file is missing or unreadable; the message names the file."""


def to_jsonable(obj: Any) -> Any:
    """Convert nested containers of numpy values, quantities, dataclasses and paths to strict JSON.

    Parameters
    ----------
    obj : object
        Dicts, lists, tuples, numpy arrays and scalars, Brian2 quantities,
        dataclass instances and paths, nested in any way.

    Returns
    -------
    object
        The same structure with string keys, lists for tuples and arrays,
        Python ints, floats and bools, ``str`` for quantities and paths, and
        ``None`` for non-finite floats (strict JSON has no NaN).
    """
    if type(obj).__module__.startswith("brian2"):  # a Quantity (an ndarray subclass) or a unit
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask); mkstemp gives 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def _atomic_write(path: Path, write: Callable) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, data: Any, indent: int | None = 1) -> Path:
    """Write ``data`` (converted by :func:`to_jsonable`) as JSON, atomically; returns the path."""
    text = json.dumps(to_jsonable(data), indent=indent)
    _atomic_write(Path(path), lambda fh: fh.write(text.encode()))
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))
    return Path(path)


def write_npz(path: str | Path, arrays: dict) -> Path:
    """Write arrays (``None`` values left out) to a compressed ``.npz``, atomically."""
    clean = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    _atomic_write(Path(path), lambda fh: np.savez_compressed(fh, **clean))
    return Path(path)


def save_result(directory: str | Path, meta: dict, arrays: dict | None = None, *,
                table: Callable[[dict], str] | None = None) -> Path:
    """Save one result: ``arrays.npz``, then ``table.md``, then ``result.json`` (the completion mark).

    Parameters
    ----------
    directory : str or Path
        Result directory, created when missing.
    meta : dict
        The metadata (settings, seeds, numbers); converted by :func:`to_jsonable`.
    arrays : dict, optional
        Arrays for ``arrays.npz``.
    table : callable, optional
        Makes the Markdown text of ``table.md`` from ``meta``.

    Returns
    -------
    Path
        The path of ``result.json``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if arrays:
        write_npz(directory / ARRAYS_NPZ, arrays)
    if table is not None:
        text = table(meta)
        _atomic_write(directory / TABLE_MD, lambda fh: fh.write(text.encode()))
    return write_json(directory / RESULT_JSON, meta)


def _result_path(result: str | Path) -> Path:
    p = Path(result)
    return p / RESULT_JSON if p.is_dir() or not p.suffix else p


def load_result(result: str | Path) -> dict:
    """Read the metadata of a result directory (or of its ``result.json``).

    Raises
    ------
    ResultFileError
        The file is missing or is not valid JSON (for example truncated); the
        message names it.
    """
    path = _result_path(result)
    if not path.exists():
        raise ResultFileError(f"no {RESULT_JSON} in {path.parent}: not a finished result")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path} is not valid JSON ({exc}); the file is damaged or truncated") from None


def load_arrays(result: str | Path) -> dict:
    """Arrays of a result directory (``{}`` when it has no ``arrays.npz``)."""
    npz = _result_path(result).parent / ARRAYS_NPZ
    if not npz.exists():
        return {}
    with np.load(npz, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def merge_results(result_dirs: Sequence, summarize: Callable[[dict], dict], free: Sequence[str] = MERGE_FREE,
                  implied: dict | None = None) -> dict:
    """Combine the trials of several runs made with the same settings (other seeds).

    Parameters
    ----------
    result_dirs : sequence of str or Path
        Result directories (or ``result.json`` paths), in order.
    summarize : callable
        Makes the ``summary`` of the merged result.
    free : sequence of str, optional
        Config fields that may differ (default ``seed``, ``trials``, ``threads``).
    implied : dict, optional
        Config fields added after some results were written, with the value
        then implied; filled into results that lack them before comparing.

    Returns
    -------
    dict
        The first result with all trials, ``seeds``, the summed ``wall_s``,
        ``merged_from``, the joined ``command``, ``config.seed`` the smallest
        seed, ``config.trials`` the number of trials, and a new ``summary``.

    Raises
    ------
    ValueError
        Without results, when configurations differ in other fields, or when
        trial seeds repeat.
    """
    results = [load_result(d) for d in result_dirs]
    if not results:
        raise ValueError("nothing to merge")
    for r in results:
        for k, v in (implied or {}).items():
            r["config"].setdefault(k, v)
    ref = {k: v for k, v in results[0]["config"].items() if k not in free}
    for r, d in zip(results[1:], result_dirs[1:]):
        other = {k: v for k, v in r["config"].items() if k not in free}
        diff = sorted(k for k in set(ref) | set(other) if ref.get(k) != other.get(k))
        if diff:
            raise ValueError(f"cannot merge {d}: its configuration differs in {diff}")
    trials = [t for r in results for t in r["trials"]]
    seeds = [t["seed"] for t in trials]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"cannot merge: repeated trial seeds {seeds}")
    merged = dict(results[0])
    merged["config"] = dict(results[0]["config"], seed=min(seeds), trials=len(trials))
    merged.update(trials=trials, seeds=seeds, wall_s=float(sum(r["wall_s"] for r in results)),
                  merged_from=[str(d) for d in result_dirs],
                  command="; ".join(r.get("command", "") for r in results))
    merged["summary"] = summarize(merged)
    return merged


def package_versions() -> dict:
    """Versions of Python and of the packages that shape the results, the platform and the CPU."""
    from spiking.processes import cpu_model

    out = {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_model()}
    for name in ("sleep-snn", "brian2", "numpy", "scipy", "scikit-learn", "torch", "dask",
                 "distributed", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
