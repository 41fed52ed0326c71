"""What every dataset provides: a config section that knows how to load its arrays.

A dataset is a `DatasetConfig` subclass with a `name: Literal[...]` tag and a
`load(data_dir)` method; `dltrain.data.registry` lists them all. Splitting and
scaling happen afterwards, the same way for every dataset (`dltrain.data.split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field
from pydantic.config import JsonDict

from dltrain.config.section import Section


@dataclass
class Dataset:
    """Arrays as loaded, before splitting and preprocessing.

    X: (n_samples, *sample_shape), any real dtype (cast later to the run's dtype).
    y: (n_samples,) int class indices into `classes` for classification;
       (n_samples,) or (n_samples, n_targets) float for regression.
    classes: the class names shown to users (e.g. the digits [0, 1]); None for regression.
    test: a predefined (X_test, y_test) pair (MNIST's official test set), or None when
          the test split is drawn from (X, y) with `test_size`.
    sample_shape: shape of one sample before flattening, e.g. (28, 28) for images.
    pixels: X (and the test X) hold 8-bit pixels standing for pixels / 255 in float32;
            the splits keep the bytes and read them as floats when used (dltrain.data.pixels).
    features: the names of X's columns where the data names them (a CSV's header), else None.
    sha256: the content of the user's file the data came from (`file`), else None.
    """

    X: np.ndarray
    y: np.ndarray
    classes: Optional[list] = None
    test: Optional[tuple[np.ndarray, np.ndarray]] = None
    sample_shape: Optional[tuple[int, ...]] = None
    pixels: bool = False
    features: Optional[list[str]] = None
    sha256: Optional[str] = None

    @property
    def is_classification(self) -> bool:
        return self.classes is not None


def check_digits(value: Optional[list[int]]) -> Optional[list[int]]:
    """Validate a `classes` list of digits (digits, MNIST, sign digits): at least two, distinct, each 0..9."""
    if value is None:
        return value
    if len(value) < 2:
        raise ValueError("list at least two digits, e.g. [0, 1]")
    if len(set(value)) != len(value):
        raise ValueError(f"each digit may appear once, got {value}")
    bad = [d for d in value if not 0 <= d <= 9]
    if bad:
        raise ValueError(f"digits are 0..9, got {bad}")
    return value


# json_schema_extra of the keys that decide which rows land in which split (SPLIT) or how
# samples are transformed before the model sees them (PREPROCESSING). `dltrain eval --set`
# refuses to change them without --resplit: its metrics would no longer be held-out.
SPLIT: JsonDict = {"affects": "split"}
PREPROCESSING: JsonDict = {"affects": "preprocessing"}


class DatasetConfig(Section):
    """Options every dataset shares: the validation split, scaling and the split seed."""

    name: str
    split_seed: int = Field(
        42, ge=0, lt=2**32, description="seed of the train/validation/test splits", json_schema_extra=SPLIT
    )
    validation_split: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of train held out for validation", json_schema_extra=SPLIT
    )
    stratify: bool = Field(
        False, description="keep class proportions in every split (classifiers only)", json_schema_extra=SPLIT
    )
    scaling: Literal["none", "minmax", "standard"] = Field(
        "none", description="feature scaling fitted on train only", json_schema_extra=PREPROCESSING
    )

    def load(self, data_dir: Path) -> Dataset:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def image_to_sample(self, image, shape: tuple[int, ...], invert: bool = False) -> np.ndarray:
        """One image file (a PIL image) -> one sample of `shape` as `load` delivers it (before scaling).

        Image datasets override this so `dltrain predict` sees pixels the way training did.
        """
        from dltrain.errors import DataError

        raise DataError(
            f"dataset {self.name!r} does not say how an image becomes a sample; give the samples as a .npy, .npz or .csv file"
        )


class RandomTestSplit(DatasetConfig):
    """A dataset with no official test set: `test_size` of it is held out at random."""

    test_size: float = Field(
        0.2, ge=0.0, lt=1.0, description="fraction held out as the test split", json_schema_extra=SPLIT
    )
