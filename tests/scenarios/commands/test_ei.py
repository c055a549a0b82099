"""``sleep-snn ei`` (a whole run with ``--quick``) and the shared network options."""

import argparse
import json

import numpy as np
import pytest

from scenarios import cli
from scenarios.commands.common import QUICK, add_network_args, apply_quick, params_from_args


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


def test_apply_quick_keeps_what_was_given():
    argv = ["--quick", "--n-test", "77", "--dataset=fashion"]
    args = _parse(["--n-test", "77", "--dataset=fashion"])
    apply_quick(args, argv)
    assert args.dataset == "fashion" and args.n_test == 77
    assert args.n_train == QUICK["n_train"] and args.t_present == QUICK["t_present"]
    args = _parse([])
    apply_quick(args, [])
    assert args.dataset == "digits" and args.n_test == QUICK["n_test"]


def test_ei_quick_on_digits_is_above_chance(tmp_path, capsys):
    out = tmp_path / "ei"
    assert cli.main(["ei", "--quick", "--out", str(out), "--sleep-ratio", "0.1"]) == 0
    meta = json.loads((out / "result.json").read_text())
    assert meta["dataset"] == "digits"
    assert meta["command"] == f"sleep-snn ei --quick --out {out} --sleep-ratio 0.1"
    assert meta["accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 0 <= meta["sleep"]["achieved_ratio"] <= 0.1 + 1e-9
    assert meta["mean_rate_hz"]["readout"]["exc"] > 0
    arrays = np.load(out / "arrays.npz")
    assert arrays["counts_exc"].shape == (300 + 300 + 150, 200)
    assert arrays["W_exc_exc"].ndim == 1 and len(arrays["W_exc_exc"]) > 10
    for name in ("raster", "weight_histograms", "total_weight"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()
    printed = capsys.readouterr().out
    assert f"[ei] accuracy {meta['accuracy']:.3f} (logreg" in printed
    assert f"[ei] wrote {out / 'result.json'}" in printed
