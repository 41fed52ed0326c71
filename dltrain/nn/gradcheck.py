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

An entry whose step of +-h moves a ReLU's or leaky ReLU's input across 0 (or off an exact
0, as a zero bias does on an all-zero input row) has no derivative there: the difference
quotient straddles the kink and measures the mean of the two slopes. Such entries are
counted (`kinks`) and left out of the error, as CS231n's notes advise; a wrong derivative
still shows on the entries that stay on one side.

Arrays larger than `max_entries` are checked on that many entries drawn without
replacement by a seeded generator, so a big MNIST layer takes a second, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltrain.nn.network import Network

H = 1e-6  # truncation error ~H^2 f''', round-off ~1e-16 |L| / H: both well below THRESHOLD
THRESHOLD = 1e-6
KINKED = ("relu", "leaky_relu")  # activations without a derivative at z = 0


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
    kinks: int = 0  # of the entries checked, those at a kink: left out of the error

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


def kink_signs(net: Network, X: np.ndarray) -> list[np.ndarray]:
    """The sign (-1, 0 or 1) of every input to a ReLU or leaky ReLU, (n, n_out) per such layer."""
    signs, a = [], X
    for layer in net.layers:
        z, a = layer.forward(a)
        if layer.activation in KINKED:
            signs.append(np.sign(z))
    return signs


def _numeric(
    net: Network, X: np.ndarray, Y: np.ndarray, param: np.ndarray, index: tuple, signs: list[np.ndarray]
) -> tuple[float, bool]:
    """(the central difference of the loss at param[index], whether the step crosses a kink:
    some input to a ReLU has another sign at w + h or w - h than `signs`, its signs at w)."""
    old, values, crossed = param[index], [], False
    for step in (H, -H):
        param[index] = old + step
        values.append(net.loss_value(X, Y)[0])
        # NaN inputs (an overflow) are no kink: their layer must fail, not be left out
        crossed = crossed or any(not np.array_equal(s, t, equal_nan=True) for s, t in zip(signs, kink_signs(net, X)))
    param[index] = old
    return (values[0] - values[1]) / (2 * H), crossed


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
    signs = kink_signs(net, X)
    rng = np.random.default_rng(seed)
    checks, g = [], 0
    for i, layer in enumerate(net.layers):
        worst, errors, checked, total, kinks = ("", 0.0, 0.0), [], 0, 0, 0
        for name, param in (("W", layer.W), ("b", layer.b)):
            if param is None:
                continue
            drawn = _entries(param.shape, max_entries, rng)
            numeric = [_numeric(net, X, Y, param, k, signs) for k in drawn]
            index = [k for k, (_, crossed) in zip(drawn, numeric) if not crossed]
            a = np.array([analytic[g][k] for k in index])
            n = np.array([value for value, crossed in numeric if not crossed])
            errors.append(relative_error(a, n))
            if index:
                k = int(np.argmax(np.abs(a - n)))
                if not worst[0] or abs(a[k] - n[k]) > abs(worst[1] - worst[2]):
                    worst = (f"{name}[{', '.join(map(str, index[k]))}]", float(a[k]), float(n[k]))
            checked, total, g = checked + len(drawn), total + param.size, g + 1
            kinks += len(drawn) - len(index)
        error = float(np.max(errors))  # NaN, if any, wins
        checks.append(LayerCheck(i, repr(layer), error, worst[0], worst[1], worst[2], checked, total, kinks))
    return checks
