"""Selection of the Brian2 code-generation backend.

Brian2 keeps its device (runtime or standalone) as global state. Everything in
sleep-snn that builds a Brian2 network goes through :func:`use_backend`, which
selects the device for the duration of a ``with`` block and restores the
runtime device afterwards, so that several networks (and several backends) can
be built one after the other in the same Python process (tests, scans).

Backends
--------
``"cpp_standalone"`` (default)
    The whole network is compiled into one C++ program. Slowest to build
    (~30 s), fastest to run; the same binary can be re-run with new parameter
    values via ``device.run(run_args=...)``.
``"numpy"``
    Runtime mode, pure numpy. No compilation; used by the unit tests.
``"cython"``
    Runtime mode, each code object compiled with Cython on first use (cached).
``"cuda_standalone"``
    Like ``cpp_standalone`` but on an NVIDIA GPU; needs the ``brian2cuda``
    package.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import brian2

__all__ = [
    "ALLOWED_BACKENDS",
    "DEFAULT_BACKEND",
    "BackendError",
    "check_backend",
    "is_standalone",
    "use_backend",
]

ALLOWED_BACKENDS = ("cpp_standalone", "numpy", "cython", "cuda_standalone")
DEFAULT_BACKEND = "cpp_standalone"


class BackendError(ValueError):
    """An unknown or unavailable Brian2 backend was requested."""


def check_backend(backend: str) -> str:
    """Validate a backend name and return it.

    Raises
    ------
    BackendError
        If ``backend`` is not one of :data:`ALLOWED_BACKENDS`, or is
        ``"cuda_standalone"`` and ``brian2cuda`` is not installed.
    """
    if backend not in ALLOWED_BACKENDS:
        raise BackendError(
            f"backend={backend!r} is not known; allowed: {', '.join(ALLOWED_BACKENDS)}"
        )
    if backend == "cuda_standalone":
        try:
            import brian2cuda  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise BackendError(
                "backend='cuda_standalone' needs the brian2cuda package and an NVIDIA GPU "
                "with the CUDA toolkit (pip install brian2cuda); it is not installed here "
                f"({exc}). Use backend='cpp_standalone' on a CPU."
            ) from exc
    return backend


def is_standalone(backend: str) -> bool:
    """True for the backends that compile the whole network into one program."""
    return backend.endswith("_standalone")


def _reset_to_runtime() -> None:
    brian2.device.reinit()
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = "numpy"


def activate_standalone(backend: str, directory: str | os.PathLike | None = None,
                        threads: int = 1) -> Path:
    """Make a standalone device current (until :func:`reset_device`); returns its directory."""
    check_backend(backend)
    if not is_standalone(backend):
        raise BackendError(f"backend={backend!r} is not a standalone backend")
    brian2.start_scope()
    if directory is None:
        directory = tempfile.mkdtemp(prefix="sleep_snn_build_")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    brian2.device.reinit()
    brian2.set_device(backend, directory=str(directory), build_on_run=False)
    brian2.prefs.devices.cpp_standalone.openmp_threads = int(threads) if threads > 1 else 0
    return directory


def reset_device() -> None:
    """Back to the runtime device (numpy target), forgetting any standalone project."""
    _reset_to_runtime()


@contextlib.contextmanager
def use_backend(backend: str = DEFAULT_BACKEND, directory: str | os.PathLike | None = None,
                threads: int = 1) -> Iterator[Path | None]:
    """Select a Brian2 backend for the objects built inside the block.

    Parameters
    ----------
    backend : str
        One of :data:`ALLOWED_BACKENDS`.
    directory : path-like, optional
        Build directory of a standalone project (ignored by runtime backends).
        A fresh temporary directory is used when not given.
    threads : int
        OpenMP threads for ``cpp_standalone`` (1 = no OpenMP, the default,
        which is what parallel scans want: one process per core).

    Yields
    ------
    pathlib.Path or None
        The standalone build directory, or None for runtime backends.

    Notes
    -----
    Standalone devices are created with ``build_on_run=False``: the caller
    builds the network, calls ``net.run(...)`` (which only records the run),
    then ``brian2.device.build(run=False)`` and ``brian2.device.run(...)``.
    """
    check_backend(backend)
    brian2.start_scope()
    if is_standalone(backend):
        directory = activate_standalone(backend, directory, threads)
        try:
            yield directory
        finally:
            _reset_to_runtime()
    else:
        _reset_to_runtime()
        brian2.prefs.codegen.target = backend
        try:
            yield None
        finally:
            _reset_to_runtime()
