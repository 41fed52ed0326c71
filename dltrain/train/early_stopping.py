"""Early stopping at work (its section: dltrain/config/control.py): end training once the monitored metric has not improved for `patience`
epochs, and keep the best epoch's weights (Keras' EarlyStopping with restore_best_weights).

    stopper = Stopper(cfg.training.early_stopping, net.params)
    if stopper.observe(record, net.params):   # after each epoch; True: stop now
        ...
    with stopper.best_weights(net.params):    # the best epoch's weights, for the final save
        ...

An epoch improves when its value beats the best so far by more than `min_delta`
(value < best - min_delta for a loss, value > best + min_delta for an accuracy).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Optional

import numpy as np

from dltrain.config.control import EarlyStopping
from dltrain.train.monitor import lower_is_better, metric_value


class Stopper:
    """The state of early stopping in one run. params: the network's arrays (W0, b0, W1, ...), updated in place."""

    def __init__(self, cfg: EarlyStopping, params: list[np.ndarray]):
        self.cfg = cfg
        self.lower = lower_is_better(cfg.monitor, cfg.mode)
        self.best = math.inf if self.lower else -math.inf
        self.best_epoch = 0  # 0: no epoch yet
        self.wait = 0  # epochs since the best
        self.stopped_epoch: Optional[int] = None
        self.best_params = [p.copy() for p in params] if cfg.restore_best else None

    def observe(self, record, params: list[np.ndarray]) -> bool:
        """Take a finished epoch into account; True when training should stop after it."""
        value, delta = metric_value(record, self.cfg.monitor), self.cfg.min_delta
        if value < self.best - delta if self.lower else value > self.best + delta:  # NaN never improves
            self.best, self.best_epoch, self.wait = value, record.epoch, 0
            for best, p in zip(self.best_params or [], params):
                np.copyto(best, p)
            return False
        self.wait += 1
        if self.wait >= self.cfg.patience:
            self.stopped_epoch = record.epoch
            return True
        return False

    @contextmanager
    def best_weights(self, params: list[np.ndarray]):
        """Within the block `params` hold the best epoch's weights (with restore_best), then their own again."""
        if self.best_params is None or self.best_epoch == 0:
            yield
            return
        own = [p.copy() for p in params]
        for p, best in zip(params, self.best_params):
            np.copyto(p, best)
        try:
            yield
        finally:
            for p, mine in zip(params, own):
                np.copyto(p, mine)

    def state(self) -> dict[str, np.ndarray]:
        state = {
            "best": np.array(self.best),
            "best_epoch": np.array(self.best_epoch),
            "wait": np.array(self.wait),
            "stopped_epoch": np.array(-1 if self.stopped_epoch is None else self.stopped_epoch),
        }
        for i, best in enumerate(self.best_params or []):
            state[f"best_param_{i}"] = best.copy()
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.best, self.best_epoch, self.wait = float(state["best"]), int(state["best_epoch"]), int(state["wait"])
        stopped = int(state["stopped_epoch"])
        self.stopped_epoch = None if stopped < 0 else stopped
        for i, best in enumerate(self.best_params or []):
            saved = state[f"best_param_{i}"]
            if saved.shape != best.shape:
                raise ValueError(f"best parameter {i} has shape {saved.shape}, the network expects {best.shape}")
            np.copyto(best, saved)
