"""The figures, checked through the matplotlib objects that draw them: the axis scale chosen,
what is written in, legends inside the figure and off the axes, the files a run gets."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import CONFIGS, two_class_csv_config
from matplotlib import cbook

from dltrain import api
from dltrain.plots import curves, samples
from dltrain.plots.compare import MANY, Curve, compare_figure

PNG = b"\x89PNG\r\n\x1a\n"


def history(losses, val=None, accuracy=None):
    rows = []
    for i, loss in enumerate(losses):
        rows.append(
            {
                "epoch": i + 1,
                "train_loss": loss,
                "val_loss": None if val is None else val[i],
                "train_accuracy": None if accuracy is None else accuracy[i],
                "val_accuracy": None,
            }
        )
    return rows


SQRT_MEAN = list(np.geomspace(0.039, 2.7e-5, 30))  # the regression tutorial's fall


def test_cost_uses_a_log_axis_past_two_decades_and_marks_the_best_validation_epoch():
    val = [v if i <= 20 else SQRT_MEAN[20] * (1 + i / 10) for i, v in enumerate(SQRT_MEAN)]  # best at epoch 21
    ax = curves.cost_figure(history(SQRT_MEAN, val), "mse", "r").axes[0]
    assert ax.get_yscale() == "log"
    assert any("epoch 21" in text for text in ax.get_legend_handles_labels()[1])
    flat = curves.cost_figure(history([0.7, 0.6, 0.5]), "bce", "r").axes[0]
    assert flat.get_yscale() == "linear"
    assert curves.cost_figure(history([0.7, 0.6, 0.5]), "bce", "r", log=True).axes[0].get_yscale() == "log"


def test_confusion_colours_are_row_shares_and_the_counts_are_written():
    matrix = np.array([[980, 20], [1, 9]])  # a rare class: 1 error in 10 must show, 20 in 1000 too
    ax = samples.confusion_figure(matrix, [7, 9], "t").axes[0]
    shares = ax.images[0].get_array()
    assert np.allclose(shares, [[0.98, 0.02], [0.1, 0.9]])
    assert ax.images[0].norm(0.02) > 0.15  # lifted off white
    assert {t.get_text() for t in ax.texts} == {"980", "20", "1", "9"}


def test_predictions_carry_r2_and_mse():
    actual = np.linspace(0, 1, 50)
    fig = samples.predictions_figure(actual, actual + 0.01, "test", "r")
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "r² = 0.99" in text and "MSE = 0.0001" in text


def legend_is_outside_the_axes_and_inside_the_figure(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays out the legend as the PNG has it
    renderer = canvas.get_renderer()
    box = fig.legends[0].get_window_extent(renderer)
    whole = fig.bbox
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
    for ax in fig.axes:
        assert not ax.get_window_extent(renderer).overlaps(box)


def test_compare_has_a_panel_per_loss_and_one_for_accuracy():
    runs = [
        Curve("lr=0.1", history([7.5, 1.7, 0.3], accuracy=[0.5, 0.75, 1.0]), "sse", True),
        Curve("lr=0.01", history([0.04, 0.001, 2.7e-5]), "mse", False),
        Curve("hidden=[64]", history([2.3, 0.5, 0.1], accuracy=[0.3, 0.8, 0.9]), "cross_entropy", True),
    ]
    fig = compare_figure(runs)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss (sse)", "loss (mse)", "loss (cross_entropy)", "accuracy"]
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log", "linear", "linear"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["lr=0.1", "lr=0.01", "hidden=[64]"]
    legend_is_outside_the_axes_and_inside_the_figure(fig)
    forced = compare_figure(runs, log=True)
    assert all(ax.get_yscale() == "log" for ax in forced.axes[:3])


def test_a_diverged_run_does_not_rescale_the_others():
    runs = [
        Curve("lr=0.1", history([0.7, 0.5, 0.4]), "bce", False),
        Curve("lr=50", history([0.7, 3e5, 1e10, float("nan")]), "bce", False, failed=True),
    ]
    ax = compare_figure(runs).axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[1] < 1.0
    diverged = ax.get_lines()[1]
    assert np.isfinite(diverged.get_ydata()).all() and diverged.get_ydata()[-1] == 1e10  # up to its last finite value


def test_past_many_runs_colour_follows_the_metric():
    runs = [Curve(f"lr={i}", history([1.0, 0.5 / (i + 1)]), "bce", False, value=0.5 + i / 40) for i in range(MANY + 2)]
    fig = compare_figure(runs, "test.accuracy")
    assert not fig.legends  # a colour bar instead of a dozen legend lines
    assert any(ax.get_ylabel() == "test.accuracy" for ax in fig.axes)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    return {
        "or": api.run(CONFIGS / "perceptron_or.yaml", runs_dir=root).path,
        "sign": api.run(CONFIGS / "logreg.yaml", overrides=["training.epochs=3", "baseline=null"], runs_dir=root).path,
        "sqrt": api.run(
            CONFIGS / "sqrt_mean.yaml", overrides=["training.epochs=3", "dataset.n=200"], runs_dir=root
        ).path,
    }


def test_which_figures_each_run_gets(folders):
    files = {name: {p.name for p in path.glob("*.png")} for name, path in folders.items()}
    assert files["or"] == {"cost.png", "confusion_matrix.png", "boundary.png"}  # 4 rows: no accuracy staircase
    assert {"cost.png", "accuracy.png", "confusion_matrix.png", "weights.png"} <= files["sign"]
    assert files["sqrt"] == {"cost.png", "predictions.png"}
    for path in folders.values():
        for png in path.glob("*.png"):
            assert png.read_bytes()[:8] == PNG


def test_weights_are_one_64x64_image_for_a_binary_logistic_regression(folders):
    from PIL import Image

    from dltrain.runs.reader import read_run

    run = read_run(folders["sign"])
    fig = samples.weights_figure(run.weights["W0"], tuple(run.meta["sample_shape"]), run.classes, "sign")
    assert [ax.images[0].get_array().shape for ax in fig.axes] == [(64, 64)]
    width, height = Image.open(folders["sign"] / "weights.png").size
    assert width >= 400 and height >= 300


def test_sweep_categories_name_a_section_by_its_name_and_keys():
    from dltrain.plots.sweep import _categories

    where, labels, ticks = _categories([{"name": "or_gate"}, {"n": 50, "name": "sqrt_mean"}, {"name": "or_gate"}, [64]])
    assert labels == ["or_gate", "sqrt_mean n=50", "[64]"]
    assert list(where) == [0.0, 0.5, 0.0, 1.0] and list(ticks) == [0.0, 0.5, 1.0]
    # sections alike but in the middle: still two categories, told apart once shortened
    where, labels, _ = _categories([{"name": "sqrt_mean", "n": n, "noise": 0.1} for n in (500, 600)])
    assert list(where) == [0.0, 1.0] and len(set(labels)) == 2


def test_a_gallery_draws_each_image_in_its_own_tile_under_its_label():
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(12, 10)) * np.arange(1, 11)  # ten units of different scales, 3x4 images
    fig = samples.weights_figure(W0, (3, 4), None, "g")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == [f"unit {k}" for k in range(10)]
    for k, image in enumerate(ax.images):  # each unit on its own scale, symmetric around 0
        column = W0[:, k].reshape(3, 4)
        np.testing.assert_allclose(image.get_array(), column / np.abs(column).max())
        assert image.get_clim() == (-1, 1)
    boxes = [image.get_extent() for image in ax.images]  # (left, right, bottom, top), y downwards
    for i, a in enumerate(boxes):
        assert a[0] < a[1] and a[3] < a[2] and (a[1] - a[0]) / (a[2] - a[3]) == pytest.approx(4 / 3)  # its aspect
        assert all(a[1] <= b[0] or b[1] <= a[0] or a[2] <= b[3] or b[2] <= a[3] for b in boxes[i + 1 :])
    on_screen = ax.transData.transform  # data (inches) -> display pixels, y upwards
    for text, box in zip(ax.texts, boxes):  # each label just above its image, as seen
        x, y = text.get_position()
        label_y, image_top = on_screen((x, y))[1], on_screen((x, box[3]))[1]
        assert box[0] < x < box[1] and 0 < label_y - image_top < 0.25 * fig.dpi
    assert on_screen(ax.texts[0].get_position())[1] > on_screen(ax.texts[8].get_position())[1]  # first row on top

    images = rng.uniform(0, 16, size=(3, 5, 5))
    fig = samples.errors_figure(images, np.array([0, 1, 2]), np.array([1, 2, 0]), ["a", "b", "c"], "test", "e")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == ["a -> b", "b -> c", "c -> a"]
    for image, expected in zip(ax.images, images):  # as sampled, each on its own grey scale
        np.testing.assert_array_equal(image.get_array(), expected)
        assert image.get_clim() == (expected.min(), expected.max())


def test_labels_with_dollar_signs_are_drawn_as_written(cli, tmp_path):
    """Class labels are the user's: '$5-$10' is not math and '$\\frac$' does not fail the
    figures (it failed the run's save with a mathtext ParseSyntaxException)."""
    config = two_class_csv_config(tmp_path, "money", r"$\frac$", "$5-$10")
    cli("run", config, "--runs-dir", tmp_path / "runs", "-q", code=0)
    (folder,) = (tmp_path / "runs").iterdir()
    assert {"confusion_matrix.png", "boundary.png", "cost.png"} <= {p.name for p in folder.iterdir()}
    cli("eval", folder, "--split", "train", code=0)  # redraws the confusion matrix of another split

    fig = samples.confusion_figure(np.eye(2, dtype=int), ["$5-$10", r"$\frac$"], "t")
    fig.canvas.draw()
    texts = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert not any(cbook.is_math_text(t) for t in texts)
    assert [t.replace(r"\$", "$") for t in texts] == ["$5-$10", r"$\frac$"]  # as matplotlib shows them


@pytest.mark.parametrize("scale, drawn", [(1e308, False), (3e307, True)])
def test_inputs_near_the_float64_limit_train_and_save_without_a_boundary_they_cannot_draw(cli, tmp_path, scale, drawn):
    """Finite inputs at +-1e308: the boundary's axes overflowed, matplotlib's ticks failed, and a
    run that had trained ended failed at its save, after a page of RuntimeWarnings."""
    X = np.array([[scale, 1], [-scale, 2], [scale, 3], [5, 4], [1, 1], [2, 2], [-scale, 0], [0, 5]])
    np.savez(tmp_path / "far.npz", X=X, y=np.array([0, 1, 0, 1, 0, 1, 1, 0]))
    result = cli(
        "run",
        "mlp_tiny",
        "--set",
        "dataset={name: file, path: far.npz, test_size: 0.25}",
        "--set",
        "training.epochs=3",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        cwd=tmp_path,
        process=True,  # Python's warnings as a user sees them
        code=0,
    )
    assert "Warning" not in result.stderr, result.stderr
    (folder,) = (tmp_path / "runs").iterdir()
    assert ("boundary.png" in {p.name for p in folder.iterdir()}) == drawn
    assert {"cost.png", "confusion_matrix.png"} <= {p.name for p in folder.iterdir()}


def test_a_log_axis_keeps_its_tick_labels_as_math(monkeypatch):
    """10^0, 10^-1 on a log loss axis are matplotlib's math; turning math off for the whole
    figure drew them as "$\\mathdefault{10^{0}}$"."""
    drawn = []
    monkeypatch.setattr(curves, "png_bytes", lambda fig, source=None: drawn.append(fig) or b"")
    history = [{"epoch": e, "train_loss": 10.0 ** -(e / 10), "val_loss": None} for e in range(1, 41)]
    curves.cost_plot(history, "cross_entropy", "decades", log=True)
    (fig,) = drawn
    fig.canvas.draw()
    labels = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels and all(t.get_text().startswith("$") and t.get_parse_math() for t in labels)


def test_every_figure_of_user_labels_draws_dollar_signs_as_written():
    """Gallery labels, the comparison's legend and a sweep's categories hold class names and
    config values: a '$\\frac$' among them draws (mathtext raised a ParseSyntaxException)."""
    from dltrain.plots.sweep import _categories

    odd = r"$\frac$"
    errors = samples.errors_figure(np.zeros((2, 4, 4)), [0, 1], [1, 0], [odd, "b"], "test", "run")
    compared = compare_figure(
        [Curve(odd, history([1.0, 0.5]), "mse", False), Curve("b", history([2.0, 1.0]), "mse", False)]
    )
    for fig in (errors, compared):
        fig.canvas.draw()
    assert [label.replace(r"\$", "$") for label in _categories([odd, "b"])[1]] == [odd, "b"]
    assert not any(cbook.is_math_text(label) for label in _categories([odd, "b"])[1])


def test_a_legend_label_that_is_not_utf8_is_drawn_escaped():
    """A run named by its folder, whose bytes are not UTF-8: the font cannot take the surrogate
    escape Python holds it as (FT2Font refused the label), so 'bad\\xffname' is drawn."""
    fig = compare_figure(
        [
            Curve(os.fsdecode(b"bad\xffname"), history([1.0, 0.5]), "mse", False),
            Curve("b", history([2.0, 1.0]), "mse", False),
        ]
    )
    fig.canvas.draw()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["bad\\xffname", "b"]
