"""A stack of dense layers trained by backpropagation. Samples are rows.

    net = Network([Dense(W0, b0, "relu"), Dense(W1, b1, "softmax")], loss="cross_entropy")
    loss, out = net.loss_and_grads(X, Y)   # X: (n, n_in), Y: (n, n_out); fills net.grads
    A = net.predict(X)                     # (n, n_out)

Training runs `loss_and_grads` thousands of times on batches of one size, so it works
in buffers kept per batch size (`_Buffers`) and writes with `out=`: no array is
allocated per batch. The values are those of the plain expressions, operation for
operation, so results do not depend on which path computed them.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.activations import ACTIVATIONS
from dltrain.nn.fast.flat import packed
from dltrain.nn.losses import FUSED, LOSSES
from dltrain.nn.optimizers import weight_decay_mask


class Dense:
    """z = x W + b followed by an activation. W: (n_in, n_out), b: (n_out,) or None."""

    def __init__(self, W: np.ndarray, b: Optional[np.ndarray], activation: str):
        self.W, self.b, self.activation = W, b, activation
        self._act = ACTIVATIONS[activation]

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W] if self.b is None else [self.W, self.b]

    def forward(
        self, x: np.ndarray, z: Optional[np.ndarray] = None, a: Optional[np.ndarray] = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, n_in) -> (z, a), both (n, n_out); written into the buffers z and a when given."""
        z = np.matmul(x, self.W, out=z)
        if self.b is not None:
            z += self.b
        return z, self._act.forward(z, out=a)

    def __repr__(self):
        bias = "" if self.b is not None else ", no bias"
        return f"Dense({self.W.shape[0]}->{self.W.shape[1]}, {self.activation}{bias})"


def _filled(view: np.ndarray, values: np.ndarray) -> np.ndarray:
    view[...] = values
    return view


class _Buffers:
    """Work arrays for batches of n rows: per layer z and a (n, n_out), and dL/da of its input."""

    def __init__(self, layers: list[Dense], n: int):
        dtype = layers[0].W.dtype
        self.z = [np.empty((n, layer.W.shape[1]), dtype) for layer in layers]
        self.a = [np.empty((n, layer.W.shape[1]), dtype) for layer in layers]
        # grad_in[i]: dL/da of layer i's input, i.e. of layer i-1's output (none for the data)
        self.grad_in = [None] + [np.empty((n, layer.W.shape[0]), dtype) for layer in layers[1:]]
        self.grad_out = np.empty((n, layers[-1].W.shape[1]), dtype)


class Network:
    """Dense layers and the loss they are trained on.

    The parameters live end to end in one vector (`flat_params`): each layer's W and b are
    views of it, in the order of `params`. The gradients are laid out the same way
    (`flat_grads`, viewed by `grads`). Optimizers, checkpoints and finiteness checks then
    work on all parameters with a few whole-vector operations.
    """

    def __init__(self, layers: list[Dense], loss: str):
        self.layers, self.loss = layers, loss
        self.fused = FUSED.get((layers[-1].activation, loss))
        self._loss = LOSSES.get(loss)
        if self.fused is None and self._loss is None:
            raise ValueError(f"loss {loss!r} cannot train a {layers[-1].activation} output")
        self.flat_params, views = packed(self.params)
        views = iter(views)
        for layer in layers:  # the layers now hold views of flat_params, with their values
            layer.W = _filled(next(views), layer.W)
            layer.b = None if layer.b is None else _filled(next(views), layer.b)
        self.flat_grads, self.grads = packed(self.params)
        self._buffers: dict[int, _Buffers] = {}

    @property
    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params]

    @property
    def decay_mask(self) -> list[bool]:
        """True for weight matrices (L2 applies), False for biases."""
        return weight_decay_mask(self.params)

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
        """Forward and backward pass on a batch; fills `self.grads`, returns (loss, outputs).

        The outputs (n, n_out) live in a work buffer: read them before the next call.
        """
        buf = self._buffers.get(len(x))
        if buf is None:
            buf = self._buffers[len(x)] = _Buffers(self.layers, len(x))
        inputs, a = [], x
        for layer, z_buf, a_buf in zip(self.layers, buf.z, buf.a):
            inputs.append(a)
            z, a = layer.forward(a, z_buf, a_buf)
        out = self.layers[-1]
        if self.fused:
            grad_z = self.fused.grad(z, a, y, out=buf.grad_out)
        else:
            grad_z = out._act.backward(z, a, self._loss.grad(a, y), out=buf.grad_out)
        loss = self._value(z, a, y)

        g = len(self.grads)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if layer.b is not None:
                g -= 1
                np.add.reduce(grad_z, axis=0, out=self.grads[g])  # np.sum without its wrapper
            g -= 1
            np.matmul(inputs[i].T, grad_z, out=self.grads[g])
            if i:
                grad_a = np.matmul(grad_z, layer.W.T, out=buf.grad_in[i])
                grad_z = self.layers[i - 1]._act.backward(buf.z[i - 1], inputs[i], grad_a, out=grad_a)
        return loss, a

    def __repr__(self):
        return f"Network({', '.join(map(repr, self.layers))}; loss={self.loss})"
