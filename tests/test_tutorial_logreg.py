"""configs/logreg.yaml reproduces the from-scratch logistic-regression tutorial.

The reference below transcribes the tutorial's procedure line by line (its data
slicing, split, initialisation, forward/backward pass, update loop and accuracy
formula), independently of dltrain, and the test asserts that dltrain's cost history
and accuracies equal it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, real_data_dir

DATA = real_data_dir()
pytestmark = pytest.mark.skipif(
    DATA is None or not (DATA / "sign_digits" / "X.npy").is_file(),
    reason="sign_digits/X.npy and Y.npy not found in DLTRAIN_DATA_DIR or ../shared/data",
)


def tutorial(data_dir: Path) -> dict:
    """The tutorial's steps, in its own shapes: features are rows, samples columns."""
    from sklearn.model_selection import train_test_split

    x_l = np.load(data_dir / "sign_digits" / "X.npy")
    X = np.concatenate((x_l[204:409], x_l[822:1027]), axis=0)
    z = np.zeros(205)
    o = np.ones(205)
    Y = np.concatenate((z, o), axis=0).reshape(X.shape[0], 1)
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=0.15, random_state=42)
    x_train = X_train.reshape(X_train.shape[0], X_train.shape[1] * X_train.shape[2]).T
    x_test = X_test.reshape(X_test.shape[0], X_test.shape[1] * X_test.shape[2]).T
    y_train, y_test = Y_train.T, Y_test.T

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def forward_backward(w, b, x, y):
        y_head = sigmoid(np.dot(w.T, x) + b)
        loss = -y * np.log(y_head) - (1 - y) * np.log(1 - y_head)
        cost = np.sum(loss) / x.shape[1]
        derivative_weight = np.dot(x, (y_head - y).T) / x.shape[1]
        derivative_bias = np.sum(y_head - y) / x.shape[1]
        return cost, derivative_weight, derivative_bias

    def predict(w, b, x):
        z = sigmoid(np.dot(w.T, x) + b)
        prediction = np.zeros((1, x.shape[1]))
        for i in range(z.shape[1]):
            prediction[0, i] = 0 if z[0, i] <= 0.5 else 1
        return prediction

    w, b = np.full((x_train.shape[0], 1), 0.01), 0.0
    costs, every_tenth = [], []
    for i in range(150):
        cost, dw, db = forward_backward(w, b, x_train, y_train)
        costs.append(cost)
        w = w - 0.01 * dw
        b = b - 0.01 * db
        if i % 10 == 0:
            every_tenth.append(cost)
    return {
        "costs": costs,
        "every_tenth": every_tenth,
        "train_accuracy": 100 - np.mean(np.abs(predict(w, b, x_train) - y_train)) * 100,
        "test_accuracy": 100 - np.mean(np.abs(predict(w, b, x_test) - y_test)) * 100,
        "w": w,
        "b": b,
    }


def test_logreg_config_reproduces_the_tutorial(cli, runs_dir):
    ref = tutorial(DATA)
    result = cli("run", CONFIGS / "logreg.yaml", "--data-dir", DATA, "--runs-dir", runs_dir, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)

    # The log prints epoch 1, every 10th from it, and the last: the tutorial's printed costs
    # (iterations 0, 10, ..., 140), as it prints them, then epoch 150.
    logged = [line.split() for line in result.stderr.splitlines() if line.startswith("epoch")]
    assert [int(words[1].split("/")[0]) for words in logged] == [*range(1, 142, 10), 150]
    assert [f"{float(words[3]):.4f}" for words in logged[:15]] == [f"{c:.4f}" for c in ref["every_tenth"]]
    run = Path(doc["run"])
    rows = list(csv.DictReader((run / "history.csv").open()))
    losses = np.array([float(r["train_loss"]) for r in rows])

    assert len(losses) == 150
    np.testing.assert_allclose(losses, ref["costs"], rtol=0, atol=1e-10)
    # the tutorial keeps the cost of iterations 0, 10, ..., 140: epochs 1, 11, ..., 141 here
    np.testing.assert_allclose(losses[::10], ref["every_tenth"], rtol=0, atol=1e-10)

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["accuracy"] * 100 == pytest.approx(ref["train_accuracy"], abs=1e-10)
    assert metrics["test"]["accuracy"] * 100 == pytest.approx(ref["test_accuracy"], abs=1e-10)

    weights = np.load(run / "weights.npz", allow_pickle=False)
    np.testing.assert_allclose(weights["W0"], ref["w"], rtol=0, atol=1e-10)
    assert weights["b0"][0] == pytest.approx(ref["b"], abs=1e-10)
    assert len(rows) == 150 and 348 + 62 == sum(json.loads((run / "meta.json").read_text())["split_sizes"].values())
