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
    Recognised, but not installable with this project's pins: it needs the
    ``brian2cuda`` package, and no release of it installs next to brian2 2.9.0
    on Python 3.11 (:data:`CUDA_UNAVAILABLE` says why). Asking for it is an
    error that says so.

Compiling
---------
A standalone build runs ``make`` with at most :func:`make_jobs` jobs (the CPUs
this process may use, or ``$SLEEP_SNN_JOBS``), not Brian2's unbounded ``-j``.
``make`` and the compiled program run through :func:`spiking.processes.guarded`,
so they die with the Python process that started them.

The compiler flags are one of :data:`COMPILE_MODES` (:func:`resolve_compile_mode`):
``"portable"`` (the default) compiles for the x86-64 baseline without
``-ffast-math`` and without contracting ``a*b+c`` into fused multiply-adds,
so a seed gives the same numbers on every x86-64 machine; ``"native"`` is
Brian2's default (``-O3 -ffast-math -march=native``), whose results depend on
the CPU (its instruction set decides whether FMA and wider vectors are used).
:func:`build_info` describes a build (mode, compiler, flags, CPU) for the
result files.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import brian2

from .processes import cpu_model, guarded

__all__ = [
    "ALLOWED_BACKENDS",
    "COMPILE_MODES",
    "COMPILE_MODE_ENV",
    "DEFAULT_BACKEND",
    "DEFAULT_COMPILE_MODE",
    "EXTRA_FLAGS_ENV",
    "JOBS_ENV",
    "BackendError",
    "build_info",
    "check_backend",
    "compile_flags",
    "cpu_model",
    "install_precompiled_header",
    "is_standalone",
    "make_jobs",
    "resolve_compile_mode",
    "use_backend",
]

ALLOWED_BACKENDS = ("cpp_standalone", "numpy", "cython", "cuda_standalone")
DEFAULT_BACKEND = "cpp_standalone"
#: Why ``cuda_standalone`` does not install with this project's pins (Python 3.11, brian2 2.9.0).
CUDA_UNAVAILABLE = ("it needs the brian2cuda package, and no brian2cuda release installs with this project's pins "
                    "(Python 3.11, brian2 2.9.0): brian2cuda 1.0a7 requires brian2 == 2.8.0, and 1.0b1 requires "
                    "brian2 == 2.10.1, which needs Python >= 3.12")


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
            f"backend={backend!r} is not known; allowed: cpp_standalone, numpy, cython "
            "(cuda_standalone is recognised but does not install with this project's pins)"
        )
    if backend == "cuda_standalone":
        try:
            import brian2cuda  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise BackendError(
                f"backend='cuda_standalone' is not available: {CUDA_UNAVAILABLE}. Use backend='cpp_standalone' "
                "(compiled, CPU); for SRC on a GPU, bridge.src.sleep(..., backend='torch', device='cuda') with a "
                "CUDA build of torch"
            ) from exc
    return backend


def is_standalone(backend: str) -> bool:
    """True for the backends that compile the whole network into one program."""
    return backend.endswith("_standalone")


#: Environment variable: the most ``make`` jobs of a standalone build.
JOBS_ENV = "SLEEP_SNN_JOBS"
#: Environment variable: the compile mode when none is given.
COMPILE_MODE_ENV = "SLEEP_SNN_COMPILE_MODE"
#: Compiler flags (GCC/Clang) of each compile mode.
COMPILE_MODES = {
    # x86-64 baseline, IEEE arithmetic in source order, no fused multiply-add
    "portable": ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off", "-march=x86-64", "-mtune=generic",
                 "-std=c++11"],
    # Brian2's own default on x86-64 and ARM: fastest here, CPU-dependent numbers
    "native": ["-w", "-O3", "-ffast-math", "-fno-finite-math-only", "-march=native", "-std=c++11"],
}
DEFAULT_COMPILE_MODE = "portable"
#: Environment variable: more compiler flags, appended to those of the compile mode (recorded in results).
EXTRA_FLAGS_ENV = "SLEEP_SNN_EXTRA_CXXFLAGS"


def compile_flags(mode: str | None = None) -> list[str]:
    """The compiler flags of a compile mode, with ``$SLEEP_SNN_EXTRA_CXXFLAGS`` appended."""
    return [*COMPILE_MODES[resolve_compile_mode(mode)], *shlex.split(os.environ.get(EXTRA_FLAGS_ENV, ""))]

#: Brian2's preferences that this module changes while a standalone device is active.
_BRIAN2_DEFAULTS = {
    "make_args": list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix),
    "make_cmd": brian2.prefs.devices.cpp_standalone.make_cmd_unix,
    "run_cmd": brian2.prefs.devices.cpp_standalone.run_cmd_unix,
    "compile_args": brian2.prefs.codegen.cpp.extra_compile_args_gcc,
}


def make_jobs() -> int:
    """The most ``make`` jobs of a standalone build: ``$SLEEP_SNN_JOBS``, else the usable CPUs.

    Raises
    ------
    BackendError
        ``$SLEEP_SNN_JOBS`` is not an integer >= 1.
    """
    text = os.environ.get(JOBS_ENV, "").strip()
    if text:
        try:
            jobs = int(text)
        except ValueError:
            jobs = 0
        if jobs < 1:
            raise BackendError(f"{JOBS_ENV}={text!r}: must be an integer >= 1 (the most compiler jobs)")
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _make_args() -> list[str]:
    """Brian2's make arguments with its unbounded ``-j`` replaced by ``-j N``."""
    args = [a for a in _BRIAN2_DEFAULTS["make_args"] if not (a.startswith("-j") or a.startswith("--jobs"))]
    return ["-j", str(make_jobs()), *args]


def resolve_compile_mode(mode: str | None = None) -> str:
    """The compile mode to use: ``mode``, else ``$SLEEP_SNN_COMPILE_MODE``, else :data:`DEFAULT_COMPILE_MODE`.

    Raises
    ------
    BackendError
        The mode is not one of :data:`COMPILE_MODES`.
    """
    source = "compile_mode"
    if mode is None:
        mode = os.environ.get(COMPILE_MODE_ENV) or DEFAULT_COMPILE_MODE
        source = COMPILE_MODE_ENV if os.environ.get(COMPILE_MODE_ENV) else source
    if mode not in COMPILE_MODES:
        raise BackendError(f"{source}={mode!r} is not known; allowed: {', '.join(COMPILE_MODES)}")
    return mode


@functools.lru_cache(maxsize=4)
def _compiler_version(compiler: str) -> str:
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0].strip() if out.stdout else compiler
    except (OSError, subprocess.SubprocessError):
        return f"{compiler} (version unknown)"


def build_info(backend: str, compile_mode: str | None = None) -> dict:
    """What a result depends on besides the model: the backend, and for compiled code the compiler and flags.

    Parameters
    ----------
    backend : str
        The Brian2 backend.
    compile_mode : str, optional
        The compile mode of a ``cpp_standalone`` build (see :func:`resolve_compile_mode`).

    Returns
    -------
    dict
        ``backend``, ``cpu``, ``machine``, and for standalone backends
        ``compile_mode``, ``compiler`` (its ``--version`` line), ``flags``
        and ``make_jobs``.
    """
    info = {"backend": backend, "cpu": cpu_model(), "machine": platform.machine()}
    if is_standalone(backend):
        mode = resolve_compile_mode(compile_mode)
        info.update(compile_mode=mode, compiler=_compiler_version(os.environ.get("CXX", "g++")),
                    flags=compile_flags(mode), make_jobs=make_jobs())
    return info

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
        *_make_args(), "-f", "makefile", "-f", PCH_MAKEFILE]


def _reset_to_runtime() -> None:
    brian2.device.reinit()
    brian2.set_device("runtime")
    brian2.prefs.codegen.target = "numpy"
    cpp = brian2.prefs.devices.cpp_standalone
    cpp.extra_make_args_unix = list(_BRIAN2_DEFAULTS["make_args"])
    cpp.make_cmd_unix = _BRIAN2_DEFAULTS["make_cmd"]
    cpp.run_cmd_unix = _BRIAN2_DEFAULTS["run_cmd"]
    brian2.prefs.codegen.cpp.extra_compile_args_gcc = _BRIAN2_DEFAULTS["compile_args"]


def activate_standalone(backend: str, directory: str | os.PathLike | None = None,
                        threads: int = 1, compile_mode: str | None = None) -> Path:
    """Make a standalone device current (until :func:`reset_device`); returns its directory.

    Sets the compiler flags of ``compile_mode`` (see :func:`resolve_compile_mode`),
    at most :func:`make_jobs` make jobs, and runs ``make`` and the program
    through :func:`spiking.processes.guarded`.
    """
    check_backend(backend)
    mode = resolve_compile_mode(compile_mode)
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
    cpp = brian2.prefs.devices.cpp_standalone
    cpp.openmp_threads = int(threads) if threads > 1 else 0
    cpp.make_cmd_unix = shlex.join(guarded([_BRIAN2_DEFAULTS["make_cmd"]]))
    run_cmd = _BRIAN2_DEFAULTS["run_cmd"]
    cpp.run_cmd_unix = guarded([run_cmd] if isinstance(run_cmd, str) else list(run_cmd))
    brian2.prefs.codegen.cpp.extra_compile_args_gcc = compile_flags(mode)
    if backend == "cpp_standalone":
        install_precompiled_header(directory)
    else:  # no PCH fragment in this directory: Brian2's own make arguments, with bounded jobs
        cpp.extra_make_args_unix = _make_args()
    return directory


def reset_device() -> None:
    """Back to the runtime device (numpy target), forgetting any standalone project."""
    _reset_to_runtime()


@contextlib.contextmanager
def use_backend(backend: str = DEFAULT_BACKEND, directory: str | os.PathLike | None = None,
                threads: int = 1, compile_mode: str | None = None) -> Iterator[Path | None]:
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
    compile_mode : str, optional
        Compiler flags of a standalone build (see :func:`resolve_compile_mode`).

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
        directory = activate_standalone(backend, directory, threads, compile_mode)
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
