"""Between labels and network outputs: one-hot targets in, class predictions out."""

from __future__ import annotations

from typing import Optional

import numpy as np


def encode(y: np.ndarray, n_out: int, n_classes: Optional[int], dtype) -> np.ndarray:
    """Targets (n, n_out) for the loss.

    y: (n,) class indices -> (n, 1) 0/1 column when one output unit separates two
    classes, else (n, n_classes) one-hot; regression y: (n,) or (n, k) -> (n, k).
    """
    if n_classes is None:
        return np.ascontiguousarray(y.reshape(len(y), -1), dtype=dtype)
    if n_out == 1:
        return y.reshape(-1, 1).astype(dtype)
    return np.eye(n_out, dtype=dtype)[y]


def predict_classes(outputs: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Class indices (n,) from outputs (n, n_out): threshold 0.5 for one unit, argmax for several.

    `out`: an int64 (n,) array to write them into instead of a new one.
    """
    if outputs.shape[1] == 1:
        if out is None:
            return (outputs[:, 0] >= 0.5).astype(np.int64)
        return np.greater_equal(outputs[:, 0], 0.5, out=out)
    return outputs.argmax(axis=1, out=out)


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, n_classes) probabilities; a single sigmoid unit p becomes columns (1 - p, p)."""
    if outputs.shape[1] == 1:
        p = np.clip(outputs[:, 0], 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1)
    return outputs
