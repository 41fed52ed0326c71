"""numba's compiler as the fast engine's kernels use it (`numba_adam.py`, `numba_layers.py`).

No fastmath: LLVM neither reorders operations nor contracts a multiply and an add into an
FMA, so each operation is rounded in the array's dtype as NumPy rounds it. It may swap
an addition's operands, which changes nothing but which NaN a sum of two NaNs keeps.
Compiled kernels are cached on disk where numba finds a writable directory.
"""

from __future__ import annotations

import numba

OPTIONS = {"fastmath": False, "error_model": "numpy", "nogil": True}


def jit(function):
    """`function` compiled without fastmath; cached on disk where numba can write its cache."""
    try:
        return numba.njit(cache=True, **OPTIONS)(function)
    except RuntimeError:  # no cache locator for this file: compile once per process instead
        return numba.njit(**OPTIONS)(function)
