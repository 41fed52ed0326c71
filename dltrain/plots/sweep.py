"""sweep.png: a sweep's ranking metric against each swept key, and parallel coordinates
when more than one key was swept (one line per point through an axis per key)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.formatting import name_first, shorten, value_text
from dltrain.plots.base import figure, literal, png_bytes

LABEL = 24  # characters of a category's tick label (a 300-digit seed is a category, shortened)


def _numeric(values: list) -> bool:
    """Numbers a float axis can place, margins and ticks included: well inside float64's range
    (a 400-digit seed, inf or 1e308 are categories; matplotlib's ticks overflow near 1.8e308)."""
    try:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e300 for v in values)
    except OverflowError:  # an int too large for a float
        return False


def _positions(values: list, log: bool) -> tuple[np.ndarray, list[str], Optional[np.ndarray]]:
    """Values on a 0..1 axis: numbers scaled (in log space for log keys), anything else evenly spaced.

    Returns (positions (n,), tick labels, tick positions or None for numbers)."""
    if _numeric(values):
        x = np.log10(np.asarray(values, dtype=float)) if log else np.asarray(values, dtype=float)
        span = x.max() - x.min()
        return (x - x.min()) / (span if span > 0 else 1.0), [f"{min(values):.3g}", f"{max(values):.3g}"], None
    return _categories(values)


def _category(value) -> str:
    """A category's label: a whole section by its name and other keys ('sqrt_mean n=50'), the rest as tables show it."""
    if isinstance(value, dict) and value:
        items = name_first(value)
        return " ".join(value_text(v) if k == "name" else f"{k}={value_text(v)}" for k, v in items)
    return value_text(value)


def _categories(values: list) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Distinct values evenly spaced on 0..1, in order of appearance: (positions (n,), labels, their positions)."""
    texts = [_category(v) for v in values]
    distinct = list(dict.fromkeys(texts))
    labels = [shorten(text, LABEL) for text in distinct]
    if len(set(labels)) < len(labels):  # two values alike but in the middle, which shortening cut: numbered
        labels = [f"{i}: {shorten(text, LABEL - 4)}" for i, text in enumerate(distinct, start=1)]
    where = {text: i / max(1, len(distinct) - 1) for i, text in enumerate(distinct)}
    return (
        np.array([where[t] for t in texts]),
        [literal(label) for label in labels],
        np.array([where[text] for text in distinct]),
    )


def sweep_plot(
    rows: list[tuple[dict, float, Optional[float]]],
    keys: list[str],
    log_keys: set[str],
    metric: str,
    title: str,
    labels: dict[str, str],
    lower_is_better: bool = False,
) -> bytes:
    """sweep.png: the metric against each swept key, and parallel coordinates when more than one key was swept.

    rows: (point values {key: value}, metric, its std over repeats or None), one per point with a metric.
    log_keys: keys drawn on a log axis (log-spaced grids, loguniform distributions).
    """
    n = len(keys)
    cols = min(n, 3)
    grid_rows = -(-n // cols) + (1 if n > 1 else 0)
    fig = figure(4.2 * cols + (1.5 if n > 1 else 0), 3.4 * grid_rows)
    spec = fig.add_gridspec(grid_rows, cols)
    metrics = np.array([m for _, m, _ in rows])
    best = int(np.argmin(metrics) if lower_is_better else np.argmax(metrics))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(spec[i // cols, i % cols])
        values = [v[key] for v, _, _ in rows]
        errors = [0.0 if s is None else s for _, _, s in rows]
        if _numeric(values):
            x = np.asarray(values, dtype=float)
            if key in log_keys:
                ax.set_xscale("log")
        else:
            x, ticks, where = _categories(values)
            ax.set_xticks(where, ticks, rotation=20 if max(map(len, ticks)) > 6 else 0)
            ax.set_xlim(-0.2, 1.2)
        ax.errorbar(x, metrics, yerr=errors if any(errors) else None, fmt="o", alpha=0.75, capsize=3)
        ax.plot([x[best]], [metrics[best]], "*", color="tab:red", markersize=14, label="best")
        ax.set_xlabel(labels.get(key, key) + (" (log)" if key in log_keys else ""))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if n > 1:
        ax = fig.add_subplot(spec[grid_rows - 1, :])
        _parallel(ax, rows, keys, log_keys, metric, labels, metrics, fig)
    fig.suptitle(title)
    return png_bytes(fig)


def _parallel(ax, rows, keys, log_keys, metric, labels, metrics, fig) -> None:
    """One line per point through a vertical axis per key and one for the metric, coloured by the metric."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    columns, ticks = [], []
    for key in keys:
        position, tick_labels, where = _positions([v[key] for v, _, _ in rows], key in log_keys)
        columns.append(position)
        ticks.append((tick_labels, where))
    position, tick_labels, _ = _positions(list(metrics), False)
    columns.append(position)
    ticks.append((tick_labels, None))
    norm = Normalize(metrics.min(), metrics.max())
    cmap = colormaps["viridis"]
    xs = np.arange(len(columns))
    for j in np.argsort(metrics):  # best drawn last, on top
        ax.plot(xs, [c[j] for c in columns], color=cmap(norm(metrics[j])), alpha=0.8, lw=1.5)
    for x, (tick_labels, where) in zip(xs, ticks):
        ax.axvline(x, color="0.4", lw=0.8)
        if where is None:  # numbers: the lowest and highest value at the ends of the axis
            ax.text(x, -0.06, tick_labels[0], ha="center", va="top", fontsize="small")
            ax.text(x, 1.06, tick_labels[-1], ha="center", va="bottom", fontsize="small")
        else:
            for label, y in zip(tick_labels, where):
                ax.text(x + 0.02, y, label, ha="left", va="center", fontsize="small")
    ax.set_xticks(xs, [labels.get(k, k) + (" (log)" if k in log_keys else "") for k in keys] + [metric])
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric, pad=0.01)
