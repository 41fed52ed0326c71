"""The shared metric helpers in dltrain.train.metrics, checked against numbers worked by hand."""

import math

import numpy as np

from dltrain.train.metrics import regression_scores


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
