"""Child processes die with the process that started them (spiking.processes; issue 15, item 8)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from spiking.processes import guarded, process_alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process control")

# A parent that starts a long child (directly like ./main, or through a shell like make),
# prints the child's pid once it runs, and waits.
PARENT = textwrap.dedent('''
    import os, shlex, subprocess, sys
    sys.path.insert(0, {root!r})
    from spiking.processes import exit_when_gone, guarded
    how = sys.argv[1]
    if how == "direct":
        subprocess.call(guarded([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(120)"]))
    elif how == "shell":
        os.system(shlex.join(guarded(["sh", "-c", "echo $$; exec sleep 120"])))
    else:  # a worker that watches this process's parent
        child = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, {root!r}); "
                                  "from spiking.processes import exit_when_gone; import os; "
                                  "exit_when_gone(int(sys.argv[1]), 0.1); print(os.getpid(), flush=True); "
                                  "time.sleep(120)", str(os.getpid())])
        child.wait()
''')


@pytest.mark.parametrize("how", ["direct", "shell", "watch"])
def test_children_die_when_their_parent_is_killed(tmp_path, how):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=root))
    parent = subprocess.Popen([sys.executable, str(script), how], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert process_alive(child)
    os.kill(parent.pid, signal.SIGKILL)  # no clean-up code of the parent runs
    deadline = time.time() + 10
    while process_alive(child) and time.time() < deadline:
        time.sleep(0.05)
    parent.wait()
    assert not process_alive(child), f"the child {child} outlived its parent"


def test_the_guard_passes_the_exit_status_and_output_through():
    out = subprocess.run(guarded(["sh", "-c", "echo hi; exit 3"]), capture_output=True, text=True)
    assert out.returncode == 3 and out.stdout == "hi\n"
    assert subprocess.run(guarded(["/nonexistent/program"]), capture_output=True).returncode == 127


def test_descendant_peak_rss_sees_a_grandchild_allocation():
    """A program started through the guard (a grandchild) that touches 150 MiB is seen with
    a peak of at least 150 MiB; the figure is per program, from VmHWM after exec."""
    import subprocess

    from spiking.processes import DescendantPeakRSS

    code = "import time; b = bytearray(150 << 20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    with DescendantPeakRSS(interval=0.1) as peak:
        subprocess.run(guarded([sys.executable, "-S", "-c", code]), check=True)
    name = os.path.basename(sys.executable)[:15]
    assert peak.mb(name) is not None and peak.mb(name) >= 150
    assert peak.mb("no-such-program") is None
    with pytest.raises(ValueError, match="interval"):
        DescendantPeakRSS(interval=0)
