"""Check a network's backward pass against central differences.

    checks = check_network(net, X, Y)   # net in float64; X: (n, n_in), Y: (n, n_out) targets
    [(c.layer, c.error, c.worst, c.passed) for c in checks]

Every checked entry w of every parameter array gets the numeric gradient
(L(w + h) - L(w - h)) / 2h of the training loss L, next to the analytic gradient of
`Network.loss_and_grads`. An array's relative error is |a - n| / (|a| + |n|) with
Euclidean norms over the array, as scikit-learn's and micrograd's checks do: an entry
whose gradient is zero both ways then adds nothing instead of dividing 0 by 0, and the
round-off of the difference quotient (about 1e-16 |L| / h per entry) stays far below
the threshold. A layer's error is the larger of its weights' and its bias'.

Arrays larger than `max_entries` are checked on that many entries drawn without
replacement by a seeded generator, so a big MNIST layer takes a second, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltrain.nn.network import Network

H = 1e-6  # truncation error ~H^2 f''', round-off ~1e-16 |L| / H: both well below THRESHOLD
THRESHOLD = 1e-6


@dataclass
class LayerCheck:
    """One layer's result. worst: the entry where analytic and numeric differ most, e.g. 'W[3, 5]'."""

    layer: int
    description: str
    error: float
    worst: str
    analytic: float
    numeric: float
    checked: int
    total: int

    @property
    def passed(self) -> bool:
        return bool(self.error < THRESHOLD)  # NaN fails

    def as_dict(self) -> dict:
        return {**self.__dict__, "passed": self.passed}


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """|a - n| / (|a| + |n|) with Euclidean norms; 0 when both are zero."""
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / max(scale, np.finfo(np.float64).tiny))


def _entries(shape: tuple, max_entries: int, rng: np.random.Generator) -> list[tuple]:
    """Indices of the entries to check: all of them, or `max_entries` drawn without replacement."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= max_entries else np.sort(rng.choice(size, max_entries, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


def _numeric(net: Network, X: np.ndarray, Y: np.ndarray, param: np.ndarray, index: tuple) -> float:
    old = param[index]
    param[index] = old + H
    up = net.loss_value(X, Y)[0]
    param[index] = old - H
    down = net.loss_value(X, Y)[0]
    param[index] = old
    return (up - down) / (2 * H)


def check_network(
    net: Network, X: np.ndarray, Y: np.ndarray, max_entries: int = 1000, seed: int = 0
) -> list[LayerCheck]:
    """Per-layer comparison of analytic and central-difference gradients (see the module doc).

    net: a float64 Network; X: (n, n_in); Y: (n, n_out) encoded targets.
    """
    if net.params[0].dtype != np.float64:
        raise ValueError("gradient checks need float64 parameters: float32 round-off exceeds the threshold")
    net.loss_and_grads(X, Y)
    analytic = [g.copy() for g in net.grads]  # the network may reuse its gradient buffers
    rng = np.random.default_rng(seed)
    checks, g = [], 0
    for i, layer in enumerate(net.layers):
        worst, errors, checked, total = ("", 0.0, 0.0), [], 0, 0
        for name, param in (("W", layer.W), ("b", layer.b)):
            if param is None:
                continue
            index = _entries(param.shape, max_entries, rng)
            a = np.array([analytic[g][k] for k in index])
            n = np.array([_numeric(net, X, Y, param, k) for k in index])
            errors.append(relative_error(a, n))
            k = int(np.argmax(np.abs(a - n)))
            if not worst[0] or abs(a[k] - n[k]) > abs(worst[1] - worst[2]):
                worst = (f"{name}[{', '.join(map(str, index[k]))}]", float(a[k]), float(n[k]))
            checked, total, g = checked + len(index), total + param.size, g + 1
        error = float(np.max(errors))  # NaN, if any, wins
        checks.append(LayerCheck(i, repr(layer), error, worst[0], worst[1], worst[2], checked, total))
    return checks
