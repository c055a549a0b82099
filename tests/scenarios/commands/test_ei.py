"""``sleep-snn ei`` (a whole run with ``--quick``) and the shared network options."""

import argparse
import json

import numpy as np
import pytest

from scenarios import cli
from scenarios.commands.common import QUICK, add_network_args, params_from_args, resolve_network_args


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_network_args(parser)
    return parser.parse_args(argv)


def test_params_from_args_maps_units_and_pathways():
    from brian2 import Hz, mV, ms, second

    params, sleep = params_from_args(_parse([
        "--t-present", "120", "--t-rest", "30", "--input-rate", "50", "--size", "10", "--no-plasticity",
        "--sleep-mode", "schedule", "--sleep-ratio", "0.2", "--sigma", "1.5", "--max-sleep", "2",
        "--w-tgt", "0.7", "--lam", "0.999", "--sleep-pathways", "exc_exc, inh_exc"]))
    assert params.t_present == 120 * ms and params.t_rest == 30 * ms and params.input_rate == 50 * Hz
    assert params.n_input == 100 and params.plastic is False
    assert sleep.mode == "schedule" and sleep.sleep_ratio == 0.2 and sleep.lam == 0.999
    assert sleep.sigma == 1.5 * mV and sleep.max_sleep == 2 * second
    assert sleep.w_tgt_inp_exc == sleep.w_tgt_exc_exc == sleep.w_tgt_inh_exc == 0.7
    assert sleep.pathways == ("exc_exc", "inh_exc")


def _resolved(argv):
    parser = argparse.ArgumentParser()
    add_network_args(parser)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    resolve_network_args(args)
    return args


def test_quick_keeps_what_was_given():
    args = _resolved(["--quick", "--n-test", "77", "--t-rest=30"])
    assert args.dataset == "digits" and args.n_test == 77 and args.t_rest == 30
    assert args.n_train == QUICK["n_train"] and args.t_present == QUICK["t_present"]
    args = _resolved(["--quick"])
    assert args.dataset == "digits" and args.n_test == QUICK["n_test"]


def test_default_sizes_fit_the_dataset(capsys):
    # issue 15, item 10: the default 2000 training images are more than digits has
    args = _resolved(["--dataset", "digits"])
    assert (args.n_train, args.n_test) == (1257, 540)
    assert "digits has 1257 training images" in capsys.readouterr().out
    from scenarios.commands.common import UserError

    with pytest.raises(UserError, match="--n-train 5000: digits has 1257 training images; allowed: 1 to 1257"):
        _resolved(["--dataset", "digits", "--n-train", "5000"])
    with pytest.raises(UserError, match="--n-readout-train 20: must be at most --n-train 10"):
        _resolved(["--dataset", "digits", "--n-train", "10", "--n-readout-train", "20"])


def test_help_names_each_default_once():
    # issue 15, item 10: "(default 0) (default: 0)"
    from scenarios.commands.ei import build_parser
    from scenarios.commands.scan import build_parser as scan_parser

    for parser in (build_parser(), scan_parser()):
        text = " ".join(parser.format_help().split())
        assert "(default: None)" not in text and "(default: False)" not in text
        for option in text.split(" --")[1:]:
            assert option.count("default") <= 1, option
        assert "(default: 0)" in text  # --seed


def test_the_patches_toy_is_not_an_ei_dataset(capsys):
    # issue 15, item 10: --dataset patches ran and reported accuracy 0.000 on 4 images
    with pytest.raises(SystemExit) as info:
        _resolved(["--dataset", "patches"])
    assert info.value.code == 2 and "invalid choice: 'patches'" in capsys.readouterr().err


def test_ei_quick_on_digits_is_above_chance(tmp_path, capfd):
    out = tmp_path / "ei"
    assert cli.main(["ei", "--quick", "--out", str(out), "--sleep-ratio", "0.1"]) == 0
    meta = json.loads((out / "result.json").read_text())
    assert meta["dataset"] == "digits"
    # what the numbers depend on (issue 15, items 2 and 13): the files read, the compiler, flags and CPU
    assert [f["path"].rsplit("/", 1)[1] for f in meta["data_files"]] == ["digits.csv.gz"]
    assert len(meta["data_files"][0]["sha256"]) == 64 and meta["data_files"][0]["bytes"] > 0
    build = meta["build"]
    assert build["compile_mode"] == "portable" and "-march=x86-64" in build["flags"]
    assert "-ffast-math" not in build["flags"] and build["compiler"] and build["cpu"]
    # compiled into the shared build cache, not into --out (item 12)
    assert build["cache_key"] and not (out / "build").exists()
    assert meta["command"] == f"sleep-snn ei --quick --out {out} --sleep-ratio 0.1"
    assert meta["accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 0 <= meta["sleep"]["achieved_ratio"] <= 0.1 + 1e-9
    assert meta["mean_rate_hz"]["readout"]["exc"] > 0
    arrays = np.load(out / "arrays.npz")
    assert arrays["counts_exc"].shape == (300 + 300 + 150, 200)
    assert arrays["W_exc_exc"].ndim == 1 and len(arrays["W_exc_exc"]) > 10
    for name in ("raster", "weight_histograms", "total_weight"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()
    printed = capfd.readouterr()
    assert f"[ei] accuracy {meta['accuracy']:.3f} (logreg" in printed.out
    assert f"[ei] wrote {out / 'result.json'}" in printed.out
    # stderr is not a terminal: plain progress lines, no carriage returns (item 10)
    assert "[run] 100% of images" in printed.err and "\r" not in printed.err


def _running_program(cache):
    """Pid of a compiled program of the build cache ``cache`` that runs now, or None."""
    import os

    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0")[0].decode()
        except OSError:
            continue
        if argv0.startswith(cache) and argv0.endswith("/main"):
            return int(pid)
    return None


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="Linux process control")
def test_sigkill_of_ei_stops_its_compiled_program(tmp_path):
    # issue 15, item 8: the compiled ./main ran on as an orphan after `sleep-snn ei` was killed.
    # The same options as the test above: its build is in the cache, so only the run is waited for.
    import os
    import signal
    import subprocess
    import sys
    import time

    from spiking.processes import process_alive

    cache = os.environ["SLEEP_SNN_CACHE"]
    proc = subprocess.Popen([sys.executable, "-m", "scenarios.cli", "ei", "--quick", "--out", str(tmp_path / "ei"),
                             "--sleep-ratio", "0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    program, deadline = None, time.time() + 600
    while program is None and proc.poll() is None and time.time() < deadline:
        program = _running_program(cache)
        time.sleep(0.05)
    assert program is not None, "the compiled program was not seen running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while process_alive(program) and time.time() < deadline:
        time.sleep(0.05)
    assert not process_alive(program), f"the compiled program {program} outlived sleep-snn ei"
    assert not (tmp_path / "ei" / "result.json").exists()
