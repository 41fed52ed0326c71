"""Sign Language Digits: 2062 64x64 grey photos of hands showing the digits 0..9.

Source arrays: `<data_dir>/sign_digits/X.npy` (2062, 64, 64) float32 and `Y.npy` (2062, 10)
one-hot, in the Kaggle layout, where Y's column c shows digit `KAGGLE_COLUMNS[c]` and each
class is one contiguous block of rows. Kaggle's own files work unchanged.

Without them, dltrain builds the arrays from the original photographs: it downloads the
GitHub archive of ardamavi/Sign-Language-Digits-Dataset at the commit pinned in
`dltrain.data.sign_photos`, which checks the photos, preprocesses each as the Kaggle
author's get_dataset.py did, and saves X.npy / Y.npy into the data folder as the cache.
`sign_photos.build_cache(source, data_dir)` does the same from an archive or folder
downloaded by hand.

`DLTRAIN_SIGN_DIGITS_URL` replaces the archive URL (several, separated by spaces or commas,
are tried in order); the tests point it at a loopback server.

Citation: A. Mavi (2020), "A New Dataset and Proposed Convolutional Neural Network
Architecture for Classification of American Sign Language Digits", arXiv:2011.08927.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from dltrain.data.base import SPLIT, Dataset, RandomTestSplit, check_digits
from dltrain.data.download import fetch_file, new_folders_kept_only_on_success
from dltrain.data.files import present, read_npy
from dltrain.data.sign_photos import (
    ARCHIVE_NAME,
    ARCHIVE_URL,
    EXPECTED_COUNTS,
    IMAGE_SIZE,
    KAGGLE_COLUMNS,
    MAX_ARCHIVE_BYTES,
    SUBDIR,
    X_FILE,
    Y_FILE,
    build_cache,
    preprocess,
)
from dltrain.errors import DataError

ARCHIVE_URL_ENV = "DLTRAIN_SIGN_DIGITS_URL"
KAGGLE_COMMAND = "kaggle datasets download -d ardamavi/sign-language-digits-dataset"
REPLACE_HINT = "Replace it, or delete X.npy and Y.npy so that dltrain rebuilds both."


def archive_urls() -> list[str]:
    """The archive URLs in force: `$DLTRAIN_SIGN_DIGITS_URL` if set, else `ARCHIVE_URL`."""
    return os.environ.get(ARCHIVE_URL_ENV, "").replace(",", " ").split() or [ARCHIVE_URL]


def manual_hint(folder: Path) -> str:
    """What to do by hand when nothing is cached and the archive cannot be downloaded."""
    return (
        f"To install the Sign Language Digits by hand, put X.npy and Y.npy into {folder}/ : get them "
        f"with `{KAGGLE_COMMAND}` (a Kaggle account is needed) and unzip (older versions keep them "
        f"under Sign-language-digits-dataset/). Or download the photographs from {ARCHIVE_URL} and run "
        f"`dltrain datasets fetch sign_digits --from <that zip or its unpacked folder>` to build them."
    )


def ensure_arrays(data_dir: Path, progress: bool = True) -> Path:
    """Make sure `<data_dir>/sign_digits/` holds X.npy and Y.npy, building them if both are absent.

    The archive is downloaded into a temporary folder inside the data folder and deleted
    after the build, so only the two arrays stay; a download that fails leaves none of the
    folders it made. Returns the folder.
    """
    folder = Path(data_dir) / SUBDIR
    x_there, y_there = present(folder / X_FILE, hint=REPLACE_HINT), present(folder / Y_FILE, hint=REPLACE_HINT)
    if x_there and y_there:
        return folder
    if x_there or y_there:
        there, absent = (X_FILE, Y_FILE) if x_there else (Y_FILE, X_FILE)
        raise DataError(
            f"{folder} holds {there} but not {absent}. Put both files from the same source there, "
            f"or delete {there} so that dltrain rebuilds both from the original photos."
        )
    with new_folders_kept_only_on_success(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            workdir = tempfile.TemporaryDirectory(dir=folder, prefix=".download-")
        except OSError as exc:
            raise DataError(
                f"Cannot create {folder} to build the Sign Language Digits arrays ({exc}). "
                f"Choose a writable data directory with --data-dir or DLTRAIN_DATA_DIR. {manual_hint(folder)}"
            ) from exc
        with workdir as tmp:
            archive = fetch_file(
                ARCHIVE_NAME,
                archive_urls(),
                Path(tmp),
                sha256=None,
                max_bytes=MAX_ARCHIVE_BYTES,
                manual_hint=manual_hint(folder),
                progress=progress,
            )
            build_cache(archive, data_dir)
    return folder


def _load_npy(path: Path) -> np.ndarray:
    try:
        return read_npy(path)
    except DataError as exc:
        raise DataError(f"{exc}. {REPLACE_HINT}") from None


def load_arrays(data_dir: Path, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validated X (2062, 64, 64) float and Y (2062, 10) one-hot, building them first if absent."""
    folder = ensure_arrays(data_dir, progress=progress)
    X, Y = _load_npy(folder / X_FILE), _load_npy(folder / Y_FILE)
    fix = f"Replace X.npy and Y.npy in {folder} with Kaggle's, or delete both so dltrain rebuilds them."
    if X.ndim != 3 or X.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or not np.issubdtype(X.dtype, np.floating):
        raise DataError(f"{folder / X_FILE} is {X.dtype} {X.shape}, not (n, 64, 64) floats. {fix}")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{folder / X_FILE} holds NaN or infinite pixels. {fix}")
    if Y.shape != (len(X), len(KAGGLE_COLUMNS)):
        raise DataError(
            f"{folder / Y_FILE} has shape {Y.shape}; with {len(X)} images in X.npy it must be ({len(X)}, 10). {fix}"
        )
    if not (np.isin(Y, (0, 1)).all() and (Y.sum(axis=1) == 1).all()):
        raise DataError(f"{folder / Y_FILE} is not one-hot (each row one 1 and nine 0s). {fix}")
    counts = {digit: int(n) for digit, n in zip(KAGGLE_COLUMNS, Y.sum(axis=0))}
    if counts != dict(EXPECTED_COUNTS):
        raise DataError(f"{folder / Y_FILE} has {counts} images per digit, expected {dict(EXPECTED_COUNTS)}. {fix}")
    return X, Y


class SignDigits(RandomTestSplit):
    """Sign Language Digits: 64x64 grey photos of hands showing a digit; no official test set.

    Loads X (n, 64, 64) float32 in [0, 1] and y the index of each photo's digit in `classes`:
    for each digit in `classes` order, its rows in file order (the first `per_class` of
    them when set). E.g. classes [0, 1] with per_class 205 gives Kaggle rows 204..408
    then 822..1026.
    """

    name: Literal["sign_digits"] = "sign_digits"
    classes: list[int] = Field(
        default_factory=lambda: list(range(10)),
        description="digits shown (not Kaggle's Y columns), in the order their rows are stacked",
    )
    per_class: Optional[int] = Field(
        None, ge=1, description="keep the first N photos of each digit in file order", json_schema_extra=SPLIT
    )
    test_size: float = Field(
        0.15, ge=0.0, lt=1.0, description="fraction held out as the test split", json_schema_extra=SPLIT
    )

    @field_validator("classes")
    @classmethod
    def _digits(cls, value: Optional[list[int]]) -> Optional[list[int]]:
        return check_digits(value)

    def load(self, data_dir: Path) -> Dataset:
        """X (n, 64, 64) float32, y (n,) int64 indices into `classes`."""
        X, Y = load_arrays(data_dir)
        digit_of_row = np.asarray(KAGGLE_COLUMNS)[Y.argmax(axis=1)]
        blocks = [np.flatnonzero(digit_of_row == digit) for digit in self.classes]
        fewest = min(len(b) for b in blocks)
        if self.per_class is not None and self.per_class > fewest:
            digit = self.classes[[len(b) for b in blocks].index(fewest)]
            raise DataError(
                f"dataset.per_class is {self.per_class} but digit {digit} has only {fewest} photos; "
                f"set dataset.per_class to at most {fewest} for classes {self.classes}."
            )
        blocks = [b[: self.per_class] for b in blocks]
        rows = np.concatenate(blocks)
        y = np.repeat(np.arange(len(self.classes), dtype=np.int64), [len(b) for b in blocks])
        return Dataset(
            X=X[rows].astype(np.float32, copy=False),
            y=y,
            classes=list(self.classes),
            sample_shape=(IMAGE_SIZE, IMAGE_SIZE),
        )

    def image_to_sample(self, image, shape, invert=False):
        """A photo of a hand, through the same steps that built the arrays (contrast stretch, resize, 1 - x/255)."""
        from PIL import ImageOps

        return preprocess(ImageOps.invert(image.convert("L")) if invert else image)
