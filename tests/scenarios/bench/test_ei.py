"""``sleep-snn bench ei`` and :func:`scenarios.bench.ei.bench_ei` (numpy backend, one simulated second)."""

import json

from scenarios.commands import bench


def test_bench_ei_json_line(capsys):
    assert bench.main(["ei", "--backend", "numpy", "--sim-seconds", "0.7", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["benchmark"] == "ei" and rec["backend"] == "numpy" and rec["sleep_mode"] == "off"
    assert rec["sleep_ratio"] == 0.0 and rec["n_episodes"] == 0
    assert rec["n_neurons"] == 225 + 200 + 50 and rec["n_synapses"] > 0
    assert 0.5 < rec["sim_seconds"] < 1.0 and rec["peak_rss_mb"] > 0


def test_bench_without_a_known_benchmark_is_a_usage_error(capsys):
    assert bench.main([]) == 2
    assert bench.main(["dream"]) == 2
    assert "usage: sleep-snn bench {ei,horizon,scan,src,hessian,nir,report}" in capsys.readouterr().err
