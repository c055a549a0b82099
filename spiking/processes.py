"""Child processes that die with the process that started them (Linux).

A compiled Brian2 network runs as a separate program (``./main``), and its
build runs ``make``, which runs one compiler per source file. When the Python
process that started them is killed (``SIGKILL``, an out-of-memory kill, a
batch system's time limit), those children would go on running, as orphans,
until they finish. Two mechanisms prevent that:

* :func:`exit_when_gone` makes the calling process exit when a given process
  is gone (a thread that checks every second); used by the Dask workers of a
  local scan and their nannies, which the ``sleep-snn`` process started;
* :func:`guarded` wraps a command in this file run as a script: the guard sets
  its own death signal, starts the command in a new process group, and kills
  that group when the process that started it is gone (it also watches that
  process, because ``make`` is started through a shell, so the guard's
  parent is the shell, not ``sleep-snn``). Signals sent to the guard
  (``SIGINT``, ``SIGTERM``, ``SIGHUP``) are passed on to the command.

On other systems both are no-ops (the command runs as it is). This file
imports only the standard library, so that the guard starts in a few
milliseconds (``python -S``). :func:`cpu_model` names the machine's CPU for
result files. :class:`DescendantPeakRSS` measures the peak memory of the
programs a process starts (``getrusage``'s ``RUSAGE_CHILDREN`` cannot: a child
forked from a large Python process carries the parent's resident set until it
calls ``exec``, and Linux keeps that peak).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time

__all__ = ["cpu_model", "die_with_parent", "exit_when_gone", "guarded", "process_alive", "DescendantPeakRSS"]

_PR_SET_PDEATHSIG = 1
#: Seconds between the checks that the owner process is still alive.
POLL_SECONDS = 0.2
#: Seconds the command has to exit after SIGTERM before it is killed.
GRACE_SECONDS = 2.0


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what :mod:`platform` knows."""
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent dies.

    Parameters
    ----------
    sig : int
        The signal (default ``SIGKILL``).

    Returns
    -------
    bool
        True when the death signal is set (Linux), False elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_when_gone(owner: int, interval: float = 1.0) -> None:
    """Exit this process (status 1) as soon as process ``owner`` is gone; returns at once.

    Unlike :func:`die_with_parent` this works whatever thread started this
    process, and for an ``owner`` that is not its parent. Children started
    with :func:`guarded` then stop too.

    Parameters
    ----------
    owner : int
        Process id to watch.
    interval : float
        Seconds between checks.
    """
    import threading

    def watch():
        while process_alive(owner):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name=f"exit-when-{owner}-gone", daemon=True).start()


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class DescendantPeakRSS:
    """Peak resident memory of this process's descendants, by program name (Linux).

    A thread reads ``VmHWM`` (the peak resident set since ``exec``) of every
    descendant from ``/proc`` every ``interval`` seconds while the context is
    open, and keeps the largest value seen per program name (``comm``, e.g.
    ``"main"`` for a compiled Brian2 network). ``VmHWM`` only grows, so a
    reading late in a program's life is its peak so far; a peak reached in its
    last ``interval`` is missed. Off Linux every figure is ``None``.

    Parameters
    ----------
    interval : float
        Seconds between readings (> 0). Default 0.5.

    Examples
    --------
    >>> with DescendantPeakRSS() as peak:          # doctest: +SKIP
    ...     subprocess.run(["./main"])
    >>> peak.mb("main")                            # doctest: +SKIP
    """

    def __init__(self, interval: float = 0.5) -> None:
        if not interval > 0:
            raise ValueError(f"interval={interval!r} must be > 0 (seconds)")
        self.interval = float(interval)
        self.peaks_kb: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _descendants(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            # the name may hold spaces and brackets: the fields after it start at the last ')'
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [os.getpid()]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def sample(self) -> None:
        """Read every descendant's ``VmHWM`` once."""
        for pid in self._descendants():
            try:
                with open(f"/proc/{pid}/comm") as fh:
                    name = fh.read().strip()
                with open(f"/proc/{pid}/status") as fh:
                    hwm = next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), None)
            except (OSError, ValueError):
                continue
            if hwm is not None and hwm > self.peaks_kb.get(name, -1):
                self.peaks_kb[name] = hwm

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "DescendantPeakRSS":
        if sys.platform.startswith("linux"):
            self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mb(self, name: str) -> float | None:
        """Peak resident memory (MiB) of the descendants called ``name``, or None if none was seen."""
        kb = self.peaks_kb.get(name)
        return None if kb is None else kb / 1024.0


def guarded(command: list[str]) -> list[str]:
    """``command`` wrapped so that it dies with this process (unchanged off Linux).

    Parameters
    ----------
    command : list of str
        The program and its arguments.

    Returns
    -------
    list of str
        ``[python, -S, <this file>, <this pid>, --, *command]`` on Linux.
    """
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-S", os.path.abspath(__file__), str(os.getpid()), "--", *command]


def _stop(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _guard(owner: int, command: list[str]) -> int:
    """Run ``command`` in its own process group; kill the group when ``owner`` dies."""
    die_with_parent(signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:  # the command
        try:
            os.setpgid(0, 0)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"cannot run {command[0]!r}: {exc}\n")
        os._exit(127)
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child did it first, or already exited
        pass
    stopping = {"deadline": None}

    def on_signal(signum, frame):
        _stop(pid, signum)
        if signum != signal.SIGINT and stopping["deadline"] is None:
            stopping["deadline"] = time.monotonic() + GRACE_SECONDS

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return _exit_code(status)
        if stopping["deadline"] is None and not process_alive(owner):
            _stop(pid, signal.SIGTERM)
            stopping["deadline"] = time.monotonic() + GRACE_SECONDS
        if stopping["deadline"] is not None and time.monotonic() > stopping["deadline"]:
            _stop(pid, signal.SIGKILL)
        signal.sigtimedwait({signal.SIGCHLD}, POLL_SECONDS)


if __name__ == "__main__":  # python -S processes.py OWNER_PID -- COMMAND ...
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write("usage: processes.py OWNER_PID -- COMMAND [ARGS...]\n")
        sys.exit(2)
    sys.exit(_guard(int(sys.argv[1]), sys.argv[3:]))
