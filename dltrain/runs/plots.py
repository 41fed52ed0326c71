"""The run's figures, drawn with matplotlib's Agg backend (no display needed).

cost.png: train and validation loss per epoch; accuracy.png: the same for accuracy;
predictions.png: predicted against actual values for regression.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Render to a temporary file beside `path`, then rename: never a half-written PNG."""
    import os

    plt = pyplot()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def _curves(path: Path, history: list[dict], key: str, ylabel: str, title: str) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    epochs = [r["epoch"] for r in history]
    for split, style in (("train", "-"), ("val", "--")):
        values = [r[f"{split}_{key}"] for r in history]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], style, label="train" if split == "train" else "validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def cost_plot(path: Path, history: list[dict], loss_name: str, run_name: str) -> Path:
    return _curves(path, history, "loss", f"loss ({loss_name})", f"{run_name}: cost")


def accuracy_plot(path: Path, history: list[dict], run_name: str) -> Path:
    return _curves(path, history, "accuracy", "accuracy", f"{run_name}: accuracy")


def predictions_plot(path: Path, actual: np.ndarray, predicted: np.ndarray, split: str, run_name: str) -> Path:
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
    return save_figure(fig, path)
