"""Image datasets for the spiking networks and the MLP experiments.

Five datasets are available through :func:`load_dataset`:

``"fashion"``, ``"mnist"``, ``"kmnist"``
    The MNIST family: 28×28 grey-level images, 10 classes, official splits of
    60000 training and 10000 test images, read from the standard IDX files
    (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``).
    Nothing is downloaded at run time; the files are looked for in exactly one
    place, the first of

    1. the ``data_dir`` argument (``--data-dir`` on the command line),
    2. the directory named by the environment variable ``SLEEP_SNN_DATA``,
    3. for ``"fashion"`` only, ``/usr/share/datasets/fashion-mnist`` (Debian
       package ``dataset-fashion-mnist``),

    that is given: an explicit directory (1 or 2) that lacks the files is an
    error, never a reason to read other files. Each of 1 and 2 may be the
    directory holding the files or a parent directory with a subdirectory
    named after the dataset (for example ``$SLEEP_SNN_DATA/fashion-mnist``,
    ``$SLEEP_SNN_DATA/fashion`` or the torchvision layout
    ``$SLEEP_SNN_DATA/FashionMNIST/raw``).
``"digits"``
    scikit-learn's handwritten digits (:func:`sklearn.datasets.load_digits`,
    1797 images of 8×8 pixels, intensities 0–16, 10 classes). It has no
    official split; this module uses a fixed stratified split (30% test,
    ``random_state=0``, see :data:`DIGITS_SPLIT`), independent of ``seed``:
    1257 training and 540 test images.
``"patches"``
    The "Patches" toy task of Tadros et al. (2022): four binary 10×10 images
    that share ``overlap`` pixels, see :func:`make_patches`.

All images are returned as float32 arrays of shape ``(n, side, side)`` with
intensities in [0, 1] (IDX images are divided by 255, digits by 16), by
default resized to 15×15 (225 inputs, as in the sleep-regularisation paper)
with an area average (:func:`resize`).

Decoded IDX files are cached in-process (keyed by path, modification time and
size), so loading the training and the test split repeatedly is cheap.

Every :class:`Dataset` records the files it was read from (``files``: path,
size in bytes and SHA-256, see :func:`file_record`), so that a result can say
exactly which data it was computed on.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_DIR",
    "DIGITS_SPLIT",
    "DataError",
    "Dataset",
    "ENV_VAR",
    "dataset_size",
    "file_record",
    "IDX_FILES",
    "PATCHES_N_ON",
    "PATCHES_SIDE",
    "SPLITS",
    "find_data_dir",
    "load_dataset",
    "make_patches",
    "read_idx",
    "resize",
    "write_idx",
]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("fashion", "mnist", "kmnist", "digits", "patches")
#: Splits accepted by :func:`load_dataset`.
SPLITS = ("train", "test")
#: Environment variable naming a data directory (or a parent of several).
ENV_VAR = "SLEEP_SNN_DATA"
#: Where the Debian package ``dataset-fashion-mnist`` installs Fashion-MNIST.
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Standard IDX file names (without ``.gz``) per split: (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Subdirectory names tried below a parent data directory, per dataset.
_SUBDIRS = {
    "fashion": ("fashion-mnist", "fashion", "fashion_mnist", "FashionMNIST",
                "FashionMNIST/raw"),
    "mnist": ("mnist", "MNIST", "MNIST/raw"),
    "kmnist": ("kmnist", "KMNIST", "KMNIST/raw"),
}
#: How to obtain each IDX dataset (used in error messages).
_HOW_TO_GET = {
    "fashion": ("install the Debian package (`apt-get install dataset-fashion-mnist`, "
                f"files in {DEBIAN_FASHION_DIR}), or download the four IDX files from "
                "https://github.com/zalandoresearch/fashion-mnist and pass --data-dir DIR "
                f"or set {ENV_VAR}=DIR"),
    "mnist": ("download the four IDX files (e.g. from https://yann.lecun.com/exdb/mnist/ "
              f"or a mirror) and pass --data-dir DIR or set {ENV_VAR}=DIR"),
    "kmnist": ("download the four IDX files of KMNIST "
               "(https://github.com/rois-codh/kmnist, 'Kuzushiji-MNIST', MNIST format) "
               f"and pass --data-dir DIR or set {ENV_VAR}=DIR"),
}
#: Fixed train/test split of the sklearn digits (keyword arguments of
#: :func:`sklearn.model_selection.train_test_split`, stratified by label).
DIGITS_SPLIT = {"test_size": 0.3, "random_state": 0}
#: Side (pixels) and number of on-pixels per image of the patches toy.
PATCHES_SIDE = 10
PATCHES_N_ON = 25
#: Default output side of :func:`load_dataset` for the image datasets.
_DEFAULT_SIZE = 15

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in _IDX_DTYPES.items()}


class DataError(Exception):
    """A dataset is missing, incomplete or corrupt.

    The message says which file or dataset, what is wrong and how to fix it.
    """


# --------------------------------------------------------------------------
# Dataset container
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A set of labelled square images.

    Parameters
    ----------
    images : numpy.ndarray
        float32, shape ``(n, h, w)``, intensities in [0, 1] (dimensionless;
        multiply by a maximum rate to get Poisson rates).
    labels : numpy.ndarray
        int64, shape ``(n,)``; the original class labels (a class filter keeps
        the original values, e.g. 4 and 5 stay 4 and 5).
    name : str
        One of :data:`DATASETS`.
    split : str
        ``"train"`` or ``"test"``.
    files : tuple of dict
        The files the images and labels were read from (:func:`file_record`:
        ``path``, ``bytes``, ``sha256``); empty for generated data.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str
    files: tuple = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 3:
            raise ValueError(f"Dataset.images must have shape (n, h, w), got shape {self.images.shape}")
        if self.labels.ndim != 1 or self.labels.shape[0] != self.images.shape[0]:
            raise ValueError(
                f"Dataset.labels must have shape ({self.images.shape[0]},) to match images, "
                f"got {self.labels.shape}")

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def side(self) -> int:
        """Image height in pixels (images are square except if built by hand)."""
        return int(self.images.shape[1])

    @property
    def n_pixels(self) -> int:
        """Number of pixels per image (``h * w``), i.e. the number of inputs."""
        return int(self.images.shape[1] * self.images.shape[2])

    @property
    def classes(self) -> np.ndarray:
        """Sorted distinct labels present (int64)."""
        return np.unique(self.labels)

    def flat(self) -> np.ndarray:
        """Images as a float32 matrix of shape ``(n, h*w)`` (row-major pixels)."""
        return self.images.reshape(self.n, -1).astype(np.float32, copy=False)

    def subset(self, index: Any) -> "Dataset":
        """Return the images selected by ``index`` (slice, integer or boolean array).

        Parameters
        ----------
        index : slice or array_like of int or bool
            Anything numpy accepts as an index along the first axis.

        Returns
        -------
        Dataset
            Same ``name`` and ``split``; new arrays (fancy indexing copies).
        """
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Dataset(images=self.images[index], labels=self.labels[index],
                       name=self.name, split=self.split, files=self.files)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it if its name ends with ``.gz``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: corrupt or truncated gzip stream ({exc}); "
                "re-download or reinstall the file") from exc
    return raw


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode the bytes of an IDX file (see :func:`read_idx`)."""
    if len(data) < 4:
        raise DataError(f"{path}: file too short for an IDX header ({len(data)} bytes, need at least 4)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(
            f"{path}: bad magic number 0x{data[:4].hex()}; an IDX file starts with 0x0000 "
            "followed by a type code (08 uint8, 09 int8, 0B int16, 0C int32, 0D float32, "
            "0E float64) and the number of dimensions. Is this an IDX file?")
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated header: expected {header} bytes for {ndim} dimensions, "
            f"found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        shape = "×".join(str(d) for d in dims)
        what = "truncated" if found < expected else "trailing bytes"
        raise DataError(
            f"{path}: expected {expected} bytes of data for {shape} "
            f"{dtype.newbyteorder('=').name}, found {found} ({what}); "
            "the file is corrupt or incomplete, re-download or reinstall it")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST file format), raw or gzip-compressed.

    Parameters
    ----------
    path : str or path-like
        File name; decompressed with gzip if it ends with ``.gz``.

    Returns
    -------
    numpy.ndarray
        Native-endian array with the shape declared in the header and the
        dtype given by the type code (uint8, int8, int16, int32, float32 or
        float64). A fresh, writable array.

    Raises
    ------
    DataError
        If the file is missing or unreadable, the gzip stream is corrupt, the
        magic number is not an IDX one, or the data length does not equal
        the product of the dimensions times the item size.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """Cached :func:`read_idx`; the returned array is read-only."""
    del mtime_ns, size  # only part of the cache key
    arr = read_idx(path)
    arr.flags.writeable = False
    return arr


@functools.lru_cache(maxsize=32)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # only part of the cache key
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: str | os.PathLike) -> dict:
    """Which file was read: ``{"path": absolute path, "bytes": size, "sha256": hex digest}``.

    The checksum is cached per path, modification time and size.

    Raises
    ------
    DataError
        The file cannot be read.
    """
    path = Path(path).resolve()
    try:
        st = path.stat()
        digest = _sha256(str(path), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    return {"path": str(path), "bytes": int(st.st_size), "sha256": digest}


def _read_idx_fast(path: Path) -> np.ndarray:
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot access file ({exc})") from exc
    return _read_idx_cached(str(path), st.st_mtime_ns, st.st_size)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array as an IDX file (gzip-compressed if ``path`` ends with ``.gz``).

    Parameters
    ----------
    path : str or path-like
        Output file name.
    array : numpy.ndarray
        At least 1-D, at most 255 dimensions; dtype uint8, int8, int16,
        int32, float32 or float64 (stored big-endian as the format requires).

    Raises
    ------
    ValueError
        If the dtype has no IDX type code or the array is 0-D.
    """
    array = np.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise ValueError(
            f"array dtype {array.dtype} cannot be stored in IDX; use uint8, int8, "
            "int16, int32, float32 or float64")
    code = _IDX_CODES[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6)
    path.write_bytes(payload)


# --------------------------------------------------------------------------
# Locating IDX datasets
# --------------------------------------------------------------------------
def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _candidate_dirs(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Where to look: the explicit directory (``data_dir``, else ``$SLEEP_SNN_DATA``) only, if one is given."""
    env = os.environ.get(ENV_VAR)
    root = Path(data_dir).expanduser() if data_dir is not None else Path(env).expanduser() if env else None
    dirs: list[Path] = []
    if root is not None:
        dirs.append(root)
        dirs.extend(root / sub for sub in _SUBDIRS[name])
    elif name == "fashion":
        dirs.append(DEBIAN_FASHION_DIR)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_data_dir(name: str, data_dir: str | os.PathLike | None = None, *,
                  split: str | None = None) -> Path:
    """Find the directory holding the IDX files of an MNIST-family dataset.

    Parameters
    ----------
    name : {"fashion", "mnist", "kmnist"}
        Dataset name.
    data_dir : str or path-like, optional
        The directory itself, then its subdirectories named after the
        dataset (e.g. ``fashion-mnist``, ``fashion``, ``mnist``, ``kmnist``,
        torchvision's ``FashionMNIST/raw``); when given, nothing else is
        searched.
    split : {"train", "test"}, optional
        Require only that split's two files; by default all four.

    Returns
    -------
    pathlib.Path
        The first directory in which every required file exists, raw or
        ``.gz``: below ``data_dir`` if given, else below ``$SLEEP_SNN_DATA``
        if set, else (``fashion`` only) ``/usr/share/datasets/fashion-mnist``.

    Raises
    ------
    DataError
        If no directory has all the files. The message lists the expected
        file names, the directories searched (and which files a partially
        filled one lacks) and how to get the data.
    ValueError
        If ``name`` is not an IDX dataset or ``split`` is invalid.
    """
    if name not in _SUBDIRS:
        raise ValueError(f"name must be one of {tuple(_SUBDIRS)} for IDX data, got {name!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    stems = IDX_FILES[split] if split else IDX_FILES["train"] + IDX_FILES["test"]
    searched: list[str] = []
    for d in _candidate_dirs(name, data_dir):
        if not d.is_dir():
            searched.append(f"  {d} (does not exist)")
            continue
        missing = [s for s in stems if _find_file(d, s) is None]
        if not missing:
            return d
        if len(missing) < len(stems):
            searched.append(f"  {d} (incomplete: missing {', '.join(missing)})")
        else:
            searched.append(f"  {d} (no dataset files)")
    if not searched:
        searched.append(f"  (none: no --data-dir given and {ENV_VAR} is not set)")
    elif data_dir is not None or os.environ.get(ENV_VAR):
        origin = f"--data-dir {data_dir}" if data_dir is not None else f"{ENV_VAR}={os.environ[ENV_VAR]}"
        searched.append(f"  (only {origin} and its dataset subdirectories are searched when it is given)")
    raise DataError(
        f"dataset {name!r} not found.\n"
        f"Expected files (raw or .gz): {', '.join(stems)}\n"
        "Directories searched:\n" + "\n".join(searched) + "\n"
        f"To fix: {_HOW_TO_GET[name]}.")


def _load_idx_split(name: str, split: str, data_dir: str | os.PathLike | None
                    ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Return the (read-only, cached) uint8 images and labels of one split, and the files read."""
    directory = find_data_dir(name, data_dir, split=split)
    img_path = _find_file(directory, IDX_FILES[split][0])
    lab_path = _find_file(directory, IDX_FILES[split][1])
    assert img_path is not None and lab_path is not None
    images = _read_idx_fast(img_path)
    labels = _read_idx_fast(lab_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{img_path}: expected a 3-D uint8 image array (n, rows, cols), "
            f"found {images.ndim}-D {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{lab_path}: expected a 1-D uint8 label array, found {labels.ndim}-D {labels.dtype}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{lab_path}: {labels.shape[0]} labels but {img_path.name} has "
            f"{images.shape[0]} images; the files do not belong together")
    return images, labels, (file_record(img_path), file_record(lab_path))


def dataset_size(name: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> int:
    """Number of images of a dataset split, without loading the images.

    Reads only the header of an IDX labels file (the data directory is
    searched as by :func:`find_data_dir`, so missing data fail here).

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    split : {"train", "test"}
    data_dir : path-like, optional
        See :func:`find_data_dir`.

    Returns
    -------
    int
        60000/10000 for the MNIST family's official files, 1257/540 for
        digits, 4 for patches.

    Raises
    ------
    DataError
        The files are missing or the header is not an IDX one.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "patches":
        return 4
    if name == "digits":
        return int(_digits_split()[split][1].shape[0])
    directory = find_data_dir(name, data_dir, split=split)
    path = _find_file(directory, IDX_FILES[split][1])
    assert path is not None
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(8)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read file ({exc})") from exc
    if len(head) < 8 or head[:2] != b"\0\0" or head[3] != 1:
        raise DataError(f"{path}: not an IDX labels file (header 0x{head.hex()})")
    return int.from_bytes(head[4:8], "big")


# --------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Interpolation matrix ``R`` (n_out × n_in, float32) with ``out = R @ in``.

    Area average (each output pixel covers ``n_in / n_out`` input pixels,
    weighted by overlap) when shrinking; bilinear with half-pixel centres
    (edge clamped) when enlarging; identity when equal. Rows sum to 1.
    """
    r = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out == n_in:
        np.fill_diagonal(r, 1.0)
    elif n_out < n_in:
        scale = n_in / n_out
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                r[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
        r /= r.sum(axis=1, keepdims=True)
    else:
        x = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        x = np.clip(x, 0, n_in - 1)
        j0 = np.floor(x).astype(int)
        j1 = np.minimum(j0 + 1, n_in - 1)
        frac = x - j0
        rows = np.arange(n_out)
        np.add.at(r, (rows, j0), 1 - frac)
        np.add.at(r, (rows, j1), frac)
    out = r.astype(np.float32)
    out.flags.writeable = False
    return out


def resize(images: np.ndarray, size: int, *, chunk: int = 8192) -> np.ndarray:
    """Resize images to ``size × size`` pixels.

    Shrinking uses an area average (each output pixel is the overlap-weighted
    mean of the input pixels it covers, like OpenCV's ``INTER_AREA``);
    enlarging uses bilinear interpolation with half-pixel centres. Both are
    separable, ``out = R_h @ img @ R_wᵀ`` with precomputed interpolation
    matrices (rows sum to 1, so a constant image stays constant), evaluated
    per block of images as one product with ``(R_h ⊗ R_w)ᵀ`` for small images
    or two products for large ones.

    Parameters
    ----------
    images : numpy.ndarray
        Shape ``(n, h, w)`` or ``(h, w)``; float or bool with intensities in
        [0, 1]. Integer arrays are refused (divide by their maximum first,
        e.g. ``images / 255``), so that raw uint8 images are not silently
        clipped to 1.
    size : int
        Output side in pixels, >= 1. Non-square inputs become square.
    chunk : int, optional
        Images processed per block (bounds the temporary memory).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, size, size)`` (or ``(size, size)`` for a 2-D
        input), clipped to [0, 1]. A new array even if no resize is needed.
    """
    arr = np.asarray(images)
    if arr.dtype.kind in "iu":
        raise ValueError(
            f"images must be float (or bool) intensities in [0, 1], got dtype {arr.dtype}; "
            "convert first, e.g. images / 255")
    if arr.dtype.kind not in "fb":
        raise ValueError(f"images must be a real float array, got dtype {arr.dtype}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"images must have shape (n, h, w) or (h, w), got {np.shape(images)}")
    out = _resize_scaled(arr, int(size), 1.0, chunk)
    return out[0] if single else out


def _resize_scaled(arr: np.ndarray, size: int, scale: float, chunk: int = 8192) -> np.ndarray:
    """Resize ``scale * arr`` (shape ``(n, h, w)``, any real dtype) to float32 in [0, 1].

    Blocks of ``chunk`` images are converted to float32 one at a time, so a
    uint8 dataset never exists as a full float copy at native resolution.
    Small images use one product with the Kronecker matrix ``(R_h ⊗ R_w)ᵀ``
    (one large, BLAS-efficient GEMM), larger ones two separable products.
    """
    n, h, w = arr.shape
    rh = _resize_matrix(h, size) * np.float32(scale)
    rw = _resize_matrix(w, size)
    out = np.empty((n, size, size), dtype=np.float32)
    chunk = max(1, int(chunk))
    use_kron = h * w * size * size <= 4_000_000
    if use_kron:
        kron_t = np.ascontiguousarray(np.kron(rh, rw).T)          # (h*w, size*size)
    else:
        rw_t = np.ascontiguousarray(rw.T)
    for start in range(0, n, chunk):
        block = np.asarray(arr[start:start + chunk], dtype=np.float32)
        m = block.shape[0]
        if use_kron:
            out[start:start + m] = (block.reshape(m, h * w) @ kron_t).reshape(m, size, size)
        else:
            tmp = (block.reshape(m * h, w) @ rw_t).reshape(m, h, size)   # columns
            out[start:start + m] = np.matmul(rh, tmp)                     # rows
    np.clip(out, 0.0, 1.0, out=out)
    return out


# --------------------------------------------------------------------------
# Digits and patches
# --------------------------------------------------------------------------
def _digits_file() -> tuple:
    """The record of the file scikit-learn reads the digits from (empty if it cannot be found)."""
    try:
        from importlib.resources import files

        path = files("sklearn.datasets") / "data" / "digits.csv.gz"
        return (file_record(str(path)),) if path.is_file() else ()
    except (ImportError, DataError, TypeError):
        return ()


@functools.lru_cache(maxsize=1)
def _digits_split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(images, labels, stratify=labels, **DIGITS_SPLIT)
    for a in (xtr, xte, ytr, yte):
        a.flags.writeable = False
    return {"train": (xtr, ytr), "test": (xte, yte)}


def make_patches(overlap: int, *, side: int = PATCHES_SIDE, n_on: int = PATCHES_N_ON,
                 seed: int = 0, split: str = "train") -> Dataset:
    """Generate the "Patches" toy task (Tadros et al. 2022).

    Four binary ``side × side`` images with ``n_on`` on-pixels each:
    ``overlap`` pixels are on in all four images, the other ``n_on - overlap``
    on-pixels of each image are on in that image only. Pixel positions are a
    random permutation drawn with ``numpy.random.default_rng(seed)``, so the
    images are deterministic in ``seed``. Labels are 0, 1, 2, 3.

    Parameters
    ----------
    overlap : int
        Number of shared pixels, ``0 <= overlap <= n_on`` (with the defaults:
        0 to 25). ``overlap == n_on`` makes the four images identical.
    side : int, optional
        Image side in pixels (default 10).
    n_on : int, optional
        On-pixels per image (default 25); needs
        ``4 * (n_on - overlap) + overlap <= side**2``.
    seed : int, optional
        Seed of the pixel permutation.
    split : str, optional
        Recorded in the result only: train and test are the same four images.

    Returns
    -------
    Dataset
        ``images`` float32 of 0.0/1.0, shape ``(4, side, side)``; ``labels``
        ``[0, 1, 2, 3]``; ``name="patches"``.
    """
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 2:
        raise ValueError(f"side must be an integer >= 2, got {side!r}")
    n_pix = int(side) * int(side)
    if isinstance(n_on, bool) or not isinstance(n_on, (int, np.integer)) or not 1 <= n_on <= n_pix:
        raise ValueError(f"n_on must be an integer in [1, {n_pix}], got {n_on!r}")
    max_overlap = int(n_on)
    min_overlap = max(0, int(np.ceil((4 * n_on - n_pix) / 3)))
    if (isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer))
            or not min_overlap <= overlap <= max_overlap):
        raise ValueError(
            f"overlap must be an integer in [{min_overlap}, {max_overlap}] for "
            f"{side}x{side} images with n_on={n_on} on-pixels each, got {overlap!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_pix)
    shared = perm[:overlap]
    n_unique = int(n_on) - int(overlap)
    images = np.zeros((4, n_pix), dtype=np.float32)
    for k in range(4):
        unique = perm[overlap + k * n_unique: overlap + (k + 1) * n_unique]
        images[k, shared] = 1.0
        images[k, unique] = 1.0
    return Dataset(images=images.reshape(4, side, side), labels=np.arange(4, dtype=np.int64),
                   name="patches", split=split)


# --------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------
def load_dataset(name: str, split: str = "train", *, size: int | None | str = "auto",
                 classes: Any = None, n: int | None = None, seed: int = 0,
                 data_dir: str | os.PathLike | None = None, overlap: int = 12) -> Dataset:
    """Load a dataset split as float32 images in [0, 1].

    Steps, in order: read the split; keep only ``classes``; draw ``n``
    images; convert to float in [0, 1]; resize to ``size × size``.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (``"fashion"``, ``"mnist"``, ``"kmnist"``,
        ``"digits"``, ``"patches"``).
    split : {"train", "test"}
        Official split for the MNIST family; the fixed stratified split
        :data:`DIGITS_SPLIT` for digits; ignored for patches (both splits are
        the same four images).
    size : int, None or "auto"
        Output side in pixels (>= 2), or ``None`` for the native resolution
        (28 for the MNIST family, 8 for digits, 10 for patches). ``"auto"``
        (default) means 15 (225 inputs, as in the sleep-regularisation
        paper) for all datasets except patches, which stay 10×10 binary.
    classes : iterable of int, optional
        Keep only images with these labels; labels keep their original
        values. Unknown labels raise ``ValueError``.
    n : int, optional
        Number of images to keep, drawn without replacement after the class
        filter with ``numpy.random.default_rng(seed).permutation`` and then
        sorted back into file order. For a fixed ``seed`` a smaller ``n``
        gives a subset of a larger one. ``None`` keeps all.
    seed : int
        Seed of the subsample and of the patch pixel layout.
    data_dir : str or path-like, optional
        Directory of the IDX files (or a parent of per-dataset
        directories); when given, only it is searched (see :func:`find_data_dir`).
    overlap : int
        Shared pixels of the patches toy (see :func:`make_patches`); ignored
        by the other datasets.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        Missing or corrupt data files (the message says how to fix it).
    ValueError
        Invalid ``name``, ``split``, ``size``, ``classes`` or ``n``.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(size, str):
        if size != "auto":
            raise ValueError(f"size must be an integer >= 2, None or 'auto', got {size!r}")
        size = None if name == "patches" else _DEFAULT_SIZE
    elif size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer))
                               or size < 2):
        raise ValueError(f"size must be an integer >= 2, None or 'auto', got {size!r}")

    scale: float
    files: tuple = ()
    if name == "patches":
        ds = make_patches(overlap, seed=seed, split=split)
        images, labels, scale = ds.images, ds.labels, 1.0
    elif name == "digits":
        images, labels = _digits_split()[split]
        scale, files = 1.0, _digits_file()
    else:
        images, labels, files = _load_idx_split(name, split, data_dir)
        scale = 1.0 / 255.0

    index: np.ndarray | None = None
    if classes is not None:
        wanted = np.unique(np.asarray(list(np.atleast_1d(classes)), dtype=np.int64))
        if wanted.size == 0:
            raise ValueError("classes must name at least one class, got an empty list")
        present = np.unique(labels)
        unknown = np.setdiff1d(wanted, present)
        if unknown.size:
            raise ValueError(
                f"classes {unknown.tolist()} do not occur in {name!r} {split}; "
                f"available classes: {present.tolist()}")
        index = np.flatnonzero(np.isin(labels, wanted))
    available = labels.shape[0] if index is None else index.size
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer or None, got n={n!r}")
        if n > available:
            raise ValueError(
                f"n={n} is larger than the {available} images available in {name!r} {split}"
                + (f" for classes {np.unique(labels[index]).tolist()}" if classes is not None else "")
                + f"; the maximum is n={available}")
        pick = np.sort(np.random.default_rng(seed).permutation(available)[:n])
        index = pick if index is None else index[pick]

    if index is not None:
        images, labels = images[index], labels[index]
    if size is not None and (size != images.shape[1] or size != images.shape[2]):
        images = _resize_scaled(images, int(size), scale)
    else:  # native resolution; a new array, so cached arrays stay untouched
        images = np.multiply(images, np.float32(scale), dtype=np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    labels = np.array(labels, dtype=np.int64)
    return Dataset(images=np.ascontiguousarray(images), labels=labels, name=name, split=split, files=files)
