"""Learning-rate schedules at work: one rate per epoch, with the closed-form formulas of
PyTorch's `torch.optim.lr_scheduler` (the sections and their keys: dltrain/config/control.py).

    rates = build(cfg.training.schedule, base_lr=0.1, epochs=50)
    lr = rates.lr(epoch)             # the rate of epoch `epoch`, counted from 0
    rates.observe(record)            # after each epoch (reduce_on_plateau watches a metric)
    rates.state(); rates.load_state(state)    # for checkpoint.npz

With `warmup_epochs` W, epoch e < W uses base_lr * (e + 1) / (W + 1) (PyTorch's LinearLR
with start_factor 1 / (W + 1) over W epochs, chained by SequentialLR), and the schedule
proper starts at epoch W with its own epoch count k = e - W.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dltrain.train.monitor import lower_is_better, metric_value

# name -> rate(cfg, base_lr, k, epochs) of the schedule's k-th epoch after the warmup
RATES: dict[str, Callable[..., float]] = {
    "constant": lambda cfg, lr, k, epochs: lr,
    "step": lambda cfg, lr, k, epochs: lr * cfg.gamma ** (k // cfg.step_size),
    "exponential": lambda cfg, lr, k, epochs: lr * cfg.gamma**k,
    "cosine": lambda cfg, lr, k, epochs: (
        cfg.min_lr + (lr - cfg.min_lr) * (1 + math.cos(math.pi * k / max(1, epochs - cfg.warmup_epochs))) / 2
    ),
}


class Rates:
    """A schedule for one run: the rate of each epoch, a function of the epoch alone."""

    def __init__(self, cfg, base_lr: float, epochs: int):
        self.cfg, self.base_lr, self.epochs = cfg, base_lr, epochs

    def lr(self, epoch: int) -> float:
        w = self.cfg.warmup_epochs
        if epoch < w:
            return self.base_lr * (epoch + 1) / (w + 1)
        return RATES[self.cfg.name](self.cfg, self.base_lr, epoch - w, self.epochs)

    def observe(self, record) -> None:
        """Called with each finished epoch's EpochRecord."""

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        pass


class Plateau(Rates):
    """reduce_on_plateau: the current rate, the best value and the epochs since it."""

    def __init__(self, cfg, base_lr: float, epochs: int):
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


# name -> the class that runs it (those with state); every other schedule is a Rates
STATEFUL: dict[str, type[Rates]] = {"reduce_on_plateau": Plateau}


def build(cfg, base_lr: float, epochs: int) -> Rates:
    """The run's schedule from its config section (training.schedule)."""
    return STATEFUL.get(cfg.name, Rates)(cfg, base_lr, epochs)
