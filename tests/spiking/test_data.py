"""Tests of spiking.data: IDX files, dataset lookup, loading, resizing, toy sets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from spiking import data
from spiking.data import (
    DATASETS,
    DataError,
    Dataset,
    find_data_dir,
    load_dataset,
    make_patches,
    read_idx,
    resize,
    write_idx,
)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _fake_idx_dataset(directory: Path, n_train: int = 60, n_test: int = 20, side: int = 28,
                      gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write a small MNIST-like dataset (labels 0..9 cyclic) and return train arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    out = None
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        img_name, lab_name = data.IDX_FILES[split]
        write_idx(directory / (img_name + suffix), images)
        write_idx(directory / (lab_name + suffix), labels)
        if split == "train":
            out = (images, labels)
    assert out is not None
    return out


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)


# --------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_images_and_labels(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    write_idx(tmp_path / ("img" + suffix), images)
    write_idx(tmp_path / ("lab" + suffix), labels)
    img_back = read_idx(tmp_path / ("img" + suffix))
    lab_back = read_idx(tmp_path / ("lab" + suffix))
    assert img_back.dtype == np.uint8 and img_back.shape == (7, 5, 4)
    np.testing.assert_array_equal(img_back, images)
    np.testing.assert_array_equal(lab_back, labels)
    raw = (tmp_path / ("img" + suffix)).read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"  # really gzip
        raw = gzip.decompress(raw)
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # magic 0x00000803
    assert len(raw) == 4 + 3 * 4 + images.size


def test_idx_round_trip_int32_big_endian(tmp_path):
    arr = np.array([1, -2, 70000], dtype=np.int32)
    write_idx(tmp_path / "x.idx", arr)
    raw = (tmp_path / "x.idx").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 1])
    assert raw[8:12] == (1).to_bytes(4, "big")
    back = read_idx(tmp_path / "x.idx")
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, arr)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_idx_names_file_and_byte_counts(tmp_path, suffix):
    path = tmp_path / ("train-images-idx3-ubyte" + suffix)
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    payload = bytes([0, 0, 8, 3]) + np.array([10, 28, 28], ">u4").tobytes() + images.tobytes()
    payload = payload[:16 + 1000]
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with pytest.raises(DataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert path.name in msg
    assert "7840" in msg and "1000" in msg
    assert "10×28×28" in msg


def test_bad_magic_raises(tmp_path):
    path = tmp_path / "bogus"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


def test_unknown_type_code_raises(tmp_path):
    path = tmp_path / "bogus"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + (2).to_bytes(4, "big") + b"\x00\x00")
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


def test_corrupt_gzip_raises(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    good = gzip.compress(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(100))
    path.write_bytes(good[:-12] + b"garbage!")
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope.gz")


# --------------------------------------------------------------------------
# finding and loading IDX datasets
# --------------------------------------------------------------------------
def test_missing_dataset_lists_expected_files_and_dirs(tmp_path, no_env):
    with pytest.raises(DataError) as info:
        find_data_dir("mnist", tmp_path / "nowhere")
    msg = str(info.value)
    for stem in data.IDX_FILES["train"] + data.IDX_FILES["test"]:
        assert stem in msg
    assert str(tmp_path / "nowhere") in msg
    assert "SLEEP_SNN_DATA" in msg and "--data-dir" in msg


def test_incomplete_dataset_dir_says_what_is_missing(tmp_path, no_env):
    _fake_idx_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="incomplete: missing t10k-labels-idx1-ubyte"):
        find_data_dir("kmnist", tmp_path)
    # the train split alone is still loadable
    assert find_data_dir("kmnist", tmp_path, split="train") == tmp_path
    with pytest.raises(DataError):
        load_dataset("kmnist", "test", data_dir=tmp_path)


def test_fashion_missing_message_mentions_apt(tmp_path, monkeypatch, no_env):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion", data_dir=tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_fake_dataset_via_data_dir(tmp_path, no_env, gz):
    images, labels = _fake_idx_dataset(tmp_path, gz=gz)
    ds = load_dataset("mnist", "train", data_dir=tmp_path, size=None)
    assert isinstance(ds, Dataset)
    assert (ds.name, ds.split, ds.n, ds.side, ds.n_pixels) == ("mnist", "train", 60, 28, 784)
    assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
    np.testing.assert_allclose(ds.images, images / 255.0, atol=1e-6)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.flat().shape == (60, 784) and ds.flat().dtype == np.float32
    test = load_dataset("mnist", "test", data_dir=tmp_path)
    assert test.images.shape == (20, 15, 15)   # default size 15
    assert 0.0 <= test.images.min() and test.images.max() <= 1.0


def test_load_does_not_corrupt_cache(tmp_path, no_env):
    _fake_idx_dataset(tmp_path)
    a = load_dataset("mnist", data_dir=tmp_path, size=None)
    a.images[:] = 0.0
    b = load_dataset("mnist", data_dir=tmp_path, size=None)
    assert b.images.max() > 0


def test_load_via_env_var_parent_and_direct(tmp_path, monkeypatch):
    _fake_idx_dataset(tmp_path / "kmnist", n_train=30)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))          # parent with subdir 'kmnist'
    assert load_dataset("kmnist").n == 30
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "kmnist"))  # the directory itself
    assert find_data_dir("kmnist") == tmp_path / "kmnist"
    _fake_idx_dataset(tmp_path / "other" / "fashion-mnist", n_train=40)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "other"))
    assert load_dataset("fashion").n == 40   # found before the Debian location


def test_data_dir_takes_precedence_over_env(tmp_path, monkeypatch):
    _fake_idx_dataset(tmp_path / "a", n_train=30)
    _fake_idx_dataset(tmp_path / "b", n_train=50)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "b"))
    assert load_dataset("mnist", data_dir=tmp_path / "a").n == 30


def test_an_explicit_directory_never_falls_back_to_other_data(tmp_path, monkeypatch, no_env):
    # the system copy exists, but the user named another directory: use it or fail
    _fake_idx_dataset(tmp_path / "debian", n_train=30)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    assert load_dataset("fashion").n == 30  # nothing named: the system copy
    with pytest.raises(DataError, match="only --data-dir"):
        load_dataset("fashion", data_dir=tmp_path / "does-not-exist")
    partial = tmp_path / "partial"
    _fake_idx_dataset(partial, n_train=40)
    (partial / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="incomplete: missing train-labels-idx1-ubyte"):
        load_dataset("fashion", data_dir=partial)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(DataError, match="only SLEEP_SNN_DATA="):
        load_dataset("fashion")


def test_datasets_record_the_files_they_read(tmp_path, no_env):
    import hashlib

    _fake_idx_dataset(tmp_path, n_train=30)
    ds = load_dataset("mnist", "train", data_dir=tmp_path, n=10)
    names = [Path(f["path"]).name for f in ds.files]
    assert names == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    for f in ds.files:
        raw = Path(f["path"]).read_bytes()
        assert f["bytes"] == len(raw) and f["sha256"] == hashlib.sha256(raw).hexdigest()
    assert ds.subset([0, 1]).files == ds.files
    assert data.dataset_size("mnist", "train", tmp_path) == 30
    assert data.dataset_size("mnist", "test", tmp_path) == 20
    assert data.dataset_size("digits", "train") == 1257 and data.dataset_size("digits", "test") == 540
    digits = load_dataset("digits", "test")
    assert [Path(f["path"]).name for f in digits.files] == ["digits.csv.gz"]
    assert make_patches(3).files == ()


def test_class_filter_and_subsample(tmp_path, no_env):
    _fake_idx_dataset(tmp_path, n_train=100)
    ds = load_dataset("mnist", classes=[3, 7], data_dir=tmp_path)
    assert set(ds.labels.tolist()) == {3, 7} and ds.n == 20
    a = load_dataset("mnist", classes=[3, 7], n=8, seed=5, data_dir=tmp_path)
    b = load_dataset("mnist", classes=[3, 7], n=8, seed=5, data_dir=tmp_path)
    c = load_dataset("mnist", classes=[3, 7], n=8, seed=6, data_dir=tmp_path)
    assert a.n == 8 and set(a.labels.tolist()) <= {3, 7}
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    # smaller n with the same seed is a subset of a larger one
    small = load_dataset("mnist", n=10, seed=2, data_dir=tmp_path, size=None)
    large = load_dataset("mnist", n=40, seed=2, data_dir=tmp_path, size=None)
    small_rows = {row.tobytes() for row in small.flat()}
    assert small_rows <= {row.tobytes() for row in large.flat()}


def test_n_too_large_names_n(tmp_path, no_env):
    _fake_idx_dataset(tmp_path, n_train=100)
    with pytest.raises(ValueError, match=r"n=11 .*maximum is n=10"):
        load_dataset("mnist", classes=[0], n=11, data_dir=tmp_path)


def test_bad_arguments(tmp_path, no_env):
    with pytest.raises(ValueError, match="fashion"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", "validation")
    with pytest.raises(ValueError, match="size"):
        load_dataset("digits", size=1)
    with pytest.raises(ValueError, match="classes"):
        load_dataset("digits", classes=[11])
    with pytest.raises(ValueError, match="n="):
        load_dataset("digits", n=0)


def test_corrupt_dataset_file_raises_on_load(tmp_path, no_env):
    _fake_idx_dataset(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_label_count_mismatch(tmp_path, no_env):
    _fake_idx_dataset(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="do not belong together"):
        load_dataset("mnist", data_dir=tmp_path)


# --------------------------------------------------------------------------
# resize
# --------------------------------------------------------------------------
def test_resize_constant_image_stays_constant():
    for size in (3, 15, 40):
        out = resize(np.full((2, 28, 28), 0.37, dtype=np.float32), size)
        assert out.shape == (2, size, size) and out.dtype == np.float32
        np.testing.assert_allclose(out, 0.37, atol=1e-6)


def test_resize_area_average_example():
    img = np.arange(16, dtype=np.float64).reshape(4, 4) / 15.0
    out = resize(img, 2)
    expected = np.array([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]) / 4 / 15
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_resize_non_integer_factor_preserves_mean_and_range():
    rng = np.random.default_rng(0)
    imgs = rng.random((5, 28, 28))
    out = resize(imgs, 15)
    assert out.shape == (5, 15, 15)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # area averaging preserves the mean intensity
    np.testing.assert_allclose(out.mean(axis=(1, 2)), imgs.mean(axis=(1, 2)), atol=1e-5)


def test_resize_clips_and_validates():
    out = resize(np.full((1, 4, 4), 1.5), 2)
    assert out.max() == 1.0
    with pytest.raises(ValueError, match="float"):
        resize(np.zeros((1, 4, 4), np.uint8), 2)
    with pytest.raises(ValueError, match="size"):
        resize(np.zeros((1, 4, 4)), 0)
    with pytest.raises(ValueError, match="shape"):
        resize(np.zeros(4), 2)


def test_load_dataset_resize_matches_resize(tmp_path, no_env):
    images, _ = _fake_idx_dataset(tmp_path)
    ds = load_dataset("mnist", data_dir=tmp_path, size=15)
    np.testing.assert_allclose(ds.images, resize(images / 255.0, 15), atol=1e-6)


# --------------------------------------------------------------------------
# digits and patches
# --------------------------------------------------------------------------
def test_digits():
    train = load_dataset("digits", size=None)
    test = load_dataset("digits", "test", size=None)
    assert train.images.shape[1:] == (8, 8)
    assert train.n + test.n == 1797 and test.n == 540
    for ds in (train, test):
        assert ds.images.dtype == np.float32
        assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
        assert ds.images.max() == 1.0
        assert np.unique(ds.labels).tolist() == list(range(10))
    # split independent of seed; default size 15
    again = load_dataset("digits", seed=123)
    assert again.images.shape == (train.n, 15, 15)
    np.testing.assert_array_equal(again.labels, train.labels)


@pytest.mark.parametrize("overlap", [0, 12, 16, 25])
def test_patches_structure(overlap):
    ds = load_dataset("patches", overlap=overlap)
    assert ds.images.shape == (4, 10, 10) and ds.name == "patches"
    np.testing.assert_array_equal(ds.labels, [0, 1, 2, 3])
    x = ds.flat()
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    assert np.all(x.sum(axis=1) == data.PATCHES_N_ON)
    on = x > 0
    common = on.all(axis=0)
    assert common.sum() == overlap
    unique = on & ~common
    # the non-shared pixels of different images are disjoint
    assert np.all(unique.sum(axis=0) <= 1)
    assert np.all(unique.sum(axis=1) == data.PATCHES_N_ON - overlap)
    if overlap < data.PATCHES_N_ON:
        # pixels on in two but not all four images do not exist
        counts = on.sum(axis=0)
        assert set(np.unique(counts).tolist()) <= {0, 1, 4}


def test_patches_seed_and_split():
    a = make_patches(12, seed=0)
    b = make_patches(12, seed=0)
    c = make_patches(12, seed=1)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    train = load_dataset("patches", "train")
    test = load_dataset("patches", "test")
    np.testing.assert_array_equal(train.images, test.images)
    assert test.split == "test"
    assert load_dataset("patches", size=15).images.shape == (4, 15, 15)


@pytest.mark.parametrize("overlap", [-1, 26, 3.5])
def test_patches_invalid_overlap(overlap):
    with pytest.raises(ValueError, match=r"overlap must be an integer in \[0, 25\]"):
        make_patches(overlap)


def test_dataset_subset():
    ds = load_dataset("patches")
    sub = ds.subset([0, 2])
    assert sub.n == 2 and sub.labels.tolist() == [0, 2]
    assert ds.subset(1).n == 1
    assert ds.subset(ds.labels >= 2).labels.tolist() == [2, 3]
    assert DATASETS == ("fashion", "mnist", "kmnist", "digits", "patches")


# --------------------------------------------------------------------------
# real Fashion-MNIST (when installed)
# --------------------------------------------------------------------------
def _fashion_available() -> bool:
    try:
        find_data_dir("fashion")
    except DataError:
        return False
    return True


def test_fashion_real_data():
    if not _fashion_available():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist "
                    "or set SLEEP_SNN_DATA)")
    train = load_dataset("fashion", "train")
    test = load_dataset("fashion", "test", size=None)
    assert train.images.shape == (60000, 15, 15)
    assert test.images.shape == (10000, 28, 28)
    for ds in (train, test):
        assert np.unique(ds.labels).tolist() == list(range(10))
        assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    assert np.all(np.bincount(train.labels) == 6000)
