"""`dltrain gradcheck`: every bundled config's backward pass agrees with central differences,
and a broken derivative is caught (exit 1) in the layer it breaks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import real_data_dir

from dltrain.config.bundled import bundled_names
from dltrain.nn.activations import ACTIVATIONS, Activation
from dltrain.nn.gradcheck import THRESHOLD, check_network
from dltrain.nn.network import Dense, Network

REAL_DATA = {"logreg", "logreg_mnist", "mlp_mnist", "sign_digits_mlp"}


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_config_passes(cli, name):
    if name in REAL_DATA and real_data_dir() is None:
        pytest.skip("real data directory (DLTRAIN_DATA_DIR or ../shared/data) not found")
    # --entries 200: big layers are sampled; every layer is still checked (about 1 s for mlp_mnist)
    result = cli("gradcheck", name, "--entries", "200", "--json")
    code, doc = result.exit_code, result.json
    if name == "perceptron_rosenblatt":  # the error-driven rule differentiates nothing
        assert (code, doc["status"], doc["layers"]) == (0, "not applicable", [])
        return
    assert code == 0, doc
    assert doc["status"] == "passed"
    assert doc["layers"] and all(layer["passed"] and layer["error"] < THRESHOLD for layer in doc["layers"])
    assert all(0 < layer["checked"] <= min(layer["total"], 400) for layer in doc["layers"])  # W and b: 200 each
    assert max(layer["error"] for layer in doc["layers"]) < 1e-7  # observed at most 7.3e-09 (mlp_mnist)


def _halved_relu_derivative(z, a, g, out=None):
    return np.multiply(g, (z > 0) * 0.5, out=out)  # the slope 1 written as 0.5


def failed_layers(doc: dict) -> list[tuple[str, int]]:
    return [(layer["engine"], layer["layer"]) for layer in doc["layers"] if not layer["passed"]]


def test_a_broken_activation_derivative_fails_in_its_layer(cli, monkeypatch):
    """The textbook relu' (dltrain/nn/activations.py) broken: the reference engine's hidden layer fails."""
    relu = ACTIVATIONS["relu"]
    monkeypatch.setitem(ACTIVATIONS, "relu", Activation(relu.forward, _halved_relu_derivative))
    result = cli("gradcheck", "quickstart", "--json")  # 64 -> 64 relu -> 10 softmax
    code, doc = result.exit_code, result.json
    assert code == 1
    assert doc["status"] == "failed"
    assert failed_layers(doc) == [("reference", 0)]  # the output layer's gradient does not pass through relu'
    assert max(layer["error"] for layer in doc["layers"]) > 0.1
    table = cli("gradcheck", "quickstart")
    assert table.exit_code == 1
    assert "FAIL" in table.stdout and "FAILED" in table.stdout


def test_a_broken_fast_kernel_fails_in_the_fast_engine(cli, monkeypatch):
    from dltrain.nn.fast import kernels

    forward, _ = kernels.ACTIVATION_KERNELS["relu"]
    monkeypatch.setitem(kernels.ACTIVATION_KERNELS, "relu", (forward, _halved_relu_derivative))
    result = cli("gradcheck", "quickstart", "--json")
    code, doc = result.exit_code, result.json
    assert (code, failed_layers(doc)) == (1, [("fast", 0)])


def test_the_table_names_each_layer_and_the_threshold(cli):
    result = cli("gradcheck", "mlp_tiny", "--rows", "2")
    assert result.exit_code == 0, result.output
    assert "Dense(4->3, sigmoid)" in result.stdout and "Dense(3->1, sigmoid)" in result.stdout
    assert "2 rows, float64" in result.stdout and "1e-06" in result.stdout


def test_check_network_points_at_the_wrong_entry():
    """A network whose bias gradient is off in one entry: that entry is the worst one."""
    rng = np.random.default_rng(0)
    net = Network(
        [
            Dense(rng.normal(size=(3, 4)), rng.normal(size=4), "tanh"),
            Dense(rng.normal(size=(4, 2)), np.zeros(2), "identity"),
        ],
        "mse",
    )
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    assert all(c.passed for c in check_network(net, X, Y))
    original = net.loss_and_grads

    def off_by_one_entry(x, y):
        result = original(x, y)
        net.grads[1][2] += 0.5  # b0[2]
        return result

    net.loss_and_grads = off_by_one_entry
    first, second = check_network(net, X, Y)
    assert not first.passed and first.worst == "b[2]"
    assert second.passed


def test_gradcheck_refuses_float32_networks():
    net = Network([Dense(np.zeros((2, 1), np.float32), np.zeros(1, np.float32), "sigmoid")], "bce")
    with pytest.raises(ValueError, match="float64"):
        check_network(net, np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32))


def test_gradcheck_config_errors_exit_2(cli):
    result = cli("gradcheck", "quickstart", "--set", "model.activation=swish")
    assert result.exit_code == 2
    assert "model.activation" in result.stderr


def test_weights_that_overflow_fail_without_numpys_warnings(cli):
    """Weights of 1e200: the losses overflow; NumPy's RuntimeWarnings, with their source lines, came before the table."""
    result = cli(
        "gradcheck", "perceptron_or", "--set", "model.init={name: normal, std: 1.0e+200}", process=True, code=1
    )
    assert "FAIL" in result.stdout and "Warning" not in result.stderr and "FAILED" in result.output
