"""The fast engine's network: the reference `Network`'s numbers, computed in buffers.

Training runs `loss_and_grads` thousands of times on batches of one size, so it works
in buffers kept per batch size (`_Buffers`) and writes with `out=` (`kernels.py`): no
array is allocated per batch. The parameters live end to end in one vector
(`flat_params`), each layer's W and b a view of it, and the gradients likewise
(`flat_grads`, viewed by `grads`): optimizers, the rollback mark and the finiteness
check work on all parameters with a few whole-vector operations. The values are those
of `dltrain/nn/network.py`, operation for operation (`tests/test_engine_paths.py`).
"""

from __future__ import annotations

import numpy as np

from dltrain.nn.fast.flat import packed
from dltrain.nn.fast.kernels import activation_kernels, layer_kernels, loss_kernels
from dltrain.nn.network import Dense, Network


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


class FastNetwork(Network):
    """A `Network` whose parameters and gradients are views of one vector each, trained in buffers."""

    def __init__(self, layers: list[Dense], loss: str):
        super().__init__(layers, loss)
        self.flat_params, views = packed(self.params)
        view = iter(views)
        for layer in layers:  # the layers now hold views of flat_params, with their values
            layer.W = _filled(next(view), layer.W)
            layer.b = None if layer.b is None else _filled(next(view), layer.b)
        self.flat_grads, self.grads = packed(self.params)
        # per layer: its weights' and its bias's gradient (None without a bias), views of flat_grads
        grads = iter(self.grads)
        self._grads = [(next(grads), None if layer.b is None else next(grads)) for layer in layers]
        self._kernels = [layer_kernels(layer) for layer in layers]
        self._loss_kernels = loss_kernels(activation_kernels(layers[-1])[0], layers[-1].activation, loss, self.fused)
        self._buffers: dict[int, _Buffers] = {}

    def compile(self) -> None:
        """Run the layers that have a kernel in `numba_layers.py` through it (same bits).

        For runs that load numba anyway (Adam's compiled update): its import costs more than
        these kernels save in a short run. ImportError without numba.
        """
        from dltrain.nn.fast import numba_layers

        self._kernels = [numba_layers.kernels_for(layer) or k for layer, k in zip(self.layers, self._kernels)]

    def all_finite(self) -> bool:
        return bool(np.isfinite(self.flat_params).all())

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """As `Network.loss_and_grads`, filling `self.grads` in place.

        The outputs (n, n_out) live in a work buffer: read them before the next call.
        """
        buf = self._buffers.get(len(x))
        if buf is None:
            buf = self._buffers[len(x)] = _Buffers(self.layers, len(x))
        inputs, a = [], x
        last = len(self.layers) - 1
        for i, (layer, (forward, _), z_buf, a_buf) in enumerate(zip(self.layers, self._kernels, buf.z, buf.a)):
            inputs.append(a)
            z = np.matmul(a, layer.W, out=z_buf)
            if i < last or not self._loss_kernels:
                a = forward(z, layer.b, a_buf)
            elif layer.b is not None:  # a fused pair computes the outputs with the loss
                z += layer.b
        if self._loss_kernels:
            outputs, grad = self._loss_kernels
            a, loss = outputs(z, y, buf.a[-1])
            grad_z = grad(z, a, y, buf.grad_out)
            if self._grads[last][1] is not None:
                np.add.reduce(grad_z, axis=0, out=self._grads[last][1])  # np.sum without its wrapper
        else:
            grad_z = self._kernels[last][1](z, a, self._loss.grad(a, y), buf.grad_out, self._grads[last][1])
            loss = self._loss.value(a, y)

        for i in range(last, -1, -1):  # grad_z: dL/dz of layer i, its bias's gradient already taken
            np.matmul(inputs[i].T, grad_z, out=self._grads[i][0])
            if i:
                grad_a = np.matmul(grad_z, self.layers[i].W.T, out=buf.grad_in[i])
                grad_z = self._kernels[i - 1][1](buf.z[i - 1], inputs[i], grad_a, grad_a, self._grads[i - 1][1])
        return float(loss), a
