"""Check a network's backward pass against central differences.

    result = check_network(net, X, Y)   # net in float64; X: (n, n_in), Y: (n, n_out) targets
    [(c.layer, c.error, c.worst, c.passed) for c in result.layers]
    result.kink_rows                     # rows of X left out (see below)

Every checked entry w of every parameter array gets the numeric gradient
(L(w + h) - L(w - h)) / 2h of the training loss L, next to the analytic gradient of
`Network.loss_and_grads`. An array's relative error is |a - n| / (|a| + |n|) with
Euclidean norms over the array, as scikit-learn's and micrograd's checks do: an entry
whose gradient is zero both ways then adds nothing instead of dividing 0 by 0, and the
round-off of the difference quotient (about 2.2e-16 |L| / h per entry) stays far below
the threshold. A gradient too small for the quotients to resolve (a deep network's
vanishing one) is measured against that round-off instead (`relative_error`). A layer's
error is the larger of its weights' and its bias'.

The loss has no derivative where a ReLU's (or leaky ReLU's) input is 0: a step of +-h
that moves one across 0 (or off an exact 0, as a zero bias does on an all-zero input row)
makes the difference quotient straddle the kink and measure the mean of the two slopes.
The rows on which any step did so are left out and every entry is checked again on the
others (whose inputs stay on their side), so no entry goes unchecked while a row is left.

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

    @property
    def passed(self) -> bool:
        return bool(self.error < THRESHOLD)  # NaN fails

    def as_dict(self) -> dict:
        return {**self.__dict__, "passed": self.passed}


@dataclass
class NetworkCheck:
    """Every layer's result on the rows of X that no step moved across a kink."""

    layers: list[LayerCheck]  # empty when every row was left out
    kink_rows: list[int]  # rows of X left out, by index


def relative_error(analytic: np.ndarray, numeric: np.ndarray, resolution: float = 0.0) -> float:
    """|a - n| / (|a| + |n|) with Euclidean norms; 0 when both are zero.

    resolution: the round-off of one difference quotient. The scale is never taken below that
    round-off's norm over the entries divided by THRESHOLD, so a gradient too small for the
    quotients to show (1e-32, its quotient 0) passes, while a difference they can show fails."""
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    floor = resolution * np.sqrt(analytic.size) / THRESHOLD
    return float(np.linalg.norm(analytic - numeric) / max(scale, floor, np.finfo(np.float64).tiny))


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


def _crossed(before: list[np.ndarray], after: list[np.ndarray]) -> np.ndarray:
    """(n,) bool: the rows on which some ReLU input changed sign. A NaN input (an overflow) is no
    kink: its layer must fail, not be left out."""
    changed = [((b != a) & ~(np.isnan(b) & np.isnan(a))).any(axis=1) for b, a in zip(before, after)]
    return np.logical_or.reduce(changed)


def _numeric(
    net: Network, X: np.ndarray, Y: np.ndarray, param: np.ndarray, index: tuple, signs: list[np.ndarray]
) -> tuple[float, np.ndarray]:
    """(the central difference of the loss at param[index], the (n,) rows on which the step of
    +h or -h moved a ReLU input to another sign than `signs`, its signs at w)."""
    old, values, crossed = param[index], [], np.zeros(len(X), bool)
    for step in (H, -H):
        param[index] = old + step
        values.append(net.loss_value(X, Y)[0])
        crossed |= _crossed(signs, kink_signs(net, X)) if signs else False
    param[index] = old
    return (values[0] - values[1]) / (2 * H), crossed


def check_network(net: Network, X: np.ndarray, Y: np.ndarray, max_entries: int = 1000, seed: int = 0) -> NetworkCheck:
    """Per-layer comparison of analytic and central-difference gradients (see the module doc).

    net: a float64 Network; X: (n, n_in); Y: (n, n_out) encoded targets.
    """
    if net.params[0].dtype != np.float64:
        raise ValueError("gradient checks need float64 parameters: float32 round-off exceeds the threshold")
    keep = np.arange(len(X))
    while keep.size:
        layers, crossed = _compare(net, X[keep], Y[keep], max_entries, seed)
        if not crossed.any():
            return NetworkCheck(layers, sorted(set(range(len(X))) - set(keep.tolist())))
        keep = keep[~crossed]  # the rows left stay on their side of every kink: the same steps, the same inputs
    return NetworkCheck([], list(range(len(X))))


def _compare(
    net: Network, X: np.ndarray, Y: np.ndarray, max_entries: int, seed: int
) -> tuple[list[LayerCheck], np.ndarray]:
    """Every layer's check on the rows X, and the (n,) rows on which some step crossed a kink."""
    loss, _ = net.loss_and_grads(X, Y)
    analytic = [g.copy() for g in net.grads]  # the network may reuse its gradient buffers
    resolution = np.finfo(np.float64).eps * abs(loss) / H  # a difference quotient's round-off
    signs = kink_signs(net, X)
    crossed = np.zeros(len(X), bool)
    rng = np.random.default_rng(seed)
    checks, g = [], 0
    for i, layer in enumerate(net.layers):
        worst, errors, checked, total = ("", 0.0, 0.0), [], 0, 0
        # a step in layer i moves the inputs of layer i and those after it
        watched = signs if any(later.activation in KINKED for later in net.layers[i:]) else []
        for name, param in (("W", layer.W), ("b", layer.b)):
            if param is None:
                continue
            index = _entries(param.shape, max_entries, rng)
            a = np.array([analytic[g][k] for k in index])
            n = np.empty(len(index))
            for j, entry in enumerate(index):
                n[j], rows = _numeric(net, X, Y, param, entry, watched)
                crossed |= rows
            errors.append(relative_error(a, n, resolution))
            k = int(np.argmax(np.abs(a - n)))
            if not worst[0] or abs(a[k] - n[k]) > abs(worst[1] - worst[2]):
                worst = (f"{name}[{', '.join(map(str, index[k]))}]", float(a[k]), float(n[k]))
            checked, total, g = checked + len(index), total + param.size, g + 1
        error = float(np.max(errors))  # NaN, if any, wins
        checks.append(LayerCheck(i, repr(layer), error, worst[0], worst[1], worst[2], checked, total))
    return checks, crossed
