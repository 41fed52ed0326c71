"""The shared metric helpers in dltrain.train.metrics, checked against numbers worked by hand."""

import math

import numpy as np
import pytest

from dltrain.train.metrics import (
    class_scores,
    confusion_matrix,
    log_loss,
    lower_is_better,
    main_metric,
    regression_scores,
)


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


# --- scikit-learn's formulas in NumPy: the same bits -------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regression_scores_are_scikit_learns_bit_for_bit(dtype):
    from sklearn import metrics

    rng = np.random.default_rng(3)
    for target, outputs in [
        (rng.normal(size=50), rng.normal(size=(50, 1)).astype(dtype)),
        (rng.normal(size=(40, 3)), rng.normal(size=(40, 3)).astype(dtype)),
        (np.r_[np.ones(9), 2.0], np.full((10, 1), 1.5, dtype)),
        (np.column_stack([np.full(8, 3.0), np.arange(8.0), np.full(8, 2.0)]), np.full((8, 3), 2.0, dtype)),
    ]:
        n = len(target)
        t, o = target.reshape(n, -1), outputs.reshape(n, -1)
        scores = regression_scores(target, outputs)
        assert scores["mse"] == metrics.mean_squared_error(t, o)
        assert scores["mae"] == metrics.mean_absolute_error(t, o)
        assert scores["r2"] == metrics.r2_score(t, o)  # constant columns included: exact -> 1, not -> 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_scores_are_scikit_learns_bit_for_bit(dtype):
    from sklearn import metrics

    rng = np.random.default_rng(5)
    for k, n in [(2, 30), (4, 200), (10, 57)]:
        y = rng.integers(0, k, n)
        y[: min(k - 1, n)] = np.arange(min(k - 1, n))  # every class but the last is present...
        y[y == k - 1] = 0  # ... and the last never is: a zero support
        pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
        labels = list(range(k))
        matrix = confusion_matrix(y, pred, k)
        np.testing.assert_array_equal(matrix, metrics.confusion_matrix(y, pred, labels=labels))
        p, r, f, support = class_scores(matrix)
        for mine, theirs in zip(
            (p, r, f, support), metrics.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        ):
            np.testing.assert_array_equal(mine, theirs)
        logits = rng.normal(size=(n, k)) * 4
        probabilities = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(dtype)
        probabilities[0] = 0.0  # a confident mistake: clipped, finite
        probabilities[0, (y[0] + 1) % k] = 1.0
        assert log_loss(y, probabilities) == metrics.log_loss(y, probabilities, labels=labels)


def test_confusion_matrix_of_small_unsigned_labels_does_not_wrap():
    y = np.array([19, 19, 3], dtype=np.uint8)  # labels may come as uint8; 19 * 20 + 19 does not fit one
    matrix = confusion_matrix(y, np.array([19, 3, 3]), 20)
    assert matrix[19, 19] == 1 and matrix[19, 3] == 1 and matrix[3, 3] == 1 and matrix.sum() == 3


@pytest.mark.parametrize(
    "target, outputs, r2",
    [
        ([1.0, 3.0], [1.5, 2.5], 0.75),  # two samples are enough for r2 (sklearn: 0.75)
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1.0),  # a perfect fit
        ([3.0, 3.0, 3.0], [2.0, 2.0, 2.0], 0.0),  # a constant target predicted wrong
        ([3.0, 3.0, 3.0], [3.0, 3.0, 3.0], 1.0),  # ... and right
        ([0.0, 2.0, 4.0], [1.0, 2.0, 4.0], 0.875),  # a residual sum of exactly 1 (sklearn: 0.875)
    ],
)
def test_r2_of_one_target_by_hand(target, outputs, r2):
    assert regression_scores(np.array(target), np.array(outputs)[:, None])["r2"] == r2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_of_a_certain_right_answer_is_the_dtypes_eps_as_in_sklearn(dtype):
    """p = 1 is clipped to 1 - eps: -log(1 - eps), scikit-learn's value to the bit, not -0.0. (Within
    an ulp of eps: the last bit is the platform's log's, so it is compared with scikit-learn's here.)"""
    from sklearn.metrics import log_loss as sklearn_log_loss

    probs = np.array([[1.0, 0.0]], dtype)
    ours = log_loss(np.array([0]), probs)
    assert ours == sklearn_log_loss([0], probs, labels=[0, 1])
    eps = np.finfo(dtype).eps
    assert eps <= ours <= np.nextafter(eps, dtype(1))  # within an ulp of the dtype's eps
