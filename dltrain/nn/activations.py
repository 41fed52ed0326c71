"""Activation functions: name -> (forward, backward) table.

Arrays are (n_samples, n_units). `forward(z)` returns a = f(z); `backward(z, a, grad_a)`
returns dL/dz from the pre-activation z, the activation a = forward(z) and the upstream
gradient dL/da.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_SLOPE = 0.01  # leaky_relu's default slope for z < 0: PyTorch's LeakyReLU (Keras's defaults to 0.3)


@dataclass(frozen=True)
class Activation:
    forward: Callable[[np.ndarray], np.ndarray]  # z -> a
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (z, a, dL/da) -> dL/dz


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-z)) where z >= 0 and exp(z) / (1 + exp(z)) where z < 0: exp of a
    # non-positive number never overflows
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))  # shifted: the largest exponent is 0
    return e / e.sum(axis=1, keepdims=True)


def leaky_relu(slope: float = LEAKY_SLOPE) -> Activation:
    """f(z) = z for z > 0, slope * z otherwise."""
    return Activation(
        lambda z: np.where(z > 0, z, slope * z),
        lambda z, a, g: np.where(z > 0, g, slope * g),
    )


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(lambda z: z, lambda z, a, g: g),
    "sigmoid": Activation(sigmoid, lambda z, a, g: g * a * (1.0 - a)),
    "tanh": Activation(np.tanh, lambda z, a, g: g * (1.0 - a * a)),
    "relu": Activation(lambda z: np.maximum(z, 0), lambda z, a, g: g * (z > 0)),
    "leaky_relu": leaky_relu(LEAKY_SLOPE),
    # Jacobian-vector product of softmax, row by row
    "softmax": Activation(softmax, lambda z, a, g: a * (g - np.sum(g * a, axis=1, keepdims=True))),
    # The step has zero derivative almost everywhere: only error-driven rules train it.
    "step": Activation(lambda z: (z >= 0).astype(z.dtype), lambda z, a, g: np.zeros_like(g)),
}


def activation(name: str, negative_slope: float = LEAKY_SLOPE) -> Activation:
    """The activation called `name`; leaky_relu with `negative_slope` for z < 0."""
    return leaky_relu(negative_slope) if name == "leaky_relu" else ACTIVATIONS[name]
