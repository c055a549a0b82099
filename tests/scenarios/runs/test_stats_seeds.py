"""Mean ± sd (scenarios.runs.stats) and derived seeds (scenarios.runs.seeds)."""

import math

import numpy as np
import pytest

from scenarios.runs.seeds import derived_seed
from scenarios.runs.stats import format_mean_sd, format_pct, format_stat, mean_sd, trial_stat


def test_mean_sd_is_the_sample_sd():
    m, s = mean_sd([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and s == pytest.approx(math.sqrt(5 / 3))  # ddof = 1
    m1, s1 = mean_sd([0.7])
    assert m1 == 0.7 and math.isnan(s1)
    with pytest.raises(ValueError):
        mean_sd([])


def test_formatting():
    assert format_mean_sd([0.40, 0.44]) == "42.0 ± 2.8"
    assert format_mean_sd([0.4]) == "40.0"
    stat = trial_stat([0.4, None, 0.44])
    assert stat["per_trial"] == [0.4, 0.44] and stat["mean"] == pytest.approx(0.42)
    assert format_pct(stat) == "42.0 ± 2.8"
    assert format_stat(trial_stat([1234.5]), digits=3) == "1.23e+03"
    assert trial_stat([]) == {"mean": None, "sd": None, "per_trial": []}
    assert format_pct(trial_stat([])) == "–"


def test_derived_seeds_are_stable_and_distinct():
    # the values the protocols have always used (numpy SeedSequence words)
    seq = np.random.SeedSequence([7, 1, 2])
    assert derived_seed(7, 1, 2) == int(seq.generate_state(1, np.uint64)[0] >> 1)
    assert derived_seed(7, 1, 2, width=32) == int(seq.generate_state(1, np.uint32)[0])
    assert derived_seed(7, 1, 2) == derived_seed(7, 1, 2)
    assert len({derived_seed(7, 1, k) for k in range(100)}) == 100
    assert 0 <= derived_seed(0) < 2 ** 63 and 0 <= derived_seed(0, width=32) < 2 ** 32
    with pytest.raises(ValueError, match="width=16"):
        derived_seed(1, width=16)


def test_format_pair_matches_format_mean_sd():
    from scenarios.runs.stats import format_mean_sd, format_pair, mean_sd

    values = [0.42, 0.45, 0.40]
    assert format_pair(mean_sd(values)) == format_mean_sd(values) == "42.3 ± 2.5"
    assert format_pair((0.5, None)) == format_pair((0.5, float("nan"))) == "50.0"
    assert format_pair((2.0, 0.25), percent=False, decimals=2) == "2.00 ± 0.25"


def test_paired_difference_by_hand():
    from scenarios.runs.stats import paired_difference

    a = [0.40, 0.45, 0.42, 0.50, 0.41]
    b = [0.38, 0.40, 0.43, 0.44, 0.37]
    out = paired_difference(a, b)
    d = np.array(a) - np.array(b)  # 0.02, 0.05, -0.01, 0.06, 0.04
    assert out["mean"] == pytest.approx(d.mean())
    assert out["sd"] == pytest.approx(d.std(ddof=1))
    assert out["t"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(5)))
    assert out["wins"] == 4 and out["n"] == 5
    assert out["p_wilcoxon"] == pytest.approx(2 * 2 / 32)  # ranks: only the smallest |d| is negative
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([1.0], [2.0])
