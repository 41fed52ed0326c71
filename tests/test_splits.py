"""Splits and Scaler helpers of dltrain.data.split."""

import numpy as np

from dltrain.data.split import Splits


def splits(classes):
    X, y = np.zeros((4, 2)), np.array([0, 1, 2, 0])
    return Splits((X, y), None, None, classes, (2,))


def test_n_classes_counts_classes_and_is_none_for_regression():
    assert splits([3, 5, 8]).n_classes == 3
    assert splits(None).n_classes is None


def test_scaler_from_saved_arrays_scales_like_the_fitted_one():
    from dltrain.data.split import Scaler

    X = np.random.default_rng(0).normal(3.0, 2.0, size=(20, 4))
    for kind in ("minmax", "standard", "none"):
        fitted = Scaler(kind, X)
        saved = Scaler.from_arrays(fitted.arrays())
        np.testing.assert_array_equal(saved(X[:5]), fitted(X[:5]))
        assert saved.arrays().keys() == fitted.arrays().keys()
