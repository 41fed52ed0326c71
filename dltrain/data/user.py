"""Data the user brings: arrays written in the YAML (`inline`) or a file (`file`)."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Literal, Union

import numpy as np
from pydantic import Field, field_validator, model_validator

from dltrain.data.base import SPLIT, Dataset, RandomTestSplit
from dltrain.data.files import csv_number, csv_rows, plain_number_text, present, read_npz, sha256_of
from dltrain.errors import DataError, shorten

Task = Literal["classification", "regression"]
MAX_SAMPLE_DIMS = 8  # an image with channels has 3
# Memory grows with the classes (10,000 labels in a small CSV took 7.9 GB): ImageNet's count at most,
# more distinct labels being most likely a regression target. A label is shown in tables and figures.
MAX_CLASSES = 1_000
MAX_LABEL_CHARS = 1_000


def labelled(X: np.ndarray, y: np.ndarray, task: str, source: str) -> Dataset:
    """Dataset from features X: (n, ...) and raw labels y: (n,) (or (n, k) targets for regression)."""
    if X.ndim == 0 or y.ndim == 0:
        raise DataError(f"{source}: X and y must be arrays with one row per sample, got shapes {X.shape} and {y.shape}")
    if len(X) == 0:
        raise DataError(f"{source} holds no samples")
    if len(X) != len(y):
        raise DataError(f"{source}: X has {len(X)} rows but y has {len(y)}")
    if X[0].size == 0:
        raise DataError(f"{source}: the samples have no features (X has shape {X.shape})")
    if X.ndim > MAX_SAMPLE_DIMS + 1:
        raise DataError(f"{source}: X has {X.ndim} dimensions; a sample may have at most {MAX_SAMPLE_DIMS}")
    if X.dtype.kind not in "biuf" or not np.all(np.isfinite(X)):  # bool, integers, floats: not complex
        raise DataError(f"{source}: X must be finite real numbers, got {X.dtype}")
    if y.dtype.kind not in "biufU":
        raise DataError(f"{source}: labels must be numbers or text, got {y.dtype}")
    if task == "regression":
        try:
            y = np.asarray(y, dtype=np.float64)
        except ValueError:
            raise DataError(f"{source}: regression targets must be numbers") from None
        if not np.all(np.isfinite(y)):
            raise DataError(f"{source}: targets must be finite numbers")
        return Dataset(X=X, y=y)
    if y.ndim != 1:
        raise DataError(f"{source}: class labels must be one per sample, got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise DataError(f"{source}: class labels must not be NaN or infinite")
    classes, index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{source}: a classifier needs at least two classes, found {classes.tolist()}")
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{source}: {len(classes):,} distinct labels; a classifier takes at most {MAX_CLASSES:,} classes "
            "(numeric targets? dataset.task: regression)"
        )
    longest = max(map(len, classes.tolist())) if classes.dtype.kind == "U" else 0
    if longest > MAX_LABEL_CHARS:
        raise DataError(f"{source}: a class label of {longest:,} characters; at most {MAX_LABEL_CHARS:,}")
    return Dataset(X=X, y=index.astype(np.int64), classes=classes.tolist())


class Inline(RandomTestSplit):
    """Samples written in the config itself: `X` a list of rows, `y` one label or target per row."""

    name: Literal["inline"] = "inline"
    X: list[list[float]] = Field(min_length=1, description="feature rows")
    y: list[Union[float, list[float]]] = Field(min_length=1, description="label (classification) or target per row")
    task: Task = Field("classification", description="classification: y holds labels; regression: numeric targets")
    test_size: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction held out as the test split", json_schema_extra=SPLIT
    )

    @model_validator(mode="after")
    def _rectangular(self):
        widths = {len(row) for row in self.X}
        if len(widths) != 1:
            raise ValueError(f"every row of X needs the same length, got lengths {sorted(widths)}")
        if widths == {0}:
            raise ValueError("the rows of X need at least one feature")
        if len(self.X) != len(self.y):
            raise ValueError(f"X has {len(self.X)} rows but y has {len(self.y)}")
        shapes = {len(v) if isinstance(v, list) else None for v in self.y}
        if len(shapes) != 1:
            raise ValueError(
                "y must hold one value per row, or lists of the same length for every row (several regression targets)"
            )
        return self

    def load(self, data_dir: Path) -> Dataset:
        return labelled(np.array(self.X, dtype=np.float64), np.array(self.y), self.task, "the inline dataset")


class File(RandomTestSplit):
    """A user's `.npz` (arrays `X` and `y`) or `.csv` (a header row; `label` names the label column)."""

    name: Literal["file"] = "file"
    path: str = Field(description="the .npz or .csv file (relative paths are taken from the working directory)")
    label: str = Field("label", description="label column of a CSV file")
    task: Task = Field("classification", description="classification: y holds labels; regression: numeric targets")

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        # Saved configs must still find the file when re-evaluated from another directory.
        return str(Path(path).expanduser().absolute())

    def load(self, data_dir: Path) -> Dataset:
        path = Path(self.path)
        try:
            found = present(path)
        except DataError as err:  # a directory, a device, a FIFO; a name too long for the file system
            raise DataError(f"dataset file {err}") from None
        if not found:
            raise DataError(f"dataset file {path} does not exist")
        readers = {".npz": _read_npz, ".csv": _read_csv}
        if path.suffix.lower() not in readers:
            raise DataError(f"dataset file {path}: expected a .npz or .csv file")
        X, y, features = readers[path.suffix.lower()](path, self.label)
        dataset = labelled(X, y, self.task, str(path))
        dataset.features, dataset.sha256 = features, sha256_of(path)
        return dataset


def _read_npz(path: Path, label: str) -> tuple[np.ndarray, np.ndarray, None]:
    arrays = read_npz(path)
    missing = {"X", "y"} - set(arrays)
    if missing:
        raise DataError(f"{path} must hold arrays 'X' and 'y'; missing {sorted(missing)} (has {sorted(arrays)})")
    return arrays["X"], arrays["y"], None


def _read_csv(path: Path, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """X: (n, columns - 1), the labels and the names of X's columns of the CSV at `path`, converted
    row by row as read."""
    values, labels = array("d"), []  # 8 bytes a number
    with csv_rows(path) as rows:
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path} is empty")
        if label not in header:
            raise DataError(f"{path} has no label column {label!r}; its columns are {shorten(header)}")
        if header.count(label) > 1:  # the first would be taken, the others read as features
            raise DataError(f"{path} has {header.count(label)} columns named {label!r}: which holds the labels?")
        col = header.index(label)
        for i, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise DataError(f"{path}, line {i}: {len(row)} fields, the header has {len(header)}")
            for j, value in enumerate(row[:col] + row[col + 1 :]):
                try:
                    values.append(csv_number(value))
                except ValueError:
                    name = (header[:col] + header[col + 1 :])[j]
                    raise DataError(f"{path}, line {i}: column {name!r} holds {shorten(value)}, not a number") from None
            if not row[col].strip():
                raise DataError(f"{path}, line {i}: the label column {label!r} is empty")
            labels.append(_number_or_text(row[col]))
    X = np.frombuffer(values, dtype=np.float64).reshape(len(labels), len(header) - 1)
    return X, np.array(labels), header[:col] + header[col + 1 :]


def _number_or_text(value: str) -> Union[int, float, str]:
    """A label as a number where it reads as one ("7", " 7", "7.0"), else as its text ("1_0", "１０": not 10)."""
    if plain_number_text(value):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value
