"""Saving and loading run results: ``result.json`` (metadata) + ``arrays.npz``.

Both files are written atomically (temporary file in the same directory, then
``os.replace``), so an interrupted run never leaves a half-written result, and
a scan can treat "``result.json`` exists" as "this run is finished".
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
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "write_json", "write_npz", "save_result", "load_result",
           "package_versions", "RESULT_JSON", "ARRAYS_NPZ"]

RESULT_JSON = "result.json"
ARRAYS_NPZ = "arrays.npz"


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, quantities, dataclasses and paths to JSON types."""
    from brian2 import Quantity

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Quantity):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, data: dict) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=False)
    _atomic_write(Path(path), lambda fh: fh.write(text.encode()))


def write_npz(path, arrays: dict) -> None:
    """Write arrays to a compressed ``.npz``, atomically."""
    clean = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    _atomic_write(Path(path), lambda fh: np.savez_compressed(fh, **clean))


def save_result(directory, meta: dict, arrays: dict | None = None) -> Path:
    """Save one run: ``arrays.npz`` first, then ``result.json`` (the completion mark)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if arrays:
        write_npz(directory / ARRAYS_NPZ, arrays)
    write_json(directory / RESULT_JSON, meta)
    return directory


def load_result(directory) -> tuple[dict, dict]:
    """Load ``(meta, arrays)`` of a saved run (``arrays`` empty when there are none)."""
    directory = Path(directory)
    path = directory / RESULT_JSON
    if not path.exists():
        raise FileNotFoundError(f"no {RESULT_JSON} in {directory}: not a finished run")
    meta = json.loads(path.read_text())
    arrays = {}
    npz = directory / ARRAYS_NPZ
    if npz.exists():
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    return meta, arrays


def package_versions() -> dict:
    """Versions of Python and of the packages that shape the results, and the platform."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("sleep-snn", "brian2", "numpy", "scipy", "scikit-learn", "torch", "dask",
                 "distributed", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
