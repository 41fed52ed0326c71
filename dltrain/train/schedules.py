"""Learning-rate schedules, one rate per epoch, with the closed-form formulas of PyTorch's
`torch.optim.lr_scheduler` (StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau),
optionally after a linear warmup.

    schedule = cfg.schedule.build(base_lr=0.1, epochs=50)
    lr = schedule.lr(epoch)          # the rate of epoch `epoch`, counted from 0
    schedule.observe(record)         # after each epoch (reduce_on_plateau watches a metric)
    schedule.state(); schedule.load_state(state)    # for checkpoint.npz

With `warmup_epochs` W, epoch e < W uses base_lr * (e + 1) / (W + 1) (PyTorch's LinearLR
with start_factor 1 / (W + 1) over W epochs, chained by SequentialLR), and the schedule
proper starts at epoch W with its own epoch count k = e - W.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field

from dltrain.config.section import Section
from dltrain.train.monitor import Mode, Monitor, lower_is_better, metric_value


class _Schedule(Section):
    warmup_epochs: int = Field(
        0, ge=0, description="epochs of linear warmup first: epoch e uses lr * (e + 1) / (warmup_epochs + 1)"
    )

    def build(self, base_lr: float, epochs: int) -> Rates:
        return Rates(self, base_lr, epochs)

    def rate(self, base_lr: float, k: int, epochs: int) -> float:
        """The rate of the schedule's k-th epoch (k counted from 0, after the warmup)."""
        raise NotImplementedError


class Constant(_Schedule):
    """The optimizer's lr every epoch."""

    name: Literal["constant"] = "constant"

    def rate(self, base_lr, k, epochs):
        return base_lr


class Step(_Schedule):
    """StepLR: lr * gamma ** (k // step_size)."""

    name: Literal["step"] = "step"
    step_size: int = Field(10, gt=0, description="epochs between two decays")
    gamma: float = Field(0.1, gt=0, description="factor of each decay")

    def rate(self, base_lr, k, epochs):
        return base_lr * self.gamma ** (k // self.step_size)


class Exponential(_Schedule):
    """ExponentialLR: lr * gamma ** k."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.95, gt=0, description="factor per epoch")

    def rate(self, base_lr, k, epochs):
        return base_lr * self.gamma**k


class Cosine(_Schedule):
    """CosineAnnealingLR over the run's epochs after the warmup (T_max = epochs - warmup_epochs):
    min_lr + (lr - min_lr) * (1 + cos(pi * k / T_max)) / 2."""

    name: Literal["cosine"] = "cosine"
    min_lr: float = Field(0.0, ge=0, description="the rate the last epoch approaches (PyTorch's eta_min)")

    def rate(self, base_lr, k, epochs):
        t_max = max(1, epochs - self.warmup_epochs)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * k / t_max)) / 2


class ReduceOnPlateau(_Schedule):
    """ReduceLROnPlateau (threshold_mode 'rel', no cooldown): after more than `patience` epochs
    in a row without the monitored metric improving by `threshold` relative to its best,
    lr = max(lr * factor, min_lr)."""

    name: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    monitor: Monitor = Field("val.loss", description="val.loss | val.accuracy | train.loss | train.accuracy")
    mode: Mode = Field("auto", description="auto: min for a loss, max for an accuracy")
    factor: float = Field(0.1, gt=0, lt=1, description="the rate is multiplied by this on a plateau")
    patience: int = Field(10, ge=0, description="epochs without improvement tolerated before reducing")
    threshold: float = Field(1e-4, ge=0, description="relative improvement that counts")
    min_lr: float = Field(0.0, ge=0, description="the rate never goes below this")

    def build(self, base_lr, epochs):
        return Plateau(self, base_lr, epochs)


Schedule = Annotated[Union[Constant, Step, Exponential, Cosine, ReduceOnPlateau], Field(discriminator="name")]
SCHEDULES = {cls.model_fields["name"].default: cls for cls in (Constant, Step, Exponential, Cosine, ReduceOnPlateau)}


class Rates:
    """A schedule for one run: the rate of each epoch; stateless unless it watches a metric."""

    def __init__(self, cfg: _Schedule, base_lr: float, epochs: int):
        self.cfg, self.base_lr, self.epochs = cfg, base_lr, epochs

    def lr(self, epoch: int) -> float:
        w = self.cfg.warmup_epochs
        if epoch < w:
            return self.base_lr * (epoch + 1) / (w + 1)
        return self.cfg.rate(self.base_lr, epoch - w, self.epochs)

    def observe(self, record) -> None:
        """Called with each finished epoch's EpochRecord."""

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        pass


class Plateau(Rates):
    """reduce_on_plateau's state: the current rate, the best value and the epochs since it."""

    def __init__(self, cfg: ReduceOnPlateau, base_lr: float, epochs: int):
        super().__init__(cfg, base_lr, epochs)
        self.lower = lower_is_better(cfg.monitor, cfg.mode)
        self.current, self.best, self.bad_epochs = base_lr, math.inf if self.lower else -math.inf, 0

    def lr(self, epoch: int) -> float:
        return super().lr(epoch) if epoch < self.cfg.warmup_epochs else self.current

    def observe(self, record) -> None:
        if record.epoch <= self.cfg.warmup_epochs:
            return  # the plateau is watched from the first epoch after the warmup
        value, cfg = metric_value(record, self.cfg.monitor), self.cfg
        better = value < self.best * (1 - cfg.threshold) if self.lower else value > self.best * (1 + cfg.threshold)
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > cfg.patience:
            reduced = max(self.current * cfg.factor, cfg.min_lr)
            if self.current - reduced > 1e-8:  # PyTorch's eps: smaller changes are ignored
                self.current = reduced
            self.bad_epochs = 0

    def state(self) -> dict[str, np.ndarray]:
        return {"lr": np.array(self.current), "best": np.array(self.best), "bad_epochs": np.array(self.bad_epochs)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.current, self.best, self.bad_epochs = float(state["lr"]), float(state["best"]), int(state["bad_epochs"])
