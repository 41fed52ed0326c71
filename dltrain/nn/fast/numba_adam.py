"""Adam's update in one pass over memory, compiled by numba when it is installed (`dltrain[fast]`).

    from dltrain.nn.fast import numba_adam      # ImportError without numba
    update = numba_adam.Update(params, m, v)    # m, v: Adam's flat moment vectors
    update(g, (beta1, 1 - beta1, beta2, 1 - beta2, step_size, eps_hat))   # g: the flat gradients

NumPy runs Adam as twelve passes over the flat vectors (four of them between matrix
products that push the vectors out of cache); this kernel reads g, m, v and the
parameter once per element and does the same twelve IEEE operations in the same order,
each rounded to the array's dtype: the constants are passed in that dtype, as NumPy
casts a Python float next to a float32 array, and there is no fastmath, so LLVM neither
reorders nor contracts a multiply and an add into an FMA. sqrt and division are
correctly rounded in every SIMD lane, so the vectorized loop gives the NumPy path's
bits in float32 and float64 (`tests/test_fused_adam.py`); only which NaN a sum of two
NaNs keeps is not promised (nor does NumPy keep the same one in every lane).

One thread: numba's parallel loop (OpenMP or its work queue) was slower here at two
threads than one, as its workers and OpenBLAS's spin for the same two cores.
"""

from __future__ import annotations

import numpy as np

from dltrain.nn.fast.flat import flat_span
from dltrain.nn.fast.numba_jit import jit


@jit
def update_piece(p, g, m, v, consts, lo):
    """Update p (n,) and the moments m[lo:lo+n], v[lo:lo+n] from its gradient g[lo:lo+n].

    consts: (beta1, 1 - beta1, beta2, 1 - beta2, step_size, eps_hat) in p's dtype.
    """
    b1, c1, b2, c2, step_size, eps_hat = consts[0], consts[1], consts[2], consts[3], consts[4], consts[5]
    n = p.size
    gs, ms, vs = g[lo : lo + n], m[lo : lo + n], v[lo : lo + n]
    for i in range(n):  # a plain loop over 1-D slices, which LLVM vectorizes
        gi = gs[i]
        mi = ms[i] * b1 + gi * c1  # m = beta1 m + (1 - beta1) g
        vi = vs[i] * b2 + (gi * gi) * c2  # v = beta2 v + (1 - beta2) g^2
        ms[i] = mi
        vs[i] = vi
        p[i] -= (mi * step_size) / (np.sqrt(vi) + eps_hat)  # p -= step_size m / (sqrt(v) + eps_hat)


class Update:
    """Adam's update of `params` (each C-contiguous) with moments m, v laid out like the flat gradients.

    update(g, constants) updates m, v and every parameter in place; g: (total size,).
    """

    def __init__(self, params, m: np.ndarray, v: np.ndarray):
        self.m, self.v = m, v
        flat = flat_span(params)  # a network's parameters: one vector, one piece
        if flat is not None:
            self.pieces = [(flat, 0)]
        else:  # separate arrays: each with its offset into the flat moments
            offsets = np.cumsum([0] + [p.size for p in params[:-1]])
            self.pieces = [(p.reshape(-1), int(lo)) for p, lo in zip(params, offsets)]
        self.consts = np.empty(6, m.dtype)  # the Python floats cast to the moments' dtype, as NumPy casts them

    def __call__(self, g: np.ndarray, constants) -> None:
        self.consts[:] = constants
        for p, lo in self.pieces:
            update_piece(p, g, self.m, self.v, self.consts, lo)
