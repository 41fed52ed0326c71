"""Final metrics of a trained network on each split.

Classifiers: loss and accuracy. Regression: loss, mse, mae and r2 (scikit-learn).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.network import Network
from dltrain.train.targets import encode, predict_classes


def split_metrics(net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]) -> dict[str, float]:
    """Metrics of `net` on X: (n, n_features) with labels or targets y."""
    n_out = net.layers[-1].W.shape[1]
    loss, outputs = net.loss_value(X, encode(y, n_out, n_classes, X.dtype))
    if n_classes is not None:
        return {"loss": loss, "accuracy": float(np.mean(predict_classes(outputs) == y))}
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    target = y.reshape(len(y), -1)
    r2 = float(r2_score(target, outputs)) if len(y) > 1 else float("nan")
    return {
        "loss": loss,
        "mse": float(mean_squared_error(target, outputs)),
        "mae": float(mean_absolute_error(target, outputs)),
        "r2": r2,
    }
