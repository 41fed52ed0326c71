"""Losses: name -> (value, gradient) table, plus fused output-layer pairs.

`value(a, y)` and `grad(a, y)` take predictions a and targets y, both
(n_samples, n_outputs), and return the scalar loss and dL/da. The reduction is the
mean over samples for bce, cross_entropy and mse, the plain sum for sse.

A pair in `FUSED` (output activation, loss) computes both from the logits z instead:
the loss without forming log(sigmoid) or log(softmax) of saturated values, and
dL/dz = (a - y) / n directly, which is exact and never divides by a - a^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _clip(a: np.ndarray) -> np.ndarray:
    eps = np.finfo(a.dtype).eps
    return np.clip(a, eps, 1.0 - eps)


def _bce(a, y):
    a = _clip(a)
    return -np.mean(np.sum(y * np.log(a) + (1.0 - y) * np.log(1.0 - a), axis=1))


def _bce_grad(a, y):
    a = _clip(a)
    return (a - y) / (a * (1.0 - a)) / len(a)


def _cross_entropy(a, y):
    return -np.mean(np.sum(y * np.log(_clip(a)), axis=1))


@dataclass(frozen=True)
class Loss:
    value: Callable[[np.ndarray, np.ndarray], float]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]


LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce, _bce_grad),
    "cross_entropy": Loss(_cross_entropy, lambda a, y: -y / _clip(a) / len(a)),
    "mse": Loss(lambda a, y: np.mean((a - y) ** 2), lambda a, y: 2.0 * (a - y) / a.size),
    "sse": Loss(lambda a, y: np.sum((a - y) ** 2), lambda a, y: 2.0 * (a - y)),
}


def _mean_row_sum(terms: np.ndarray):
    """np.mean(np.sum(terms, axis=1)) for terms (n, k), without NumPy's Python-level wrappers.

    The same reductions and the same final division as np.mean (sum in the array's dtype,
    divided by the count as an intp, cast back to that dtype), so the same bits; it runs
    once per batch, where the wrappers cost more than the arithmetic.
    """
    rows = np.add.reduce(terms, axis=1) if terms.shape[1] > 1 else terms.reshape(-1)  # a column is its own row sums
    total = np.add.reduce(rows)
    return total.dtype.type(total / np.intp(len(terms)))


def _bce_from_logits(z, y):
    # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z, overflow-free
    return _mean_row_sum(np.logaddexp(0.0, z) - y * z)


def _cross_entropy_from_logits(z, y):
    shifted = z - np.maximum.reduce(z, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.add.reduce(np.exp(shifted), axis=1, keepdims=True))
    return -_mean_row_sum(np.multiply(y, log_probs, out=log_probs))


@dataclass(frozen=True)
class FusedLoss:
    """Loss and gradient of an (activation, loss) pair taken from the logits z."""

    value: Callable[[np.ndarray, np.ndarray], float]  # (z, y) -> loss
    grad: Callable[..., np.ndarray]  # (z, a, y, out=None) -> dL/dz, written into `out` when given


def _mean_residual(z, a, y, out=None):
    """(a - y) / n: the gradient of a mean loss with respect to the logits."""
    r = np.subtract(a, y, out=out)
    r /= len(a)
    return r


SUMMED = {"sse"}  # losses that add over samples instead of averaging


FUSED: dict[tuple[str, str], FusedLoss] = {
    ("sigmoid", "bce"): FusedLoss(_bce_from_logits, _mean_residual),
    ("softmax", "cross_entropy"): FusedLoss(_cross_entropy_from_logits, _mean_residual),
    # Rosenblatt's rule: the error (y - a) of the step output drives the update
    # w += lr (y - a) x, i.e. gradient descent with dL/dz = a - y summed over the batch.
    # The loss reported is the fraction of samples misclassified.
    ("step", "perceptron"): FusedLoss(
        lambda z, y: np.mean(np.any((z >= 0) != (y > 0.5), axis=1)),
        lambda z, a, y, out=None: np.subtract(a, y, out=out),
    ),
}
