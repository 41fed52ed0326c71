"""The conventions docs/config.md states, each checked against the code (and the library it names, where installed)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from dltrain.baseline import Baseline
from dltrain.config.loader import validate
from dltrain.data.split import Splits
from dltrain.nn.initializers import He, Xavier
from dltrain.nn.losses import FUSED, LOSSES
from dltrain.nn.optimizers import GD
from dltrain.pipeline.experiment import Experiment

DOC = (REPO / "docs" / "config.md").read_text()


def test_he_is_an_untruncated_normal_on_fan_in():
    W = He().draw(np.random.default_rng(0), (200, 500))
    std = np.sqrt(2.0 / 200)  # fan_in is the first axis
    assert abs(W.std() / std - 1.0) < 0.01
    # A normal puts 4.55% of its draws beyond two standard deviations; Keras's HeNormal none.
    assert 0.04 < np.mean(np.abs(W) > 2 * std) < 0.051
    assert "kaiming_normal_" in DOC and "HeNormal" in DOC


def test_xavier_is_glorot_uniform():
    W = Xavier().draw(np.random.default_rng(0), (30, 70))
    limit = np.sqrt(6.0 / (30 + 70))
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert "GlorotUniform" in DOC


def test_weight_decay_is_l2_in_the_gradient_and_spares_biases():
    W, b = np.array([[1.0, -2.0]]), np.array([3.0])
    gW, gb = np.array([[0.5, 0.5]]), np.array([0.5])
    GD(lr=0.1, weight_decay=0.2).build([W, b]).step([gW, gb])
    np.testing.assert_allclose(W, [[1.0 - 0.1 * (0.5 + 0.2 * 1.0), -2.0 - 0.1 * (0.5 + 0.2 * -2.0)]])
    np.testing.assert_allclose(b, [3.0 - 0.1 * 0.5])  # no decay on the bias
    assert "PyTorch's weight_decay, not AdamW" in DOC and "biases are not decayed" in DOC


def test_bce_averages_over_samples_and_outputs():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(6, 3)), (rng.random((6, 3)) > 0.5).astype(float)
    a = 1.0 / (1.0 + np.exp(-z))
    torch_mean = -np.mean(y * np.log(a) + (1.0 - y) * np.log(1.0 - a))  # BCELoss(reduction="mean")
    assert LOSSES["bce"].value(a, y) == pytest.approx(torch_mean, rel=1e-12)
    assert FUSED[("sigmoid", "bce")].value(z, y) == pytest.approx(torch_mean, rel=1e-12)
    assert "bce and mse average over samples and outputs alike" in DOC


def test_leaky_relu_slope_defaults_to_pytorchs():
    cfg = validate({"dataset": {"name": "or_gate"}, "model": {"type": "mlp", "activation": "leaky_relu"}})
    assert cfg.model.negative_slope == 0.01 and "PyTorch's LeakyReLU" in DOC


OR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
OR_Y = np.array([0, 1, 1, 1])


def rosenblatt_after(epochs: int) -> tuple[list, float]:
    cfg = validate(
        {
            "dataset": {"name": "or_gate"},
            "model": {"type": "perceptron", "rule": "rosenblatt", "init": {"name": "zeros"}},
            "training": {"optimizer": {"name": "gd", "lr": 1.0}, "epochs": epochs, "batch_size": 1, "shuffle": False},
        }
    )
    exp = Experiment(cfg, splits=Splits((OR_X, OR_Y), None, None, [0, 1], (2,)))
    exp.train()
    layer = exp.net.layers[0]
    return layer.W[:, 0].tolist(), float(layer.b[0])


def test_rosenblatt_predicts_1_at_zero_and_so_parts_from_scikit_learns_perceptron():
    from sklearn.linear_model import Perceptron

    # Epoch 1 from zero weights: dltrain predicts 1 for z = 0, so only (0,0) and (0,1) are
    # mistakes; scikit-learn updates whenever y z <= 0, so (1,0) at z = 0 is one too.
    assert rosenblatt_after(1) == ([0.0, 1.0], 0.0)
    sk = Perceptron(eta0=1.0, max_iter=1, tol=None, shuffle=False).fit(OR_X, OR_Y)
    assert sk.coef_[0].tolist() == [1.0, 1.0] and sk.intercept_.tolist() == [1.0]
    assert "y z <= 0" in DOC


def test_the_logreg_baseline_keeps_scikit_learns_c():
    from dltrain.baseline import make_estimator

    cfg = validate(
        {
            "dataset": {"name": "digits", "classes": [0, 1]},
            "model": {"type": "logreg"},
            "training": {"optimizer": {"name": "gd", "weight_decay": 0.5}},
            "baseline": "sklearn",
        }
    )
    assert isinstance(cfg.baseline, Baseline)
    assert make_estimator(cfg, classify=True, n_train=100).C == 1.0  # weight_decay does not reach it
    assert "keeps scikit-learn's C=1.0" in DOC
