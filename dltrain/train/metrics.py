"""Final metrics of a trained network on each split (their names, which way each is better
and a run's main metric are in `dltrain.train.metric_names`, re-exported here).

Classifiers: loss and accuracy. Regression: loss, mse, mae and r2. The scores are
scikit-learn's formulas written in NumPy, operation for operation (so they give its
bits, `tests/test_metrics.py`): loading scikit-learn would cost a command more than
computing them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.network import Network
from dltrain.train.metric_names import LOWER_IS_BETTER, SPLIT_METRICS, lower_is_better, main_metric  # noqa: F401
from dltrain.train.targets import encode, predict_classes


def regression_scores(target: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """mse, mae and r2 over all targets, each the mean of the per-target scores.

    target: (n,) or (n, k); outputs: (n, k) or (n,). r2 of a constant target is 1 when
    predicted exactly and 0 otherwise; for a single sample it is NaN (undefined).
    """
    n = len(target)
    target, outputs = target.reshape(n, -1), outputs.reshape(n, -1)
    errors = target - outputs
    scores = {"mse": float(np.mean(np.mean(errors**2, axis=0))), "mae": float(np.mean(np.mean(np.abs(errors), axis=0)))}
    if n < 2:
        return {**scores, "r2": float("nan")}
    residual = np.sum(errors**2, axis=0)
    total = np.sum((target - np.mean(target, axis=0)) ** 2, axis=0)
    r2 = np.where(residual == 0, 1.0, 0.0)  # a constant target: exact or not
    fits = (residual != 0) & (total != 0)
    r2[fits] = 1 - residual[fits] / total[fits]
    return {**scores, "r2": float(np.mean(r2))}


def confusion_matrix(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows the true class, columns the predicted one. y, predicted: (n,) indices."""
    return np.bincount(y.astype(np.int64) * n_classes + predicted, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a class never predicted or never present)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator != 0)


def class_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, f1, support), each (n_classes,), from a confusion matrix."""
    hits = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    return _ratio(hits, predicted), _ratio(hits, support), _ratio(2 * hits, support + predicted), support


def log_loss(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean of -log p(true class). y: (n,) indices; probabilities: (n, n_classes), clipped to
    [eps, 1 - eps] of their dtype so that a confident mistake costs a large finite loss."""
    eps = np.finfo(probabilities.dtype).eps
    p = np.clip(probabilities[np.arange(len(y)), y], eps, 1 - eps)
    return float(np.mean(-np.log(p)))


def split_outputs(
    net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]
) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, outputs) of `net` on X: (n, n_features) with labels or targets y; outputs: (n, n_out).

    One forward pass gives both, so callers that also need the outputs do not run a second.
    Weights huge enough to overflow (an absurd learning rate) give a nan or inf loss, shown
    as such, without NumPy's warnings about the overflow on the way.
    """
    n_out = net.layers[-1].W.shape[1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        loss, outputs = net.loss_value(X, encode(y, n_out, n_classes, X.dtype))
    if n_classes is not None:
        return {"loss": loss, "accuracy": float(np.mean(predict_classes(outputs) == y))}, outputs
    return {"loss": loss, **regression_scores(y, outputs)}, outputs


def split_metrics(net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]) -> dict[str, float]:
    """Metrics of `net` on X: (n, n_features) with labels or targets y."""
    return split_outputs(net, X, y, n_classes)[0]
