"""scikit-learn's bundled 8x8 handwritten digits: 1797 images, no download needed."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
import zlib
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from dltrain.data.base import Dataset, RandomTestSplit, check_digits
from dltrain.errors import DataError


def select_classes(X: np.ndarray, labels: np.ndarray, classes: list) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows whose label is in `classes`; y becomes the index into `classes`.

    X: (n, ...), labels: (n,) -> X: (m, ...), y: (m,) int64, original row order kept.
    """
    present = set(np.unique(labels).tolist())
    missing = [c for c in classes if c not in present]
    if missing:
        raise DataError(f"classes {missing} do not occur in the data (labels present: {sorted(present)})")
    keep = np.isin(labels, classes)
    index = {c: i for i, c in enumerate(classes)}
    return X[keep], np.array([index[c] for c in labels[keep].tolist()], dtype=np.int64)


# Inside the scikit-learn package: 1797 rows of 64 pixels and a label.
DIGITS_FILE = ("datasets", "data", "digits.csv.gz")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's `load_digits()`: images (1797, 8, 8) float64 (0..16) and targets (1797,) int,
    the same arrays, read from the file scikit-learn ships without importing it (about a second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the digits dataset comes with scikit-learn, which is not installed: pip install scikit-learn")
    path = Path(next(iter(spec.submodule_search_locations)), *DIGITS_FILE)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file: refused below, without NumPy's warning
            data = np.loadtxt(f, delimiter=",", ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{path} (scikit-learn's digits) cannot be read: {err}; reinstall scikit-learn") from None
    pixels, labels = data[:, :-1], data[:, -1]
    if data.shape[1] != 65 or not ((0 <= pixels) & (pixels <= 16)).all() or not np.isin(labels, range(10)).all():
        raise DataError(f"{path} does not hold 8x8 digits (0..16) and labels 0..9; reinstall scikit-learn")
    return pixels.reshape(-1, 8, 8), labels.astype(int)


class Digits(RandomTestSplit):
    """8x8 grayscale digits (pixel values 0..16), optionally a subset of the ten classes."""

    name: Literal["digits"] = "digits"
    classes: Optional[list[int]] = Field(None, description="digits to keep (default all ten)")

    @field_validator("classes")
    @classmethod
    def _digits(cls, classes):
        return check_digits(classes)

    def load(self, data_dir: Path) -> Dataset:
        images, target = load_digits()
        classes = self.classes or list(range(10))
        X, y = select_classes(images, target, classes)
        return Dataset(X=X, y=y, classes=classes, sample_shape=(8, 8))

    def image_to_sample(self, image, shape, invert=False):
        """Light ink on dark, shrunk to 8x8 by averaging: gray levels 0..255 become 0..16 like the dataset's."""
        from dltrain.data.images import grayscale_pixels

        return grayscale_pixels(image, shape, invert) * (16 / 255)
