"""Activation functions: name -> (forward, backward) table.

Arrays are (n_samples, n_units). `backward(z, a, grad_a)` returns dL/dz given the
pre-activation z, the activation a = forward(z) and the upstream gradient dL/da.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

LEAKY_SLOPE = 0.01  # the slope most references use for leaky ReLU on negative inputs


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows, so split by sign
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_backward(z, a, grad_a):
    # Jacobian-vector product of softmax, row by row
    return a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True))


@dataclass(frozen=True)
class Activation:
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(lambda z: z, lambda z, a, g: g),
    "sigmoid": Activation(_sigmoid, lambda z, a, g: g * a * (1.0 - a)),
    "tanh": Activation(np.tanh, lambda z, a, g: g * (1.0 - a * a)),
    "relu": Activation(lambda z: np.maximum(z, 0), lambda z, a, g: g * (z > 0)),
    "leaky_relu": Activation(
        lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
        lambda z, a, g: g * np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype),
    ),
    "softmax": Activation(_softmax, _softmax_backward),
    # The step has zero derivative almost everywhere: only error-driven rules train it.
    "step": Activation(lambda z: (z >= 0).astype(z.dtype), lambda z, a, g: np.zeros_like(g)),
}
