"""`dltrain gradcheck`: the configured model's backward pass checked against central differences.

    report = gradcheck(cfg, rows=8)
    report["passed"], report["layers"]    # one dict per layer: error, worst, passed, ...

The model is built as training builds it (same initialization from the seed), but in
float64, on the first `rows` rows of the training split after preprocessing, with the
targets encoded as the loss sees them. Both engines are checked: the fast one training
uses, and the reference one (the textbook code) with the same weights. The check itself
is `dltrain.nn.gradcheck`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.config.schema import Config
from dltrain.errors import ConfigError
from dltrain.nn import fast
from dltrain.nn.activations import LEAKY_SLOPE
from dltrain.nn.gradcheck import THRESHOLD, H, check_network
from dltrain.nn.network import Dense, Network
from dltrain.pipeline.experiment import build_network, load_splits, seeded_rngs
from dltrain.train.targets import encode

# Rosenblatt's rule moves the weights by the error (y - y_hat) x: that is no derivative of
# the loss it reports (the fraction misclassified), so there is nothing to compare.
NOT_A_GRADIENT = {"perceptron": "Rosenblatt's rule updates by the error (y - y_hat) x, not by a derivative of a loss"}


def gradcheck(cfg: Config, rows: int = 8, max_entries: int = 1000, data_dir=None) -> dict:
    """{'name', 'rows', 'h', 'threshold', 'status': 'passed' | 'failed' | 'not applicable', 'reason',
    'layers': [{'engine', **LayerCheck.as_dict()}, ...], 'kink_rows': [the rows (of 'rows') left out
    because a step moved a ReLU input on them across 0]}."""
    if rows < 1:
        raise ConfigError(f"--rows {rows}: at least one row is needed")
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"dtype": "float64"})})
    splits = load_splits(cfg, data_dir)
    net = build_network(cfg, splits, seeded_rngs(cfg.seed)[0])
    report: dict = {"name": cfg.name, "network": repr(net), "h": H, "threshold": THRESHOLD, "layers": []}
    X, y = splits.train[0][:rows], splits.train[1][:rows]
    report["rows"] = len(X)
    reason: Optional[str] = NOT_A_GRADIENT.get(net.loss)
    if reason:
        return {**report, "status": "not applicable", "reason": reason}
    Y = encode(y, net.layers[-1].W.shape[1], splits.n_classes, np.float64)
    X = np.ascontiguousarray(X, dtype=np.float64)
    from threadpoolctl import threadpool_limits

    kink_rows: set[int] = set()

    # thousands of 8-row products: threads only wait on each other. An overflow shows as nan in
    # the table (a FAIL), not as NumPy's warnings with their source lines
    with threadpool_limits(1, "blas"), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for engine, network in engines(net, getattr(cfg.model, "negative_slope", LEAKY_SLOPE)):
            result = check_network(network, X, Y, max_entries=max_entries, seed=cfg.seed)
            report["layers"] += [{"engine": engine, **c.as_dict()} for c in result.layers]
            kink_rows.update(result.kink_rows)  # the same rows in both engines: one forward code, the same weights
    report["kink_rows"] = sorted(kink_rows)
    if len(kink_rows) == len(X):
        reason = (
            f"each row checked (--rows {len(X)}) has a ReLU input that a step of +-h moves across 0, its kink, where "
            "there is no derivative: give more --rows, or an init that puts no ReLU input at exactly 0 (zeros does)"
        )
        return {**report, "status": "not applicable", "reason": reason}
    passed = all(layer["passed"] for layer in report["layers"])
    return {**report, "status": "passed" if passed else "failed", "reason": None}


def engines(net: Network, negative_slope: float) -> list[tuple[str, Network]]:
    """[(engine name, network)]: the network as training builds it and, when that is the fast
    engine's, the reference engine's twin with the same weights, so that a change to the
    textbook code (dltrain/nn/activations.py, losses.py, network.py) is checked too."""
    if type(net) is Network:
        return [("reference", net)]
    copies = [
        Dense(layer.W.copy(), None if layer.b is None else layer.b.copy(), layer.activation, negative_slope)
        for layer in net.layers
    ]
    return [(fast.engine(), net), ("reference", Network(copies, net.loss))]
