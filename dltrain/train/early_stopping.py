"""Early stopping at work (its section: dltrain/config/control.py): end training once the monitored metric has not improved for `patience`
epochs, and keep the best epoch's weights (Keras' EarlyStopping with restore_best_weights).

    stopper = Stopper(cfg.training.early_stopping, net.flat_params)
    if stopper.observe(record, net.flat_params):   # after each epoch; True: stop now
        ...
    with stopper.best_weights(net.flat_params):    # the best epoch's weights, for the final save
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
    """The state of early stopping in one run. flat_params: the network's parameter vector (n,)."""

    def __init__(self, cfg: EarlyStopping, flat_params: np.ndarray):
        self.cfg = cfg
        self.lower = lower_is_better(cfg.monitor, cfg.mode)
        self.best = math.inf if self.lower else -math.inf
        self.best_epoch = 0  # 0: no epoch yet
        self.wait = 0  # epochs since the best
        self.stopped_epoch: Optional[int] = None
        self.best_params = flat_params.copy() if cfg.restore_best else None

    def observe(self, record, flat_params: np.ndarray) -> bool:
        """Take a finished epoch into account; True when training should stop after it."""
        value, delta = metric_value(record, self.cfg.monitor), self.cfg.min_delta
        if value < self.best - delta if self.lower else value > self.best + delta:  # NaN never improves
            self.best, self.best_epoch, self.wait = value, record.epoch, 0
            if self.best_params is not None:
                np.copyto(self.best_params, flat_params)
            return False
        self.wait += 1
        if self.wait >= self.cfg.patience:
            self.stopped_epoch = record.epoch
            return True
        return False

    @contextmanager
    def best_weights(self, flat_params: np.ndarray):
        """Within the block `flat_params` holds the best epoch's weights (with restore_best), then its own again."""
        if self.best_params is None or self.best_epoch == 0:
            yield
            return
        own = flat_params.copy()
        np.copyto(flat_params, self.best_params)
        try:
            yield
        finally:
            np.copyto(flat_params, own)

    def state(self) -> dict[str, np.ndarray]:
        state = {
            "best": np.array(self.best),
            "best_epoch": np.array(self.best_epoch),
            "wait": np.array(self.wait),
            "stopped_epoch": np.array(-1 if self.stopped_epoch is None else self.stopped_epoch),
        }
        if self.best_params is not None:
            state["best_params"] = self.best_params.copy()
        return state

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.best, self.best_epoch, self.wait = float(state["best"]), int(state["best_epoch"]), int(state["wait"])
        stopped = int(state["stopped_epoch"])
        self.stopped_epoch = None if stopped < 0 else stopped
        if self.best_params is not None:
            saved = state["best_params"]
            if saved.shape != self.best_params.shape:
                raise ValueError(f"best weights of shape {saved.shape}, the network has {self.best_params.shape}")
            np.copyto(self.best_params, saved)
