"""Seeded image distortions for robustness tests (pure functions).

Seed 000 (Chawda, Delanois, Krishnan & Bazhenov, *Sleep-like replay reduces
loss-landscape sharpness to improve generalization*, AAAI student abstract)
tests models trained on clean MNIST on Gaussian noise, salt-and-pepper noise
(0.1–0.6) and speckle noise (0.25–1.0), one data set per type and level.

All functions take images with values in ``[0, 1]`` (any shape, a floating
dtype), draw their randomness from ``numpy.random.default_rng(seed)``, clip the
result to ``[0, 1]`` and return a new array of the same shape and dtype
(float32 in → float32 out). The input is never modified.

Definitions (``x`` a pixel, ``n ~ N(0, 1)`` independent per pixel):

* ``gaussian_noise``: ``clip(x + σ·n)``.
* ``salt_pepper``: each pixel independently, with probability ``fraction``, is
  replaced by 0 or 1 with equal probability (so ``fraction`` of the pixels in
  expectation; pixels already at that value do not change).
* ``speckle``: ``clip(x + x·σ·n)`` (multiplicative noise of sd ``σ``).

Note that the levels here are *standard deviations*; scikit-image's
``random_noise`` parametrises Gaussian and speckle noise by the variance.
Seed 000 does not say which it used.

:func:`distorted_sets` uses the same seed for every level (common random
numbers): the noise pattern is the same and only its amplitude (or, for
salt-and-pepper, the nested set of hit pixels) grows with the level, so
differences between levels are not blurred by sampling noise.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np

__all__ = [
    "gaussian_noise",
    "salt_pepper",
    "speckle",
    "DISTORTIONS",
    "DEFAULT_LEVELS",
    "LEVEL_RANGES",
    "distorted_sets",
]


def _check_images(images) -> np.ndarray:
    x = np.asarray(images)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"images must have a floating dtype with values in [0, 1]; got dtype {x.dtype} "
                        "(scale integer images, e.g. uint8 / 255, first)")
    return x


def _check_level(name: str, value, upper: float | None) -> float:
    allowed = f"[0, {upper:g}]" if upper is not None else "[0, inf)"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={value!r}: must be a number in {allowed}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (upper is not None and v > upper):
        raise ValueError(f"{name}={value!r}: must lie in {allowed}")
    return v


def _noise_dtype(dtype: np.dtype) -> type:
    return np.float32 if dtype == np.float32 else np.float64


def _add_gaussian(images, sigma: float, seed: int, multiplicative: bool) -> np.ndarray:
    """``clip(x + sigma·n, 0, 1)`` or, if ``multiplicative``, ``clip(x + x·sigma·n, 0, 1)``."""
    x = _check_images(images)
    sigma = _check_level("sigma", sigma, None)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.shape, dtype=_noise_dtype(x.dtype))
    scaled = noise * noise.dtype.type(sigma)
    out = x + (x * scaled if multiplicative else scaled)
    return np.clip(out, 0, 1).astype(x.dtype, copy=False)


def gaussian_noise(images, sigma: float, seed: int) -> np.ndarray:
    """Additive Gaussian noise, ``clip(x + sigma·n, 0, 1)``.

    Parameters
    ----------
    images : numpy.ndarray, floating, values in [0, 1]
    sigma : float
        Noise standard deviation, ``sigma >= 0`` (0 returns a clipped copy).
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``images``.
    """
    return _add_gaussian(images, sigma, seed, multiplicative=False)


def salt_pepper(images, fraction: float, seed: int) -> np.ndarray:
    """Salt-and-pepper noise: a ``fraction`` of pixels set to 0 or 1.

    Each pixel is hit independently with probability ``fraction``; a hit
    pixel becomes 1 (salt) or 0 (pepper) with probability ½ each.

    Parameters
    ----------
    images : numpy.ndarray, floating, values in [0, 1]
    fraction : float
        ``0 <= fraction <= 1``.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``images``.
    """
    x = _check_images(images)
    fraction = _check_level("fraction", fraction, 1.0)
    rng = np.random.default_rng(seed)
    hit = rng.random(x.shape, dtype=np.float64) < fraction
    salt = rng.random(x.shape, dtype=np.float32) < 0.5
    out = np.where(hit, salt.astype(x.dtype), x)
    return np.clip(out, 0, 1).astype(x.dtype, copy=False)


def speckle(images, sigma: float, seed: int) -> np.ndarray:
    """Multiplicative (speckle) noise, ``clip(x + x·sigma·n, 0, 1)``.

    Parameters
    ----------
    images : numpy.ndarray, floating, values in [0, 1]
    sigma : float
        Standard deviation of the multiplicative noise, ``sigma >= 0``.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``images``.
    """
    return _add_gaussian(images, sigma, seed, multiplicative=True)


#: name -> function(images, level, seed)
DISTORTIONS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": gaussian_noise,
    "saltpepper": salt_pepper,
    "speckle": speckle,
}

#: The levels of seed 000 (Gaussian levels: our choice, σ 0.1–0.6).
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "gaussian": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
    "saltpepper": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
    "speckle": (0.25, 0.5, 0.75, 1.0),
}

#: Allowed level range per kind, (low, high); high None = unbounded.
LEVEL_RANGES: dict[str, tuple[float, float | None]] = {
    "gaussian": (0.0, None),
    "saltpepper": (0.0, 1.0),
    "speckle": (0.0, None),
}

_LEVEL_NAMES = {"gaussian": "sigma", "saltpepper": "fraction", "speckle": "sigma"}


def distorted_sets(images, kind: str, levels: Iterable[float] | None = None, seed: int = 0) -> dict[float, np.ndarray]:
    """One distorted copy of ``images`` per level.

    Parameters
    ----------
    images : numpy.ndarray, floating, values in [0, 1]
    kind : {"gaussian", "saltpepper", "speckle"}
    levels : iterable of float, optional
        Defaults to ``DEFAULT_LEVELS[kind]``. All are validated before any
        distortion is computed.
    seed : int
        Seed used for every level (common random numbers).

    Returns
    -------
    dict
        ``{level: distorted images}`` in the order given.
    """
    if kind not in DISTORTIONS:
        raise ValueError(f"kind={kind!r}: must be one of {tuple(DISTORTIONS)}")
    levels = DEFAULT_LEVELS[kind] if levels is None else tuple(levels)
    upper = LEVEL_RANGES[kind][1]
    name = _LEVEL_NAMES[kind]
    for lv in levels:
        _check_level(f"{kind} level ({name})", lv, upper)
    fn = DISTORTIONS[kind]
    return {lv: fn(images, lv, seed) for lv in levels}
