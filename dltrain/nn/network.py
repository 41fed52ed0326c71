"""A stack of dense layers trained by backpropagation. Samples are rows.

    net = Network([Dense(W0, b0, "relu"), Dense(W1, b1, "softmax")], loss="cross_entropy")
    loss, out = net.loss_and_grads(X, Y)   # X: (n, n_in), Y: (n, n_out); sets net.grads
    A = net.predict(X)                     # (n, n_out)

Models build the fast engine's subclass (`dltrain/nn/fast/network.py`) unless
DLTRAIN_ENGINE=reference: the same numbers, computed in preallocated buffers.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn import activations
from dltrain.nn.activations import LEAKY_SLOPE
from dltrain.nn.losses import FUSED, LOSSES, Loss
from dltrain.nn.optimizers import weight_decay_mask


class Dense:
    """z = x W + b followed by an activation. W: (n_in, n_out), b: (n_out,) or None.

    `negative_slope`: leaky_relu's slope for z < 0 (other activations ignore it).
    """

    def __init__(self, W: np.ndarray, b: Optional[np.ndarray], activation: str, negative_slope: float = LEAKY_SLOPE):
        self.W, self.b, self.activation = W, b, activation
        self.act = activations.activation(activation, negative_slope)

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W] if self.b is None else [self.W, self.b]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, n_in) -> (z, a), both (n, n_out)."""
        z = x @ self.W
        if self.b is not None:
            z = z + self.b
        return z, self.act.forward(z)

    def __repr__(self):
        bias = "" if self.b is not None else ", no bias"
        return f"Dense({self.W.shape[0]}->{self.W.shape[1]}, {self.activation}{bias})"


EVAL_BYTES = 4 << 20  # evaluation computes this many bytes of each layer's output at a time


class Network:
    """Dense layers and the loss they are trained on."""

    _loss: Loss  # the loss on the outputs, where no fused pair takes it from the logits

    def __init__(self, layers: list[Dense], loss: str):
        self.layers, self.loss = layers, loss
        self.fused = FUSED.get((layers[-1].activation, loss))
        if self.fused is None:
            if loss not in LOSSES:
                raise ValueError(f"loss {loss!r} cannot train a {layers[-1].activation} output")
            self._loss = LOSSES[loss]
        self.grads = [np.zeros_like(p) for p in self.params]  # dL/dparams, set by loss_and_grads

    @property
    def params(self) -> list[np.ndarray]:
        """W0, b0, W1, b1, ... (a layer without bias has no b)."""
        return [p for layer in self.layers for p in layer.params]

    @property
    def decay_mask(self) -> list[bool]:
        """True for weight matrices (L2 applies), False for biases."""
        return weight_decay_mask(self.params)

    def compile(self) -> None:
        """Nothing to compile here; the fast engine's network runs some layers through numba."""

    def all_finite(self) -> bool:
        return all(np.isfinite(p).all() for p in self.params)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (n, n_in) -> outputs (n, n_out)."""
        return self._last_layer(x)[1]

    def loss_value(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, outputs) on x: (n, n_in), y: (n, n_out), without gradients."""
        z, a = self._last_layer(x)
        with np.errstate(over="ignore", invalid="ignore"):  # metrics report a non-finite loss as it is
            return self._value(z, a, y), a

    def _last_layer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The forward pass: the last layer's (z, a), (n, n_out) each.

        A few thousand rows at a time (EVAL_BYTES of the widest layer's output), so that
        evaluating a whole split never holds its hidden layers (MNIST's training split:
        60000 x 256 numbers per array) in memory at once.
        """
        rows = max(1, EVAL_BYTES // (max(layer.W.shape[1] for layer in self.layers) * x.itemsize))
        pieces = []
        for lo in range(0, max(len(x), 1), rows):
            z = a = x[lo : lo + rows]
            with np.errstate(over="ignore", invalid="ignore"):  # an inf or NaN output is the model's answer
                for layer in self.layers:
                    z, a = layer.forward(a)
            pieces.append((z, a))
        if len(pieces) == 1:
            return pieces[0]
        z = np.concatenate([z for z, _ in pieces])
        return z, z if pieces[0][1] is pieces[0][0] else np.concatenate([a for _, a in pieces])

    def _value(self, z, a, y) -> float:
        return float(self.fused.value(z, y) if self.fused else self._loss.value(a, y))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward and backward pass on a batch x: (n, n_in), y: (n, n_out).

        Sets `self.grads` (arrays shaped like `params`); returns (loss, outputs (n, n_out)).
        """
        inputs, zs, a = [], [], x
        for layer in self.layers:
            inputs.append(a)
            z, a = layer.forward(a)
            zs.append(z)
        if self.fused:  # dL/dz straight from the logits
            grad_z = self.fused.grad(z, a, y)
        else:
            grad_z = self.layers[-1].act.backward(z, a, self._loss.grad(a, y))

        grads = []  # built from the last layer back, reversed at the end
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if layer.b is not None:
                grads.append(grad_z.sum(axis=0))  # dL/db
            grads.append(inputs[i].T @ grad_z)  # dL/dW
            if i:  # dL/dz of the layer below, through its activation
                grad_a = grad_z @ layer.W.T
                grad_z = self.layers[i - 1].act.backward(zs[i - 1], inputs[i], grad_a)
        self.grads = grads[::-1]
        return self._value(z, a, y), a

    def __repr__(self):
        return f"Network({', '.join(map(repr, self.layers))}; loss={self.loss})"
