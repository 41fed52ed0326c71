"""MNIST handwritten digits from the four original IDX files (gzip), official 60000/10000 split.

Layout: `<data_dir>/mnist/` holds the four `.gz` files under their original names. Missing
files are downloaded from `MIRRORS` in order and checked against the sha256 in `FILES`.

Mirrors can be replaced without touching code: `DLTRAIN_MNIST_MIRRORS` holds base URLs
(separated by spaces or commas) tried in that order instead of `MIRRORS`; each file is
fetched from `<base>/<file name>`. The tests point it at a loopback server.

Source: Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits".
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import IO, Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from dltrain.data.base import PREPROCESSING, SPLIT, Dataset, DatasetConfig, check_digits
from dltrain.data.download import fetch_file, new_folders_kept_only_on_success
from dltrain.data.files import present
from dltrain.errors import DataError
from dltrain.files import UnreadableFile, open_regular

SUBDIR = "mnist"
MIRRORS_ENV = "DLTRAIN_MNIST_MIRRORS"
# Tried in this order. The first two are the torchvision and TensorFlow mirrors; the
# original home page is last because it is often unreachable now.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# File name -> sha256 of the .gz file as published.
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = FILES
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
IMAGE_SHAPE = (28, 28)
N_TRAIN, N_TEST = 60000, 10000
# The most an IDX file's data, or its .gz file, may hold: the largest, the training images, hold 47 MB.
MAX_IDX_BYTES = 64 << 20


def mirrors() -> list[str]:
    """The base URLs in force: `$DLTRAIN_MNIST_MIRRORS` if set, else `MIRRORS`; each ends in '/'."""
    env = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
    return [base if base.endswith("/") else base + "/" for base in (env or MIRRORS)]


def manual_hint(folder: Path) -> str:
    """What to do by hand when the files cannot be downloaded."""
    names = ", ".join(FILES)
    sources = ", ".join(mirrors())
    return (
        f"To install MNIST by hand, put the four files {names} (still gzipped, names unchanged) "
        f"into {folder}/ . Each one is at <mirror>/<file name> on any of these mirrors: {sources}. "
        f"Or point --data-dir / DLTRAIN_DATA_DIR at a folder whose mnist/ subfolder already holds them."
    )


def ensure_files(data_dir: Path, progress: bool = True) -> list[str]:
    """Download whichever of the four files is missing from `<data_dir>/mnist/`.

    Files already present are not re-checked here (reading them validates them).
    Returns the names downloaded by this call. Raises DataError if one cannot be fetched,
    or when something other than a regular file (a directory, a device) has its name.
    """
    folder = Path(data_dir) / SUBDIR
    missing = [
        name for name in FILES if not present(folder / name, hint=_replace_hint(folder / name))
    ]  # every name checked before a download
    for name in missing:
        urls = [base + name for base in mirrors()]
        fetch_file(
            name,
            urls,
            folder,
            sha256=FILES[name],
            max_bytes=MAX_IDX_BYTES,
            manual_hint=manual_hint(folder),
            progress=progress,
        )
    return missing


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one gzipped IDX file: big-endian int32 magic and dims, then uint8 data.

    magic: 2051 for images (returns (n, rows, cols) uint8), 2049 for labels ((n,) uint8).
    Raises DataError naming the file when it is not a regular file, not gzip, is truncated,
    has the wrong magic number, or its payload size does not match the dimensions in its
    header. No more is inflated than the header declares (and one byte, which must not be
    there), and no header declaring more than MAX_IDX_BYTES is taken.
    """
    ndim = {IMAGE_MAGIC: 3, LABEL_MAGIC: 1}[magic]
    kind = "image" if magic == IMAGE_MAGIC else "label"
    with _opened(path) as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                dims = _dims(f.read(4 + 4 * ndim), ndim, path, magic, kind)
                expected = math.prod(dims)
                data = f.read(expected + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path} is not a complete gzip file ({exc}). {_replace_hint(path)}") from exc
    if len(data) != expected:
        holds = "more" if len(data) > expected else len(data)
        raise DataError(
            f"{path} declares {kind} dimensions {dims} ({expected} bytes of data) but holds "
            f"{holds}: the file is truncated or corrupt. {_replace_hint(path)}"
        )
    # frombuffer over bytes is read-only; copy so callers own a normal array.
    return np.frombuffer(data, dtype=np.uint8).reshape(dims).copy()


def _opened(path: Path) -> IO[bytes]:
    """The .gz file at `path`, checked to be a regular file of at most MAX_IDX_BYTES."""
    try:
        return open_regular(path, MAX_IDX_BYTES)
    except UnreadableFile as err:
        raise DataError(f"{err}. {_replace_hint(path)}") from None


def _dims(header: bytes, ndim: int, path: Path, magic: int, kind: str) -> tuple[int, ...]:
    """The `ndim` dimensions an IDX header declares, checked: the right magic number, at most MAX_IDX_BYTES of data."""
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path} is too short ({len(header)} bytes) to be an IDX {kind} file. {_replace_hint(path)}")
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise DataError(
            f"{path} starts with IDX magic number {found}, not {magic}: it is not an MNIST {kind} file. "
            f"{_replace_hint(path)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(header, dtype=">i4", offset=4))
    if min(dims) < 0 or math.prod(dims) > MAX_IDX_BYTES:
        raise DataError(
            f"{path} declares {kind} dimensions {dims}, which no MNIST file has (negative, or more than "
            f"{MAX_IDX_BYTES:,} bytes of data): the file is corrupt. {_replace_hint(path)}"
        )
    return dims


def _replace_hint(path: Path) -> str:
    return f"Delete it so that dltrain downloads it again, or replace it with the original {Path(path).name}."


def _read_pair(folder: Path, images: str, labels: str, fresh: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of one split, checked against each other.
    `fresh`: the names downloaded by this call; one of them that does not parse is deleted."""
    X = _parsed(folder / images, IMAGE_MAGIC, images in fresh)
    y = _parsed(folder / labels, LABEL_MAGIC, labels in fresh)
    if X.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{folder / images} holds {X.shape[1:]} images, not 28x28. {_replace_hint(folder / images)}")
    if len(X) != len(y):
        raise DataError(
            f"{folder / images} has {len(X)} images but {folder / labels} has {len(y)} labels; "
            f"they must come from the same release. {_replace_hint(folder / labels)}"
        )
    if y.size and y.max() > 9:
        raise DataError(
            f"{folder / labels} holds label {int(y.max())}; MNIST labels are 0..9. {_replace_hint(folder / labels)}"
        )
    return X, y


def _parsed(path: Path, magic: int, fresh: bool) -> np.ndarray:
    """read_idx; a file downloaded by this very call (`fresh`) that fails to parse is deleted, so
    that a bad mirror cannot leave a corrupt cache behind (the user's own files, and the other
    downloads, checked against their SHA-256, stay)."""
    try:
        return read_idx(path, magic)
    except DataError:
        if fresh:
            path.unlink(missing_ok=True)
        raise


def load_arrays(data_dir: Path, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train (60000, 28, 28) uint8, y_train (60000,) uint8, X_test (10000, 28, 28), y_test (10000,)).

    Downloads missing files first: one that then fails to parse is deleted (`_parsed`), and a
    failed download leaves none of the folders it made.
    """
    folder = Path(data_dir) / SUBDIR
    with new_folders_kept_only_on_success(folder):
        fresh = set(ensure_files(data_dir, progress=progress))
        X_train, y_train = _read_pair(folder, TRAIN_IMAGES, TRAIN_LABELS, fresh)
        X_test, y_test = _read_pair(folder, TEST_IMAGES, TEST_LABELS, fresh)
    return X_train, y_train, X_test, y_test


def _select(
    X: np.ndarray, y: np.ndarray, classes: list[int], n: Optional[int], seed: list[int], key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows of `classes`, then a seeded random `n` of them in file order.

    X: (m, 28, 28), y: (m,) digits. Returns X (k, 28, 28) and y (k,) as indices into `classes`.
    """
    keep = np.flatnonzero(np.isin(y, classes))
    if n is not None:
        if n > len(keep):
            raise DataError(
                f"dataset.{key} is {n} but only {len(keep)} images of digits {classes} are available; "
                f"lower dataset.{key} or leave it out to use them all."
            )
        # Sorted so a subset keeps the file's order; the seed alone decides which rows.
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=n, replace=False))
    index_of = np.full(10, -1, dtype=np.int64)
    index_of[classes] = np.arange(len(classes))
    return X[keep], index_of[y[keep]]


class Mnist(DatasetConfig):
    """MNIST: 28x28 grey handwritten digits; 60000 train images and the official 10000 test images.

    Pixels are float32 in [0, 1] (the values 0..255 themselves with `scale: false`), labels the
    index of each digit in `classes`; the test split is the official test files.
    """

    name: Literal["mnist"] = "mnist"
    n_train: Optional[int] = Field(
        None,
        ge=1,
        le=N_TRAIN,
        description="random subset of the training images (seed: split_seed); all if unset",
        json_schema_extra=SPLIT,
    )
    n_test: Optional[int] = Field(
        None, ge=1, le=N_TEST, description="random subset of the official test images (seed: split_seed); all if unset"
    )
    classes: Optional[list[int]] = Field(
        None, description="digits to keep, e.g. [0, 1]; labels become indices into this list; all ten if unset"
    )
    scale: bool = Field(
        True,
        description="pixels as float32 in [0, 1]; false keeps the raw uint8 0..255",
        json_schema_extra=PREPROCESSING,
    )

    @field_validator("classes")
    @classmethod
    def _digits(cls, value: Optional[list[int]]) -> Optional[list[int]]:
        return check_digits(value)

    def load(self, data_dir: Path) -> Dataset:
        """X (n, 28, 28), y (n,) int64 indices into `classes`, test = the official test split."""
        X_train, y_train, X_test, y_test = load_arrays(data_dir)
        classes = list(self.classes) if self.classes else list(range(10))
        # Train and test draw from independent streams of the same seed.
        X_train, y_train = _select(X_train, y_train, classes, self.n_train, [self.split_seed, 0], "n_train")
        X_test, y_test = _select(X_test, y_test, classes, self.n_test, [self.split_seed, 1], "n_test")
        # scale: the bytes stand for pixels / 255 in float32, read so by the splits a few rows at a
        # time (the 60000 training images: 45 MiB instead of 179); else they are the values themselves.
        return Dataset(
            X=X_train, y=y_train, classes=classes, test=(X_test, y_test), sample_shape=IMAGE_SHAPE, pixels=self.scale
        )

    def image_to_sample(self, image, shape, invert=False):
        """Light ink on dark, 28x28 gray levels, scaled to [0, 1] like `load` (0..255 with scale: false)."""
        from dltrain.data.images import grayscale_pixels

        pixels = grayscale_pixels(image, shape, invert)
        return pixels / 255 if self.scale else pixels
