"""Initializers draw what they promise; the model configs build the right layers; the
Rosenblatt rule updates w += lr (y - y_hat) x exactly."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from dltrain.config.loader import validate
from dltrain.data.split import Splits
from dltrain.nn.initializers import INITIALIZERS, Constant, He, Normal, Uniform, Xavier, Zeros, initialize
from dltrain.nn.models import LogReg, Mlp, Perceptron
from dltrain.nn.network import Dense, Network
from dltrain.nn.optimizers import GD
from dltrain.pipeline.experiment import Experiment


def draw(init, shape, seed=0, dtype=np.float64) -> np.ndarray:
    return initialize(init, np.random.default_rng(seed), shape, dtype)


# --- initializers --------------------------------------------------------------------------


def test_constant_and_zeros():
    assert np.array_equal(draw(Constant(value=0.25), (3, 2)), np.full((3, 2), 0.25))
    assert np.array_equal(draw(Constant(), (2,)), [0.01, 0.01])  # the logistic-regression tutorial's 0.01
    assert np.array_equal(draw(Zeros(), (4, 3)), np.zeros((4, 3)))


def test_normal_mean_and_std():
    x = draw(Normal(mean=2.0, std=0.3), (400, 500))  # 200k draws: the std of the estimate is ~0.05%
    assert x.shape == (400, 500)
    assert abs(x.mean() - 2.0) < 0.005
    assert abs(x.std() - 0.3) / 0.3 < 0.01


def test_uniform_bounds():
    x = draw(Uniform(low=-0.5, high=1.5), (200, 100))
    assert x.min() >= -0.5 and x.max() < 1.5
    # 20k draws come within 0.01 of both ends and centre on 0.5
    assert x.min() < -0.49 and x.max() > 1.49
    assert abs(x.mean() - 0.5) < 0.02


def test_xavier_limit():
    fan_in, fan_out = 30, 50
    limit = np.sqrt(6.0 / (30 + 50))  # 0.27386...
    x = draw(Xavier(), (fan_in, fan_out))
    assert np.abs(x).max() <= limit
    assert np.abs(x).max() > 0.98 * limit  # 1500 draws reach close to the edge
    assert abs(x.std() - limit / np.sqrt(3)) / (limit / np.sqrt(3)) < 0.05  # std of U(-r, r) is r / sqrt(3)


def test_he_std():
    x = draw(He(), (50, 4000))  # std sqrt(2 / fan_in) = sqrt(2 / 50) = 0.2
    assert abs(x.std() - 0.2) / 0.2 < 0.01
    assert abs(x.mean()) < 0.005


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_same_seed_same_arrays_and_float32_is_the_float64_cast(name):
    init = INITIALIZERS[name]()
    a, b = draw(init, (6, 5), seed=7), draw(init, (6, 5), seed=7)
    assert np.array_equal(a, b)
    single = draw(init, (6, 5), seed=7, dtype=np.float32)
    assert single.dtype == np.float32
    assert np.array_equal(single, a.astype(np.float32))
    if name in ("normal", "uniform", "xavier", "he"):
        assert not np.array_equal(a, draw(init, (6, 5), seed=8))


def test_bad_initializer_settings_are_rejected():
    with pytest.raises(ValidationError, match="low"):
        Uniform(low=1.0, high=1.0)
    with pytest.raises(ValidationError, match="std"):
        Normal(std=0.0)


# --- model building ------------------------------------------------------------------------


def build(model, n_in=5, n_classes=2, n_targets=1, loss="auto", seed=0):
    return model.build(n_in, n_classes, n_targets, loss, np.random.default_rng(seed), np.float64)


def shapes(net: Network) -> list[tuple]:
    return [p.shape for p in net.params]


def test_logreg_binary_is_one_sigmoid_unit_with_bce():
    net = build(LogReg())
    assert [layer.activation for layer in net.layers] == ["sigmoid"]
    assert shapes(net) == [(5, 1), (1,)]
    assert net.loss == "bce" and net.fused is not None


def test_logreg_multiclass_is_k_softmax_units_with_cross_entropy():
    net = build(LogReg(), n_classes=4)
    assert [layer.activation for layer in net.layers] == ["softmax"]
    assert shapes(net) == [(5, 4), (4,)]
    assert net.loss == "cross_entropy" and net.fused is not None


def test_logreg_needs_classes():
    with pytest.raises(ValueError, match="classifier"):
        build(LogReg(), n_classes=None)


def test_perceptron_rosenblatt_is_a_step_unit_with_the_perceptron_rule():
    net = build(Perceptron(), n_in=2)
    assert [layer.activation for layer in net.layers] == ["step"]
    assert net.loss == "perceptron"
    assert shapes(net) == [(2, 1), (1,)]


def test_perceptron_rosenblatt_rejects_other_activations_and_classes():
    with pytest.raises(ValidationError, match="rosenblatt"):
        Perceptron(rule="rosenblatt", activation="relu")
    with pytest.raises(ValueError, match="two classes"):
        build(Perceptron(), n_classes=3)


def test_perceptron_gradient_defaults_and_no_bias():
    net = build(Perceptron(rule="gradient"), n_in=3)
    assert [layer.activation for layer in net.layers] == ["sigmoid"] and net.loss == "bce"
    no_bias = build(Perceptron(rule="gradient", activation="relu", bias=False), n_in=3, loss="sse")
    assert no_bias.layers[0].b is None
    assert shapes(no_bias) == [(3, 1)]
    assert no_bias.loss == "sse" and no_bias.fused is None


def test_mlp_hidden_sizes_and_activations():
    net = build(Mlp(hidden=[7, 5], activation="tanh"), n_in=4, n_classes=3)
    assert shapes(net) == [(4, 7), (7,), (7, 5), (5,), (5, 3), (3,)]
    assert [layer.activation for layer in net.layers] == ["tanh", "tanh", "softmax"]
    assert net.loss == "cross_entropy"


def test_mlp_regression_and_two_class_softmax():
    reg = build(Mlp(hidden=[3]), n_in=4, n_classes=None, n_targets=2)
    assert [layer.activation for layer in reg.layers] == ["relu", "identity"]
    assert shapes(reg)[-2:] == [(3, 2), (2,)] and reg.loss == "mse"
    two = build(Mlp(hidden=[3], output_activation="softmax"), n_in=4, n_classes=2)
    assert shapes(two)[-2:] == [(3, 2), (2,)]  # softmax over two classes needs two units


def test_mlp_rejects_an_empty_hidden_list():
    with pytest.raises(ValidationError, match="hidden"):
        Mlp(hidden=[])


def test_explicit_loss_with_a_step_output_is_an_error():
    with pytest.raises(ValueError, match="step output"):
        build(Perceptron(), loss="sse")
    # ... and the perceptron rule needs a step output
    with pytest.raises(ValueError, match="step output"):
        build(LogReg(), loss="perceptron")


def test_same_seed_builds_the_same_network():
    a, b = build(Mlp(hidden=[4]), seed=3), build(Mlp(hidden=[4]), seed=3)
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params))
    c = build(Mlp(hidden=[4]), seed=4)
    assert not np.array_equal(a.params[0], c.params[0])


# --- the Rosenblatt rule -------------------------------------------------------------------


def rosenblatt(W, b) -> Network:
    """A step unit with W (2, 1) and b (1,), trained by the perceptron rule."""
    return Network([Dense(np.array(W, dtype=np.float64), np.array(b, dtype=np.float64), "step")], "perceptron")


@pytest.mark.parametrize(
    "x, y, lr, W_after, b_after",
    [
        # z = 1*0.5 + 2*(-0.5) + 0.1 = -0.4 -> y_hat 0, y 1: w += 1 * (1 - 0) * [1, 2], b += 1
        ([1.0, 2.0], 1.0, 1.0, [[1.5], [1.5]], [1.1]),
        # same sample, lr 0.5: w += 0.5 * [1, 2], b += 0.5
        ([1.0, 2.0], 1.0, 0.5, [[1.0], [0.5]], [0.6]),
        # z = 3*0.5 + 0*(-0.5) + 0.1 = 1.6 -> y_hat 1, y 0: w -= [3, 0], b -= 1
        ([3.0, 0.0], 0.0, 1.0, [[-2.5], [-0.5]], [-0.9]),
        # z = -0.4 -> y_hat 0 = y: nothing changes
        ([1.0, 2.0], 0.0, 1.0, [[0.5], [-0.5]], [0.1]),
    ],
    ids=["miss-positive", "miss-positive-lr0.5", "miss-negative", "hit"],
)
def test_rosenblatt_one_sample_step(x, y, lr, W_after, b_after):
    net = rosenblatt([[0.5], [-0.5]], [0.1])
    loss, out = net.loss_and_grads(np.array([x]), np.array([[y]]))
    assert loss == float(out[0, 0] != y)  # the reported loss is the fraction misclassified
    GD(lr=lr).build(net.params, net.decay_mask).step(net.grads)
    np.testing.assert_array_equal(net.layers[0].W, W_after)
    np.testing.assert_array_equal(net.layers[0].b, b_after)


def test_rosenblatt_batch_sums_the_per_sample_updates():
    # W = [0.5, -0.5], b = 0.1. Sample [1, 2], y 1: z = -0.4 -> 0, error +1.
    # Sample [3, 0], y 0: z = 1.6 -> 1, error -1. Summed: w += [1, 2] - [3, 0] = [-2, 2], b += 1 - 1
    net = rosenblatt([[0.5], [-0.5]], [0.1])
    loss, _ = net.loss_and_grads(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([[1.0], [0.0]]))
    assert loss == 1.0  # both misclassified
    GD(lr=1.0).build(net.params, net.decay_mask).step(net.grads)
    np.testing.assert_array_equal(net.layers[0].W, [[-1.5], [1.5]])
    np.testing.assert_array_equal(net.layers[0].b, [0.1])


def test_rosenblatt_on_the_or_gate_through_the_trainer():
    # Zeros init, lr 1, rows in table order, step(0) = 1. By hand:
    # epoch 1: (0,0) y0 z=0 -> 1, b=-1; (0,1) y1 z=-1 -> 0, w=(0,1), b=0; (1,0) z=0 ok; (1,1) z=1 ok
    # epoch 2: (0,0) z=0 -> 1, b=-1; (0,1) z=0 ok; (1,0) z=-1 -> 0, w=(1,1), b=0; (1,1) ok
    # epoch 3: (0,0) z=0 -> 1, b=-1; (0,1) z=0 ok; (1,0) z=0 ok; (1,1) z=1 ok
    # epoch 4: nothing misclassified: w=(1,1), b=-1 stays
    expected = [([0, 1], 0), ([1, 1], 0), ([1, 1], -1), ([1, 1], -1)]
    expected_errors = [2, 2, 1, 0]  # misclassified rows in each epoch, before each row's update

    cfg = validate(
        {
            "dataset": {"name": "or_gate"},
            "model": {"type": "perceptron", "rule": "rosenblatt", "init": {"name": "zeros"}},
            "training": {"optimizer": {"name": "gd", "lr": 1.0}, "epochs": 4, "batch_size": 1, "shuffle": False},
        }
    )
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    splits = Splits(train=(X, np.array([0, 1, 1, 1])), val=None, test=None, classes=[0, 1], sample_shape=None)
    exp = Experiment(cfg, splits=splits)
    seen = []
    exp.train(
        on_epoch=lambda r: seen.append(
            (exp.net.layers[0].W[:, 0].tolist(), float(exp.net.layers[0].b[0]), r.train_loss)
        )
    )

    assert [(w, b) for w, b, _ in seen] == expected
    assert [round(loss * 4) for _, _, loss in seen] == expected_errors


def test_xavier_draws_a_bias_from_its_one_dimension():
    """bias_init: {name: xavier} draws shape (fan_out,): fan_in and fan_out are both that length, limit 1."""
    drawn = initialize(Xavier(), np.random.default_rng(0), (3,), np.float64)
    assert drawn == pytest.approx([0.27392337, -0.46042657, -0.91805295])


def test_a_network_fuses_its_last_layers_activation_with_the_loss():
    """relu then softmax with cross_entropy: the pair of the last layer is fused, so logits 40 apart
    give the exact loss 80 and gradient 1 (the unfused probabilities clip at eps: 36.04 and ~1e-17)."""
    from dltrain.nn.losses import FUSED

    net = Network(
        [
            Dense(np.array([[1.0, -1.0]]), np.zeros(2), "relu"),
            Dense(np.array([[40.0, -40.0], [0.0, 0.0]]), np.zeros(2), "softmax"),
        ],
        "cross_entropy",
    )
    assert net.fused is FUSED[("softmax", "cross_entropy")]
    loss, _ = net.loss_and_grads(np.array([[1.0]]), np.array([[0.0, 1.0]]))
    assert loss == 80.0
    assert [g.tolist() for g in net.grads] == [[[80.0, 0.0]], [80.0, 0.0], [[1.0, -1.0], [0.0, 0.0]], [1.0, -1.0]]


def test_a_loss_the_output_cannot_train_is_refused_by_name():
    with pytest.raises(ValueError, match="loss 'perceptron' cannot train a relu output"):
        Network([Dense(np.ones((2, 1)), None, "relu")], "perceptron")


def test_all_finite_is_false_when_any_entry_of_any_array_is_not():
    for bad in (np.nan, np.inf, -np.inf):
        net = Network([Dense(np.array([[bad], [1.0]]), np.zeros(1), "identity")], "sse")
        assert not net.all_finite()
    assert Network([Dense(np.ones((2, 1)), np.zeros(1), "identity")], "sse").all_finite()
