"""Tests for scenarios.distortions."""

import numpy as np
import pytest

from scenarios.ann.distortions import (
    DEFAULT_LEVELS,
    DISTORTIONS,
    distorted_sets,
    gaussian_noise,
    salt_pepper,
    speckle,
)


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    x = rng.random((20, 28, 28), dtype=np.float32)
    x[:, :5] = 0.0  # a dark border, as in MNIST
    return x


@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
def test_shape_dtype_range_and_input_untouched(images, kind):
    original = images.copy()
    for level in DEFAULT_LEVELS[kind]:
        out = DISTORTIONS[kind](images, level, 1)
        assert out.shape == images.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert not np.array_equal(out, images)
    assert np.array_equal(images, original)
    out64 = DISTORTIONS[kind](images.astype(np.float64), DEFAULT_LEVELS[kind][0], 1)
    assert out64.dtype == np.float64


@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
def test_reproducible_by_seed(images, kind):
    level = DEFAULT_LEVELS[kind][1]
    a = DISTORTIONS[kind](images, level, 7)
    b = DISTORTIONS[kind](images, level, 7)
    c = DISTORTIONS[kind](images, level, 8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind", sorted(DISTORTIONS))
def test_level_zero_is_identity(images, kind):
    assert np.array_equal(DISTORTIONS[kind](images, 0.0, 3), images)


def test_gaussian_statistics():
    x = np.full((200, 50, 50), 0.5, np.float32)
    out = gaussian_noise(x, 0.1, 0)  # clipping is negligible at 5 sd
    assert abs(float(out.mean()) - 0.5) < 1e-3
    assert float(out.std()) == pytest.approx(0.1, rel=0.01)


def test_salt_pepper_fraction_and_values():
    x = np.full((100, 28, 28), 0.5, np.float32)
    out = salt_pepper(x, 0.3, 0)
    changed = out != 0.5
    assert changed.mean() == pytest.approx(0.3, abs=0.01)
    assert set(np.unique(out[changed])) == {0.0, 1.0}
    assert (out[changed] == 1.0).mean() == pytest.approx(0.5, abs=0.02)
    assert np.array_equal(salt_pepper(x, 1.0, 0) != 0.5, np.ones_like(x, bool))


def test_speckle_is_multiplicative():
    x = np.zeros((10, 28, 28), np.float32)
    x[:, 10:] = 0.4
    out = speckle(x, 0.25, 0)
    assert np.all(out[:, :10] == 0.0)  # zero pixels stay zero
    rel = out[:, 10:] / 0.4 - 1.0  # clipped only beyond -4 / +6 sd
    assert abs(float(rel.mean())) < 0.01
    assert float(rel.std()) == pytest.approx(0.25, rel=0.03)


def test_distorted_sets(images):
    sets = distorted_sets(images, "saltpepper", seed=4)
    assert list(sets) == list(DEFAULT_LEVELS["saltpepper"])
    assert np.array_equal(sets[0.2], salt_pepper(images, 0.2, 4))
    # common random numbers: the pixels hit at 0.1 are also hit at 0.2
    hit1, hit2 = sets[0.1] != images, sets[0.2] != images
    assert np.all(hit2[hit1]) and hit2.sum() > hit1.sum()
    custom = distorted_sets(images, "speckle", levels=(0.25, 1.0), seed=0)
    assert list(custom) == [0.25, 1.0]


@pytest.mark.parametrize("call, words", [
    (lambda x: gaussian_noise(x, -0.1, 0), ["sigma", "-0.1", "[0, inf)"]),
    (lambda x: speckle(x, float("nan"), 0), ["sigma", "nan"]),
    (lambda x: salt_pepper(x, 1.5, 0), ["fraction", "1.5", "[0, 1]"]),
    (lambda x: salt_pepper(x, -0.2, 0), ["fraction", "-0.2", "[0, 1]"]),
    (lambda x: distorted_sets(x, "blur", (0.1,)), ["kind", "'blur'", "gaussian"]),
    (lambda x: distorted_sets(x, "saltpepper", (0.1, 2.0)), ["saltpepper", "2.0", "[0, 1]"]),
    (lambda x: distorted_sets(x, "speckle", (-1,)), ["speckle", "-1", "[0, inf)"]),
])
def test_bad_levels_raise(images, call, words):
    with pytest.raises(ValueError) as err:
        call(images)
    for w in words:
        assert w in str(err.value)


def test_integer_images_rejected():
    with pytest.raises(TypeError, match="floating"):
        gaussian_noise(np.zeros((2, 4, 4), np.uint8), 0.1, 0)
