"""Final metrics of a trained network on each split, and which way each metric is better.

Classifiers: loss and accuracy. Regression: loss, mse, mae and r2 (scikit-learn).
A run's main metric, the one `dltrain runs` shows and a sweep ranks by unless told
otherwise, is test.accuracy for a classifier and test.loss otherwise (loss, because
every run has it and it is what training minimised); val, then train, stand in for a
run without a test split.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.network import Network
from dltrain.train.targets import encode, predict_classes

SPLIT_METRICS = ("loss", "accuracy", "mse", "mae", "r2")  # what split_metrics can give back
LOWER_IS_BETTER = frozenset({"loss", "mse", "mae", "log_loss"})  # log_loss: the sklearn baseline's; all others higher


def lower_is_better(metric: str) -> bool:
    """For 'test.mse', 'baseline.test.log_loss' or a bare 'loss': whether smaller values are better."""
    return metric.rsplit(".", 1)[-1] in LOWER_IS_BETTER


def main_metric(metrics: dict) -> Optional[str]:
    """'test.accuracy' for a classifier, 'test.loss' otherwise; from val or train when there is no test split.

    metrics: as in metrics.json, {'train': {...}, 'val': {...}, 'test': {...}}; None when it has no split.
    """
    for split in ("test", "val", "train"):
        values = metrics.get(split)
        if values:
            return f"{split}.{'accuracy' if 'accuracy' in values else 'loss'}"
    return None


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


def split_outputs(
    net: Network, X: np.ndarray, y: np.ndarray, n_classes: Optional[int]
) -> tuple[dict[str, float], np.ndarray]:
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
