"""Losses: name -> (value, gradient) table, plus fused output-layer pairs.

`value(a, y)` and `grad(a, y)` take predictions a and targets y, both
(n_samples, n_outputs), and return the scalar loss and dL/da. The reductions are those of
PyTorch and Keras: bce and mse average over samples and outputs alike (reduction="mean"),
cross_entropy averages over samples the sum over classes, sse is the plain sum.

A pair in `FUSED` (output activation, loss) computes both from the logits z instead:
the loss without forming log(sigmoid) or log(softmax) of saturated values, and dL/dz =
(a - y) / count directly, which is exact and never divides by a - a^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import numpy as np


def _clip(a: np.ndarray) -> np.ndarray:
    eps = np.finfo(a.dtype).eps
    return np.clip(a, eps, 1.0 - eps)


def _bce(a, y):
    a = _clip(a)
    return -np.mean(y * np.log(a) + (1.0 - y) * np.log(1.0 - a))


def _bce_grad(a, y):
    a = _clip(a)
    return (a - y) / (a * (1.0 - a)) / a.size


def _cross_entropy(a, y):
    return -np.mean(np.sum(y * np.log(_clip(a)), axis=1))


Scalar = Union[float, np.floating]


@dataclass(frozen=True)
class Loss:
    value: Callable[[np.ndarray, np.ndarray], Scalar]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]


LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce, _bce_grad),
    "cross_entropy": Loss(_cross_entropy, lambda a, y: -y / _clip(a) / len(a)),
    "mse": Loss(lambda a, y: np.mean((a - y) ** 2), lambda a, y: 2.0 * (a - y) / a.size),
    "sse": Loss(lambda a, y: np.sum((a - y) ** 2), lambda a, y: 2.0 * (a - y)),
}

SUMMED = {"sse"}  # losses that add over samples instead of averaging


def _bce_from_logits(z, y):
    # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z, overflow-free
    return np.mean(np.logaddexp(0.0, z) - y * z)


def _cross_entropy_from_logits(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(np.sum(y * log_probs, axis=1))


@dataclass(frozen=True)
class FusedLoss:
    """Loss and gradient of an (activation, loss) pair taken from the logits z."""

    value: Callable[[np.ndarray, np.ndarray], Scalar]  # (z, y) -> loss
    grad: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (z, a, y) -> dL/dz


FUSED: dict[tuple[str, str], FusedLoss] = {
    # bce averages over every output of every sample; cross_entropy over samples
    ("sigmoid", "bce"): FusedLoss(_bce_from_logits, lambda z, a, y: (a - y) / a.size),
    ("softmax", "cross_entropy"): FusedLoss(_cross_entropy_from_logits, lambda z, a, y: (a - y) / len(a)),
    # Rosenblatt's rule: the error (y - a) of the step output drives the update
    # w += lr (y - a) x, i.e. gradient descent with dL/dz = a - y summed over the batch.
    # The loss reported is the fraction of samples misclassified.
    ("step", "perceptron"): FusedLoss(
        lambda z, y: np.mean(np.any((z >= 0) != (y > 0.5), axis=1)),
        lambda z, a, y: a - y,
    ),
}
