"""The run's figures, drawn with matplotlib's Agg backend (no display needed) as PNG bytes.

cost.png: train and validation loss per epoch; accuracy.png: the same for accuracy;
predictions.png: predicted against actual values for regression. Rendering to bytes
lets a worker process draw its run's figures and the process that owns the run
folder write them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    import io

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png")
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def save_figure(fig, path: Path) -> Path:
    """Write the figure to `path` atomically: never a half-written PNG."""
    from dltrain.runs.folder import atomic_write

    return atomic_write(path, png_bytes(fig))


def _curves(history: list[dict], key: str, ylabel: str, title: str) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
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
    plt = pyplot()
    actual, predicted = np.ravel(actual), np.ravel(predicted)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
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
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = pyplot()
    size = min(4.0 + 0.45 * len(classes), 12.0)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ConfusionMatrixDisplay(matrix, display_labels=[str(c) for c in classes]).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d"
    )
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def cost_overlay_plot(curves: list[tuple[str, list[dict]]], ylabel: str, title: str) -> bytes:
    """PNG: one colour per run, train loss solid, validation loss dashed. curves: (label, history rows)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return png_bytes(fig)
