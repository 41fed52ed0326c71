"""The training loop: epochs of shuffled mini-batches, one optimizer step per batch.

    trainer = Trainer(net, optimizer_cfg, training_cfg, splits, shuffle_rng)
    trainer.fit(on_epoch=callback)       # callback(EpochRecord) after every epoch

The train loss of an epoch is that of its batches as they were seen, each before its
update (the mean over the epoch, or the sum for summed losses such as sse); with one
full batch it is the loss before the epoch's step, as the tutorials record it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np

from dltrain.data.split import Splits
from dltrain.errors import TrainingFailed
from dltrain.nn.losses import SUMMED
from dltrain.nn.network import Network
from dltrain.train import checkpoint
from dltrain.train.targets import encode, predict_classes


@dataclass
class EpochRecord:
    """One row of history.csv. Metrics are None where they do not apply."""

    epoch: int
    train_loss: float
    train_accuracy: Optional[float]
    val_loss: Optional[float]
    val_accuracy: Optional[float]
    lr: float
    seconds: float

    def as_row(self) -> dict:
        return asdict(self)


class Trainer:
    """Fits `net` on `splits.train`; validation metrics each epoch when there is a val split."""

    def __init__(self, net: Network, optimizer_cfg, training_cfg, splits: Splits, shuffle_rng: np.random.Generator):
        self.net, self.cfg, self.splits, self.rng = net, training_cfg, splits, shuffle_rng
        self.optimizer_cfg = optimizer_cfg
        self.optimizer = optimizer_cfg.build(net.params, net.decay_mask)
        self.n_classes = len(splits.classes) if splits.classes is not None else None
        dtype = splits.train[0].dtype
        n_out = net.layers[-1].W.shape[1]
        self.X, self.y = splits.train
        self.Y = encode(self.y, n_out, self.n_classes, dtype)
        if splits.val is not None:
            self.X_val, self.y_val = splits.val
            self.Y_val = encode(self.y_val, n_out, self.n_classes, dtype)
        n = len(self.X)
        self.batch_size = n if self.cfg.batch_size == "full" else min(self.cfg.batch_size, n)
        self.history: list[EpochRecord] = []
        self.epoch = 0
        self.stop_requested = False  # set from a signal handler: stop after the current batch

    def fit(self, on_epoch: Callable[[EpochRecord], None] = lambda r: None) -> list[EpochRecord]:
        mark = checkpoint.Mark(self)
        while self.epoch < self.cfg.epochs and not self.stop_requested:
            start = time.perf_counter()
            # An epoch cut short (stop, divergence, Ctrl-C) is rolled back to this mark, so the
            # weights always match the history and a resumed run continues bit for bit.
            mark.take(self)
            try:
                record = self._epoch()
            except BaseException:
                mark.restore(self)
                raise
            if record is None:  # interrupted mid-epoch: the epoch does not count
                mark.restore(self)
                break
            record.seconds = time.perf_counter() - start
            self.epoch += 1
            self.history.append(record)
            on_epoch(record)
        return self.history

    def _epoch(self) -> Optional[EpochRecord]:
        n, bs = len(self.X), self.batch_size
        X, Y, y = self.X, self.Y, self.y
        if self.cfg.shuffle and bs < n:
            order = self.rng.permutation(n)  # one gather per epoch keeps batches contiguous
            X, Y, y = X[order], Y[order], y[order]
        total, correct = 0.0, 0
        classify = self.n_classes is not None
        for lo in range(0, n, bs):
            xb, yb = X[lo : lo + bs], Y[lo : lo + bs]
            loss, out = self.net.loss_and_grads(xb, yb)
            if not math.isfinite(loss):
                self._diverged(loss)
            self.optimizer.step(self.net.grads)
            total += loss if self.net.loss in SUMMED else loss * len(xb)
            if classify:
                correct += int(np.count_nonzero(predict_classes(out) == y[lo : lo + bs]))
            if self.stop_requested:
                return None
        self._check_weights()
        train_loss = total if self.net.loss in SUMMED else total / n
        record = EpochRecord(self.epoch + 1, train_loss, correct / n if classify else None, None, None, self.optimizer_cfg.lr, 0.0)
        if self.splits.val is not None:
            record.val_loss, out = self.net.loss_value(self.X_val, self.Y_val)
            if classify:
                record.val_accuracy = float(np.mean(predict_classes(out) == self.y_val))
        return record

    def _last_loss(self) -> str:
        return f"{self.history[-1].train_loss:.6g}" if self.history else "none yet"

    def _diverged(self, loss: float):
        raise TrainingFailed(
            f"the loss became {loss} in epoch {self.epoch + 1} (last finite epoch loss: {self._last_loss()}); "
            f"training stopped. Hint: lower training.optimizer.lr (now {self.optimizer_cfg.lr}) or scale the inputs."
        )

    def _check_weights(self):
        if not all(np.isfinite(p).all() for p in self.net.params):
            raise TrainingFailed(
                f"the weights became NaN or infinite in epoch {self.epoch + 1} (last finite epoch loss: {self._last_loss()}); "
                f"training stopped. Hint: lower training.optimizer.lr (now {self.optimizer_cfg.lr})."
            )
