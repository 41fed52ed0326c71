"""`dltrain gradcheck`: the configured model's backward pass checked against central differences.

    report = gradcheck(cfg, rows=8)
    report["passed"], report["layers"]    # one dict per layer: error, worst, passed, ...

The model is built as training builds it (same initialization from the seed), but in
float64, on the first `rows` rows of the training split after preprocessing, with the
targets encoded as the loss sees them. The check itself is `dltrain.nn.gradcheck`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from dltrain.config.schema import Config
from dltrain.errors import ConfigError
from dltrain.nn.gradcheck import THRESHOLD, H, check_network
from dltrain.pipeline.experiment import build_network, load_splits, seeded_rngs
from dltrain.train.targets import encode

# Rosenblatt's rule moves the weights by the error (y - y_hat) x: that is no derivative of
# the loss it reports (the fraction misclassified), so there is nothing to compare.
NOT_A_GRADIENT = {"perceptron": "Rosenblatt's rule updates by the error (y - y_hat) x, not by a derivative of a loss"}


def gradcheck(cfg: Config, rows: int = 8, max_entries: int = 1000, data_dir=None) -> dict:
    """{'name', 'rows', 'h', 'threshold', 'status': 'passed' | 'failed' | 'not applicable', 'reason',
    'layers': [LayerCheck.as_dict(), ...]}."""
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
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # thousands of 8-row products: threads only wait on each other
        checks = check_network(
            net, np.ascontiguousarray(X, dtype=np.float64), Y, max_entries=max_entries, seed=cfg.seed
        )
    report["layers"] = [c.as_dict() for c in checks]
    return {**report, "status": "passed" if all(c.passed for c in checks) else "failed", "reason": None}
