"""Losses at saturation: predictions of exactly 0 or 1 are clipped to [eps, 1 - eps] of their
own dtype, so a confidently wrong prediction costs -log(eps), finite, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.nn.losses import LOSSES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_of_confidently_wrong_predictions_is_minus_log_eps(dtype):
    eps = np.finfo(dtype).eps
    a, y = np.array([[1.0], [0.0]], dtype=dtype), np.array([[0.0], [1.0]], dtype=dtype)
    loss = LOSSES["bce"].value(a, y)
    assert np.isfinite(loss) and loss == pytest.approx(-np.log(eps), rel=1e-6)
    grad = LOSSES["bce"].grad(a, y)
    assert np.all(np.isfinite(grad)) and grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_of_confidently_right_predictions_is_nearly_zero(dtype):
    eps = np.finfo(dtype).eps
    a = np.array([[1.0], [0.0]], dtype=dtype)
    assert 0 < LOSSES["bce"].value(a, a) < 2 * eps  # -log(1 - eps), not log(1 + eps) or 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_of_a_zero_probability_for_the_true_class_is_minus_log_eps(dtype):
    eps = np.finfo(dtype).eps
    a, y = np.array([[1.0, 0.0]], dtype=dtype), np.array([[0.0, 1.0]], dtype=dtype)
    assert LOSSES["cross_entropy"].value(a, y) == pytest.approx(-np.log(eps), rel=1e-6)
    assert np.all(np.isfinite(LOSSES["cross_entropy"].grad(a, y)))


@pytest.mark.parametrize("batch_size", [1, 2, "full"])
def test_an_sse_epoch_reports_the_sum_over_the_epoch_whatever_the_batch_size(batch_size):
    # A learning rate too small to move the weights: the epoch's loss is the sse of the
    # starting weights over all four rows (a mean loss would be averaged over them instead).
    from dltrain.config.loader import validate
    from dltrain.data.split import Splits
    from dltrain.pipeline.experiment import Experiment

    training = {"loss": "sse", "optimizer": {"name": "gd", "lr": 1e-12}, "epochs": 1, "batch_size": batch_size}
    model = {"type": "perceptron", "rule": "gradient", "activation": "identity", "init": {"name": "constant"}}
    cfg = validate({"dataset": {"name": "or_gate"}, "model": model, "training": training})
    X, y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64), np.array([0, 1, 1, 1])
    exp = Experiment(cfg, splits=Splits((X, y), None, None, [0, 1], (2,)))
    exp.train()
    (record,) = exp.trainer.history
    predictions = X @ np.full(2, 0.01) + 0.0  # constant 0.01 weights, zero bias
    assert record.train_loss == pytest.approx(np.sum((predictions - y) ** 2), rel=1e-9)


def test_the_perceptron_loss_is_the_fraction_of_samples_misclassified():
    """A step output of z >= 0 is class 1: four samples, one of them (z = -1 for class 1) wrong."""
    from dltrain.nn.losses import FUSED

    z = np.array([[1.0], [-1.0], [2.0], [-3.0]])
    y = np.array([[1.0], [1.0], [1.0], [0.0]])
    assert FUSED[("step", "perceptron")].value(z, y) == 0.25
    assert FUSED[("step", "perceptron")].value(z, 1 - y) == 0.75
