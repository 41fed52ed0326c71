"""Activations and output losses written into given buffers (`out=`), for the fast network.

Each kernel computes its reference function (`dltrain/nn/activations.py`,
`dltrain/nn/losses.py`) operation for operation, so the bits are the same; it only
writes into `out` instead of allocating, and calls NumPy's ufuncs without the Python
wrappers where those cost more than the arithmetic on a batch.

    forward, backward = activation_kernels(layer)  # forward(z, out) -> a; backward(z, a, g, out) -> dL/dz
    outputs, grad = loss_kernels(forward, activation, loss, fused)
    # outputs(z, y, out) -> (a, loss) of the output layer; grad(z, a, y, out) -> dL/dz
    forward, backward = layer_kernels(layer)  # with the bias: forward(z, b, out); backward(z, a, g, out, db)

`out` is never `z`; it may be `g` itself in backward. Activations without a kernel here
run their reference function and copy the result into `out`. `outputs` is the output
layer's forward and the loss together: softmax and cross-entropy share their shift, exp
and row sums.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np


def _sigmoid(z, out):
    # the reference's two branches as one division: exp(-|min(z, 0)|) / (1 + exp(-|z|))
    # (two exps and no np.where, which costs more than an exp at these sizes); the sign set
    # to minus changes no number, and a NaN z gives the reference's NaN, that of exp(-|z|)
    num = np.minimum(z, 0.0)
    np.copysign(num, -1.0, out=num)
    np.exp(num, out=num)
    d = np.abs(z)
    np.negative(d, out=d)
    np.exp(d, out=d)
    d += 1.0
    return np.divide(num, d, out=out)


def _sigmoid_backward(z, a, g, out):
    tmp = g * a
    tmp *= 1.0 - a
    np.copyto(out, tmp)
    return out


def _tanh_backward(z, a, g, out):
    tmp = a * a
    np.subtract(1.0, tmp, out=tmp)
    return np.multiply(g, tmp, out=out)


def _identity_backward(z, a, g, out):
    if out is not g:
        np.copyto(out, g)
    return out


def _relu(z, out):
    out.fill(0)  # max against an array of zeros: NumPy's vector loop (against the scalar 0 a loop 2x slower)
    return np.maximum(z, out, out=out)


def _softmax(z, out):
    e = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


ACTIVATION_KERNELS: dict[str, tuple[Callable, Optional[Callable]]] = {
    "identity": (lambda z, out: z, _identity_backward),  # forward: nothing to compute, z is a
    "sigmoid": (_sigmoid, _sigmoid_backward),
    "tanh": (lambda z, out: np.tanh(z, out=out), _tanh_backward),
    "relu": (_relu, lambda z, a, g, out: np.multiply(g, z > 0, out=out)),
    "softmax": (_softmax, None),  # None: the reference's, copied into out
}


def _copied(function):
    """A reference function whose result (its last argument is `out`) is copied into out."""

    def into(*args):
        out = args[-1]
        np.copyto(out, function(*args[:-1]))
        return out

    return into


def activation_kernels(layer) -> tuple[Callable, Callable]:
    """(forward(z, out), backward(z, a, g, out)) for a `Dense` layer's activation."""
    forward, backward = ACTIVATION_KERNELS.get(layer.activation, (None, None))
    return forward or _copied(layer.act.forward), backward or _copied(layer.act.backward)


def layer_kernels(layer) -> tuple[Callable, Callable]:
    """A `Dense` layer's (forward(z, b, out), backward(z, a, g, out, db)): its activation's
    kernels with the bias. forward adds b (None: no bias) to z in place first; backward
    also writes the bias's gradient, the column sums of dL/dz, into db (None: no bias)."""
    activation, activation_grad = activation_kernels(layer)

    def forward(z, b, out):
        if b is not None:
            z += b
        return activation(z, out)

    def backward(z, a, g, out, db):
        grad_z = activation_grad(z, a, g, out)
        if db is not None:
            np.add.reduce(grad_z, axis=0, out=db)  # np.sum without its wrapper
        return grad_z

    return forward, backward


def mean_all(terms: np.ndarray):
    """np.mean(terms) for a C-contiguous array, without NumPy's Python-level wrappers.

    The same reduction and the same final division as np.mean (sum in the array's dtype,
    divided by the count as an intp, cast back to that dtype), so the same bits; it runs
    once per batch, where the wrappers cost more than the arithmetic.
    """
    total = np.add.reduce(terms.reshape(-1))
    return total.dtype.type(total / np.intp(terms.size))


def mean_row_sum(terms: np.ndarray):
    """np.mean(np.sum(terms, axis=1)) for terms (n, k), without the wrappers (as `mean_all`)."""
    rows = np.add.reduce(terms, axis=1) if terms.shape[1] > 1 else terms.reshape(-1)  # a column is its own row sums
    return mean_all(rows)


def _bce_from_logits(z, y):
    return mean_all(np.logaddexp(0.0, z) - y * z)


def _softmax_cross_entropy(z, y, out):
    """(softmax(z) written into out, the cross-entropy of the logits z against y), computing
    the reference's shifted logits, their exp and its row sums once for both."""
    shifted = z - np.maximum.reduce(z, axis=1, keepdims=True)
    e = np.exp(shifted, out=out)
    sums = np.add.reduce(e, axis=1, keepdims=True)
    log_probs = np.subtract(shifted, np.log(sums), out=shifted)
    e /= sums
    return e, -mean_row_sum(np.multiply(y, log_probs, out=log_probs))


def _then(forward: Callable, value: Callable) -> Callable:
    """outputs(z, y, out) of an output layer whose loss shares nothing with its forward."""
    return lambda z, y, out: (forward(z, out), value(z, y))


def _residual_over(count: Callable[[np.ndarray], int]):
    """(a - y) / count(a), written into out."""

    def grad(z, a, y, out):
        r = np.subtract(a, y, out=out)
        r /= count(a)
        return r

    return grad


# (output activation, loss) -> (value(z, y), or None: the reference's; grad(z, a, y, out))
LOSS_KERNELS: dict[tuple[str, str], tuple[Optional[Callable], Callable]] = {
    ("sigmoid", "bce"): (_bce_from_logits, _residual_over(lambda a: a.size)),
    ("softmax", "cross_entropy"): (None, _residual_over(len)),  # its value: with the forward, below
    ("step", "perceptron"): (None, lambda z, a, y, out: np.subtract(a, y, out=out)),
}
# pairs whose forward and loss share work: outputs(z, y, out) -> (a, loss)
SHARED_OUTPUTS: dict[tuple[str, str], Callable] = {("softmax", "cross_entropy"): _softmax_cross_entropy}


def loss_kernels(forward: Callable, activation: str, loss: str, fused) -> Optional[tuple[Callable, Callable]]:
    """(outputs(z, y, out) -> (a, loss), grad(z, a, y, out)) of the reference's fused pair `fused`
    on an output layer whose activation kernel is `forward`, or None where there is no fused pair."""
    if fused is None:
        return None
    value, grad = LOSS_KERNELS.get((activation, loss), (None, None))
    outputs = SHARED_OUTPUTS.get((activation, loss)) or _then(forward, value or fused.value)
    return outputs, grad or _copied(fused.grad)
