"""The run's figures, drawn with matplotlib's Agg canvas (no display needed) as PNG bytes.

cost.png: train and validation loss per epoch; accuracy.png: the same for accuracy;
predictions.png: predicted against actual values for regression; sweep.png: a sweep's
metric against its keys. Rendering to bytes
lets a worker process draw its run's figures and the process that owns the run
folder write them.

Figures are built with matplotlib's object API (`Figure` on an Agg canvas), not
pyplot: pyplot's import and its figure manager cost a command more than the drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np


def figure(width: float, height: float):
    """(figure, axes) of `width` x `height` inches at 100 dpi, on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_figure(fig, path: Path) -> Path:
    """Write the figure to `path` atomically: never a half-written PNG."""
    from dltrain.runs.folder import atomic_write

    return atomic_write(path, png_bytes(fig))


def _curves(history: list[dict], key: str, ylabel: str, title: str) -> bytes:
    fig, ax = figure(6.4, 4.2)
    epochs = [r["epoch"] for r in history]
    for split, style in (("train", "-"), ("val", "--")):
        values = [r[f"{split}_{key}"] for r in history]
        if any(v is not None for v in values):
            ax.plot(
                epochs,
                [np.nan if v is None else v for v in values],
                style,
                label="train" if split == "train" else "validation",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return png_bytes(fig)


def cost_plot(history: list[dict], loss_name: str, run_name: str) -> bytes:
    return _curves(history, "loss", f"loss ({loss_name})", f"{run_name}: cost")


def accuracy_plot(history: list[dict], run_name: str) -> bytes:
    return _curves(history, "accuracy", "accuracy", f"{run_name}: accuracy")


def predictions_plot(actual: np.ndarray, predicted: np.ndarray, split: str, run_name: str) -> bytes:
    """actual, predicted: (n,) or (n, k) (all targets pooled)."""
    actual, predicted = np.ravel(actual), np.ravel(predicted)
    fig, ax = figure(5, 5)
    ax.scatter(actual, predicted, s=10, alpha=0.6)
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = actual")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{run_name}: {split} split")
    ax.legend()
    fig.tight_layout()
    return png_bytes(fig)


def run_figures(record) -> dict[str, bytes]:
    """{file name: PNG bytes} of a completed RunRecord: cost, then accuracy or predictions."""
    name = record.meta.get("name", "run")
    figures = {"cost.png": cost_plot(record.history, record.loss, name)}
    if record.classes is not None:
        figures["accuracy.png"] = accuracy_plot(record.history, name)
    elif record.predictions is not None:
        split, actual, predicted = record.predictions
        figures["predictions.png"] = predictions_plot(actual, predicted, split, name)
    return figures


def confusion_matrix_plot(path: Path, matrix: np.ndarray, classes: list, title: str) -> Path:
    """matrix: (n_classes, n_classes) counts, rows true class, columns predicted; labelled with the class names."""
    size = min(4.0 + 0.45 * len(classes), 12.0)
    fig, ax = figure(size, size)
    image = ax.imshow(matrix, interpolation="nearest", cmap="Blues")
    # Counts in white on the dark cells, in dark blue on the light ones.
    dark, light = image.cmap(1.0), image.cmap(0.0)
    middle = (float(matrix.max()) + float(matrix.min())) / 2.0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:d}", ha="center", va="center", color=light if count >= middle else dark)
    labels = [str(c) for c in classes]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def cost_overlay_plot(curves: list[tuple[str, list[dict]]], ylabel: str, title: str) -> bytes:
    """PNG: one colour per run, train loss solid, validation loss dashed. curves: (label, history rows)."""
    from matplotlib import rcParams
    from matplotlib.ticker import MaxNLocator

    fig, ax = figure(7.5, 4.8)
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, history) in enumerate(curves):
        colour = colours[i % len(colours)]
        epochs = [r["epoch"] for r in history]
        for key, style, suffix in (("train_loss", "-", "train"), ("val_loss", "--", "val")):
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                ax.plot(
                    epochs,
                    [np.nan if v is None else v for v in values],
                    style,
                    color=colour,
                    label=f"{label} ({suffix})",
                )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return png_bytes(fig)


def _numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _positions(values: list, log: bool) -> tuple[np.ndarray, list[str], Optional[np.ndarray]]:
    """Values on a 0..1 axis: numbers scaled (in log space for log keys), anything else evenly spaced.

    Returns (positions (n,), tick labels, tick positions or None for numbers)."""
    if _numeric(values):
        x = np.log10(np.asarray(values, dtype=float)) if log else np.asarray(values, dtype=float)
        span = x.max() - x.min()
        return (x - x.min()) / (span if span > 0 else 1.0), [f"{min(values):.3g}", f"{max(values):.3g}"], None
    return _categories(values)


def _categories(values: list) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Distinct values evenly spaced on 0..1, in order of appearance: (positions (n,), labels, their positions)."""
    labels = list(dict.fromkeys(str(v) for v in values))
    where = {label: i / max(1, len(labels) - 1) for i, label in enumerate(labels)}
    return np.array([where[str(v)] for v in values]), labels, np.array([where[label] for label in labels])


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(keys)
    cols = min(n, 3)
    grid_rows = -(-n // cols) + (1 if n > 1 else 0)
    fig = Figure(figsize=(4.2 * cols + (1.5 if n > 1 else 0), 3.4 * grid_rows), dpi=100)
    FigureCanvasAgg(fig)
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
    fig.tight_layout()
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
