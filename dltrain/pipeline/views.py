"""What a run's figures show beyond its history: one forward pass over the last split, the
misclassified images and, for data with two varying inputs, the model on a grid.

Computed where the run trains (a sweep worker too) and kept small: a record carries it
back only until the figures are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from dltrain.data.pixels import row_blocks
from dltrain.data.split import Splits
from dltrain.nn.network import Network
from dltrain.train.targets import predict_classes

MAX_ERRORS = 24  # images in the gallery of misclassified samples
GRID = 200  # boundary.png: GRID x GRID model evaluations
MAX_POINTS = 2000  # boundary.png: points drawn over the regions
# boundary.png: no axis beyond this (a quarter of float64's largest), where a figure's own margins
# and ticks would overflow (inputs at +-1e308 are finite, and real data at that scale is not drawn)
PLOTTABLE = float(np.finfo(np.float64).max / 4)


@dataclass
class Views:
    """split: the split shown ('test' if any, else 'val', else 'train');
    y: (n,) class indices or (n,) / (n, k) targets; outputs: (n, k) network outputs.
    errors: (images (m, h, w), true (m,), predicted (m,)) of up to MAX_ERRORS misclassified images.
    boundary: (axis values (2, GRID), model output on the grid (GRID, GRID), points (p, 2), their y (p,))."""

    split: str
    y: np.ndarray
    outputs: np.ndarray
    errors: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None
    boundary: Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None


def views_of(net: Network, splits: Splits) -> Views:
    split, (X, y) = splits.items()[-1]
    outputs = net.predict(X)
    views = Views(split, y, outputs)
    shape = splits.sample_shape
    if splits.classes is not None and shape is not None and len(shape) == 2:
        wrong = np.flatnonzero(predict_classes(outputs) != y)[:MAX_ERRORS]
        views.errors = (X[wrong].reshape(len(wrong), *shape), y[wrong], predict_classes(outputs[wrong]))
    varying = np.flatnonzero(_spread(splits.train[0]) > 0)
    if len(varying) == 2 and splits.n_targets == 1:
        views.boundary = _grid(net, splits, varying)
    return views


def _spread(X) -> np.ndarray:
    """max - min of each column of X (n, n_features), a few rows at a time (NaN where a column has one)."""
    blocks = row_blocks(X)
    first = next(blocks)
    low, high = first.min(axis=0), first.max(axis=0)
    for rows in blocks:
        low, high = np.minimum(low, rows.min(axis=0)), np.maximum(high, rows.max(axis=0))
    with np.errstate(over="ignore"):  # a spread past float64's largest is inf: it varies
        return high - low


def _grid(net: Network, splits: Splits, varying: np.ndarray) -> Optional[tuple]:
    """The model over the bounding box (plus a margin) of all points, the constant inputs held;
    None when that box reaches past PLOTTABLE."""
    X = np.concatenate([pair[0] for _, pair in splits.items()])
    y = np.concatenate([pair[1] for _, pair in splits.items()])
    lo, hi = X[:, varying].min(axis=0), X[:, varying].max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):  # inputs near the float64 limit: checked below
        margin = 0.15 * (hi - lo)
        start, stop = lo - margin, hi + margin
    if not (np.all(np.abs(start) <= PLOTTABLE) and np.all(np.abs(stop) <= PLOTTABLE)):
        return None
    axes = np.stack([np.linspace(a, b, GRID) for a, b in zip(start, stop)])
    u, v = np.meshgrid(axes[0], axes[1])
    grid = np.repeat(X[:1], GRID * GRID, axis=0)
    grid[:, varying[0]], grid[:, varying[1]] = u.ravel(), v.ravel()
    out = net.predict(grid.astype(X.dtype))
    values = predict_classes(out) if splits.classes is not None and out.shape[1] > 1 else out[:, 0]
    keep = slice(None, MAX_POINTS)
    return axes, values.reshape(GRID, GRID), X[keep][:, varying], y[keep]
