"""``sleep-snn bench src`` and :mod:`scenarios.bench.src` (on the digits fallback, to stay fast)."""

import json

import numpy as np
import pytest

from scenarios.bench.src import bench_src, load_task
from scenarios.commands import bench


def test_bench_src_json_line(monkeypatch, capsys):
    import spiking.data

    def missing(*args, **kwargs):
        raise spiking.data.DataError("no Fashion-MNIST here (test)")

    monkeypatch.setattr(spiking.data, "load_dataset", missing)
    assert bench.main(["src", "--backend", "torch", "--steps", "50", "--json", "--seed", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "falling back to scikit-learn digits" in out[0]
    result = json.loads(out[-1])
    assert result["dataset"] == "digits" and result["steps"] == 50
    assert result["backend"] == "torch" and result["device"] == "cpu"
    assert len(result["spikes_per_step"]) == 4 and result["spikes_per_step"][0] > 0
    for key in ("steps_per_second", "compile_seconds", "peak_rss_mb"):
        assert result[key] >= 0


def test_load_task_is_the_data_loader_on_classes_0_and_1():
    import spiking.data

    try:
        ds = spiking.data.load_dataset("fashion", "train", size=None, classes=[0, 1])
    except spiking.data.DataError:
        pytest.skip("Fashion-MNIST not available")
    images, labels, name = load_task(n=300, log=pytest.fail)
    assert name == "fashion" and images.dtype == np.float32 and labels.dtype == np.int64
    assert images.shape == (300, 28, 28) and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(images, ds.images[:300])
    np.testing.assert_array_equal(labels, ds.labels[:300])


def test_bench_src_rejects_zero_steps():
    with pytest.raises(ValueError, match="steps"):
        bench_src(steps=0)
    with pytest.raises(SystemExit):
        bench.main(["src", "--steps", "0"])


def test_bench_src_cnn_json_line(monkeypatch, capsys):
    import spiking.data

    real = spiking.data.load_dataset

    def digits_only(name, *args, **kwargs):
        if name == "fashion":
            raise spiking.data.DataError("no Fashion-MNIST here (test)")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(spiking.data, "load_dataset", digits_only)
    assert bench.main(["src", "--model", "cnn", "--steps", "50", "--json", "--n-train", "300"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["model"] == "cnn" and result["dataset"] == "digits" and result["steps"] == 50
    assert result["seed"] == 1  # the CNN's default seed
    assert result["layers"] == ["conv", "avgpool", "conv", "avgpool", "dense"]
    assert len(result["spikes_per_step"]) == 6 and result["spikes_per_step"][0] > 0
    assert result["target"] == "torch-sparse" and result["steps_per_second"] > 0
    with pytest.raises(SystemExit):
        bench.main(["src", "--model", "cnn", "--backend", "brian2"])
    with pytest.raises(SystemExit):
        bench.main(["src", "--n-train", "300"])  # the MLP benchmark has its fixed task
