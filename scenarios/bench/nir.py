"""Benchmark of the NIR export (``sleep-snn bench nir``): time and file size of a converted MLP.

Converts a 784-1200-1200-10 bias-free ReLU MLP (PyTorch's default initialisation, the
authors' layer sizes) by data-based normalisation on uniform random images, then times
:func:`bridge.nir.to_nir` + :func:`bridge.nir.write_nir` (the export) and
:func:`bridge.nir.read_nir` + :func:`bridge.nir.from_nir` (the import), and checks that the
round trip is exact. The reference of the file size is the weights in float32.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["bench_nir"]


def bench_nir(sizes=(784, 1200, 1200, 10), repeats: int = 5, decay: float = 0.999, dtype: str = "float32",
              compression: str | None = "gzip", seed: int = 0) -> dict:
    """Time the NIR export and import of a converted MLP.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, input first.
    repeats : int
        Exports (and imports) timed (>= 1).
    decay : float
        Membrane decay of the export (< 1: LIF nodes; 1: IF nodes).
    dtype : {"float32", "float64"}
        Precision of the neuron parameters.
    compression : str or None
        HDF5 compression of the file.
    seed : int
        Seed of the weights and the calibration images.

    Returns
    -------
    dict
        ``export_seconds`` and ``import_seconds`` (each repeat, and the maximum),
        ``file_bytes``, ``weights_bytes`` (float32), their ratio, ``round_trip_exact``.
    """
    import torch
    from torch import nn

    from bridge.convert import from_torch
    from bridge.nir import from_nir, read_nir, to_nir, weights_nbytes, write_nir

    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    torch.manual_seed(seed)
    layers: list = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b, bias=False)] + ([nn.ReLU()] if k < len(sizes) - 2 else [])
    model = nn.Sequential(*layers)
    images = np.random.default_rng(seed).random((500, sizes[0]), dtype=np.float32)
    spec = from_torch(model, images, alpha_scale=1.0)
    export, imports, exact = [], [], True
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.nir"
        for _ in range(repeats):
            t0 = time.perf_counter()
            write_nir(path, to_nir(spec, decay=decay, dtype=dtype), compression=compression)
            export.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            back = from_nir(read_nir(path))
            imports.append(time.perf_counter() - t0)
            exact &= all(np.array_equal(a, b) for a, b in zip(back.weights, spec.weights)) and \
                back.alpha == spec.alpha and back.beta == spec.beta and back.scale == spec.scale
        size = path.stat().st_size
    wbytes = weights_nbytes(spec)
    return {"sizes": list(sizes), "decay": decay, "dtype": dtype, "compression": compression,
            "export_seconds": export, "export_seconds_max": max(export), "import_seconds": imports,
            "import_seconds_max": max(imports), "file_bytes": size, "weights_bytes": wbytes,
            "file_over_weights": size / wbytes, "round_trip_exact": bool(exact)}
