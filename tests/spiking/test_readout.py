"""Tests of spiking.readout: the three readouts, confusion matrix, label assignment."""

from __future__ import annotations

import numpy as np
import pytest

from spiking.readout import (
    READOUT_METHODS,
    ReadoutResult,
    assign_labels,
    confusion_matrix,
    fit_readout,
    predict_assigned,
)


def _blobs(n_per_class: int, seed: int, n_features: int = 12, sep: float = 6.0):
    """Two Gaussian blobs of non-negative 'spike counts', well separated.

    Class 0 drives the first half of the features, class 1 the second half
    (so that the Diehl & Cook assignment also has something to find).
    """
    rng = np.random.default_rng(seed)
    half = n_features // 2
    mean0 = np.r_[np.full(half, 2.0 + sep), np.full(n_features - half, 2.0)]
    mean1 = mean0[::-1]
    x0 = rng.normal(mean0, 1.0, size=(n_per_class, n_features))
    x1 = rng.normal(mean1, 1.0, size=(n_per_class, n_features))
    x = np.clip(np.vstack([x0, x1]), 0, None)
    y = np.r_[np.zeros(n_per_class, int), np.ones(n_per_class, int)]
    return x, y


@pytest.mark.parametrize("method", READOUT_METHODS)
def test_separable_blobs(method):
    xtr, ytr = _blobs(60, seed=0)
    xte, yte = _blobs(40, seed=1)
    res = fit_readout(xtr, ytr, xte, yte, method=method)
    assert isinstance(res, ReadoutResult)
    assert res.method == method
    assert res.accuracy > 0.95
    assert res.n_train == 120 and res.n_test == 80
    assert res.confusion.shape == (2, 2) and res.confusion.sum() == 80
    assert np.issubdtype(res.confusion.dtype, np.integer)
    np.testing.assert_array_equal(res.classes, [0, 1])
    assert res.predictions.shape == (80,)
    assert res.accuracy == pytest.approx(np.trace(res.confusion) / 80)


def test_random_labels_give_chance_and_learnable_labels_do_not():
    rng = np.random.default_rng(3)
    x = rng.random((2400, 10))
    y_random = rng.integers(0, 2, 2400)
    y_learnable = (x[:, 0] + x[:, 1] > 1).astype(int)
    chance = fit_readout(x[:400], y_random[:400], x[400:], y_random[400:])
    learned = fit_readout(x[:400], y_learnable[:400], x[400:], y_learnable[400:])
    # 2000 test points: chance is 0.5 with sd 0.011
    assert abs(chance.accuracy - 0.5) < 0.05
    assert learned.accuracy > 0.9
    # not a constant answer: both classes are predicted on the random labels
    assert 0.2 < np.mean(chance.predictions) < 0.8


def test_pca_qda_details_and_options():
    xtr, ytr = _blobs(60, seed=0)
    xte, yte = _blobs(20, seed=1)
    res = fit_readout(xtr, ytr, xte, yte, method="pca_qda", variance=0.5, reg_param=0.01)
    assert 1 <= res.details["n_components"] < 12
    assert res.details["explained_variance"] >= 0.5
    full = fit_readout(xtr, ytr, xte, yte, method="pca_qda", variance=1.0)
    assert full.details["n_components"] == 12


def test_logreg_c_option():
    xtr, ytr = _blobs(30, seed=0)
    res = fit_readout(xtr, ytr, xtr, ytr, method="logreg", C=0.01)
    assert res.details["C"] == 0.01 and res.details["converged"]
    with pytest.raises(ValueError, match="C must be > 0"):
        fit_readout(xtr, ytr, xtr, ytr, C=0)


def test_confusion_matrix_hand_example():
    true = [0, 0, 1, 1, 1, 2]
    pred = [0, 1, 1, 1, 2, 2]
    cm = confusion_matrix(true, pred, [0, 1, 2])
    expected = np.array([[1, 1, 0],
                         [0, 2, 1],
                         [0, 0, 1]])
    np.testing.assert_array_equal(cm, expected)
    # rows and columns follow the order of `classes`
    cm2 = confusion_matrix(true, pred, [2, 1, 0])
    np.testing.assert_array_equal(cm2, expected[::-1, ::-1])
    with pytest.raises(ValueError, match="not in classes"):
        confusion_matrix([0, 5], [0, 0], [0, 1])


def test_confusion_includes_test_only_class():
    xtr, ytr = _blobs(20, seed=0)
    xte, _ = _blobs(5, seed=1)
    yte = np.r_[np.zeros(5, int), np.full(5, 7)]
    res = fit_readout(xtr, ytr, xte, yte)
    np.testing.assert_array_equal(res.classes, [0, 1, 7])
    assert res.confusion[2].sum() == 5 and res.confusion[:, 2].sum() == 0


def test_assign_labels_hand_example():
    # 4 images (classes 0, 0, 1, 2), 4 neurons
    features = np.array([[5, 0, 1, 0],
                         [3, 0, 1, 0],
                         [0, 4, 1, 0],
                         [1, 1, 9, 0]], dtype=float)
    labels = np.array([0, 0, 1, 2])
    assignment = assign_labels(features, labels, [0, 1, 2])
    # neuron 0: means (4, 0, 1) -> 0; neuron 1: (0, 4, 1) -> 1; neuron 2: (1, 1, 9) -> 2;
    # neuron 3 never fires: tie -> first class
    np.testing.assert_array_equal(assignment, [0, 1, 2, 0])
    pred = predict_assigned(np.array([[0, 3, 0, 0], [0, 0, 2, 0], [6, 0, 0, 0]], float),
                            assignment, [0, 1, 2])
    np.testing.assert_array_equal(pred, [1, 2, 0])
    # a class without images is never assigned
    np.testing.assert_array_equal(assign_labels(features, labels, [0, 1, 2, 3]), [0, 1, 2, 0])


def test_predict_assigned_ignores_classes_without_neurons():
    pred = predict_assigned(np.zeros((3, 2)), np.array([2, 2]), [0, 1, 2])
    np.testing.assert_array_equal(pred, [2, 2, 2])


@pytest.mark.parametrize("method", READOUT_METHODS)
def test_constant_features_do_not_crash(method):
    rng = np.random.default_rng(0)
    y = rng.permutation(np.arange(400) % 4)
    zeros = np.zeros((400, 30))
    res = fit_readout(zeros[:300], y[:300], zeros[300:], y[300:], method=method)
    assert res.accuracy == pytest.approx(0.25, abs=0.1)
    assert len(np.unique(res.predictions)) == 1
    assert res.details["n_constant_features"] == 30


@pytest.mark.parametrize("method", ["logreg", "pca_qda"])
def test_some_constant_columns(method):
    xtr, ytr = _blobs(40, seed=0)
    xte, yte = _blobs(20, seed=1)
    xtr = np.c_[xtr, np.zeros(len(xtr)), np.full(len(xtr), 3.0)]
    xte = np.c_[xte, np.zeros(len(xte)), np.full(len(xte), 3.0)]
    res = fit_readout(xtr, ytr, xte, yte, method=method)
    assert res.accuracy > 0.95
    assert res.details["n_constant_features"] == 2


def test_bad_inputs_name_the_argument():
    x, y = _blobs(10, seed=0)
    with pytest.raises(ValueError, match="train_features must be 2-D"):
        fit_readout(x[0], y, x, y)
    with pytest.raises(ValueError, match="test_labels has 19 entries"):
        fit_readout(x, y, x, y[:-1])
    with pytest.raises(ValueError, match="train_labels has 19 entries"):
        fit_readout(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="columns"):
        fit_readout(x, y, x[:, :5], y)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="test_features contains 1 NaN"):
        fit_readout(x, y, bad, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_readout(x, np.zeros_like(y), x, y)
    with pytest.raises(ValueError, match="logreg"):
        fit_readout(x, y, x, y, method="svm")
    with pytest.raises(TypeError, match="reg_param"):
        fit_readout(x, y, x, y, method="logreg", reg_param=0.1)
    with pytest.raises(ValueError, match="assignment must have shape"):
        predict_assigned(x, np.zeros(3), [0, 1])


def test_pca_qda_on_collinear_features_gives_an_accuracy():
    """Duplicated and linearly dependent columns, classes with fewer images than components and a
    single-image class: the regularised QDA (the reference code's reg_param 0.1, whitened PCA) fits
    and scores instead of raising."""
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(5), [12, 12, 12, 12, 1])
    base = rng.normal(size=(len(y), 6)) + y[:, None]
    x = np.concatenate([base, base, base[:, :3] * 2 - base[:, 3:], rng.normal(size=(len(y), 30))], axis=1)
    res = fit_readout(x, y, x, y, method="pca_qda", variance=0.95, reg_param=0.1, whiten=True)
    assert 0.5 < res.accuracy <= 1.0
    assert res.details["n_components"] > 12  # more components than images in any class
    with pytest.raises(ValueError, match="reg_param=0"):
        fit_readout(x, y, x, y, method="pca_qda", reg_param=0.0)
