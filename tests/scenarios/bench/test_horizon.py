"""``sleep-snn bench horizon``: sizes are checked before anything is loaded or built."""

from scenarios.cli import main


def test_bench_horizon_refuses_more_probe_images_than_training_images(capsys):
    assert main(["bench", "horizon", "--n-images", "300", "--probe-every", "150"]) == 2
    err = capsys.readouterr().err
    assert "n_probe_train=600 exceeds n_images=300" in err and "Traceback" not in err
