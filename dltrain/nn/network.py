"""A stack of dense layers trained by backpropagation. Samples are rows.

    net = Network([Dense(W0, b0, "relu"), Dense(W1, b1, "softmax")], loss="cross_entropy")
    loss = net.loss_and_grads(X, Y)     # X: (n, n_in), Y: (n, n_out); fills net.grads
    A = net.predict(X)                  # (n, n_out)
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.activations import ACTIVATIONS
from dltrain.nn.losses import FUSED, LOSSES


class Dense:
    """z = x W + b followed by an activation. W: (n_in, n_out), b: (n_out,) or None."""

    def __init__(self, W: np.ndarray, b: Optional[np.ndarray], activation: str):
        self.W, self.b, self.activation = W, b, activation
        self._act = ACTIVATIONS[activation]

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W] if self.b is None else [self.W, self.b]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, n_in) -> (z, a), both (n, n_out)."""
        z = x @ self.W
        if self.b is not None:
            z += self.b
        return z, self._act.forward(z)

    def __repr__(self):
        bias = "" if self.b is not None else ", no bias"
        return f"Dense({self.W.shape[0]}->{self.W.shape[1]}, {self.activation}{bias})"


class Network:
    """Dense layers and the loss they are trained on."""

    def __init__(self, layers: list[Dense], loss: str):
        self.layers, self.loss = layers, loss
        self.fused = FUSED.get((layers[-1].activation, loss))
        self._loss = LOSSES.get(loss)
        if self.fused is None and self._loss is None:
            raise ValueError(f"loss {loss!r} cannot train a {layers[-1].activation} output")
        self.grads = [np.zeros_like(p) for p in self.params]

    @property
    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params]

    @property
    def decay_mask(self) -> list[bool]:
        """True for weight matrices (L2 applies), False for biases."""
        return [p.ndim == 2 for p in self.params]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (n, n_in) -> outputs (n, n_out)."""
        for layer in self.layers:
            x = layer.forward(x)[1]
        return x

    def loss_value(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, outputs) on x: (n, n_in), y: (n, n_out), without gradients."""
        z, a = x, x
        for layer in self.layers:
            z, a = layer.forward(a)
        return self._value(z, a, y), a

    def _value(self, z, a, y) -> float:
        return float(self.fused.value(z, y) if self.fused else self._loss.value(a, y))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward and backward pass on a batch; fills `self.grads`, returns (loss, outputs)."""
        inputs, zs, a = [], [], x
        for layer in self.layers:
            inputs.append(a)
            z, a = layer.forward(a)
            zs.append(z)
        out = self.layers[-1]
        if self.fused:
            grad_z = self.fused.grad(zs[-1], a, y)
        else:
            grad_z = out._act.backward(zs[-1], a, self._loss.grad(a, y))
        loss = self._value(zs[-1], a, y)

        g = len(self.grads)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if layer.b is not None:
                g -= 1
                np.sum(grad_z, axis=0, out=self.grads[g])
            g -= 1
            np.matmul(inputs[i].T, grad_z, out=self.grads[g])
            if i:
                prev = self.layers[i - 1]
                grad_a = grad_z @ layer.W.T
                grad_z = prev._act.backward(zs[i - 1], inputs[i], grad_a)
        return loss, a

    def __repr__(self):
        return f"Network({', '.join(map(repr, self.layers))}; loss={self.loss})"
