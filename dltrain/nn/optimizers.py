"""Optimizers, in order of increasing complexity: gradient descent, SGD with momentum
(and Nesterov), Adam. Each `step` below is the textbook update in plain NumPy.

Each optimizer is a config section; `build` returns a stepper that holds the state:

    stepper = Adam(lr=1e-3).build(params)   # params: list of arrays (W0, b0, W1, b1, ...)
    stepper.step(grads)                     # grads: arrays shaped like params; updates params in place
    stepper.state()                         # {name: array} copies, for checkpoints
    stepper.load_state(state)               # continue from such a snapshot, bit for bit
    stepper.lr = 5e-4                       # the rate of the next steps (a schedule sets it per epoch)

Every stepper starts at the config's `lr` and reads its own `lr` attribute in each step,
so a learning-rate schedule changes the rate without touching the config.

Weight decay is L2 added to the gradient, g + weight_decay * w (PyTorch's `weight_decay`,
not AdamW's decoupled decay), and applies to weight matrices only, never to biases
(`weight_decay_mask`).

`build` returns the fast engine's steppers (`dltrain/nn/fast/optimizers.py`) unless
DLTRAIN_ENGINE=reference: the same interface, the same numbers bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal, Optional, Union

import numpy as np
from pydantic import Field, model_validator

from dltrain.config.section import Section
from dltrain.nn import fast


def weight_decay_mask(params: Sequence[np.ndarray]) -> list[bool]:
    """Whether L2 weight decay applies to each parameter: to weight matrices (ndim 2), not to biases (ndim 1)."""
    return [p.ndim > 1 for p in params]


class _Base(Section):
    if TYPE_CHECKING:
        name: str  # each optimizer's own Literal

    lr: float = Field(0.01, gt=0, description="learning rate")
    weight_decay: float = Field(
        0.0,
        ge=0,
        description="L2 penalty added to the gradient, g + weight_decay * w (PyTorch's weight_decay, not AdamW); "
        "weights only, biases are not decayed",
    )

    def build(self, params: list[np.ndarray], decay_mask: Optional[list[bool]] = None, steps: Optional[int] = None):
        """A stepper updating `params` in place. `decay_mask`: per parameter, whether weight
        decay applies (default: `weight_decay_mask(params)`); `steps`: how many steps the run will take,
        if known (the fast engine decides with it whether a compiled kernel pays)."""
        mask = decay_mask or weight_decay_mask(params)
        if not fast.enabled():
            return STEPPERS[self.name](self, params, mask)
        from dltrain.nn.fast.optimizers import FAST_STEPPERS

        return FAST_STEPPERS[self.name](self, params, mask, steps)


class GD(_Base):
    """Gradient descent, w -= lr * g, with optional momentum.

    With momentum mu the velocity is v = mu v + g and w -= lr v (the PyTorch form);
    Nesterov looks ahead: w -= lr (g + mu v). `sgd` and `gd` are the same algorithm:
    the batch size decides whether it is stochastic.
    """

    name: Literal["gd", "sgd"] = "gd"
    momentum: float = Field(0.0, ge=0, lt=1, description="velocity decay; 0 is plain gradient descent")
    nesterov: bool = Field(False, description="Nesterov momentum (needs momentum > 0)")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        # without momentum there is no velocity to look ahead with: it would silently be plain GD
        if self.nesterov and not self.momentum:
            raise ValueError("nesterov: true needs momentum > 0 (e.g. momentum: 0.9)")
        return self


class GDStep:
    """GD's state (the velocities) and update."""

    def __init__(self, cfg: GD, params, decay_mask):
        self.cfg, self.params, self.decay_mask = cfg, params, decay_mask
        self.lr = cfg.lr
        self.velocity = [np.zeros_like(p) for p in params] if cfg.momentum else []

    def step(self, grads):
        lr, mu, wd = self.lr, self.cfg.momentum, self.cfg.weight_decay
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if wd and self.decay_mask[i]:
                g = g + wd * p
            if mu:
                self.velocity[i] = mu * self.velocity[i] + g
                g = g + mu * self.velocity[i] if self.cfg.nesterov else self.velocity[i]
            p -= lr * g

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity_{i}": v.copy() for i, v in enumerate(self.velocity)}

    def load_state(self, state):
        self.velocity = [state[f"velocity_{i}"].astype(v.dtype) for i, v in enumerate(self.velocity)]


class Adam(_Base):
    """Adam: D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 1, with the paper's default constants."""

    name: Literal["adam"] = "adam"
    lr: float = Field(0.001, gt=0, description="learning rate (the paper's alpha)")
    beta1: float = Field(0.9, ge=0, lt=1, description="decay of the first-moment estimate")
    beta2: float = Field(0.999, ge=0, lt=1, description="decay of the second-moment estimate")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(v) to avoid division by zero")


class AdamStep:
    """Adam's state (the moments m, v and the step count t) and update.

    float32 only: every FLUSH_EVERY steps, moments below TINY_M (m) and TINY_V (v) are set to
    zero. A moment whose gradient has stopped (the weights of a pixel that is rarely on)
    decays by beta1 a step and reaches float32's subnormal range (below 1.2e-38) within a few
    hundred steps, where every operation on it takes a microcode path many times slower on
    some CPUs. Such a moment moves its weight by less than lr TINY_M / (eps (1 - beta1)),
    1e-24 at the defaults, which changes no weight that is not itself that small
    (weight decay can make it so). The fast engine does the same, so both give the same bits.
    """

    FLUSH_EVERY = 64  # m decays by 0.9**64 = 1.2e-3 between flushes: from TINY_M it stays normal
    TINY_M, TINY_V = 1e-30, 1e-36  # sqrt(TINY_V) = 1e-18 is nothing next to eps = 1e-8

    def __init__(self, cfg: Adam, params, decay_mask):
        self.cfg, self.params, self.decay_mask = cfg, params, decay_mask
        self.lr = cfg.lr
        self.m = [np.zeros_like(p) for p in params]  # first-moment estimates
        self.v = [np.zeros_like(p) for p in params]  # second raw-moment estimates
        self.t = 0

    def step(self, grads):
        cfg = self.cfg
        self.t += 1
        # The bias corrections m / (1 - beta1^t) and v / (1 - beta2^t), folded into the step
        # size and epsilon: the paper's "more efficient" order at the end of its section 2.
        step_size = self.lr * (1 - cfg.beta2**self.t) ** 0.5 / (1 - cfg.beta1**self.t)
        eps_hat = cfg.eps * (1 - cfg.beta2**self.t) ** 0.5
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if cfg.weight_decay and self.decay_mask[i]:
                g = g + cfg.weight_decay * p
            self.m[i] = cfg.beta1 * self.m[i] + (1 - cfg.beta1) * g
            self.v[i] = cfg.beta2 * self.v[i] + (1 - cfg.beta2) * g**2
            p -= step_size * self.m[i] / (np.sqrt(self.v[i]) + eps_hat)
        if self.t % self.FLUSH_EVERY == 0:
            for m, v in zip(self.m, self.v):
                if m.dtype == np.float32:
                    m[np.abs(m) < self.TINY_M] = 0
                    v[v < self.TINY_V] = 0

    def state(self) -> dict[str, np.ndarray]:
        """A snapshot (copies): later steps do not change it."""
        out = {"t": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            out[f"m_{i}"], out[f"v_{i}"] = m.copy(), v.copy()
        return out

    def load_state(self, state):
        self.t = int(state["t"])
        self.m = [state[f"m_{i}"].astype(m.dtype) for i, m in enumerate(self.m)]
        self.v = [state[f"v_{i}"].astype(v.dtype) for i, v in enumerate(self.v)]


STEPPERS = {"gd": GDStep, "sgd": GDStep, "adam": AdamStep}
OPTIMIZERS = {"gd": GD, "sgd": GD, "adam": Adam}

# The config accepts exactly the optimizers of this table, chosen by their `name`.
if TYPE_CHECKING:
    Optimizer = _Base
else:
    Optimizer = Annotated[Union[tuple(dict.fromkeys(OPTIMIZERS.values()))], Field(discriminator="name")]
