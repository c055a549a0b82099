"""A scan on a real multi-process Dask cluster that loses one of its two workers.

``dask scheduler`` and two ``dask worker`` processes are started on 127.0.0.1 as separate
processes (no nanny: a killed worker stays dead), a small scan runs through
``--scheduler tcp://127.0.0.1:PORT``, one worker is killed with SIGKILL while it runs a
point, and the scan must still finish with every run present exactly once and bit-identical
(numbers and arrays) to the same scan on a local cluster.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scenarios.runs.grid import grid_points, point_key

ROOT = Path(__file__).resolve().parents[3]
SCAN = ["--dataset", "digits", "--n-train", "8", "--n-test", "10", "--t-present", "50", "--t-rest", "20",
        "--backend", "numpy", "--sleep-ratio", "0.3", "--seeds", "0", "1", "--no-figures"]
#: Fields of a run's result.json that measure time or name the process (they differ between scans).
TIMING = ("wall_seconds", "realtime_factor", "scan")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _results(out):
    return sorted(p.parent.name for p in (Path(out) / "runs").glob("*/result.json"))


def _scan(out, *extra):
    return [sys.executable, "-m", "scenarios.cli", "scan", *SCAN, "--out", str(out), *extra]


def _comparable(run_dir):
    meta = json.loads((run_dir / "result.json").read_text())
    with np.load(run_dir / "arrays.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return {k: v for k, v in meta.items() if k not in TIMING}, arrays


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two workers (separate processes); yields (address, {name: Popen})."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = {}

    def start(name, args):
        log = open(logs / f"{name}.log", "w")
        procs[name] = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                       env=_env(), cwd=ROOT, start_new_session=True)

    start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    for name in ("w0", "w1"):
        start(name, ["worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--local-directory", str(tmp_path / name), "--death-timeout", "120"])
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_scan_survives_losing_one_of_two_workers(tmp_path, cluster):
    from distributed import Client

    address, procs = cluster
    out = tmp_path / "cluster"
    expected = sorted(point_key(p) for p in grid_points([0.3], [0, 1], {}))
    scan = subprocess.Popen(_scan(out, "--scheduler", address), stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "logs" / "scan.log", "w"), env=_env(), cwd=ROOT)
    killed = None
    with Client(address, timeout=60) as client:
        deadline = time.time() + 600
        while time.time() < deadline and killed is None and scan.poll() is None:
            if _results(out):
                busy = {addr: keys for addr, keys in client.processing().items() if keys}
                names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}
                if busy:
                    addr = sorted(busy)[0]
                    killed = names[addr]
                    n_done = len(_results(out))
                    os.kill(procs[killed].pid, signal.SIGKILL)  # the worker itself: no nanny restarts it
                    procs[killed].wait()
            time.sleep(0.1)
    assert killed is not None, "no worker was busy after the first run finished: nothing was killed"
    assert n_done < len(expected), "the scan finished before a worker could be killed"
    assert scan.wait(timeout=600) == 0, (tmp_path / "logs" / "scan.log").read_text()[-3000:]
    survivor = ({"w0", "w1"} - {killed}).pop()
    assert procs[survivor].poll() is None

    # every run exactly once: one result per grid point, one summary row each, nothing half-written
    assert _results(out) == expected
    with open(out / "summary.csv", newline="") as fh:
        keys = [row["key"] for row in csv.DictReader(fh)]
    assert sorted(keys) == expected
    assert not list(out.rglob("*.tmp"))
    pids = {json.loads((out / "runs" / k / "result.json").read_text())["scan"]["worker_pid"] for k in expected}
    assert procs[survivor].pid in pids and pids <= {procs["w0"].pid, procs["w1"].pid}

    # bit-identical to the same scan on a local cluster
    local = tmp_path / "local"
    subprocess.run(_scan(local, "--workers", "2"), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT, timeout=600)
    assert _results(local) == expected
    for key in expected:
        meta_c, arrays_c = _comparable(out / "runs" / key)
        meta_l, arrays_l = _comparable(local / "runs" / key)
        assert meta_c == meta_l, key
        assert sorted(arrays_c) == sorted(arrays_l), key
        for name in arrays_c:
            assert arrays_c[name].dtype == arrays_l[name].dtype and np.array_equal(arrays_c[name], arrays_l[name]), \
                (key, name)



def test_the_slurm_example_of_the_docs_gives_one_thread_workers():
    """docs/cluster.md's SLURMCluster, built as written (no job is submitted)."""
    import re
    import warnings

    jobqueue = pytest.importorskip("dask_jobqueue")
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "cluster.md").read_text(), re.S).group(1)
    start = code.index("cluster = SLURMCluster(")
    namespace = {"SLURMCluster": jobqueue.SLURMCluster}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "port 8787 is already in use": its dashboard moves to another port
        exec(code[start:code.index("\n)\n", start) + 2], namespace)
    cluster = namespace["cluster"]
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--nthreads 1" in script and "--cpus-per-task=1" in script
    assert "export OMP_NUM_THREADS=1" in script and "--local-directory $TMPDIR" in script
    assert "from scenarios.commands.scan import main as scan" in code and '"--scheduler", cluster.scheduler_address' in code
