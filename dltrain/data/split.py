"""From loaded arrays to train / validation / test splits, flattened, scaled and cast.

Splits are scikit-learn's `train_test_split` seeded with `split_seed`, written in NumPy
index for index (importing scikit-learn's model selection costs about a second): its shuffle
split, and with `stratify` its stratified shuffle split. The test split is drawn first, the
validation split is then carved from what remains. Scaling is fitted on the training split only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from dltrain.data.base import Dataset, DatasetConfig
from dltrain.data.pixels import Pixels, as_float, row_blocks
from dltrain.errors import DataError

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class Splits:
    """X: (n, n_features) in the run's dtype, an array or, for a dataset of 8-bit pixels, a
    `Pixels` read row by row; y as in `Dataset`."""

    train: Pair
    val: Optional[Pair]
    test: Optional[Pair]
    classes: Optional[list]
    sample_shape: Optional[tuple[int, ...]]
    scaler: Optional[Scaler] = None  # fitted on train; predict re-applies it to new samples
    features: Optional[list[str]] = None  # the columns' names, as `Dataset` has them
    sha256: Optional[str] = None  # the data file's, as `Dataset` has it

    @property
    def n_features(self) -> int:
        return self.train[0].shape[1]

    @property
    def n_classes(self) -> Optional[int]:
        """How many classes a classifier tells apart; None for regression."""
        return None if self.classes is None else len(self.classes)

    @property
    def n_targets(self) -> int:
        y = self.train[1]
        return 1 if y.ndim == 1 else y.shape[1]

    def items(self):
        """(name, (X, y)) for each split that exists, in the order train, val, test."""
        return [(n, p) for n, p in (("train", self.train), ("val", self.val), ("test", self.test)) if p is not None]


def _split(X, y, fraction: float, seed: int, stratify: bool, what: str) -> tuple[Pair, Optional[Pair]]:
    if not fraction:
        return (X, y), None
    n = len(X)
    n_held = math.ceil(fraction * n)
    if n_held >= n:
        raise DataError(
            f"cannot carve a {what} split of {fraction} from {n} samples: with {n_held} held out the train set will be empty"
        )
    rng = np.random.RandomState(seed)
    if not stratify:  # the first n_held of one permutation are held out
        order = rng.permutation(n)
        kept, held = order[n_held:], order[:n_held]
    else:
        try:
            kept, held = _stratified(y, n - n_held, n_held, rng)
        except ValueError as err:
            raise DataError(f"cannot carve a {what} split of {fraction} from {n} samples: {err}") from None
    return (X[kept], y[kept]), (X[held], y[held])


def _stratified(y: np.ndarray, n_kept: int, n_held: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's StratifiedShuffleSplit, one split: (kept rows, held-out rows), index arrays.

    y: (n,) class labels. Each class gives its share to both sides (`_approximate_mode`), its rows
    taken from a permutation of them; then each side is shuffled. ValueError when a side cannot
    hold every class.
    """
    if y.ndim != 1:
        raise ValueError(f"stratifying needs one class label per sample, not labels of shape {y.shape}")
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"the classes {classes[counts < 2].tolist()} have only one sample, too few to stratify")
    for side, size in (("train", n_kept), ("held-out", n_held)):
        if size < len(classes):
            raise ValueError(f"the {side} split would hold {size} samples, fewer than the {len(classes)} classes")
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    kept_per_class = _approximate_mode(counts, n_kept, rng)
    held_per_class = _approximate_mode(counts - kept_per_class, n_held, rng)
    kept: list = []
    held: list = []
    for rows, k, h in zip(by_class, kept_per_class, held_per_class):
        rows = rows[rng.permutation(len(rows))]
        kept.extend(rows[:k])
        held.extend(rows[k : k + h])
    return rng.permutation(kept), rng.permutation(held)


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n_draws` each class (`counts`: (n_classes,)) gets: its floored share, then one
    more for the largest remainders, ties broken at random (scikit-learn's utils.extmath._approximate_mode)."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (ties,) = np.where(remainder == value)
            add = min(len(ties), need)
            floored[rng.choice(ties, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


class Scaler:
    """Feature scaling fitted on train: none, minmax (to [0, 1]) or standard (zero mean, unit variance)."""

    def __init__(self, kind: str, X_train: np.ndarray):
        self.kind = kind
        if kind == "none":
            return
        X_train = X_train.astype(np.float64, copy=False)
        if kind == "minmax":
            self.shift = X_train.min(axis=0)
            span = X_train.max(axis=0) - self.shift
        else:
            self.shift = X_train.mean(axis=0)
            span = X_train.std(axis=0)
        self.scale = np.where(span > 0, span, 1.0)  # constant features stay finite

    @classmethod
    def from_arrays(cls, preprocess: dict) -> Scaler:
        """The scaler a run saved (`arrays()`, preprocess.npz); {} gives one that leaves X as it is.

        Its kind reads 'saved': the arrays do not say whether minmax or standard fitted them.
        """
        scaler = cls.__new__(cls)
        scaler.kind = "saved" if preprocess else "none"
        if preprocess:
            scaler.shift, scaler.scale = preprocess["scaler_shift"], preprocess["scaler_scale"]
        return scaler

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return X if self.kind == "none" else (X.astype(np.float64, copy=False) - self.shift) / self.scale

    def arrays(self) -> dict[str, np.ndarray]:
        """{'scaler_shift': (n_features,), 'scaler_scale': (n_features,)}; empty when not scaling.

        A run saves them as preprocess.npz, so new samples are scaled as x' = (x - shift) / scale.
        """
        return {} if self.kind == "none" else {"scaler_shift": self.shift, "scaler_scale": self.scale}


def make_splits(ds: Dataset, cfg: DatasetConfig, dtype) -> Splits:
    """Split `ds` as `cfg` says, flatten samples to rows, scale and cast X to `dtype`."""
    stratify = cfg.stratify and ds.is_classification
    test: Optional[Pair]
    if ds.test is not None:
        rest, test = (ds.X, ds.y), ds.test
    else:
        rest, test = _split(ds.X, ds.y, getattr(cfg, "test_size", 0.0), cfg.split_seed, stratify, "test")
    train, val = _split(*rest, cfg.validation_split, cfg.split_seed, stratify, "validation")
    if len(train[0]) == 0:
        raise DataError("the training split is empty")

    def flat(X):
        return X.reshape(len(X), -1)

    # 8-bit pixels stay so: each split reads its rows as floats when they are used (dltrain.data.pixels);
    # only fitting a scaling needs the training split's floats all at once.
    fit_on = as_float(flat(train[0])) if ds.pixels and cfg.scaling != "none" else flat(train[0])
    scaler = Scaler(cfg.scaling, fit_on)

    def prep(pair):
        if pair is None:
            return None
        if ds.pixels:
            return Pixels(flat(pair[0]), scaler, dtype), pair[1]
        return np.ascontiguousarray(scaler(flat(pair[0])), dtype=dtype), pair[1]

    shape = ds.sample_shape or ds.X.shape[1:]
    return Splits(prep(train), prep(val), prep(test), ds.classes, shape, scaler, ds.features, ds.sha256)


def input_stats(X) -> Optional[dict]:
    """The mean of the preprocessed training inputs X: (n, n_features) and the spread (standard
    deviation) of one sample's mean around it; `dltrain predict` compares new samples with them.

    Worked out on the means scaled by a power of two to at most 1 (the same bits, but no square
    overflows for inputs of 1e200); None where a sample's mean itself lies beyond float64's range."""
    with np.errstate(over="ignore"):
        row_means = np.concatenate([rows.mean(axis=1, dtype=np.float64) for rows in row_blocks(X)])
    largest = float(np.abs(row_means).max(initial=0.0))
    if not math.isfinite(largest):
        return None
    exponent = math.frexp(largest)[1]
    unit = np.ldexp(row_means, -exponent)
    return {"mean": math.ldexp(float(unit.mean()), exponent), "spread": math.ldexp(float(unit.std()), exponent)}
