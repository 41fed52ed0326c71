"""Final metrics of a trained network on each split.

Classifiers: loss and accuracy. Regression: loss, mse, mae and r2 (scikit-learn).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.network import Network
from dltrain.train.targets import encode, predict_classes


def regression_scores(target: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """mse, mae and r2 over all targets. target: (n,) or (n, k); outputs: (n, k) or (n,).

    r2 is NaN for a single sample, where scikit-learn leaves it undefined.
    """
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    n = len(target)
    target, outputs = target.reshape(n, -1), outputs.reshape(n, -1)
    return {
        "mse": float(mean_squared_error(target, outputs)),
        "mae": float(mean_absolute_error(target, outputs)),
        "r2": float(r2_score(target, outputs)) if n > 1 else float("nan"),
    }


def split_outputs(net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, outputs) of `net` on X: (n, n_features) with labels or targets y; outputs: (n, n_out).

    One forward pass gives both, so callers that also need the outputs do not run a second.
    """
    n_out = net.layers[-1].W.shape[1]
    loss, outputs = net.loss_value(X, encode(y, n_out, n_classes, X.dtype))
    if n_classes is not None:
        return {"loss": loss, "accuracy": float(np.mean(predict_classes(outputs) == y))}, outputs
    return {"loss": loss, **regression_scores(y, outputs)}, outputs


def split_metrics(net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]) -> dict[str, float]:
    """Metrics of `net` on X: (n, n_features) with labels or targets y."""
    return split_outputs(net, X, y, n_classes)[0]
