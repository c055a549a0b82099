"""``sleep-snn scan``: its options (the scan itself is run in tests/scenarios/experiments/test_scan.py)."""

import pytest

from scenarios.commands.scan import _fix_ratio_args, build_parser, parse_param


def test_unknown_param_is_named():
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        parse_param("gamma=1,2")
    assert parse_param("sigma=0,1.5") == ("sigma", [0.0, 1.5])
    assert parse_param("t_present=100,250") == ("t_present", [100.0, 250.0])
    with pytest.raises(ValueError, match="must be numbers"):
        parse_param("sigma=a,b")
    with pytest.raises(ValueError, match="NAME=V1"):
        parse_param("sigma")


def test_several_sleep_ratios_are_the_grid():
    argv = _fix_ratio_args(["--sleep-ratio", "0", "0.2", "--seeds", "0", "--no-figures"])
    assert argv == ["--sleep-ratios", "0", "0.2", "--seeds", "0", "--no-figures"]
    args = build_parser().parse_args(argv)
    assert args.ratios == [0.0, 0.2] and args.seeds == [0] and args.no_figures
