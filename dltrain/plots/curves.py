"""Per-epoch curves of one run: cost.png (loss) and accuracy.png."""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.plots.base import figure, png_bytes, series, wants_log


def cost_figure(history: list[dict], loss_name: str, run_name: str, log: Optional[bool] = None):
    """Train (solid) and validation (dashed) loss per epoch; a log axis where they span over two
    decades; the epoch of the lowest validation loss marked."""
    fig = figure(6.4, 4.2)
    ax = fig.add_subplot()
    drawn = _lines(ax, history, "loss")
    values = np.concatenate([v for _, v in drawn.values()]) if drawn else np.array([])
    if log if log is not None else wants_log(values):
        ax.set_yscale("log")
    epochs, val = drawn.get("val", (None, None))
    if val is not None and np.isfinite(val).any():
        best = int(np.nanargmin(val))
        ax.axvline(epochs[best], color="0.5", lw=0.8, ls=":")
        ax.plot([epochs[best]], [val[best]], "o", color="C1", ms=6, label=f"best validation: epoch {epochs[best]}")
    ax.set_ylabel(f"loss ({loss_name})")
    _finish(ax, f"{run_name}: cost")
    return fig


def accuracy_figure(history: list[dict], run_name: str):
    fig = figure(6.4, 4.2)
    ax = fig.add_subplot()
    _lines(ax, history, "accuracy")
    ax.set_ylabel("accuracy")
    _finish(ax, f"{run_name}: accuracy")
    return fig


def cost_plot(history: list[dict], loss_name: str, run_name: str, log: Optional[bool] = None) -> bytes:
    return png_bytes(cost_figure(history, loss_name, run_name, log))


def accuracy_plot(history: list[dict], run_name: str) -> bytes:
    return png_bytes(accuracy_figure(history, run_name))


def _lines(ax, history: list[dict], key: str) -> dict:
    drawn = {}
    for split, style, label in (("train", "-", "train"), ("val", "--", "validation")):
        epochs, values = series(history, f"{split}_{key}")
        if values.size:
            ax.plot(epochs, values, style, label=label)
            drawn[split] = (epochs, values)
    return drawn


def _finish(ax, title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
