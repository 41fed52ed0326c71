"""What every figure shares: a matplotlib Figure made without pyplot (no global state, no
display), rendered once to PNG bytes (or SVG or PDF, for a file the user names), and the rule
for a log axis."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

import numpy as np

from dltrain.formatting import displayable

DECADES = 2.0  # a loss axis turns logarithmic when its values span more than this many decades


def figure(width: float, height: float, constrained: bool = True):
    """A Figure of width x height inches at 100 dpi on an Agg canvas, with a constrained layout
    (nothing cut off; constrained=False: the caller places the axes). No pyplot: its import and
    figure manager cost more than the drawing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def literal(text) -> str:
    """`text` as matplotlib draws it letter for letter: each '$' escaped. Class labels, run
    names and config values are the user's, and "$5-$10" or "$\\frac$" in them is not math (a
    parse error failed the figure); matplotlib's own math (a log axis's 10^-2) is left alone.
    A name that is not UTF-8 is drawn as `displayable` writes it (the font cannot take it)."""
    return displayable(str(text)).replace("$", r"\$")


SOURCE_KEY = "dltrain source"  # PNG text chunk: what the figure was drawn from (`drawn_from`)
MAX_PNG_BYTES = 32 << 20  # a figure dltrain draws is well under a megabyte


def png_bytes(fig, source: Optional[str] = None) -> bytes:
    """The figure rendered once, as PNG bytes; `source` (see `source_of`) is kept in the file."""
    return rendered(fig, "png", {SOURCE_KEY: source} if source else None)


def rendered(fig, fmt: str, metadata: Optional[dict] = None) -> bytes:
    """The figure rendered once in `fmt` (png, svg or pdf), as bytes."""
    buf = io.BytesIO()
    with warnings.catch_warnings():  # a character the font lacks (a control character) is an empty box, unannounced
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def source_of(kind: str, *inputs) -> str:
    """A digest of what a figure shows (its kind, its inputs as JSON, dltrain's version): equal
    digests, equal pictures. A command about to redraw a figure that a file already holds keeps it."""
    from dltrain import __version__

    text = json.dumps([kind, __version__, *inputs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def drawn_from(path: Path) -> Optional[str]:
    """The source digest a PNG written by `png_bytes` holds, or None (no file, no digest, not a
    PNG, or not a regular file of at most MAX_PNG_BYTES: a FIFO there is never waited on)."""
    from dltrain.files import UnreadableFile, open_regular

    try:
        with open_regular(path, MAX_PNG_BYTES) as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:  # chunks: length, type, data, CRC; text chunks come before the image data
                head = f.read(8)
                if len(head) < 8 or head[4:] == b"IDAT":
                    return None
                length = int.from_bytes(head[:4], "big")
                if length > MAX_PNG_BYTES:  # a chunk longer than the file may be: not one of ours
                    return None
                data = f.read(length + 4)[:length]
                key, _, value = data.partition(b"\0")
                if head[4:] == b"tEXt" and key == SOURCE_KEY.encode():
                    return value.decode("latin-1")
    except (OSError, UnreadableFile):
        return None


def finite(values: Iterable) -> np.ndarray:
    """The finite numbers among `values` (None, NaN and inf dropped), as a float array."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":  # a curve's values: no None to look for
        array = values.astype(float, copy=False)
    else:
        array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def wants_log(values: Iterable) -> bool:
    """True when the positive finite values span more than DECADES decades (a log axis shows them all)."""
    positive = finite(values)
    positive = positive[positive > 0]
    return positive.size > 1 and np.log10(positive.max() / positive.min()) > DECADES


def limits(values: Iterable, log: bool) -> Optional[tuple[float, float]]:
    """(low, high) of an axis showing `values` with a margin, or None if none is finite (on a log
    axis: positive). A flat line gets a margin of its own, so the axis never has zero length."""
    shown = finite(values)
    if log:
        shown = shown[shown > 0]
    if not shown.size:
        return None
    lo, hi = float(shown.min()), float(shown.max())
    if log:
        return lo / 1.5, hi * 1.5
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.05
    return lo - pad, hi + pad


def series(history: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs (n,), values (n,)) of one history column, NaN where blank; empty if all blank."""
    values = [r.get(key) for r in history]
    if all(v is None for v in values):
        return np.array([]), np.array([])
    return np.array([r["epoch"] for r in history]), np.array([np.nan if v is None else v for v in values], float)
