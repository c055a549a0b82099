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
    (~15-30 s), fastest to run; the same binary can be re-run with new parameter
    values via ``device.run(run_args=...)``. The headers every generated file
    includes are parsed once, into a GCC precompiled header (see
    :func:`install_precompiled_header`), instead of once per file.
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
    "install_precompiled_header",
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


#: Make arguments of Brian2's standalone build before this module changed them.
_DEFAULT_MAKE_ARGS = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)

#: Header that every generated source file of a ``cpp_standalone`` project includes.
PCH_HEADER = "sleep_snn_pch.h"
#: Makefile fragment, read by make after Brian2's ``makefile``, that builds and uses it.
PCH_MAKEFILE = "sleep_snn_pch.mk"

# What each generated file includes before its own code (Brian2's code-object
# template, objects.cpp, main.cpp): parsed once instead of ~80 times per build.
_PCH_HEADER_TEXT = """\
// sleep-snn: headers shared by every source file, precompiled once (GCC PCH).
#include "objects.h"
#include "brianlib/common_math.h"
#include "brianlib/stdint_compat.h"
#include<cmath>
#include<ctime>
#include<iostream>
#include<fstream>
#include<climits>
"""

# Read by ``make -f makefile -f sleep_snn_pch.mk``: Brian2's makefile defines
# OBJS, H_SRCS and CXXFLAGS. The header is compiled with exactly the flags of the
# objects (GCC only uses a PCH built with the same flags, and falls back to the
# text header otherwise), and is rebuilt whenever a header or the makefile changes.
# ``private`` keeps the -include flag off the prerequisite (the PCH itself).
_PCH_MAKE_TEXT = """\
# sleep-snn: precompiled header for the objects of Brian2's makefile.
SLEEP_SNN_PCH := {header}
$(SLEEP_SNN_PCH).gch: $(SLEEP_SNN_PCH) $(H_SRCS) makefile {makefile}
\t$(CXX) $(CXXFLAGS) -x c++-header $(SLEEP_SNN_PCH) -o $@
$(OBJS): $(SLEEP_SNN_PCH).gch
$(OBJS): private CXXFLAGS += -Winvalid-pch -include $(SLEEP_SNN_PCH)
""".format(header=PCH_HEADER, makefile=PCH_MAKEFILE)


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless ``path`` holds it already (keeps make's timestamps)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def install_precompiled_header(directory: str | os.PathLike) -> None:
    """Make the next ``cpp_standalone`` build in ``directory`` use a precompiled header.

    Brian2 writes one C++ file per code object (~80 for the E/I network), each
    of which parses the same standard and Brian2 headers (~0.8 s of the ~1 s it
    takes to compile). This writes :data:`PCH_HEADER` and the make fragment
    :data:`PCH_MAKEFILE` into ``directory`` and adds the fragment to the make
    command, so that the headers are parsed once. The compiled program is the
    same: the flags and the code are unchanged; only the order in which headers
    with include guards are read differs. On the E/I network this takes
    ``make`` from ~42 s to ~13 s on two cores.

    Parameters
    ----------
    directory : path-like
        Build directory of the standalone project (it must exist).
    """
    directory = Path(directory)
    _write_if_changed(directory / PCH_HEADER, _PCH_HEADER_TEXT)
    _write_if_changed(directory / PCH_MAKEFILE, _PCH_MAKE_TEXT)
    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [
        *_DEFAULT_MAKE_ARGS, "-f", "makefile", "-f", PCH_MAKEFILE]


def _reset_to_runtime() -> None:
    brian2.device.reinit()
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = "numpy"
    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = list(_DEFAULT_MAKE_ARGS)


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
    # the standalone device may hold a project while the runtime device is active
    # (bridge.src_brian2 keeps its compiled SRC program between runs): start clean
    from brian2.devices.device import all_devices

    if backend in all_devices:
        all_devices[backend].reinit()
    brian2.set_device(backend, directory=str(directory), build_on_run=False)
    brian2.prefs.devices.cpp_standalone.openmp_threads = int(threads) if threads > 1 else 0
    if backend == "cpp_standalone":
        install_precompiled_header(directory)
    else:  # no PCH fragment in this directory: Brian2's own make arguments
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = list(_DEFAULT_MAKE_ARGS)
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
