"""The E/I experiment library: the image schedule and one run (numpy backend, a few images)."""

import numpy as np
import pytest

from scenarios.experiments.ei import load_schedule, run_ei, training_sleep_ratio


def test_n_train_larger_than_dataset_names_n():
    with pytest.raises(ValueError, match="n=5000"):
        load_schedule("digits", 5000, 10)


def test_schedule_repeats_the_readout_training_images():
    s = load_schedule("digits", 20, 10, n_readout_train=8)
    assert s.images.shape == (20 + 8 + 10, 225) and s.images.min() >= 0 and s.images.max() <= 1
    np.testing.assert_array_equal(s.images[s.readout_train], s.images[:8])
    np.testing.assert_array_equal(s.labels[s.readout_train], s.labels[:8])
    assert len(s.labels[s.readout_test]) == 10
    with pytest.raises(ValueError, match="n_readout_train"):
        load_schedule("digits", 20, 10, n_readout_train=21)


def test_training_sleep_ratio():
    # 10 images of 0.3 s + 0.1 s wake: 4 s; 1 s of sleep -> 1 / 5
    assert training_sleep_ratio(1.0, 10, 0.3, 0.1) == pytest.approx(0.2)
    assert training_sleep_ratio(0.0, 0, 0.3, 0.1) == 0.0


def test_run_ei_returns_meta_and_arrays(tmp_path):
    from brian2 import ms

    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    schedule = load_schedule("digits", 12, 10)
    lines = []
    meta, arrays = run_ei(EINetworkParams(t_present=40 * ms, t_rest=10 * ms), SleepParams(sleep_ratio=0.0),
                          schedule, backend="numpy", directory=tmp_path, seed=3, extra={"command": "test"},
                          log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("[ei] digits: 12 training images, 12 + 10 read-out")
    assert meta["kind"] == "ei" and meta["seed"] == 3 and meta["backend"] == "numpy"
    assert meta["command"] == "test" and 0 <= meta["pixel_baseline_accuracy"] <= 1
    assert meta["total_wall_seconds"] > 0 and meta["sleep"]["n_episodes"] == 0
    assert arrays["counts_exc"].shape == (12 + 12 + 10, 200) and len(arrays["readout_predictions"]) == 10
    assert not (tmp_path / "build").exists()  # no standalone build with the numpy backend


def test_a_failing_readout_loses_no_simulation(tmp_path, monkeypatch):
    from brian2 import ms

    import scenarios.experiments.ei as ei
    from spiking.params import EINetworkParams
    from spiking.sleep import SleepParams

    def broken(*args, **kwargs):
        raise RuntimeError("read-out failed (test)")

    monkeypatch.setattr(ei, "readout_from_output", broken)
    schedule = load_schedule("digits", 6, 4)
    with pytest.raises(RuntimeError, match="read-out failed") as info:
        run_ei(EINetworkParams(t_present=20 * ms, t_rest=5 * ms), SleepParams(sleep_ratio=0.0), schedule,
               backend="numpy", seed=1, log=lambda s: None, save_simulation=tmp_path)
    saved = np.load(tmp_path / ei.SIMULATION_NPZ)
    assert saved["counts_exc"].shape == (6 + 6 + 4, 200) and list(saved["labels"]) == list(schedule.labels)
    assert any(str(tmp_path / ei.SIMULATION_NPZ) in note for note in info.value.__notes__)
