"""Tests for scenarios.ann.metrics on hand-written accuracy matrices."""

import math

import numpy as np
import pytest

from scenarios.ann.metrics import (
    average_accuracy,
    backward_transfer,
    check_accuracy_matrix,
    forgetting,
    forward_transfer,
    per_task_accuracy,
)
from scenarios.runs.stats import format_mean_sd, mean_sd

# acc[s, t]: accuracy on task t after stage s
ACC = np.array([
    [0.9, 0.1, 0.0],
    [0.6, 0.8, 0.2],
    [0.3, 0.5, 0.7],
])


def test_average_accuracy():
    assert average_accuracy(ACC) == pytest.approx((0.3 + 0.5 + 0.7) / 3)
    assert average_accuracy(ACC, stage=0) == pytest.approx(0.9)
    assert average_accuracy(ACC, stage=1) == pytest.approx(0.7)
    assert average_accuracy(ACC, stage=1, seen_only=False) == pytest.approx((0.6 + 0.8 + 0.2) / 3)
    assert average_accuracy(ACC, stage=-2) == pytest.approx(0.7)


def test_forgetting():
    # task 0: max(0.9, 0.6) - 0.3 = 0.6 ; task 1: 0.8 - 0.5 = 0.3
    np.testing.assert_allclose(forgetting(ACC, per_task=True), [0.6, 0.3])
    assert forgetting(ACC) == pytest.approx(0.45)
    # the max is over stages after the task was learned, not the final drop only
    acc = np.array([[0.5, 0.0, 0.0], [0.9, 0.7, 0.0], [0.4, 0.7, 0.8]])
    np.testing.assert_allclose(forgetting(acc, per_task=True), [0.5, 0.0])
    # stage-0 accuracy of task 1 (before learning it) does not count
    acc = np.array([[0.5, 0.95], [0.4, 0.6]])
    np.testing.assert_allclose(forgetting(acc, per_task=True), [0.1])


def test_backward_transfer():
    # ((0.3 - 0.9) + (0.5 - 0.8)) / 2
    assert backward_transfer(ACC) == pytest.approx(-0.45)
    improving = np.array([[0.5, 0.0], [0.7, 0.9]])
    assert backward_transfer(improving) == pytest.approx(0.2)


def test_forward_transfer():
    # ((0.1 - 0.05) + (0.2 - 0.1)) / 2
    assert forward_transfer(ACC, [0.1, 0.05, 0.1]) == pytest.approx(0.075)
    with pytest.raises(ValueError, match="baseline"):
        forward_transfer(ACC, [0.1, 0.1])


def test_nan_entries_are_skipped():
    acc = ACC.copy()
    acc[1, 0] = np.nan
    assert forgetting(acc, per_task=True)[0] == pytest.approx(0.6)
    acc[2, 1] = np.nan
    assert average_accuracy(acc) == pytest.approx(0.5)
    assert backward_transfer(acc) == pytest.approx(-0.6)
    with pytest.raises(ValueError, match="NaN"):
        average_accuracy(np.full((2, 2), np.nan))


@pytest.mark.parametrize("bad, word", [
    (np.array([0.1, 0.2]), "2-D"),
    (np.zeros((0, 3)), "empty"),
    (np.array([[0.5, 1.2]]), r"\[0, 1\]"),
    (np.array([[-0.1, 0.2]]), r"\[0, 1\]"),
    (np.array([[np.inf, 0.2]]), r"\[0, 1\]"),
])
def test_check_accuracy_matrix_rejects(bad, word):
    with pytest.raises(ValueError, match=word):
        check_accuracy_matrix(bad)


def test_shape_errors():
    with pytest.raises(ValueError, match="stage"):
        average_accuracy(ACC, stage=3)
    with pytest.raises(ValueError, match="2 stages"):
        forgetting(ACC[:1])
    with pytest.raises(ValueError, match="n_tasks >= n_stages"):
        backward_transfer(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="task columns"):
        average_accuracy(np.zeros((3, 2)), stage=2)


def test_per_task_accuracy():
    labels = np.array([0, 1, 2, 3, 0, 2, 5])
    pred = np.array([0, 0, 2, 2, 0, 2, 5])
    acc = per_task_accuracy(pred, labels, ((0, 1), (2, 3), (4, 5), (6, 7)))
    np.testing.assert_allclose(acc[:3], [2 / 3, 2 / 3, 1.0])
    assert math.isnan(acc[3])
    with pytest.raises(ValueError, match="entries"):
        per_task_accuracy(pred[:3], labels, ((0, 1),))


def test_mean_sd_and_format():
    m, s = mean_sd([0.41, 0.42, 0.44])
    assert m == pytest.approx(0.42333333)
    assert s == pytest.approx(np.std([0.41, 0.42, 0.44], ddof=1))
    assert s == pytest.approx(0.0152753, rel=1e-5)
    m1, s1 = mean_sd([0.5])
    assert m1 == 0.5 and math.isnan(s1)
    assert format_mean_sd([0.416, 0.423, 0.430]) == "42.3 ± 0.7"
    assert format_mean_sd([1.0, 3.0], percent=False, decimals=2) == "2.00 ± 1.41"
    assert format_mean_sd([0.5]) == "50.0"
    with pytest.raises(ValueError):
        mean_sd([])
