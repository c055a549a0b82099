"""``sleep-snn scan``: its options (the scan itself is run in tests/scenarios/experiments/test_scan.py)."""

import pytest

from scenarios.commands.common import resolve_network_args
from scenarios.commands.scan import QUICK_SCAN, build_parser, parse_param


def test_unknown_param_is_named():
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        parse_param("gamma=1,2")
    assert parse_param("sigma=0,1.5") == ("sigma", [0.0, 1.5])
    assert parse_param("t_present=100,250") == ("t_present", [100.0, 250.0])
    with pytest.raises(ValueError, match="must be numbers"):
        parse_param("sigma=a,b")
    with pytest.raises(ValueError, match="NAME=V1"):
        parse_param("sigma")


def test_integer_fields_take_whole_numbers_only():
    # issue 15, item 4: n_exc=10.5 used to run 10 neurons under the label 10.5
    with pytest.raises(ValueError, match="n_exc is a whole number"):
        parse_param("n_exc=10.5")
    name, values = parse_param("n_exc=10,2e1")
    assert name == "n_exc" and values == [10, 20] and all(type(v) is int for v in values)


def test_several_sleep_ratios_are_the_grid():
    args = build_parser().parse_args(["--sleep-ratio", "0", "0.2", "--seeds", "0", "--no-figures"])
    assert args.ratios == [0.0, 0.2] and args.seeds == [0] and args.no_figures
    assert build_parser().parse_args([]).ratios == [0.0, 0.1, 0.2, 0.3]


def test_options_written_with_equals_signs_count():
    # issue 15, item 3: --sleep-ratio=0.3 scanned the default four ratios, and
    # --n-train=500 with --quick ran 60 images
    args = build_parser().parse_args(["--sleep-ratio=0.3", "--quick", "--n-train=500", "--dataset=digits"])
    assert args.ratios == [0.3]
    resolve_network_args(args, QUICK_SCAN)
    assert args.n_train == 500 and args.n_test == QUICK_SCAN["n_test"] and args.dataset == "digits"
    assert build_parser().parse_args(["--sleep-ratios", "0.1", "0.2"]).ratios == [0.1, 0.2]


def test_bad_grid_options_are_usage_errors(capsys):
    for argv, text in ((["--workers", "0"], "--workers: must be an integer >= 1, got 0"),   # item 5
                       (["--workers=-1"], "--workers: must be an integer >= 1, got -1"),
                       (["--sleep-ratio", "0", "1"], "--sleep-ratios: must lie in [0, 1), got 1"),
                       (["--workers", "2", "--scheduler", "tcp://x:1"], "not allowed with argument")):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(argv)
        assert info.value.code == 2
        assert text in capsys.readouterr().err


def test_a_fractional_count_stops_the_scan_before_any_run(tmp_path, capsys):
    # issue 15, item 4, from the command line: one message, exit status 2, nothing run
    from scenarios import cli

    out = tmp_path / "scan"
    assert cli.main(["scan", "--quick", "--backend", "numpy", "--param", "n_exc=10.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sleep-snn scan: error: --param n_exc=") and "n_exc is a whole number" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (out / "runs").exists()
