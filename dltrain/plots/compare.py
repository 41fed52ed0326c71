"""`dltrain compare --plot`: the curves of several runs in one figure.

One panel per kind of loss (runs trained on SSE, MSE and cross-entropy never share an
axis), and an accuracy panel when any run is a classifier. Train solid, validation
dashed, one colour per run; the legend, outside the axes, names each run by what
differs. Past MANY runs the colour is the ranked metric instead, with a colour bar.
A failed or diverged run is drawn up to its last finite value, marked x, and the axis
limits come from the other runs, so it cannot squash them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from dltrain.formatting import shorten
from dltrain.plots.base import figure, finite, limits, literal, rendered, series, wants_log

MANY = 10  # more runs than this: colour by metric, no per-run legend
LABEL = 40  # legend labels are shortened to this many characters


@dataclass
class Curve:
    """One run. history: history.csv rows; value: its ranked metric (colour past MANY runs)."""

    label: str
    history: list[dict]
    loss: str
    classifier: bool
    failed: bool = False
    value: Optional[float] = None


def compare_figure(curves: list[Curve], metric: Optional[str] = None, log: Optional[bool] = None):
    panels = [(f"loss ({loss})", "loss", [c for c in curves if c.loss == loss]) for loss in _losses(curves)]
    if any(c.classifier for c in curves):
        panels.append(("accuracy", "accuracy", [c for c in curves if c.classifier]))
    columns = min(len(panels), 3)
    rows = (len(panels) + columns - 1) // columns
    fig = figure(4.6 * columns + 2.6, 3.6 * rows + 0.4)
    colour, mappable = _colours(curves, metric)
    for k, (ylabel, key, members) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, k + 1)
        _panel(ax, members, key, colour, log if key == "loss" else False)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{len(curves)} runs: train solid, validation dashed", fontsize="medium")
    if mappable is not None:
        fig.colorbar(mappable, ax=fig.axes, label=metric, shrink=0.9)
    else:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colour(c)) for c in curves]
        labels = [literal(shorten(c.label, LABEL)) + (" (failed)" if c.failed else "") for c in curves]
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    return fig


def compare_plot(
    curves: list[Curve], metric: Optional[str] = None, log: Optional[bool] = None, fmt: str = "png"
) -> bytes:
    """The figure of `compare_figure` as the bytes of a `fmt` file (png, svg or pdf)."""
    return rendered(compare_figure(curves, metric, log), fmt)


def _losses(curves: list[Curve]) -> list[str]:
    return list(dict.fromkeys(c.loss for c in curves))


def _colours(curves: list[Curve], metric: Optional[str]):
    """(curve -> colour, colour-bar mappable or None): the default cycle, or past MANY runs the
    metric on viridis (runs without it grey)."""
    values = finite([c.value for c in curves])
    if len(curves) <= MANY or metric is None or values.size == 0:
        index = {id(c): i for i, c in enumerate(curves)}
        return (lambda c: f"C{index[id(c)] % 10}"), None
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    norm = Normalize(values.min(), values.max())
    cmap = colormaps["viridis"]

    def colour(c: Curve):
        return "0.6" if c.value is None or not np.isfinite(c.value) else cmap(norm(c.value))

    return colour, ScalarMappable(norm, cmap)


def _panel(ax, curves: list[Curve], key: str, colour, log: Optional[bool]) -> None:
    kept = []  # values of runs that did not fail: they set the limits
    for c in curves:
        for split, style in (("train", "-"), ("val", "--")):
            epochs, values = series(c.history, f"{split}_{key}")
            if not values.size:
                continue
            ok = np.isfinite(values)
            broken = c.failed or not ok.all()
            last = int(np.flatnonzero(ok)[-1]) if ok.any() else -1
            shown = values[: last + 1]
            ax.plot(epochs[: last + 1], shown, style, color=colour(c), lw=1.4)
            if broken and last >= 0:
                ax.plot([epochs[last]], [values[last]], "x", color=colour(c), ms=8, mew=2, clip_on=True)
            if not broken:
                kept.append(shown)
    everything = np.concatenate(kept) if kept else finite(v for line in ax.get_lines() for v in line.get_ydata())
    if log if log is not None else (key == "loss" and wants_log(everything)):
        ax.set_yscale("log")
    _limits(ax, everything, ax.get_yscale() == "log")


def _limits(ax, values: np.ndarray, log: bool) -> None:
    span = limits(values, log)
    if span:
        ax.set_ylim(*span)
