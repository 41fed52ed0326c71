"""`dltrain gradcheck`: every bundled config's backward pass agrees with central differences,
and a broken derivative is caught (exit 1) in the layer it breaks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import real_data_dir

from dltrain.config.bundled import bundled_names
from dltrain.nn.activations import ACTIVATIONS, Activation
from dltrain.nn.gradcheck import THRESHOLD, NetworkCheck, check_network
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
    assert all(c.passed for c in check_network(net, X, Y).layers)
    original = net.loss_and_grads

    def off_by_one_entry(x, y):
        result = original(x, y)
        net.grads[1][2] += 0.5  # b0[2]
        return result

    net.loss_and_grads = off_by_one_entry
    first, second = check_network(net, X, Y).layers
    assert not first.passed and first.worst == "b[2]"
    assert second.passed


OR_GATE_MLP = ["--set", "dataset={name: or_gate}", "--set", "model={type: mlp, hidden: [32], activation: relu}"]


def test_rows_at_a_relu_kink_are_left_out_and_every_entry_is_checked_on_the_others(cli):
    """The OR gate's input (0, 0) meets the zero biases at exactly 0: a step of +-h in a hidden
    bias crosses ReLU's kink there, where the central difference measures half the slope
    (relative error 0.11, a false FAIL). That row is left out; all 96 entries are compared on the others."""
    result = cli("gradcheck", "quickstart", *OR_GATE_MLP, "--json")
    assert result.exit_code == 0, result.json
    doc = result.json
    assert doc["rows"] == 4 and len(doc["kink_rows"]) == 1
    hidden = doc["layers"][0]
    assert hidden["checked"] == 96 and hidden["passed"] and hidden["error"] < 1e-8
    table = cli("gradcheck", "quickstart", *OR_GATE_MLP)
    assert "3 of 4 rows (1 left out: a step moved a ReLU input across 0)" in table.stdout


@pytest.mark.parametrize("broken", ["relu derivative", "hidden bias gradient"])
def test_a_wrong_gradient_still_fails_beside_a_kink(cli, monkeypatch, broken):
    """Leaving out the row at the kink hides no wrong derivative, not even one of the biases,
    every one of which that row puts at the kink."""
    if broken == "relu derivative":
        relu = ACTIVATIONS["relu"]
        monkeypatch.setitem(ACTIVATIONS, "relu", Activation(relu.forward, _halved_relu_derivative))
    else:
        original = Network.loss_and_grads

        def bias_ten_times(self, x, y):
            result = original(self, x, y)
            self.grads[1] *= 10  # b0
            return result

        monkeypatch.setattr(Network, "loss_and_grads", bias_ten_times)
    result = cli("gradcheck", "quickstart", *OR_GATE_MLP, "--json")
    assert (result.exit_code, failed_layers(result.json)) == (1, [("reference", 0)])
    assert broken == "relu derivative" or result.json["layers"][2]["worst"].startswith("b[")


def test_only_the_rows_a_step_moves_across_a_kink_are_left_out():
    """A ReLU input that is 0 at w and stays 0 at w +- h (its row's other inputs are 0) is no kink;
    one within h of 0, on either side, is."""
    W, b = np.array([[1.0], [-2.0]]), np.array([0.5])
    net = Network([Dense(W, b, "relu"), Dense(np.array([[1.5]]), np.zeros(1), "identity")], "mse")
    X, Y = np.array([[1.0, 0.25], [0.0, 0.0], [-1.0, 0.0]]), np.array([[1.0], [0.0], [2.0]])
    result = check_network(net, X, Y)  # z: 1.0, 0.5, -0.5: none near 0
    assert result.kink_rows == [] and all(c.passed for c in result.layers)
    for bias in (0.0, 5e-7, -5e-7):  # row 1's input is b: b's step moves it across 0, W's steps do not
        net.layers[0].b[0] = bias
        result = check_network(net, X, Y)
        assert result.kink_rows == [1] and [c.checked for c in result.layers] == [3, 2], bias
        assert all(c.passed for c in result.layers), bias
    net.layers[0].b[0] = 0.0
    assert check_network(net, X[1:2], Y[1:2]) == NetworkCheck([], [0])  # nothing left to compare


def test_a_relu_input_that_is_nan_fails_its_layer_instead_of_counting_as_a_kink():
    inf = np.inf  # z = inf - inf: NaN before and after every step
    net = Network(
        [Dense(np.array([[inf], [-inf]]), np.zeros(1), "relu"), Dense(np.ones((1, 1)), None, "identity")], "mse"
    )
    with np.errstate(invalid="ignore"):
        result = check_network(net, np.ones((2, 2)), np.ones((2, 1)))
    assert result.kink_rows == [] and not result.layers[0].passed


def test_a_batch_whose_every_row_sits_at_a_kink_has_nothing_to_check(cli):
    """All-zero inputs meet the zero biases at exactly 0: no row is left to compare on."""
    zeros = ["--set", "dataset={name: inline, X: [[0, 0], [0, 0]], y: [0, 1]}"]
    result = cli("gradcheck", "quickstart", *zeros, "--set", "model={type: mlp, hidden: [4]}", "--json")
    doc = result.json
    assert (result.exit_code, doc["status"], doc["kink_rows"], doc["layers"]) == (0, "not applicable", [0, 1], [])
    assert "give more --rows" in doc["reason"]


def test_a_gradient_vanishing_below_what_the_difference_quotients_resolve_passes(cli):
    """40 sigmoid layers: the first ones' gradients are about 1e-30, which no step of h moves the loss by
    (their quotients are 0); measured against the quotients' round-off, not against themselves."""
    deep = f"model.hidden=[{', '.join(['3'] * 40)}]"
    doc = cli("gradcheck", "mlp_tiny", "--set", deep, "--json", code=0).json
    first = doc["layers"][0]
    assert doc["status"] == "passed" and abs(first["analytic"]) < 1e-25 and first["numeric"] == 0.0


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


def test_one_row_is_enough_and_none_is_refused(cli):
    from dltrain.config.loader import resolve
    from dltrain.errors import ConfigError
    from dltrain.inspection.gradcheck import gradcheck

    result = cli("gradcheck", "perceptron_or", "--rows", "1", "--json", code=0)
    assert result.json["rows"] == 1 and result.json["status"] == "passed"
    with pytest.raises(ConfigError, match="--rows 0: at least one row is needed"):
        gradcheck(resolve("perceptron_or", []), rows=0)


def test_the_network_checked_starts_from_the_weights_training_starts_from(monkeypatch):
    from dltrain.config.loader import resolve
    from dltrain.inspection import gradcheck as inspection
    from dltrain.pipeline.experiment import Experiment

    checked = []

    def spy(network, X, Y, **options):
        checked.append(network.layers[0].W.copy())
        return check_network(network, X, Y, **options)

    monkeypatch.setattr(inspection, "check_network", spy)
    cfg = resolve("perceptron_or", [])  # three weights drawn from N(0, 1)
    assert inspection.gradcheck(cfg)["status"] == "passed"
    trained_from = Experiment(cfg).net.layers[0].W
    assert checked and all(np.allclose(W, trained_from) for W in checked)


def test_with_the_reference_engine_chosen_only_it_is_checked(cli, monkeypatch):
    monkeypatch.setenv("DLTRAIN_ENGINE", "reference")
    doc = cli("gradcheck", "perceptron_or", "--json", code=0).json
    assert doc["status"] == "passed" and [layer["engine"] for layer in doc["layers"]] == ["reference"]


def test_by_default_eight_rows_are_taken_and_a_large_array_is_checked_on_1000_entries():
    from dltrain.config.loader import resolve
    from dltrain.inspection.gradcheck import gradcheck

    report = gradcheck(resolve("quickstart", ["model={type: mlp, hidden: [16]}"]))  # digits: 64 -> 16 -> 10
    assert report["rows"] == 8 and report["status"] == "passed" and report["reason"] is None
    hidden = [layer for layer in report["layers"] if layer["layer"] == 0]
    assert [(layer["checked"], layer["total"]) for layer in hidden] == [(1000 + 16, 64 * 16 + 16)] * 2


def test_the_json_names_the_network_checked_and_why_a_perceptron_has_nothing_to_check(cli):
    doc = cli("gradcheck", "mlp_tiny", "--json", code=0).json
    assert doc["network"] == "Network(Dense(4->3, sigmoid), Dense(3->1, sigmoid); loss=sse)"
    doc = cli("gradcheck", "perceptron_rosenblatt", "--json", code=0).json
    assert doc["status"] == "not applicable" and doc["reason"].startswith("Rosenblatt's rule updates by the error")
    table = cli("gradcheck", "perceptron_rosenblatt", code=0)
    assert "nothing to check: Rosenblatt's rule" in table.stdout


def test_the_reference_twin_of_a_leaky_relu_network_keeps_its_configured_slope(monkeypatch):
    """Both engines check the same function: the reference engine's copy computes the fast network's outputs."""
    from dltrain.config.loader import resolve
    from dltrain.inspection import gradcheck as inspection

    outputs = []

    def spy(network, X, Y, **options):
        outputs.append(network.predict(X))
        return check_network(network, X, Y, **options)

    monkeypatch.setattr(inspection, "check_network", spy)
    model = "model={type: mlp, hidden: [8], activation: leaky_relu, negative_slope: 0.5}"
    report = inspection.gradcheck(resolve("quickstart", [model]))
    assert report["status"] == "passed" and len(outputs) == 2
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-12)
