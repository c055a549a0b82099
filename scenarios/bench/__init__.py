"""Benchmarks of the library, as functions that return a dict of figures.

* :func:`scenarios.bench.ei.bench_ei`: speed and memory of the Brian2 E/I network;
* :func:`scenarios.bench.scan.bench_scan`: scan throughput with 1 and W Dask workers;
* :func:`scenarios.bench.src.bench_src`: speed and activity of Sleep Replay Consolidation;
* :func:`scenarios.bench.hessian.run`: the top Hessian eigenvalue of the SRC MLP by power iteration.

The ``sleep-snn bench ei | scan | src | hessian`` command is :mod:`scenarios.commands.bench`.
"""

import importlib as _importlib

#: Names of the earlier flat ``scenarios.bench`` module -> the module that has them now.
_EARLIER = {"bench_ei": "scenarios.bench.ei", "peak_rss_mb": "scenarios.bench.ei"}


def __getattr__(name: str):
    # names of the earlier flat module scenarios.bench
    if name in _EARLIER:
        return getattr(_importlib.import_module(_EARLIER[name]), name)
    raise AttributeError(f"module 'scenarios.bench' has no attribute {name!r}")
