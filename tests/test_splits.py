"""Splits and Scaler helpers of dltrain.data.split."""

import numpy as np

from dltrain.data.split import Splits


def splits(classes):
    X, y = np.zeros((4, 2)), np.array([0, 1, 2, 0])
    return Splits((X, y), None, None, classes, (2,))


def test_n_classes_counts_classes_and_is_none_for_regression():
    assert splits([3, 5, 8]).n_classes == 3
    assert splits(None).n_classes is None
