"""Optimizers, in order of increasing complexity: gradient descent, SGD with momentum
(and Nesterov), Adam.

Each is a config section; `build(params)` returns a stepper holding the state:

    stepper = Adam(lr=1e-3).build(params)
    stepper.step(grads)      # updates every array in params in place

params and grads are matching lists of arrays (weights and biases, layer by layer).
`decay_mask[i]` says whether L2 weight decay applies to params[i] (weights, not biases).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field, model_validator

from dltrain.config.section import Section


class _Base(Section):
    lr: float = Field(0.01, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty: adds weight_decay * w to each weight's gradient")

    def _decayed(self, grad, param, decays: bool):
        if self.weight_decay and decays:
            return grad + self.weight_decay * param
        return grad


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

    def build(self, params, decay_mask=None):
        return _GDStepper(self, params, decay_mask)


class _GDStepper:
    def __init__(self, cfg: GD, params, decay_mask):
        self.cfg, self.params = cfg, params
        self.decay_mask = decay_mask or [p.ndim > 1 for p in params]
        self.velocity = [np.zeros_like(p) for p in params] if cfg.momentum else None

    def step(self, grads):
        cfg = self.cfg
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = cfg._decayed(g, p, self.decay_mask[i])
            if self.velocity is not None:
                v = self.velocity[i]
                v *= cfg.momentum
                v += g
                g = g + cfg.momentum * v if cfg.nesterov else v
            p -= cfg.lr * g

    def state(self) -> dict[str, np.ndarray]:
        """A snapshot (copies): later steps do not change it."""
        return {f"velocity_{i}": v.copy() for i, v in enumerate(self.velocity or [])}

    def load_state(self, state):
        for i, v in enumerate(self.velocity or []):
            v[...] = state[f"velocity_{i}"]


class Adam(_Base):
    """Adam (Kingma & Ba, 2015, Algorithm 1), with the paper's default constants."""

    name: Literal["adam"] = "adam"
    lr: float = Field(0.001, gt=0, description="learning rate (the paper's alpha)")
    beta1: float = Field(0.9, ge=0, lt=1, description="decay of the first-moment estimate")
    beta2: float = Field(0.999, ge=0, lt=1, description="decay of the second-moment estimate")
    eps: float = Field(1e-8, gt=0, description="added to sqrt(v) to avoid division by zero")

    def build(self, params, decay_mask=None):
        return _AdamStepper(self, params, decay_mask)


class _AdamStepper:
    def __init__(self, cfg: Adam, params, decay_mask):
        self.cfg, self.params = cfg, params
        self.decay_mask = decay_mask or [p.ndim > 1 for p in params]
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        cfg = self.cfg
        self.t += 1
        # bias corrections folded into the step size, as in the paper's closing remark of section 2
        # (Python floats keep float32 arrays in float32)
        step_size = cfg.lr * (1.0 - cfg.beta2**self.t) ** 0.5 / (1.0 - cfg.beta1**self.t)
        eps_hat = cfg.eps * (1.0 - cfg.beta2**self.t) ** 0.5
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = cfg._decayed(g, p, self.decay_mask[i])
            m, v = self.m[i], self.v[i]
            m *= cfg.beta1
            m += (1.0 - cfg.beta1) * g
            v *= cfg.beta2
            v += (1.0 - cfg.beta2) * (g * g)
            p -= step_size * m / (np.sqrt(v) + eps_hat)

    def state(self) -> dict[str, np.ndarray]:
        """A snapshot (copies): later steps do not change it."""
        out = {"t": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            out[f"m_{i}"], out[f"v_{i}"] = m.copy(), v.copy()
        return out

    def load_state(self, state):
        self.t = int(state["t"])
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            m[...], v[...] = state[f"m_{i}"], state[f"v_{i}"]


OPTIMIZERS = {"gd": GD, "sgd": GD, "adam": Adam}

Optimizer = Annotated[Union[GD, Adam], Field(discriminator="name")]
