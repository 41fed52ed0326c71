"""One and two optimizer steps against numbers worked out by hand, weight decay on
weights only, and the state()/load_state() round trip.

Every case starts from w = [1.0, -2.0] with first gradient g1 = [0.5, 0.25] and
second gradient g2 = [-1.0, 0.5], lr = 0.1.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltrain.nn.fast.network import FastNetwork
from dltrain.nn.models import Mlp, Perceptron
from dltrain.nn.network import Dense, Network
from dltrain.nn.optimizers import GD, Adam

G1 = np.array([0.5, 0.25])
G2 = np.array([-1.0, 0.5])


def two_steps(cfg, decay_mask=None) -> tuple[np.ndarray, np.ndarray]:
    """w after the first and after the second step, starting from [1, -2]."""
    w = np.array([1.0, -2.0])
    stepper = cfg.build([w], decay_mask)
    stepper.step([G1])
    after_one = w.copy()
    stepper.step([G2])
    return after_one, w


# (id, optimizer, w after step 1, w after step 2)
CASES = [
    (
        "gd",
        GD(lr=0.1),
        # w - lr g1 = [1 - 0.05, -2 - 0.025]
        [0.95, -2.025],
        # [0.95 + 0.1, -2.025 - 0.05]
        [1.05, -2.075],
    ),
    (
        "sgd-momentum",
        GD(name="sgd", lr=0.1, momentum=0.9),
        # v1 = g1 = [0.5, 0.25]; w = [1, -2] - 0.1 v1
        [0.95, -2.025],
        # v2 = 0.9 v1 + g2 = [0.45 - 1.0, 0.225 + 0.5] = [-0.55, 0.725]; w = [0.95 + 0.055, -2.025 - 0.0725]
        [1.005, -2.0975],
    ),
    (
        "sgd-nesterov",
        GD(name="sgd", lr=0.1, momentum=0.9, nesterov=True),
        # v1 = g1; step g1 + 0.9 v1 = [0.95, 0.475]; w = [1 - 0.095, -2 - 0.0475]
        [0.905, -2.0475],
        # v2 = [-0.55, 0.725]; step g2 + 0.9 v2 = [-1.0 - 0.495, 0.5 + 0.6525] = [-1.495, 1.1525]
        # w = [0.905 + 0.1495, -2.0475 - 0.11525]
        [1.0545, -2.16275],
    ),
    (
        "adam",
        Adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8),
        # Kingma & Ba, Algorithm 1, t = 1: m = 0.1 g1 = [0.05, 0.025], v = 0.001 g1^2 = [2.5e-4, 6.25e-5]
        # m_hat = m / (1 - 0.9) = g1, v_hat = v / (1 - 0.999) = g1^2
        # w -= 0.1 m_hat / (sqrt(v_hat) + 1e-8) = 0.1 g1 / (|g1| + 1e-8):
        #   1 - 0.1 * 0.5 / 0.50000001 = 0.9000000019999999600..., -2 - 0.1 * 0.25 / 0.25000001 = -2.0999999960000001599...
        [0.90000000199999996, -2.0999999960000001599],
        # t = 2: m = 0.9 m + 0.1 g2 = [-0.055, 0.0725]; v = 0.999 v + 0.001 g2^2 = [0.00124975, 0.0003124375]
        # m_hat = m / (1 - 0.81) = [-0.28947368..., 0.38157894...]
        # v_hat = v / (1 - 0.998001) = [0.62518759..., 0.15629752...]; sqrt = [0.79068805..., 0.39534481...]
        # w -= 0.1 m_hat / (sqrt(v_hat) + 1e-8) = [+0.03661035..., -0.09651820...]
        # (40-digit decimal arithmetic: 0.93661035424056560281..., -2.19651819614080520394...)
        [0.93661035424056560281, -2.19651819614080520394],
    ),
]


@pytest.mark.parametrize("cfg, after_one, after_two", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_two_steps_by_hand(cfg, after_one, after_two):
    w1, w2 = two_steps(cfg)
    # Adam is written in the paper's "efficient" form (bias corrections folded into the
    # step size and epsilon), which equals Algorithm 1 up to rounding.
    np.testing.assert_allclose(w1, after_one, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w2, after_two, rtol=0, atol=1e-12)


def test_nesterov_differs_from_plain_momentum():
    # Guards the two momentum cases against both silently taking the same path.
    plain = two_steps(GD(lr=0.1, momentum=0.9))[1]
    nesterov = two_steps(GD(lr=0.1, momentum=0.9, nesterov=True))[1]
    assert not np.allclose(plain, nesterov)


def test_float32_parameters_stay_float32():
    for cfg in (GD(lr=0.1, momentum=0.9), Adam(lr=0.1)):
        w = np.array([1.0, -2.0], dtype=np.float32)
        cfg.build([w]).step([G1.astype(np.float32)])
        assert w.dtype == np.float32
        np.testing.assert_allclose(w, two_steps(cfg)[0], rtol=1e-6)


# --- L2 weight decay: weights only ---------------------------------------------------------


def weight_and_bias() -> Network:
    """One dense unit: W (2, 1) = [[1], [-2]], b (1,) = [-3]."""
    return Network([Dense(np.array([[1.0], [-2.0]]), np.array([-3.0]), "identity")], "mse")


def test_decay_mask_marks_weights_not_biases():
    assert weight_and_bias().decay_mask == [True, False]
    rng = np.random.default_rng(0)
    mlp = Mlp(hidden=[3, 2]).build(4, 3, 1, "auto", rng, np.float64)
    assert mlp.decay_mask == [True, False, True, False, True, False]
    no_bias = Perceptron(rule="gradient", bias=False).build(3, 2, 1, "auto", rng, np.float64)
    assert no_bias.decay_mask == [True]


def test_gd_weight_decay_applies_to_weights_only():
    net = weight_and_bias()
    GD(lr=0.1, weight_decay=0.5).build(net.params, net.decay_mask).step([np.array([[0.5], [0.25]]), np.array([0.5])])
    W, b = net.params
    # W: g + 0.5 W = [0.5 + 0.5, 0.25 - 1.0] = [1.0, -0.75]; W - 0.1 * that = [0.9, -1.925]
    np.testing.assert_allclose(W, [[0.9], [-1.925]], rtol=0, atol=1e-15)
    # b: no decay, -3 - 0.1 * 0.5 (with decay it would be -3 - 0.1 * (0.5 - 1.5) = -2.9)
    np.testing.assert_allclose(b, [-3.05], rtol=0, atol=1e-15)


def test_adam_weight_decay_applies_to_weights_only():
    net = weight_and_bias()
    Adam(lr=0.1, weight_decay=0.5).build(net.params, net.decay_mask).step([np.array([[0.5], [0.25]]), np.array([0.5])])
    W, b = net.params
    # W: decayed gradient [1.0, -0.75]; Adam's first step moves by 0.1 g / (|g| + 1e-8):
    #   1 - 0.1 / 1.00000001 = 0.90000000099999999, -2 + 0.1 * 0.75 / 0.75000001 = -1.90000000133333331
    # (the second entry moves up only because of decay: its raw gradient 0.25 is positive)
    np.testing.assert_allclose(W, [[0.90000000099999999], [-1.90000000133333331]], rtol=0, atol=1e-12)
    # b: raw gradient 0.5, -3 - 0.1 * 0.5 / 0.50000001 (decayed it would be -1.0 and b would go up)
    np.testing.assert_allclose(b, [-3.09999999800000004], rtol=0, atol=1e-12)


# --- state round trip ----------------------------------------------------------------------

STATEFUL = [
    ("gd", GD(lr=0.05)),
    ("momentum", GD(lr=0.05, momentum=0.9)),
    ("nesterov", GD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("adam", Adam(lr=0.05, weight_decay=0.01)),
]


@pytest.mark.parametrize("cfg", [c[1] for c in STATEFUL], ids=[c[0] for c in STATEFUL])
def test_restored_optimizer_continues_exactly(cfg):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    grads = [[rng.normal(size=p.shape) for p in params] for _ in range(6)]
    mask = [True, False]

    original = cfg.build(params, mask)
    for g in grads[:2]:
        original.step(g)
    saved_state = original.state()
    saved_params = [p.copy() for p in params]

    # The original goes on; the saved state must not change under it.
    for g in grads[2:]:
        original.step(g)

    restored_params = [p.copy() for p in saved_params]
    restored = cfg.build(restored_params, mask)
    restored.load_state(saved_state)
    for g in grads[2:]:
        restored.step(g)

    assert all(np.array_equal(a, b) for a, b in zip(params, restored_params))
    assert not np.array_equal(params[0], saved_params[0])  # the steps did move the weights


def test_adam_state_holds_step_count_and_moments():
    w = np.array([1.0, -2.0])
    stepper = Adam(lr=0.1).build([w])
    stepper.step([G1])
    state = stepper.state()
    assert int(state["t"]) == 1
    np.testing.assert_allclose(state["m_0"], [0.05, 0.025])  # 0.1 g1
    np.testing.assert_allclose(state["v_0"], [2.5e-4, 6.25e-5])  # 0.001 g1^2


@pytest.mark.parametrize("cfg", [GD(lr=0.1), Adam(lr=0.1)], ids=["gd", "adam"])
def test_network_parameter_vector_steps_like_separate_arrays(cfg):
    """A network's W and b are views of one vector, which plain GD and Adam update whole:
    the same bits as stepping separate arrays one by one."""
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    net = FastNetwork([Dense(W.copy(), b.copy(), "identity")], "mse")
    assert all(p.base is net.flat_params for p in net.params)
    separate = [W.copy(), b.copy()]
    on_net, on_arrays = cfg.build(net.params), cfg.build(separate)
    for _ in range(3):
        g = [rng.standard_normal(W.shape), rng.standard_normal(b.shape)]
        for view, value in zip(net.grads, g):
            view[...] = value
        on_net.step(net.grads)
        on_arrays.step(g)
    for p, q in zip(net.params, separate):
        assert np.array_equal(p, q)
    assert np.array_equal(net.flat_params, np.concatenate([q.ravel() for q in separate]))
