"""``sleep-snn bench hessian`` and :mod:`scenarios.bench.hessian`."""

import json
import math

import numpy as np

from scenarios.bench.hessian import bench_hessian
from scenarios.commands import bench


def test_bench_hessian_small():
    res = bench_hessian(sizes=(30, 20, 20, 5), n_images=50, max_iter=5)
    assert res["iterations"] <= 5 and res["wall_s"] > 0 and math.isfinite(res["eigenvalue"])
    assert res["n_params"] == 30 * 20 + 20 * 20 + 20 * 5 and res["n_images"] == 50 and res["data"] == "random"
    imgs = np.random.default_rng(1).random((60, 5, 6), dtype=np.float32)
    res2 = bench_hessian(sizes=(30, 20, 20, 5), n_images=40, images=imgs, labels=np.arange(60) % 5, max_iter=3)
    assert res2["data"] == "given" and res2["n_images"] == 40


def test_bench_hessian_json_line(capsys):
    assert bench.main(["hessian", "--n-images", "8", "--max-iter", "2", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    rec = json.loads(last)
    for key in ("seconds", "iterations", "eigenvalue", "n_params", "n_images"):
        assert key in rec
    assert rec["n_params"] == 784 * 1200 + 1200 * 1200 + 1200 * 10
    assert rec["n_images"] == 8 and rec["iterations"] <= 2 and rec["threads"] == 1
    assert math.isfinite(rec["eigenvalue"])
