"""Two conventions chosen to match PyTorch and Keras: leaky_relu's slope is configurable
(default 0.01), and bce averages over outputs as well as samples. Values by hand and
central-difference gradient checks in float64, as in test_gradients.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.api import resolve
from dltrain.errors import ConfigError
from dltrain.nn.activations import ACTIVATIONS, LEAKY_SLOPE, activation
from dltrain.nn.initializers import Normal
from dltrain.nn.losses import FUSED, LOSSES
from dltrain.nn.models import Mlp, Perceptron

H, TOL = 1e-6, 1e-7


def numeric_grad(f, x: np.ndarray) -> np.ndarray:
    """Central difference of the scalar f() with respect to every entry of x (perturbed in place)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + H
        up = f()
        x[idx] = old - H
        down = f()
        x[idx] = old
        grad[idx] = (up - down) / (2 * H)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


# --- leaky_relu's slope ------------------------------------------------------------------


def test_leaky_relu_default_slope_is_pytorchs():
    z = np.array([[-2.0, 3.0]])
    assert LEAKY_SLOPE == 0.01
    assert np.array_equal(ACTIVATIONS["leaky_relu"].forward(z), [[-0.02, 3.0]])
    assert Mlp().negative_slope == Perceptron().negative_slope == 0.01


@pytest.mark.parametrize("slope", [0.0, 0.2, 0.5])
def test_leaky_relu_slope_forward_backward_by_hand(slope):
    act = activation("leaky_relu", slope)
    z = np.array([[-2.0, 3.0, -0.5]])
    assert np.array_equal(act.forward(z), [[-2.0 * slope, 3.0, -0.5 * slope]])
    g = np.array([[1.5, -1.0, 4.0]])
    assert np.array_equal(act.backward(z, act.forward(z), g), [[1.5 * slope, -1.0, 4.0 * slope]])


@pytest.mark.parametrize("slope", [0.2, 0.3])
def test_leaky_relu_slope_matches_central_difference(slope):
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 2.0, (6, 3))
    z = np.where(z >= 0, 1.0, -1.0) * np.maximum(np.abs(z), 1e-3)  # away from the kink
    upstream = rng.normal(size=z.shape)
    act = activation("leaky_relu", slope)
    analytic = act.backward(z, act.forward(z), upstream)
    numeric = numeric_grad(lambda: float(np.sum(upstream * act.forward(z))), z)
    assert rel_error(analytic, numeric) < TOL
    # the slope is the one asked for: the default's gradient differs on negative inputs
    default = ACTIVATIONS["leaky_relu"]
    assert rel_error(default.backward(z, default.forward(z), upstream), numeric) > 1e-2


@pytest.mark.parametrize(
    "model",
    [
        Mlp(
            hidden=[5, 4], activation="leaky_relu", negative_slope=0.25, init=Normal(std=0.7), bias_init=Normal(std=0.3)
        ),
        Perceptron(rule="gradient", activation="leaky_relu", negative_slope=0.3, init=Normal(std=0.7)),
    ],
    ids=["mlp", "perceptron"],
)
def test_model_with_a_slope_matches_central_difference(model):
    """The config's slope reaches every leaky_relu layer, and backpropagation uses it."""
    for seed in range(100):  # a seed whose pre-activations keep away from the kink
        rng = np.random.default_rng(seed)
        net = model.build(4, None, 2, "sse", rng, np.float64)
        X = rng.normal(size=(6, 4))
        zs, a = [], X
        for layer in net.layers:
            z, a = layer.forward(a)
            zs.append(z)
        if all(np.abs(z).min() > 1e-4 for z in zs):
            break
    leaky = [layer for layer in net.layers if layer.activation == "leaky_relu"]
    assert leaky and all(
        np.array_equal(layer.act.forward(np.array([[-1.0]])), [[-model.negative_slope]]) for layer in leaky
    )
    assert any((z < 0).any() for z in zs)  # the slope is exercised
    Y = rng.normal(size=(6, 2))
    net.loss_and_grads(X, Y)
    analytic = [g.copy() for g in net.grads]
    for param, grad in zip(net.params, analytic):
        assert rel_error(grad, numeric_grad(lambda: net.loss_value(X, Y)[0], param)) < 1e-6


@pytest.mark.parametrize("value", [-0.1, 1.0, "steep"])
def test_a_bad_slope_is_a_config_error(value):
    with pytest.raises(ConfigError, match="negative_slope"):
        resolve(
            {
                "dataset": {"name": "digits"},
                "model": {"type": "mlp", "activation": "leaky_relu", "negative_slope": value},
            }
        )


# --- bce averages over outputs -------------------------------------------------------------


def bce_by_hand(p, y) -> float:
    """PyTorch's BCELoss(reduction='mean') and Keras's BinaryCrossentropy: the mean of every entry's loss."""
    terms = [-(t * np.log(q) + (1 - t) * np.log(1 - q)) for q, t in zip(np.ravel(p), np.ravel(y))]
    return float(sum(terms) / len(terms))


def test_bce_with_several_outputs_is_the_mean_over_every_entry():
    a = np.array([[0.8, 0.3, 0.6], [0.4, 0.9, 0.2]])
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    # (-log .8 - log .7 - log .6 - log .6 - log .9 - log .2) / 6, not / 2
    assert LOSSES["bce"].value(a, y) == pytest.approx(bce_by_hand(a, y), rel=1e-12)
    assert LOSSES["bce"].value(a, y) == pytest.approx(-np.log([0.8, 0.7, 0.6, 0.6, 0.9, 0.2]).sum() / 6, rel=1e-12)
    z = np.log(a / (1 - a))  # the logits of a
    assert FUSED[("sigmoid", "bce")].value(z, y) == pytest.approx(bce_by_hand(a, y), rel=1e-12)


def test_bce_with_one_output_is_unchanged():
    """One sigmoid output: the mean over samples, as the tutorials compute it."""
    a, y = np.array([[0.8], [0.4], [0.3]]), np.array([[1.0], [0.0], [1.0]])
    assert LOSSES["bce"].value(a, y) == pytest.approx(-(np.log(0.8) + np.log(0.6) + np.log(0.3)) / 3, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_bce_gradients_with_several_outputs_match_central_difference(k):
    rng = np.random.default_rng(k)
    a = rng.uniform(0.1, 0.9, (6, k))
    y = rng.integers(0, 2, (6, k)).astype(np.float64)
    loss = LOSSES["bce"]
    assert rel_error(loss.grad(a, y), numeric_grad(lambda: float(loss.value(a, y)), a)) < TOL

    z = rng.normal(0.0, 2.0, (6, k))
    fused = FUSED[("sigmoid", "bce")]
    analytic = fused.grad(z, ACTIVATIONS["sigmoid"].forward(z), y)
    assert rel_error(analytic, numeric_grad(lambda: float(fused.value(z, y)), z)) < TOL


def test_bce_model_with_several_outputs_matches_central_difference():
    model = Mlp(
        hidden=[4], activation="tanh", output_activation="sigmoid", init=Normal(std=0.7), bias_init=Normal(std=0.3)
    )
    rng = np.random.default_rng(1)
    net = model.build(4, None, 3, "bce", rng, np.float64)
    X, Y = rng.normal(size=(6, 4)), rng.uniform(0, 1, (6, 3))
    loss, out = net.loss_and_grads(X, Y)
    assert loss == pytest.approx(bce_by_hand(out, Y), rel=1e-12)
    analytic = [g.copy() for g in net.grads]
    for param, grad in zip(net.params, analytic):
        assert rel_error(grad, numeric_grad(lambda: net.loss_value(X, Y)[0], param)) < 1e-6
