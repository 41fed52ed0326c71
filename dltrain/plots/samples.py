"""Figures of what a trained model does with samples: confusion_matrix.png, predictions.png,
errors.png (misclassified images), weights.png (first-layer weights as images) and
boundary.png (the decision regions of a two-input model)."""

from __future__ import annotations

import textwrap

import numpy as np

from dltrain.plots.base import figure, literal, png_bytes, source_of


def confusion_figure(matrix: np.ndarray, classes: list, title: str):
    """matrix: (c, c) counts, rows true class, columns predicted. Colours: each row's share of its
    true class (so a rare error is as visible as a frequent one); text: the counts."""
    from matplotlib.colors import PowerNorm

    counts = np.asarray(matrix)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    c = len(classes)
    size = min(3.2 + 0.4 * c, 10.0)
    fig = figure(size + 1.2, size)
    ax = fig.add_subplot()
    # gamma < 1 lifts small shares off white: 1 error in 100 is clearly tinted, the diagonal stays darkest
    norm = PowerNorm(gamma=0.4, vmin=0, vmax=1)
    image = ax.imshow(shares, cmap="Blues", norm=norm)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class", ticks=[0, 0.01, 0.05, 0.2, 0.5, 1])
    fontsize = 10 if c <= 10 else 7
    for i in range(c):
        for j in range(c):
            if counts[i, j] or i == j:
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if norm(shares[i, j]) > 0.6 else ("black" if counts[i, j] else "0.6"),
                )
    labels = [literal(k) for k in classes]
    ax.set_xticks(range(c), labels, rotation=90 if max(map(len, labels)) > 3 else 0)
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


def predictions_figure(actual: np.ndarray, predicted: np.ndarray, split: str, run_name: str):
    """actual, predicted: (n,) or (n, k), all targets pooled; r² and MSE written in."""
    actual, predicted = np.ravel(actual).astype(float), np.ravel(predicted).astype(float)
    fig = figure(5.2, 5.0)
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=10, alpha=0.6)
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = actual")
    mse = float(np.mean((predicted - actual) ** 2))
    spread = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1 - float(np.sum((predicted - actual) ** 2)) / spread if spread > 0 else float("nan")
    ax.text(
        0.03,
        0.97,
        f"r² = {r2:.4f}\nMSE = {mse:.3g}\nn = {actual.size}",
        transform=ax.transAxes,
        va="top",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
    )
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{run_name}: {split} split")
    ax.legend(loc="lower right")
    return fig


TITLE_LINE = 0.23  # inches a line of a gallery's title takes (fontsize 12)
TITLE_PAD = 0.14  # inches between the title and the first labels
LABEL = 0.25  # inches above each tile for its label (fontsize 9)
GAP = 0.06  # inches between two tiles side by side
MARGIN = 0.1  # inches around the tiles


def _gallery(images: np.ndarray, labels: list[str], tile: float, title: str, label_color: str = "black", **imshow):
    """images: (n, h, w), each drawn in a tile of about tile x tile inches (at most 8 a row) under its
    label, each on its own colour scale unless `imshow` fixes one (vmin, vmax), all under `title`.

    One Axes holds every image: an Axes per tile, laid out by a constrained layout that measures
    every label, took seven times longer (32 tiles: 0.8 s)."""
    n, h, w = images.shape
    columns = min(n, 8)
    rows = -(-n // columns)
    tile = tile * (2 if n <= 2 else 1)
    width = max(tile * columns + 2 * MARGIN, 5.0)
    fig = figure(width, 1.0, constrained=False)  # its height once the title's lines are known
    title = _wrapped(fig, title, width - 2 * MARGIN)  # a long run name wraps rather than running off
    top = MARGIN + TITLE_LINE * (title.count("\n") + 1) + TITLE_PAD
    grid_w, grid_h = tile * columns, (LABEL + tile) * rows
    height = top + grid_h + MARGIN
    fig.set_size_inches(width, height)
    fig.suptitle(title, y=1 - MARGIN / height, va="top")
    # the Axes' data units are inches, y downwards from the first row's labels
    left = (width - grid_w) / 2
    ax = fig.add_axes((left / width, MARGIN / height, grid_w / width, grid_h / height))
    ax.set_xlim(0, grid_w)
    ax.set_ylim(grid_h, 0)
    ax.set_axis_off()
    scale = (tile - GAP) / max(h, w)  # inches per pixel: the image's own aspect kept
    for k, (image, label) in enumerate(zip(images, labels)):
        x = (k % columns + 0.5) * tile  # the tile's centre
        y = (k // columns) * (LABEL + tile) + LABEL
        extent = (x - w * scale / 2, x + w * scale / 2, y + h * scale, y)
        ax.imshow(image, extent=extent, interpolation="nearest", **imshow)
        ax.text(x, y - 0.05, literal(label), ha="center", va="bottom", fontsize=9, color=label_color)
    ax.set_aspect("auto")  # imshow asked for "equal"; the box already has the grid's size in inches
    return fig


def _wrapped(fig, title: str, width: float) -> str:
    """`title` with each line broken (at spaces where it can) into lines that fit `width` inches
    in the figure title's font, as the Agg renderer measures them."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    renderer, font = fig.canvas.get_renderer(), FontProperties(size=rcParams["figure.titlesize"])

    def fits(line: str) -> bool:
        return renderer.get_text_width_height_descent(line, font, ismath=False)[0] <= width * fig.dpi

    lines = []
    for line in title.split("\n"):
        chars, parts = len(line), [line]
        while chars > 1 and not all(map(fits, parts)):
            chars = int(chars * 0.9)
            parts = textwrap.wrap(line, chars, break_on_hyphens=False)
        lines.extend(parts)
    return "\n".join(lines)


def errors_figure(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, classes: list, split: str, run_name: str
):
    """images: (m, h, w) misclassified samples; true, predicted: (m,) class indices."""
    labels = [f"{classes[t]} -> {classes[p]}" for t, p in zip(true, predicted)]
    title = f"{run_name}: misclassified {split} samples\n(true -> predicted)"
    return _gallery(np.asarray(images), labels, 1.3, title, label_color="C3", cmap="gray")


def weights_figure(W0: np.ndarray, shape: tuple, classes, run_name: str, max_units: int = 32):
    """W0: (h * w, units) first-layer weights; each unit's column as an h x w image, blue
    negative, red positive, on a scale symmetric around 0 per image."""
    units = min(W0.shape[1], max_units)
    more = f" (first {units} of {W0.shape[1]} units)" if units < W0.shape[1] else ""
    named = classes is not None and W0.shape[1] == len(classes)
    labels = [f"class {classes[k]}" if named else ("output" if W0.shape[1] == 1 else f"unit {k}") for k in range(units)]
    columns = W0[:, :units].T
    with np.errstate(invalid="ignore"):  # a NaN or inf weight stays a blank pixel
        scales = np.abs(columns).max(axis=1, keepdims=True)
        scaled = columns / np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)  # each on its own scale
    images = scaled.reshape(units, *shape)
    return _gallery(images, labels, 1.4, f"{run_name}: first-layer weights{more}", cmap="RdBu_r", vmin=-1, vmax=1)


def boundary_figure(boundary: tuple, classes, run_name: str):
    """boundary: (axes (2, g), grid values (g, g), points (p, 2), their targets (p,))."""
    axes, values, points, y = boundary
    fig = figure(6.2, 4.8)
    ax = fig.add_subplot()
    if classes is not None:
        levels = np.arange(len(classes) + 1) - 0.5
        ax.contourf(axes[0], axes[1], values, levels=levels, cmap="coolwarm", alpha=0.35)
        for k, name in enumerate(classes):
            mine = np.ravel(y) == k
            if mine.any():
                ax.scatter(*points[mine].T, s=40, edgecolor="k", label=f"class {literal(name)}", color=f"C{k}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    else:
        filled = ax.contourf(axes[0], axes[1], values, levels=20, cmap="viridis", alpha=0.6)
        fig.colorbar(filled, ax=ax, label="model output")
        ax.scatter(*points.T, c=np.ravel(y), cmap="viridis", edgecolor="k", s=30)
    ax.set_xlabel("input 1")
    ax.set_ylabel("input 2")
    ax.set_title(f"{run_name}: decision regions and samples")
    return fig


def confusion_source(matrix: np.ndarray, classes: list, title: str) -> str:
    """What confusion_matrix.png shows, as a digest (dltrain.plots.base.source_of)."""
    return source_of("confusion", np.asarray(matrix).tolist(), [str(c) for c in classes], title)


def confusion_matrix_plot(matrix: np.ndarray, classes: list, title: str) -> bytes:
    return png_bytes(confusion_figure(matrix, classes, title), confusion_source(matrix, classes, title))


def predictions_plot(actual: np.ndarray, predicted: np.ndarray, split: str, run_name: str) -> bytes:
    return png_bytes(predictions_figure(actual, predicted, split, run_name))
