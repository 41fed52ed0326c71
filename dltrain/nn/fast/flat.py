"""Arrays laid end to end in one vector, so elementwise work runs once over all of them.

flat, views = packed(params)        # zero-filled; views[i] has params[i].shape
flat_span(views) is flat            # recognises such a list again
span = SpanMemo(); span(views)      # the same, remembered for the list last seen
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Optional

import numpy as np


def packed(
    like: Sequence[np.ndarray], dtype=None, buffer: Optional[np.ndarray] = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A zeroed 1-D vector (or the given `buffer`) and views of it shaped like each array of `like`, in order."""
    dtype = np.dtype(dtype or like[0].dtype)
    flat = np.zeros(sum(a.size for a in like), dtype) if buffer is None else buffer
    views, lo = [], 0
    for a in like:
        views.append(flat[lo : lo + a.size].reshape(a.shape))
        lo += a.size
    return flat, views


def flat_span(arrays: Sequence[np.ndarray]) -> Optional[np.ndarray]:
    """The 1-D vector that `arrays` tile end to end, in order, or None if they do not."""
    base = arrays[0].base if arrays else None
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or a.dtype != base.dtype or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base if address == base.__array_interface__["data"][0] + base.nbytes else None


class SpanMemo:
    """`flat_span(arrays)`, recomputed only when the arrays differ from the last call's.

    An optimizer gets the network's same gradient arrays at every step; checking their
    identity is cheaper than walking their memory again.
    """

    def __init__(self) -> None:
        self._arrays: tuple = ()
        self._span: Optional[np.ndarray] = None

    def __call__(self, arrays: Sequence[np.ndarray]) -> Optional[np.ndarray]:
        if len(arrays) != len(self._arrays) or not all(map(operator.is_, arrays, self._arrays)):
            self._arrays, self._span = tuple(arrays), flat_span(arrays)
        return self._span
