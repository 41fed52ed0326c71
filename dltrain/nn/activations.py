"""Activation functions: name -> (forward, backward) table.

Arrays are (n_samples, n_units). `forward(z, out=None)` returns a = f(z);
`backward(z, a, grad_a, out=None)` returns dL/dz given the pre-activation z, the
activation a = forward(z) and the upstream gradient dL/da. With `out` (an array shaped
like z, which may be `grad_a` itself) the result is written there instead of a new array;
the values are the same either way, so the training loop can reuse its buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np

LEAKY_SLOPE = 0.01  # the slope most references use for leaky ReLU on negative inputs


def _into(out: Optional[np.ndarray], value: np.ndarray) -> np.ndarray:
    """`value`, copied into `out` when one is given (for the rarely trained activations)."""
    if out is None:
        return value
    np.copyto(out, value)
    return out


def _sigmoid(z: np.ndarray, out=None) -> np.ndarray:
    # exp of a non-positive number never overflows: 1/(1 + exp(-z)) where z >= 0 and
    # exp(z)/(1 + exp(z)) where z < 0, i.e. exp(min(z, 0)) / (1 + exp(-|z|)) for both signs
    # (two exps and no np.where, which costs more than an exp at these sizes).
    num = np.minimum(z, 0.0)
    np.exp(num, out=num)
    d = np.abs(z)
    np.negative(d, out=d)
    np.exp(d, out=d)
    d += 1.0
    return np.divide(num, d, out=out)


def _sigmoid_backward(z, a, g, out=None):
    tmp = g * a
    tmp *= 1.0 - a
    return _into(out, tmp)


def _tanh_backward(z, a, g, out=None):
    tmp = a * a
    np.subtract(1.0, tmp, out=tmp)
    return np.multiply(g, tmp, out=out)


def _relu_backward(z, a, g, out=None):
    return np.multiply(g, z > 0, out=out)


def _identity(z, out=None):
    return z  # nothing to compute: the caller may use z itself


def _identity_backward(z, a, g, out=None):
    return g if out is None or out is g else _into(out, g)


def _softmax(z: np.ndarray, out=None) -> np.ndarray:
    e = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


def _softmax_backward(z, a, grad_a, out=None):
    # Jacobian-vector product of softmax, row by row
    return _into(out, a * (grad_a - np.sum(grad_a * a, axis=1, keepdims=True)))


@dataclass(frozen=True)
class Activation:
    forward: Callable[..., np.ndarray]  # (z, out=None) -> a
    backward: Callable[..., np.ndarray]  # (z, a, grad_a, out=None) -> dL/dz


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(_identity, _identity_backward),
    "sigmoid": Activation(_sigmoid, _sigmoid_backward),
    "tanh": Activation(lambda z, out=None: np.tanh(z, out=out), _tanh_backward),
    "relu": Activation(lambda z, out=None: np.maximum(z, 0, out=out), _relu_backward),
    "leaky_relu": Activation(
        lambda z, out=None: _into(out, np.where(z > 0, z, LEAKY_SLOPE * z)),
        lambda z, a, g, out=None: _into(out, g * np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)),
    ),
    "softmax": Activation(_softmax, _softmax_backward),
    # The step has zero derivative almost everywhere: only error-driven rules train it.
    "step": Activation(
        lambda z, out=None: _into(out, (z >= 0).astype(z.dtype)),
        lambda z, a, g, out=None: _into(out, np.zeros_like(g)),
    ),
}
