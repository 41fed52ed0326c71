"""What every figure shares: a matplotlib Figure made without pyplot (no global state, no
display), rendered once to PNG bytes, and the rule for a log axis."""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np

DECADES = 2.0  # a loss axis turns logarithmic when its values span more than this many decades


def figure(width: float, height: float):
    """A Figure of width x height inches at 100 dpi on an Agg canvas, with a constrained layout
    (nothing cut off). No pyplot: its import and figure manager cost more than the drawing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure rendered once, as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def finite(values: Iterable) -> np.ndarray:
    """The finite numbers among `values` (None, NaN and inf dropped), as a float array."""
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def wants_log(values: Iterable) -> bool:
    """True when the positive finite values span more than DECADES decades (a log axis shows them all)."""
    positive = finite(values)
    positive = positive[positive > 0]
    return positive.size > 1 and np.log10(positive.max() / positive.min()) > DECADES


def series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs (n,), values (n,)) of one history column, NaN where blank; empty if all blank."""
    values = [r.get(key) for r in history]
    if all(v is None for v in values):
        return np.array([]), np.array([])
    return np.array([r["epoch"] for r in history]), np.array([np.nan if v is None else v for v in values], float)
