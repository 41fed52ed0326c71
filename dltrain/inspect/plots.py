"""Figures of the inspect commands: eval's confusion matrix and compare's overlaid cost curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dltrain.runs.plots import pyplot, save_figure


def confusion_matrix_plot(path: Path, matrix: np.ndarray, classes: list, title: str) -> Path:
    """matrix: (n_classes, n_classes) counts, rows true class, columns predicted; labelled with the class names."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = pyplot()
    size = min(4.0 + 0.45 * len(classes), 12.0)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ConfusionMatrixDisplay(matrix, display_labels=[str(c) for c in classes]).plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def cost_overlay_plot(path: Path, curves: list[tuple[str, list[dict]]], ylabel: str, title: str) -> Path:
    """One colour per run: train loss solid, validation loss dashed. curves: (label, history rows)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, history) in enumerate(curves):
        colour = colours[i % len(colours)]
        epochs = [r["epoch"] for r in history]
        for key, style, suffix in (("train_loss", "-", "train"), ("val_loss", "--", "val")):
            values = [r.get(key) for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, color=colour, label=f"{label} ({suffix})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)
