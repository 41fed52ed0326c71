"""The report's Vega-Lite specs as data: which axis is logarithmic, what sets its limits when a
run failed, where each value sits on a parallel-coordinates axis. (tests/test_report.py checks
the pages that hold them, tests/test_report_browser.py draws them.)"""

from __future__ import annotations

import math

import pytest

from dltrain.report.charts import _positions, curves, metric_against, parallel


def history(*losses: float, key: str = "loss") -> list[dict]:
    """Training rows, epoch 1 onwards, with these train values of `key`."""
    return [{"epoch": i, f"train_{key}": v} for i, v in enumerate(losses, 1)]


def y_scale(spec: dict) -> dict:
    return spec["encoding"]["y"]["scale"]


def plotted(spec: dict, key: str = "loss") -> list:
    return [row[key] for row in spec["data"]["values"]]


def test_a_loss_over_two_decades_gets_a_log_axis_without_its_non_positive_values():
    spec = curves([("a", history(1.0, 0.1, 0.001, 0.0), False)], "loss", "Loss", "loss")
    assert y_scale(spec) == {"type": "log"}
    assert plotted(spec) == [1.0, 0.1, 0.001]  # 0 has no place on a log axis


def test_a_loss_within_two_decades_and_any_accuracy_get_a_linear_axis():
    assert y_scale(curves([("a", history(1.0, 0.02), False)], "loss", "", "")) == {"zero": False}
    accuracy = curves([("a", history(0.001, 0.9, key="accuracy"), False)], "accuracy", "", "")
    assert y_scale(accuracy) == {"zero": False}  # accuracies span decades only by accident
    assert y_scale(curves([("a", history(1.0, 0.5), False)], "loss", "", "", log=True)) == {"type": "log"}
    assert y_scale(curves([("a", history(1.0, 0.001), False)], "loss", "", "", log=False)) == {"zero": False}


def test_the_runs_that_did_not_fail_set_a_linear_axis_limits():
    runs = [("ok", history(0.5, 0.3), False), ("diverged", history(0.4, 40.0), True)]
    spec = curves(runs, "loss", "", "")
    assert y_scale(spec)["domain"] == pytest.approx([0.3 - 0.01, 0.5 + 0.01])  # 5% of 0.2 either side
    assert sorted(plotted(spec)) == [0.3, 0.4, 0.5, 40.0]  # the failed run is drawn, clipped


def test_the_runs_that_did_not_fail_set_a_log_axis_limits():
    runs = [("ok", history(1.0, 0.001), False), ("diverged", history(0.5, 1e6), True)]
    assert y_scale(curves(runs, "loss", "", ""))["domain"] == pytest.approx([0.001 / 1.5, 1.0 * 1.5])


def test_a_loss_of_zero_leaves_a_log_axis_limits_positive():
    """The zero is not drawn on a log axis, so it sets no limit either: a domain from 0 has no log."""
    runs = [("ok", history(1.0, 0.001, 0.0), False), ("diverged", history(0.5, 1e6), True)]
    lo, hi = y_scale(curves(runs, "loss", "", ""))["domain"]
    assert lo == pytest.approx(0.001 / 1.5) and hi == pytest.approx(1.5)


def test_a_flat_curve_beside_a_failed_run_still_gets_an_axis_of_some_length():
    """One epoch, or a loss that never moved: the limits get a margin of their own, as in the PNGs."""
    runs = [("one epoch", history(0.4), False), ("diverged", history(0.5, 80.0), True)]
    assert y_scale(curves(runs, "loss", "", ""))["domain"] == pytest.approx([0.38, 0.42])
    runs = [("at zero", history(0.0, 0.0), False), ("diverged", history(0.5, 80.0), True)]
    assert y_scale(curves(runs, "loss", "", ""))["domain"] == pytest.approx([-0.05, 0.05])


def test_a_failed_run_with_one_point_beside_zeros_on_a_log_axis_still_leaves_the_limits_to_the_others():
    runs = [("ok", history(1.0, 0.001, 0.0, 0.0, 0.0), False), ("diverged", history(1e6), True)]
    assert y_scale(curves(runs, "loss", "", ""))["domain"] == pytest.approx([0.001 / 1.5, 1.5])


def test_limits_are_left_to_the_chart_unless_a_run_failed_with_values():
    ok = ("ok", history(0.5, 0.3), False)
    assert "domain" not in y_scale(curves([ok, ("ok too", history(9.0, 8.0), False)], "loss", "", ""))
    assert "domain" not in y_scale(curves([ok, ("failed at once", history(math.nan), True)], "loss", "", ""))
    assert "domain" not in y_scale(curves([("only failed", history(3.0, 2.0), True)], "loss", "", ""))


def test_a_curve_of_nothing_is_no_chart():
    assert curves([("a", history(math.nan, math.inf), False), ("b", [], False)], "loss", "", "") is None


def test_past_ten_runs_the_legend_takes_two_columns():
    def columns(n: int) -> int:
        spec = curves([(f"r{i}", history(1.0), False) for i in range(n)], "loss", "", "")
        return spec["encoding"]["color"]["legend"]["columns"]

    assert (columns(10), columns(11)) == (1, 2)


def test_validation_values_are_dashed_curves_of_their_own():
    rows = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}, {"epoch": 2, "train_loss": 0.4, "val_loss": None}]
    values = curves([("a", rows, False)], "loss", "", "")["data"]["values"]
    assert [(v["split"], v["epoch"], v["loss"]) for v in values] == [
        ("train", 1, 0.5),
        ("train", 2, 0.4),
        ("validation", 1, 0.6),
    ]


@pytest.mark.parametrize(
    "values, positions",
    [
        ([2, 4, 3], [0.0, 1.0, 0.5]),  # linear from the smallest to the largest
        ([1e-4, 1e-2, 1.0], [0.0, 0.5, 1.0]),  # past two decades: by the exponent
        ([-1.0, 1e-4, 1.0], [0.0, 0.50005, 1.0]),  # not all positive: linear
        ([0.0, 1e-4, 1.0], [0.0, 1e-4, 1.0]),
        ([0.1, 0.1], [0.5, 0.5]),  # one value: the middle
        (["tanh", "relu", "tanh", "sigmoid"], [0.0, 0.5, 0.0, 1.0]),  # categories evenly, as first seen
        (["relu", "relu"], [0.5, 0.5]),
        ([[8], [8, 8], 3], [0.0, 0.5, 1.0]),  # not all numbers: every value a category
    ],
)
def test_each_value_sits_on_its_axis_between_0_and_1(values, positions):
    assert _positions(values)[0] == pytest.approx(positions)


def test_an_axis_labels_each_value_once_and_only_its_ends_past_eight():
    assert _positions([3, 1, 3, 2])[1] == {"3": 1.0, "1": 0.0, "2": 0.5}
    eight = _positions(list(range(8)))[1]
    assert len(eight) == 8 and eight["0"] == 0.0 and eight["7"] == 1.0
    assert _positions([12, *range(9, 18)])[1] == {"9": 0.0, "17": 1.0}  # the ends by position, not by text


def test_a_failed_point_leaves_the_metric_axis_in_order_of_value():
    """No metric (None) or NaN: no position and no tick; the numbers keep their order (as
    categories in first-seen order 0.8 would have been drawn above 0.9)."""
    positions, ticks = _positions([0.9, None, 0.8, math.nan, 1.0])
    assert positions == pytest.approx([0.5, None, 0.0, None, 1.0])
    assert ticks == {"0.9": 0.5, "0.8": 0.0, "1.0": 1.0}


def test_parallel_coordinates_draw_a_line_per_point_across_the_keys_and_the_metric():
    points = [
        {"lr": 0.1, "act": "relu", "test.loss": 0.5, "point": "a"},
        {"lr": 0.3, "act": "tanh", "test.loss": None, "point": "b"},  # failed: not drawn
        {"lr": 0.2, "act": "tanh", "test.loss": 0.3 + 1e-12, "point": "c"},
    ]
    spec = parallel(points, ["lr", "act"], {"lr": "optimizer.lr"}, "test.loss")
    lines, rules, ticks = (layer["data"]["values"] for layer in spec["layer"])
    assert [(r["i"], r["axis"], r["pos"], r["value"], r["m"]) for r in lines] == [
        (0, "optimizer.lr", 0.0, "0.1", 0.5),
        (0, "act", 0.0, "relu", 0.5),
        (0, "test.loss", 1.0, "0.5000", 0.5),
        (2, "optimizer.lr", pytest.approx(0.5), "0.2", 0.3 + 1e-12),
        (2, "act", 1.0, "tanh", 0.3 + 1e-12),
        (2, "test.loss", 0.0, "0.3000", 0.3 + 1e-12),  # the metric to four decimals, as in the table
    ]
    assert rules == [{"axis": "optimizer.lr"}, {"axis": "act"}, {"axis": "test.loss"}]
    assert {(t["axis"], t["value"]): t["pos"] for t in ticks} == {
        ("optimizer.lr", "0.1"): 0.0,
        ("optimizer.lr", "0.3"): 1.0,
        ("optimizer.lr", "0.2"): pytest.approx(0.5),
        ("act", "relu"): 0.0,
        ("act", "tanh"): 1.0,
        ("test.loss", "0.5000"): 1.0,
        ("test.loss", "0.3000"): 0.0,
    }
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["optimizer.lr", "act", "test.loss"]
    assert spec["width"] == 450 and parallel(points, ["lr"], {}, "test.loss")["width"] == 360


def test_a_metric_against_a_key_of_rates_over_two_decades_is_on_a_log_axis():
    def x_axis(values: list, log: bool = False) -> dict:
        points = [{"lr": v, "test.loss": 0.1 * i, "point": f"p{i}"} for i, v in enumerate(values)]
        return metric_against(points, "lr", "lr", "test.loss", log)["encoding"]["x"]

    assert x_axis([1e-4, 1e-1])["scale"] == {"type": "log"}
    assert "scale" not in x_axis([1e-2, 1e-1])
    assert x_axis([1e-2, 1e-1], log=True)["scale"] == {"type": "log"}  # drawn log-uniformly
    assert "scale" not in x_axis([0.0, 1e-4, 1e-1], log=True)  # a zero has no place on a log axis
    assert x_axis(["adam", "sgd"])["type"] == "ordinal"


def test_a_metric_against_values_not_all_numbers_shows_each_as_its_text():
    points = [
        {"hidden": [8], "test.loss": 0.2, "point": "a"},
        {"hidden": 4, "test.loss": 0.1, "point": "b"},
        {"hidden": [8, 8], "test.loss": None, "point": "c"},  # failed: no dot
    ]
    spec = metric_against(points, "hidden", "hidden", "test.loss")
    assert spec["encoding"]["x"]["type"] == "ordinal"
    assert spec["data"]["values"] == [{"x": "[8]", "m": 0.2, "point": "a"}, {"x": "4", "m": 0.1, "point": "b"}]
    numeric = metric_against([{"lr": 0.5, "test.loss": 0.2, "point": "a"}], "lr", "lr", "test.loss")
    assert numeric["encoding"]["x"]["type"] == "quantitative" and numeric["data"]["values"][0]["x"] == 0.5
