"""The run's figures, drawn with matplotlib's Agg canvas (no display needed) as PNG bytes.

cost.png: train and validation loss per epoch; accuracy.png: the same for accuracy;
predictions.png: predicted against actual values for regression. Rendering to bytes
lets a worker process draw its run's figures and the process that owns the run
folder write them.

Figures are built with matplotlib's object API (`Figure` on an Agg canvas), not
pyplot: pyplot's import and its figure manager cost a command more than the drawing.
"""

from __future__ import annotations

from pathlib import Path

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
