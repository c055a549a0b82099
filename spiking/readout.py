"""Reading out class labels from spike-count (or pixel) features.

Pure functions on arrays (no Brian2). A *feature matrix* has one row per
image and one column per neuron (spike counts or mean rates, any
non-negative unit; only relative values matter) or per pixel.

Methods (:data:`READOUT_METHODS`):

``"logreg"`` (default)
    Standardise (:class:`~sklearn.preprocessing.StandardScaler` fitted on the
    training features) → multinomial
    :class:`~sklearn.linear_model.LogisticRegression` (lbfgs). Keyword
    arguments: ``C`` (inverse L2 strength, default 1.0), ``max_iter``
    (default 1000).
``"pca_qda"``
    The readout of the sleep-regularisation paper (arXiv 2601.08447):
    standardise → PCA keeping a fraction ``variance`` of the variance
    (default 0.95), optionally whitened (``whiten``, default False; the
    reference code whitens) → :class:`~sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis`
    with ``reg_param`` (default 1e-3; the reference code uses 0.1) so that
    singular class covariances (collinear features, classes with fewer
    images than components) do not break it: QDA then shrinks every class
    covariance towards the identity, ``(1 - reg) S + reg I``.
``"diehl_cook"``
    Diehl & Cook (2015): each neuron is assigned to the class for which its
    mean training response is highest (:func:`assign_labels`); an image is
    classified as the class whose assigned neurons respond most on average
    (:func:`predict_assigned`). No free parameters.

A silent network (all-zero or constant features) is a legitimate outcome:
every method then predicts a single class (the most frequent training class
for ``logreg`` and ``pca_qda``) and the accuracy is at chance level, rather
than raising an exception.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

__all__ = [
    "READOUT_METHODS",
    "ReadoutResult",
    "RegularisedCovariance",
    "assign_labels",
    "confusion_matrix",
    "fit_readout",
    "predict_assigned",
]

#: Methods accepted by :func:`fit_readout`.
READOUT_METHODS = ("logreg", "pca_qda", "diehl_cook")

_METHOD_KWARGS = {
    "logreg": {"C": 1.0, "max_iter": 1000},
    "pca_qda": {"variance": 0.95, "reg_param": 1e-3, "whiten": False},
    "diehl_cook": {},
}


@dataclass(frozen=True)
class ReadoutResult:
    """Outcome of one readout fit.

    Attributes
    ----------
    method : str
        One of :data:`READOUT_METHODS`.
    accuracy : float
        Fraction of test images classified correctly, in [0, 1].
    confusion : numpy.ndarray
        int64, shape ``(n_classes, n_classes)``; ``confusion[i, j]`` counts
        test images of class ``classes[i]`` predicted as ``classes[j]``
        (rows = true class).
    classes : numpy.ndarray
        Sorted labels occurring in the training or the test labels; the order
        of the confusion rows and columns.
    predictions : numpy.ndarray
        Predicted label per test image, shape ``(n_test,)``.
    n_train, n_test : int
        Number of training and test images.
    details : dict
        Method-specific information (JSON-friendly scalars and lists), e.g.
        ``n_components`` for ``pca_qda``, ``converged`` for ``logreg``, the
        neuron ``assignment`` for ``diehl_cook``, ``n_constant_features``,
        ``train_accuracy`` and any warnings raised while fitting.
    """

    method: str
    accuracy: float
    confusion: np.ndarray
    classes: np.ndarray
    predictions: np.ndarray
    n_train: int
    n_test: int
    details: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------
def _check_features(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_images, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def _check_labels(y: Any, name: str, n_rows: int, features_name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but {features_name} has {n_rows} rows")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer floats")
        arr = arr.astype(np.int64)
    return arr


def confusion_matrix(true: Any, pred: Any, classes: Any) -> np.ndarray:
    """Count (true, predicted) label pairs.

    Parameters
    ----------
    true, pred : array_like
        1-D label arrays of equal length.
    classes : array_like
        The labels indexing rows and columns, in that order. Every label in
        ``true`` and ``pred`` must be one of them.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(len(classes), len(classes))``; entry ``[i, j]`` is
        the number of items of true class ``classes[i]`` predicted as
        ``classes[j]``. Row sums are the class sizes in ``true``.
    """
    true = np.asarray(true)
    pred = np.asarray(pred)
    classes = np.asarray(classes)
    if true.ndim != 1 or pred.ndim != 1 or true.shape != pred.shape:
        raise ValueError(
            f"true and pred must be 1-D of equal length, got shapes {true.shape} and {pred.shape}")
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(f"classes must be a non-empty 1-D array, got shape {classes.shape}")
    if np.unique(classes).size != classes.size:
        raise ValueError("classes must not contain duplicates")
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]

    def positions(labels: np.ndarray, name: str) -> np.ndarray:
        pos = np.searchsorted(sorted_classes, labels)
        pos = np.clip(pos, 0, classes.size - 1)
        bad = sorted_classes[pos] != labels
        if np.any(bad):
            raise ValueError(
                f"{name} contains labels not in classes: {np.unique(labels[bad]).tolist()}")
        return order[pos]

    t = positions(true, "true")
    p = positions(pred, "pred")
    k = classes.size
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def assign_labels(features: Any, labels: Any, classes: Any) -> np.ndarray:
    """Assign each neuron to the class it responds to most (Diehl & Cook 2015).

    Parameters
    ----------
    features : array_like
        Shape ``(n_images, n_neurons)``, responses (spike counts or rates).
    labels : array_like
        Shape ``(n_images,)``, class of each image.
    classes : array_like
        The candidate classes. Classes without any image get a mean response
        of −inf and are never assigned.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_neurons,)``, dtype of ``classes``: for each neuron the
        class with the highest mean response over that class's images. Ties
        (for example a neuron that never fires) go to the first of the tied
        classes in the order of ``classes``.
    """
    x = _check_features(features, "features")
    y = _check_labels(labels, "labels", x.shape[0], "features")
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(f"classes must be a non-empty 1-D array, got shape {classes.shape}")
    means = np.full((classes.size, x.shape[1]), -np.inf)
    for k, c in enumerate(classes):
        mask = y == c
        if np.any(mask):
            means[k] = x[mask].mean(axis=0)
    if not np.any(np.isfinite(means)):
        raise ValueError("none of classes occurs in labels")
    return classes[np.argmax(means, axis=0)]


def predict_assigned(features: Any, assignment: Any, classes: Any) -> np.ndarray:
    """Classify images from neuron assignments (Diehl & Cook 2015).

    Parameters
    ----------
    features : array_like
        Shape ``(n_images, n_neurons)``.
    assignment : array_like
        Shape ``(n_neurons,)``, class of each neuron (from :func:`assign_labels`).
    classes : array_like
        Candidate classes.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_images,)``: for each image the class whose assigned neurons
        have the highest mean response. Classes with no assigned neuron are
        never predicted; ties go to the first tied class in ``classes``.
    """
    x = _check_features(features, "features")
    assignment = np.asarray(assignment)
    if assignment.ndim != 1 or assignment.shape[0] != x.shape[1]:
        raise ValueError(
            f"assignment must have shape ({x.shape[1]},) (one class per feature column), "
            f"got {assignment.shape}")
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(f"classes must be a non-empty 1-D array, got shape {classes.shape}")
    scores = np.full((x.shape[0], classes.size), -np.inf)
    for k, c in enumerate(classes):
        mask = assignment == c
        if np.any(mask):
            scores[:, k] = x[:, mask].mean(axis=1)
    if not np.any(np.isfinite(scores[0])):
        raise ValueError("no neuron is assigned to any of classes")
    return classes[np.argmax(scores, axis=1)]


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------
class RegularisedCovariance:
    """Covariance estimator ``(1 - reg) * S + reg * I`` (S the biased sample covariance).

    Scikit-learn's covariance-estimator protocol (``fit`` and ``covariance_``),
    for :class:`~sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis`
    with ``solver="eigen"``: every class covariance is full rank for
    ``reg > 0``, however few images or collinear the features.

    Parameters
    ----------
    reg : float
        Weight of the identity, in [0, 1].
    """

    def __init__(self, reg: float = 1e-3):
        self.reg = float(reg)

    def get_params(self, deep: bool = True) -> dict:
        return {"reg": self.reg}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        Xc = X - X.mean(axis=0)
        S = Xc.T @ Xc / max(len(X), 1)
        self.covariance_ = (1.0 - self.reg) * S + self.reg * np.eye(X.shape[1])
        return self


def _majority(y: np.ndarray) -> Any:
    values, counts = np.unique(y, return_counts=True)
    return values[np.argmax(counts)]


def fit_readout(train_features: Any, train_labels: Any, test_features: Any, test_labels: Any,
                method: str = "logreg", seed: int = 0, **kw: Any) -> ReadoutResult:
    """Fit a readout on training features and evaluate it on test features.

    Parameters
    ----------
    train_features, test_features : array_like
        Shapes ``(n_train, n_features)`` and ``(n_test, n_features)``: one row
        per image (e.g. spike counts of every neuron, or flattened pixels).
        Finite numbers; constant columns are allowed.
    train_labels, test_labels : array_like
        Integer class labels, shapes ``(n_train,)`` and ``(n_test,)``. The
        training labels must contain at least 2 classes.
    method : {"logreg", "pca_qda", "diehl_cook"}
        See the module docstring.
    seed : int
        ``random_state`` passed to the scikit-learn estimators (the methods
        are deterministic given the data; recorded in ``details``).
    **kw
        Method options: ``logreg``: ``C`` (> 0, default 1.0), ``max_iter``
        (default 1000); ``pca_qda``: ``variance`` (fraction in (0, 1],
        default 0.95), ``reg_param`` (in [0, 1], default 1e-3), ``whiten``
        (bool, default False);
        ``diehl_cook``: none.

    Returns
    -------
    ReadoutResult

    Raises
    ------
    ValueError
        Unknown ``method``, badly shaped or non-finite features, label
        lengths that do not match, fewer than 2 training classes, invalid
        option values.
    TypeError
        Options that the method does not take.
    """
    if method not in READOUT_METHODS:
        raise ValueError(f"method must be one of {READOUT_METHODS}, got {method!r}")
    unknown = sorted(set(kw) - set(_METHOD_KWARGS[method]))
    if unknown:
        allowed = ", ".join(_METHOD_KWARGS[method]) or "none"
        raise TypeError(f"method {method!r} got unknown options {unknown}; allowed: {allowed}")
    opts = {**_METHOD_KWARGS[method], **kw}

    xtr = _check_features(train_features, "train_features")
    xte = _check_features(test_features, "test_features")
    ytr = _check_labels(train_labels, "train_labels", xtr.shape[0], "train_features")
    yte = _check_labels(test_labels, "test_labels", xte.shape[0], "test_features")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"train_features has {xtr.shape[1]} columns but test_features has {xte.shape[1]}; "
            "they must describe the same features")
    train_classes = np.unique(ytr)
    if train_classes.size < 2:
        raise ValueError(
            f"train_labels must contain at least 2 classes, got {train_classes.tolist()}")
    classes = np.union1d(train_classes, np.unique(yte))

    constant = np.ptp(xtr, axis=0) == 0
    details: dict[str, Any] = {"seed": int(seed), "n_features": int(xtr.shape[1]),
                               "n_constant_features": int(constant.sum())}
    caught: list[warnings.WarningMessage] = []

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "diehl_cook":
            assignment = assign_labels(xtr, ytr, train_classes)
            pred_tr = predict_assigned(xtr, assignment, train_classes)
            pred = predict_assigned(xte, assignment, train_classes)
            details["assignment"] = assignment.tolist()
            details["n_assigned_per_class"] = {
                str(c): int(np.count_nonzero(assignment == c)) for c in train_classes}
        elif constant.all():
            # Silent or uninformative network: nothing to fit, predict the majority class.
            majority = _majority(ytr)
            pred_tr = np.full(ytr.shape, majority)
            pred = np.full(yte.shape, majority)
            details["fallback"] = "all features constant: predicted the most frequent class"
        elif method == "logreg":
            c_value = float(opts["C"])
            if not c_value > 0:
                raise ValueError(f"C must be > 0, got {opts['C']!r}")
            scaler = StandardScaler().fit(xtr)
            clf = LogisticRegression(C=c_value, max_iter=int(opts["max_iter"]),
                                     solver="lbfgs", random_state=seed)
            clf.fit(scaler.transform(xtr), ytr)
            pred_tr = clf.predict(scaler.transform(xtr))
            pred = clf.predict(scaler.transform(xte))
            n_iter = int(np.max(clf.n_iter_))
            details.update(C=c_value, max_iter=int(opts["max_iter"]), n_iter=n_iter,
                           converged=bool(n_iter < int(opts["max_iter"])))
        else:  # pca_qda
            variance = float(opts["variance"])
            reg_param = float(opts["reg_param"])
            if not 0 < variance <= 1:
                raise ValueError(f"variance must be in (0, 1], got {opts['variance']!r}")
            if not 0 <= reg_param <= 1:
                raise ValueError(f"reg_param must be in [0, 1], got {opts['reg_param']!r}")
            counts = np.unique(ytr, return_counts=True)[1]
            if counts.min() < 2 and reg_param <= 0:
                raise ValueError(
                    "pca_qda without regularisation (reg_param=0) needs at least 2 training images "
                    f"per class to estimate a covariance; the smallest class has {counts.min()}")
            keep = ~constant
            scaler = StandardScaler().fit(xtr[:, keep])
            ztr = scaler.transform(xtr[:, keep])
            zte = scaler.transform(xte[:, keep])
            n_comp: float | int = variance if variance < 1 else min(ztr.shape)
            pca = PCA(n_components=n_comp, svd_solver="full", whiten=bool(opts["whiten"]),
                      random_state=seed).fit(ztr)
            ptr, pte = pca.transform(ztr), pca.transform(zte)
            # the eigen solver with a shrunk covariance, (1 - reg) S + reg I: the
            # svd solver of recent scikit-learn refuses classes with fewer images
            # than components, whatever reg_param
            # scikit-learn estimates no covariance from a single image: such classes
            # (possible only with reg_param > 0) are left out and never predicted
            cls, n_per = np.unique(ytr, return_counts=True)
            fit_rows = np.isin(ytr, cls[n_per >= 2])
            if np.unique(ytr[fit_rows]).size < 2:
                raise ValueError("pca_qda needs at least 2 classes with 2 or more training images")
            if not fit_rows.all():
                details["classes_left_out"] = cls[n_per < 2].tolist()
            qda = QuadraticDiscriminantAnalysis(
                solver="eigen", covariance_estimator=RegularisedCovariance(reg_param)).fit(
                    ptr[fit_rows], ytr[fit_rows])
            pred_tr = qda.predict(ptr)
            pred = qda.predict(pte)
            details.update(variance=variance, reg_param=reg_param, whiten=bool(opts["whiten"]),
                           n_components=int(pca.n_components_),
                           explained_variance=float(pca.explained_variance_ratio_.sum()))
    if caught:
        details["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})

    pred = np.asarray(pred)
    details["train_accuracy"] = float(np.mean(np.asarray(pred_tr) == ytr))
    accuracy = float(np.mean(pred == yte))
    return ReadoutResult(method=method, accuracy=accuracy,
                         confusion=confusion_matrix(yte, pred, classes), classes=classes,
                         predictions=pred, n_train=int(xtr.shape[0]), n_test=int(xte.shape[0]),
                         details=details)
