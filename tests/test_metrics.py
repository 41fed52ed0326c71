"""The shared metric helpers in dltrain.train.metrics, checked against numbers worked by hand."""

import math

import numpy as np

from dltrain.train.metrics import lower_is_better, main_metric, regression_scores


def test_regression_scores_by_hand():
    target = np.array([1.0, 2.0, 3.0, 4.0])
    outputs = np.array([[1.5], [2.0], [2.0], [4.0]])  # errors 0.5, 0, -1, 0
    scores = regression_scores(target, outputs)
    assert scores["mse"] == 1.25 / 4
    assert scores["mae"] == 1.5 / 4
    assert scores["r2"] == 1 - 1.25 / 5.0  # total sum of squares about the mean 2.5 is 5


def test_regression_scores_one_sample_has_no_r2():
    scores = regression_scores(np.array([2.0]), np.array([[1.0]]))
    assert scores["mse"] == 1.0 and math.isnan(scores["r2"])


def test_main_metric_is_accuracy_for_classifiers_and_loss_otherwise():
    assert (
        main_metric({"train": {"loss": 1.0, "accuracy": 0.5}, "test": {"loss": 2.0, "accuracy": 0.4}})
        == "test.accuracy"
    )
    assert main_metric({"train": {"loss": 1.0, "mse": 2.0}, "val": {"loss": 1.5, "mse": 3.0}}) == "val.loss"
    assert main_metric({}) is None


def test_one_direction_table_for_compare_and_sweep():
    from dltrain.sweep.ranking import Metric

    for name in ("test.loss", "val.mse", "train.mae", "baseline.test.log_loss"):
        assert lower_is_better(name)
    for name in ("test.accuracy", "test.r2", "baseline.test.accuracy"):
        assert not lower_is_better(name)
    assert Metric.parse("test.mse").lower_is_better and not Metric.parse("test.r2").lower_is_better
    assert str(Metric.default({"train": {"loss": 1.0, "mse": 2.0}, "test": {"loss": 1.5, "mse": 3.0}})) == "test.loss"
