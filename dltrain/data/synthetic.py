"""Datasets generated from a few parameters: the OR gate and y = sqrt(mean(x))."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from dltrain.data.base import PREPROCESSING, SPLIT, Dataset, DatasetConfig, RandomTestSplit
from dltrain.errors import DataError


class OrGate(DatasetConfig):
    """The OR truth table: 4 rows of 2 binary inputs, label x1 OR x2.

    With `bias_input: true` a constant-1 third column is appended, as in the
    perceptron tutorial, so a model without a bias term can still learn the gate.
    There is no test split: the model is judged on the four rows it learns.
    """

    name: Literal["or_gate"] = "or_gate"
    bias_input: bool = Field(False, description="append a constant-1 input column", json_schema_extra=PREPROCESSING)

    def load(self, data_dir: Path) -> Dataset:
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
        y = np.array([0, 1, 1, 1])
        if self.bias_input:
            X = np.hstack([X, np.ones((4, 1))])
        return Dataset(X=X, y=y, classes=[0, 1])


class SqrtMean(RandomTestSplit):
    """Regression target y = sqrt(mean(x)) for x uniform in [0, 1)^dim, drawn with `seed`."""

    name: Literal["sqrt_mean"] = "sqrt_mean"
    n: int = Field(1000, gt=0, description="number of samples", json_schema_extra=SPLIT)
    dim: int = Field(10, gt=0, description="features per sample")
    seed: int = Field(0, ge=0, description="seed of the generated inputs")

    def load(self, data_dir: Path) -> Dataset:
        try:
            X = np.random.default_rng(self.seed).random((self.n, self.dim))
        except ValueError:  # numpy: more bytes than an array can address
            raise DataError(f"dataset: sqrt_mean with n={self.n} and dim={self.dim} is too large to generate") from None
        return Dataset(X=X, y=np.sqrt(X.mean(axis=1)))
