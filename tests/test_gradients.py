"""Central-difference gradient checks in float64 for every activation, loss, fused
output pair and model family.

Each analytic gradient is compared with (f(x + h) - f(x - h)) / 2h, entry by entry,
and the relative error |a - n| / max(|a| + |n|, tiny) is taken over each array as a
whole (norms), so that an entry that is zero in both does not divide 0 by 0.
Inputs are kept away from the kinks of relu and leaky_relu.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.nn.activations import ACTIVATIONS
from dltrain.nn.initializers import Normal
from dltrain.nn.losses import FUSED, LOSSES
from dltrain.nn.models import LogReg, Mlp, Perceptron

H = 1e-6  # central-difference step: truncation ~H^2, round-off ~1e-16/H, both far below 1e-6
TOL = 1e-6
KINK_GAP = 1e-4  # no pre-activation of a kinked activation closer than this to 0
N, D = 6, 4  # samples, features


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """|a - n| / max(|a| + |n|, tiny) with Euclidean norms over the whole array."""
    diff = np.linalg.norm(analytic - numeric)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(diff / max(scale, np.finfo(np.float64).tiny))


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


def away_from_kink(z: np.ndarray) -> np.ndarray:
    """z with every entry at least 10 * KINK_GAP from 0 (sign kept)."""
    return np.where(z >= 0, 1.0, -1.0) * np.maximum(np.abs(z), 10 * KINK_GAP)


# --- activations -------------------------------------------------------------------------

SMOOTH_OR_KINKED = [name for name in ACTIVATIONS if name != "step"]


def test_every_activation_is_checked():
    # A new activation must be added to the gradient checks (or to the step-like case).
    assert set(SMOOTH_OR_KINKED) | {"step"} == set(ACTIVATIONS)
    assert set(SMOOTH_OR_KINKED) == {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"}


@pytest.mark.parametrize("name", SMOOTH_OR_KINKED)
def test_activation_backward_matches_central_difference(name):
    rng = np.random.default_rng(0)
    z = away_from_kink(rng.normal(0.0, 2.0, (N, 3)))
    upstream = rng.normal(size=z.shape)  # L = sum(upstream * f(z)), so dL/da = upstream
    act = ACTIVATIONS[name]

    analytic = act.backward(z, act.forward(z), upstream)
    numeric = numeric_grad(lambda: float(np.sum(upstream * act.forward(z))), z)

    assert analytic.shape == z.shape
    assert np.linalg.norm(numeric) > 1e-3  # the check is not comparing two zeros
    assert rel_error(analytic, numeric) < TOL


def test_leaky_relu_slope_on_negative_inputs_is_not_zero():
    # Distinguishes leaky_relu from relu: negative inputs still pass a small gradient.
    z = np.array([[-2.0, 3.0]])
    grad = ACTIVATIONS["leaky_relu"].backward(z, ACTIVATIONS["leaky_relu"].forward(z), np.ones_like(z))
    assert grad[0, 0] > 0 and grad[0, 0] < 0.1
    assert grad[0, 1] == 1.0


def test_step_backward_is_zero():
    z = np.array([[-1.5, -0.2, 0.3, 2.0]])
    step = ACTIVATIONS["step"]
    a = step.forward(z)
    assert np.array_equal(a, [[0.0, 0.0, 1.0, 1.0]])
    upstream = np.array([[1.0, -2.0, 3.0, 4.0]])
    grad = step.backward(z, a, upstream)
    assert grad.shape == z.shape
    assert np.array_equal(grad, np.zeros_like(z))
    # ... which is what central differences see away from 0
    assert np.array_equal(numeric_grad(lambda: float(np.sum(upstream * step.forward(z))), z), np.zeros_like(z))


# --- losses ------------------------------------------------------------------------------


def loss_inputs(name: str, rng: np.random.Generator, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(predictions a, targets y), both (N, k), in the domain each loss expects."""
    if name == "bce":
        a = rng.uniform(0.1, 0.9, (N, k))
        return a, rng.integers(0, 2, (N, k)).astype(np.float64)
    if name == "cross_entropy":
        a = ACTIVATIONS["softmax"].forward(rng.normal(size=(N, k)))
        return a, np.eye(k)[rng.integers(0, k, N)]
    return rng.normal(size=(N, k)), rng.normal(size=(N, k))


def test_every_loss_is_checked():
    assert set(LOSSES) == {"bce", "cross_entropy", "mse", "sse"}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_grad_matches_central_difference(name):
    rng = np.random.default_rng(1)
    a, y = loss_inputs(name, rng)
    loss = LOSSES[name]

    analytic = loss.grad(a, y)
    numeric = numeric_grad(lambda: float(loss.value(a, y)), a)

    assert analytic.shape == a.shape
    assert rel_error(analytic, numeric) < TOL


@pytest.mark.parametrize(
    "name, expected",
    [
        # a = [[0.8], [0.4]], y = [[1], [0]]: -(log 0.8 + log 0.6) / 2
        ("bce", -(np.log(0.8) + np.log(0.6)) / 2),
        # mean over both entries: ((0.8-1)^2 + (0.4-0)^2) / 2 = (0.04 + 0.16) / 2
        ("mse", 0.1),
        # plain sum: 0.04 + 0.16
        ("sse", 0.2),
    ],
)
def test_loss_value_by_hand(name, expected):
    a, y = np.array([[0.8], [0.4]]), np.array([[1.0], [0.0]])
    assert LOSSES[name].value(a, y) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_value_by_hand():
    # two samples, true-class probabilities 0.7 and 0.2: -(log 0.7 + log 0.2) / 2
    a = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert LOSSES["cross_entropy"].value(a, y) == pytest.approx(-(np.log(0.7) + np.log(0.2)) / 2, rel=1e-12)


# --- fused output pairs ------------------------------------------------------------------

GRADIENT_PAIRS = [pair for pair in FUSED if pair != ("step", "perceptron")]


def test_fused_pairs_are_the_two_stable_ones():
    assert set(GRADIENT_PAIRS) == {("sigmoid", "bce"), ("softmax", "cross_entropy")}


def fused_inputs(pair, rng) -> tuple[np.ndarray, np.ndarray]:
    """Logits z (N, k) and 0/1 (bce) or one-hot (cross_entropy) targets."""
    z = rng.normal(0.0, 2.0, (N, 3))
    if pair[1] == "bce":
        return z, rng.integers(0, 2, z.shape).astype(np.float64)
    return z, np.eye(3)[rng.integers(0, 3, N)]


@pytest.mark.parametrize("pair", GRADIENT_PAIRS, ids="+".join)
def test_fused_grad_matches_central_difference_of_fused_value(pair):
    rng = np.random.default_rng(2)
    z, y = fused_inputs(pair, rng)
    act, fused = ACTIVATIONS[pair[0]], FUSED[pair]

    analytic = fused.grad(z, act.forward(z), y)
    numeric = numeric_grad(lambda: float(fused.value(z, y)), z)

    assert rel_error(analytic, numeric) < TOL


@pytest.mark.parametrize("pair", GRADIENT_PAIRS, ids="+".join)
def test_fused_equals_unfused_chain(pair):
    rng = np.random.default_rng(3)
    z, y = fused_inputs(pair, rng)
    act, loss, fused = ACTIVATIONS[pair[0]], LOSSES[pair[1]], FUSED[pair]
    a = act.forward(z)

    assert fused.value(z, y) == pytest.approx(loss.value(a, y), rel=1e-12)
    chained = act.backward(z, a, loss.grad(a, y))
    assert rel_error(fused.grad(z, a, y), chained) < TOL


@pytest.mark.parametrize("pair", GRADIENT_PAIRS, ids="+".join)
def test_fused_value_is_finite_for_saturated_logits(pair):
    # The reason for fusing: log(sigmoid(-800)) underflows to log(0) when computed naively.
    z = np.array([[800.0, -800.0, 0.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    value = FUSED[pair].value(z, y)
    assert np.isfinite(value) and value > 100


# --- full models -------------------------------------------------------------------------


def targets(out_act: str, loss: str, n_out: int, rng) -> np.ndarray:
    """(N, n_out) targets a model with this output and loss is trained on."""
    if loss == "cross_entropy" or (out_act == "softmax" and loss == "bce"):
        return np.eye(n_out)[rng.integers(0, n_out, N)]
    if loss == "bce" or out_act == "sigmoid":
        return rng.integers(0, 2, (N, n_out)).astype(np.float64)
    return rng.normal(size=(N, n_out))


def pre_activations(net, X) -> list[np.ndarray]:
    zs, a = [], X
    for layer in net.layers:
        z, a = layer.forward(a)
        zs.append(z)
    return zs


KINKED = {"relu", "leaky_relu"}


def build_smooth(model, n_classes, n_targets, loss):
    """A float64 network and data (X, Y) whose kinked pre-activations stay KINK_GAP from 0.

    Tries seeds until no pre-activation of a relu/leaky_relu layer is within KINK_GAP
    of 0, where the central difference would straddle the kink.
    """
    for seed in range(100):
        rng = np.random.default_rng(seed)
        net = model.build(D, n_classes, n_targets, loss, rng, np.float64)
        X = rng.normal(size=(N, D))
        zs = pre_activations(net, X)
        if all(np.abs(z).min() > KINK_GAP for z, layer in zip(zs, net.layers) if layer.activation in KINKED):
            Y = targets(net.layers[-1].activation, net.loss, net.layers[-1].W.shape[1], rng)
            return net, X, Y
    raise AssertionError("no seed keeps the pre-activations away from the kink")


INIT = dict(init=Normal(std=0.7), bias_init=Normal(std=0.3))  # nonzero biases: their gradients count

# (id, model config, n_classes, n_targets, loss)
MODEL_CASES = [
    ("logreg-binary", LogReg(**INIT), 2, 1, "auto"),
    ("logreg-3class", LogReg(**INIT), 3, 1, "auto"),
    ("perceptron-sigmoid-bce", Perceptron(rule="gradient", activation="sigmoid", **INIT), 2, 1, "bce"),
    ("perceptron-relu-sse-nobias", Perceptron(rule="gradient", activation="relu", bias=False, **INIT), 2, 1, "sse"),
    ("perceptron-relu-sse", Perceptron(rule="gradient", activation="relu", **INIT), 2, 1, "sse"),
    ("perceptron-tanh-mse", Perceptron(rule="gradient", activation="tanh", **INIT), 2, 1, "mse"),
    (
        "perceptron-identity-mse-nobias",
        Perceptron(rule="gradient", activation="identity", bias=False, **INIT),
        2,
        1,
        "mse",
    ),
    ("perceptron-leaky_relu-sse", Perceptron(rule="gradient", activation="leaky_relu", **INIT), 2, 1, "sse"),
    *[
        (f"mlp-{act}-softmax-ce", Mlp(hidden=[5], activation=act, **INIT), 3, 1, "auto")
        for act in ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
    ],
    ("mlp-5x4-relu-sigmoid-bce", Mlp(hidden=[5, 4], activation="relu", **INIT), 2, 1, "auto"),
    ("mlp-5x4-tanh-identity-mse", Mlp(hidden=[5, 4], activation="tanh", **INIT), None, 2, "auto"),
    ("mlp-5x4-leaky_relu-identity-sse", Mlp(hidden=[5, 4], activation="leaky_relu", **INIT), None, 2, "sse"),
    (
        "mlp-4-sigmoid-sigmoid-sse",
        Mlp(hidden=[4], activation="sigmoid", output_activation="sigmoid", **INIT),
        None,
        1,
        "sse",
    ),
    (
        "mlp-4-sigmoid-sigmoid-mse",
        Mlp(hidden=[4], activation="sigmoid", output_activation="sigmoid", **INIT),
        2,
        1,
        "mse",
    ),
    ("mlp-4-relu-softmax-mse", Mlp(hidden=[4], activation="relu", output_activation="softmax", **INIT), 3, 1, "mse"),
    (
        "mlp-4-tanh-sigmoid-bce-multi",
        Mlp(hidden=[4], activation="tanh", output_activation="sigmoid", **INIT),
        None,
        3,
        "bce",
    ),
    ("mlp-3x4x3-relu-softmax-ce", Mlp(hidden=[3, 4, 3], activation="relu", **INIT), 4, 1, "auto"),
]


@pytest.mark.parametrize(
    "model, n_classes, n_targets, loss", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_model_gradients_match_central_difference(model, n_classes, n_targets, loss):
    net, X, Y = build_smooth(model, n_classes, n_targets, loss)
    assert all(p.dtype == np.float64 for p in net.params)

    loss_at_start, out = net.loss_and_grads(X, Y)
    analytic = [g.copy() for g in net.grads]
    assert loss_at_start == pytest.approx(net.loss_value(X, Y)[0], rel=1e-12)
    assert np.array_equal(out, net.predict(X))

    for i, (param, grad) in enumerate(zip(net.params, analytic)):
        numeric = numeric_grad(lambda: net.loss_value(X, Y)[0], param)
        assert grad.shape == param.shape
        assert rel_error(grad, numeric) < TOL, f"parameter {i} of {net}"


def test_models_cover_every_hidden_activation_and_loss():
    hidden = {c[1].activation for c in MODEL_CASES if isinstance(c[1], Mlp)}
    assert hidden >= {"identity", "sigmoid", "tanh", "relu", "leaky_relu"}
    losses = {c[4] for c in MODEL_CASES} - {"auto"}
    assert losses == set(LOSSES) - {"cross_entropy"}  # cross_entropy comes from "auto" with softmax


def test_gradients_do_not_accumulate_across_calls():
    # loss_and_grads overwrites net.grads; a second call on the same batch gives the same numbers.
    net, X, Y = build_smooth(Mlp(hidden=[5], activation="tanh", **INIT), 3, 1, "auto")
    net.loss_and_grads(X, Y)
    first = [g.copy() for g in net.grads]
    net.loss_and_grads(X, Y)
    assert all(np.array_equal(a, b) for a, b in zip(first, net.grads))


def test_float32_network_gradients_match_float64():
    # Same weights and data in both precisions: catches a float32 path that silently
    # promotes, truncates or takes another branch. Agreement is to float32 precision.
    net64, X, Y = build_smooth(Mlp(hidden=[5], activation="tanh", **INIT), 3, 1, "auto")
    net64.loss_and_grads(X, Y)
    net32 = Mlp(hidden=[5], activation="tanh", **INIT).build(D, 3, 1, "auto", np.random.default_rng(0), np.float32)
    for p32, p64 in zip(net32.params, net64.params):
        p32[...] = p64
    loss32, out32 = net32.loss_and_grads(X.astype(np.float32), Y.astype(np.float32))
    assert out32.dtype == np.float32
    assert all(g.dtype == np.float32 for g in net32.grads)
    for g32, g64 in zip(net32.grads, net64.grads):
        assert rel_error(g32.astype(np.float64), g64) < 1e-5


def test_leaky_relus_slope_at_exactly_zero_is_the_negative_one_as_in_pytorch():
    """z = 0 (and -0.0) takes the slope of z < 0, relu's 0 and leaky_relu's `negative_slope`."""
    from dltrain.nn.activations import activation

    z = np.array([[0.0, -0.0, -2.0, 3.0]])
    leaky = ACTIVATIONS["leaky_relu"]
    assert leaky.backward(z, leaky.forward(z), np.ones_like(z)).tolist() == [[0.01, 0.01, 0.01, 1.0]]
    steep = activation("leaky_relu", 0.2)
    assert steep.backward(z, steep.forward(z), np.full_like(z, 2.0)).tolist() == [[0.4, 0.4, 0.4, 2.0]]
    relu = ACTIVATIONS["relu"]
    assert relu.backward(z, relu.forward(z), np.ones_like(z)).tolist() == [[0.0, 0.0, 0.0, 1.0]]
