"""A split's inputs kept as 8-bit pixels and read as the run's floats, a few rows at a time.

MNIST's 60000 training images are 45 MiB of bytes and 179 MiB as float32. A dataset that
loads its images as bytes standing for `pixels / 255` (`Dataset.pixels`) keeps them so
through splitting, and each split's X is a `Pixels`:

    X = Pixels(codes, scaler, dtype)    # codes: (n, n_features) uint8
    X[lo:hi], X[indices], X[i]          # float rows: (m, n_features) in `dtype`
    np.take(X, indices, axis=0, out=buffer)
    len(X), X.shape, X.dtype, X.itemsize; np.asarray(X) converts all rows at once
    for rows in row_blocks(X): ...      # any split's X (a Pixels or an array) a few MiB of floats at a time

Reading rows runs, row by row, the operations that would convert the whole array:
pixels / 255 in float32, the split's scaling, the cast to the run's dtype. Each of them is
elementwise, so the numbers are those of converting everything up front, bit for bit.
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np

PIXEL_MAX = np.float32(255)


def as_float(codes: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """8-bit pixels (any shape) as float32 in [0, 1]: codes / 255, each byte cast to float32 first."""
    return np.divide(codes, PIXEL_MAX, out=out, dtype=np.float32)


class Pixels:
    """The rows of one split: codes (n, n_features) uint8, read through `scaler` (a
    `dltrain.data.split.Scaler`) into `dtype`."""

    ndim = 2

    def __init__(self, codes: np.ndarray, scaler, dtype):
        self.codes, self.scaler, self.dtype = codes, scaler, np.dtype(dtype)

    def decode(self, codes: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """codes (..., n_features) -> the run's floats, as converting the whole split would give them
        (written into `out` if given)."""
        if self.scaler.kind == "none" and self.dtype == np.float32:  # MNIST's own: one pass
            return as_float(codes, out=out)
        rows = np.ascontiguousarray(self.scaler(as_float(codes)), dtype=self.dtype)
        if out is None:
            return rows
        out[...] = rows
        return out

    @property
    def shape(self) -> tuple[int, ...]:
        return self.codes.shape

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, tuple):  # rows, then columns of the rows read (a scaling needs whole rows)
            return self.decode(self.codes[index[0]])[(slice(None),) + index[1:]]
        return self.decode(self.codes[index])

    def take(
        self, indices, axis: int = 0, out: Optional[np.ndarray] = None, mode: Literal["raise", "wrap", "clip"] = "raise"
    ) -> np.ndarray:
        """np.take(X, indices, axis=0, out=...): the rows `indices`, read into `out` if given."""
        if axis != 0:
            raise ValueError("Pixels gives whole rows: axis must be 0")
        return self.decode(self.codes.take(indices, axis=0, mode=mode), out=out)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = self.decode(self.codes)
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Pixels({self.shape[0]} rows of {self.shape[1]} uint8 pixels, read as {self.dtype})"


def row_blocks(X, nbytes: int = 4 << 20):
    """X (n, n_features), a Pixels or an array, as float blocks of whole rows, about `nbytes` each."""
    step = max(1, nbytes // max(1, X.shape[1] * X.itemsize))
    for lo in range(0, len(X), step):
        yield X[lo : lo + step]
