"""Continual-learning metrics on accuracy matrices (pure numpy functions).

Conventions (as in Avalanche and Lopez-Paz & Ranzato 2017):

* An *accuracy matrix* ``acc`` has shape ``(n_stages, n_tasks)``;
  ``acc[s, t]`` is the accuracy on task ``t`` after training stage ``s``
  (stage ``s`` = after learning task ``s``, and after its sleep if any). Values
  are fractions in ``[0, 1]``; ``NaN`` marks "not evaluated" and is skipped by
  the averages below.
* Average accuracy after stage ``s`` is the mean over the tasks seen so far
  (``0..s``), as in Tadros et al. (2022) and Avalanche's stream accuracy.
* Forgetting (Chaudhry et al. 2018, restricted to stages after the task was
  learned): for a task ``t`` before the last stage ``T-1``,
  ``f_t = max_{t <= s < T-1} acc[s, t] - acc[T-1, t]``.
* Backward transfer (Lopez-Paz & Ranzato 2017, GEM):
  ``BWT = mean_{t < T-1} (acc[T-1, t] - acc[t, t])``.
* Forward transfer (same paper):
  ``FWT = mean_{1 <= t < T} (acc[t-1, t] - b_t)``, ``b_t`` the accuracy of the
  untrained model on task ``t``.

References
----------
Lopez-Paz, D. & Ranzato, M. (2017). Gradient Episodic Memory for Continual
Learning. NeurIPS.
Chaudhry, A., Dokania, P. K., Ajanthan, T. & Torr, P. H. S. (2018). Riemannian
Walk for Incremental Learning. ECCV.
Lomonaco, V. et al. (2021). Avalanche: an End-to-End Library for Continual
Learning. CVPR Workshops.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "check_accuracy_matrix",
    "average_accuracy",
    "forgetting",
    "backward_transfer",
    "forward_transfer",
    "per_task_accuracy",
]


def check_accuracy_matrix(acc) -> np.ndarray:
    """Validate an accuracy matrix and return it as a float64 array.

    Parameters
    ----------
    acc : array-like, shape (n_stages, n_tasks)
        Accuracies in ``[0, 1]`` or NaN.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        If ``acc`` is not 2-D, is empty, or holds values outside ``[0, 1]``
        (other than NaN), including infinities.
    """
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"accuracy matrix must be 2-D (n_stages, n_tasks); got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"accuracy matrix is empty (shape {a.shape})")
    finite = a[~np.isnan(a)]
    if np.any((finite < 0) | (finite > 1)):
        bad = finite[(finite < 0) | (finite > 1)][0]
        raise ValueError(f"accuracy values must lie in [0, 1] (or be NaN); found {bad!r}")
    return a


def _stage_index(stage: int, n_stages: int) -> int:
    if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)):
        raise ValueError(f"stage={stage!r}: must be an integer")
    if not -n_stages <= stage < n_stages:
        raise ValueError(f"stage={stage}: must lie in [{-n_stages}, {n_stages}) for {n_stages} stages")
    return int(stage) % n_stages


def _nanmean(values: np.ndarray, what: str) -> float:
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError(f"{what}: every entry needed is NaN (not evaluated)")
    return float(values.mean())


def average_accuracy(acc, stage: int = -1, seen_only: bool = True) -> float:
    """Mean accuracy over tasks after one stage.

    Parameters
    ----------
    acc : array-like, shape (n_stages, n_tasks)
    stage : int
        Row of ``acc`` (negative counts from the end); default the last.
    seen_only : bool
        Average over tasks ``0..stage`` only (those learned so far); if False,
        over all tasks.

    Returns
    -------
    float
        NaN entries are skipped; an error is raised if all are NaN.
    """
    a = check_accuracy_matrix(acc)
    s = _stage_index(stage, a.shape[0])
    if seen_only:
        if s >= a.shape[1]:
            raise ValueError(f"stage {s} has seen {s + 1} tasks but acc has only {a.shape[1]} task columns")
        row = a[s, : s + 1]
    else:
        row = a[s]
    return _nanmean(row, "average_accuracy")


def forgetting(acc, per_task: bool = False):
    """Forgetting: best earlier accuracy minus final accuracy, per old task.

    ``f_t = max_{t <= s < T-1} acc[s, t] - acc[T-1, t]`` for ``t < T-1``,
    ``T = n_stages`` (stages before task ``t`` was learned are not counted).

    Parameters
    ----------
    acc : array-like, shape (n_stages, n_tasks), with ``n_tasks >= n_stages >= 2``
    per_task : bool
        Return the array of ``f_t`` (length ``T-1``) instead of their mean.

    Returns
    -------
    float or numpy.ndarray
        Mean forgetting (NaN entries skipped), or the per-task values (NaN
        where undefined). Positive means the task was forgotten.
    """
    a = check_accuracy_matrix(acc)
    T = a.shape[0]
    if T < 2:
        raise ValueError(f"forgetting needs at least 2 stages; got {T}")
    if a.shape[1] < T - 1:
        raise ValueError(f"forgetting needs n_tasks >= n_stages - 1; got shape {a.shape}")
    f = np.full(T - 1, np.nan)
    for t in range(T - 1):
        earlier = a[t : T - 1, t]
        earlier = earlier[~np.isnan(earlier)]
        if earlier.size and not np.isnan(a[T - 1, t]):
            f[t] = earlier.max() - a[T - 1, t]
    return f if per_task else _nanmean(f, "forgetting")


def backward_transfer(acc) -> float:
    """Backward transfer, ``mean_{t < T-1} (acc[T-1, t] - acc[t, t])`` (Lopez-Paz & Ranzato 2017).

    Parameters
    ----------
    acc : array-like, shape (n_stages, n_tasks), with ``n_tasks >= n_stages >= 2``

    Returns
    -------
    float
        Negative values mean forgetting.
    """
    a = check_accuracy_matrix(acc)
    T = a.shape[0]
    if T < 2:
        raise ValueError(f"backward_transfer needs at least 2 stages; got {T}")
    if a.shape[1] < T:
        raise ValueError(f"backward_transfer needs n_tasks >= n_stages; got shape {a.shape}")
    diffs = np.array([a[T - 1, t] - a[t, t] for t in range(T - 1)])
    return _nanmean(diffs, "backward_transfer")


def forward_transfer(acc, baseline) -> float:
    """Forward transfer, ``mean_{1 <= t < T} (acc[t-1, t] - baseline[t])`` (Lopez-Paz & Ranzato 2017).

    Parameters
    ----------
    acc : array-like, shape (n_stages, n_tasks), with ``n_tasks >= n_stages >= 2``
    baseline : array-like, shape (n_tasks,)
        Accuracy on each task of the model before any training.

    Returns
    -------
    float
    """
    a = check_accuracy_matrix(acc)
    b = np.asarray(baseline, dtype=np.float64).reshape(-1)
    T = a.shape[0]
    if T < 2:
        raise ValueError(f"forward_transfer needs at least 2 stages; got {T}")
    if a.shape[1] < T:
        raise ValueError(f"forward_transfer needs n_tasks >= n_stages; got shape {a.shape}")
    if b.shape[0] != a.shape[1]:
        raise ValueError(f"baseline has {b.shape[0]} entries but acc has {a.shape[1]} tasks")
    check_accuracy_matrix(b[None, :])
    diffs = np.array([a[t - 1, t] - b[t] for t in range(1, T)])
    return _nanmean(diffs, "forward_transfer")


def per_task_accuracy(pred, labels, tasks: Sequence[Sequence[int]]) -> np.ndarray:
    """Accuracy on the samples of each task.

    Parameters
    ----------
    pred, labels : array-like of int, shape (n,)
        Predicted and true classes.
    tasks : sequence of sequences of int
        Classes of each task.

    Returns
    -------
    numpy.ndarray, shape (len(tasks),)
        Fraction correct among the samples whose *true* label is in the task;
        NaN for a task with no samples.
    """
    pred = np.asarray(pred).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if pred.shape != labels.shape:
        raise ValueError(f"pred has {pred.shape[0]} entries but labels has {labels.shape[0]}")
    out = np.full(len(tasks), np.nan)
    for t, classes in enumerate(tasks):
        mask = np.isin(labels, list(classes))
        if mask.any():
            out[t] = float(np.mean(pred[mask] == labels[mask]))
    return out
