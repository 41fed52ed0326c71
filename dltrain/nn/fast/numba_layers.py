"""A ReLU layer's bias and activation in one pass each way, compiled by numba (`dltrain[fast]`).

    from dltrain.nn.fast import numba_layers          # ImportError without numba
    forward, backward = numba_layers.LAYER_KERNELS["relu"]
    forward(z, b, a)          # z (n, k) += b (k,); a (n, k) = relu(z)
    backward(z, a, g, out, db)  # out (n, k) = g * (z > 0) (out may be g); db (k,) = its column sums

NumPy takes three passes over a layer's (n, k) activations forward (the bias, zeroing
`a`, the max) and three back (the mask, the product, the column sums); these take one
each way, with the reference's operations in its order, each rounded in the array's
dtype and no fastmath: the same bits as `kernels.py` (`tests/test_engine_paths.py`),
but for the sign and payload of a NaN made from two NaNs (NaN either way: NumPy itself
keeps the first operand's in its vector loop and the second's in the loop's tail).

- relu(z) is np.maximum(z, 0): z where z > 0 or z is NaN (its sign and payload kept),
  +0.0 elsewhere, -0.0 included.
- The ReLU gradient is g * 1 or g * 0 in the dtype, so a negative g gives -0.0 and an
  infinite one NaN where z <= 0, as NumPy's product with the mask does.
- NumPy sums a C-ordered (n, k) array over its rows one row after another from +0.0,
  as here, when k > 1; a single column it sums pairwise, so layers one unit wide keep
  NumPy's kernels (`kernels_for`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.nn.fast.numba_jit import jit


@jit
def bias_relu(z, b, a):
    """z (n, k) += b (k,) row by row; a (n, k) = np.maximum(z, 0)."""
    n, k = z.shape
    for i in range(n):
        zi, ai = z[i], a[i]
        for j in range(k):  # a plain loop over a row, which LLVM vectorizes
            x = zi[j] + b[j]
            zi[j] = x
            ai[j] = x
            if x <= 0:  # False for NaN, which stays
                ai[j] = 0
    return a


@jit
def _relu_grad(z, g, out, db, one_zero):
    n, k = z.shape
    one, zero = one_zero[0], one_zero[1]
    db[:] = zero
    for i in range(n):
        zi, gi, oi = z[i], g[i], out[i]
        for j in range(k):
            x = gi[j] * (one if zi[j] > 0 else zero)
            oi[j] = x
            db[j] += x
    return out


_ONE_ZERO = {np.dtype(np.float32): np.array([1, 0], np.float32), np.dtype(np.float64): np.array([1, 0], np.float64)}


def relu_grad(z, a, g, out, db):
    """out (n, k) = g * (z > 0) (out may be g) and db (k,) = np.sum(out, axis=0), in one pass."""
    return _relu_grad(z, g, out, db, _ONE_ZERO[g.dtype])


LAYER_KERNELS = {"relu": (bias_relu, relu_grad)}


def kernels_for(layer) -> Optional[tuple]:
    """(forward, backward) compiled for `layer`, or None where NumPy's stay: no kernel for its
    activation, no bias, one unit wide, or a dtype other than float32 and float64."""
    if layer.b is None or layer.W.shape[1] < 2 or layer.W.dtype not in _ONE_ZERO:
        return None
    return LAYER_KERNELS.get(layer.activation)
