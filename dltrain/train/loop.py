"""The training loop: epochs of shuffled mini-batches, one optimizer step per batch.

    trainer = Trainer(net, training_cfg, splits, shuffle_rng)
    trainer.fit(on_epoch=callback)       # callback(EpochRecord) after every epoch

`on_epoch` is the hook for whatever follows training from outside (progress, live
history, a sweep's pruner): it runs after the epoch is counted, the schedule and early
stopping have seen it, and may set `trainer.stop_requested` to end training after it.
Each epoch runs at the rate `schedule.lr(epoch)`, given to the optimizer as `optimizer.lr`.

The train loss of an epoch is that of its batches as they were seen, each before its
update (the mean over the epoch, or the sum for summed losses such as sse); with one
full batch it is the loss before the epoch's step, as the tutorials record it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from dltrain.data.split import Splits
from dltrain.errors import TrainingFailed
from dltrain.nn.losses import SUMMED
from dltrain.nn.network import Network
from dltrain.train import checkpoint, schedules
from dltrain.train.early_stopping import Stopper
from dltrain.train.monitor import EpochRecord, check_monitors
from dltrain.train.targets import encode, predict_classes

GATHER_BYTES = 4 << 20  # shuffled rows are copied this many bytes at a time: cache-sized, whole batches


class Trainer:
    """Fits `net` on `splits.train`; validation metrics each epoch when there is a val split."""

    def __init__(self, net: Network, training_cfg, splits: Splits, shuffle_rng: np.random.Generator):
        self.net, self.cfg, self.splits, self.rng = net, training_cfg, splits, shuffle_rng
        self.optimizer_cfg = optimizer_cfg = training_cfg.optimizer
        self.n_classes = splits.n_classes
        dtype = splits.train[0].dtype
        n_out = net.layers[-1].W.shape[1]
        self.X, self.y = splits.train
        self.Y = encode(self.y, n_out, self.n_classes, dtype)
        if splits.val is not None:
            self.X_val, self.y_val = splits.val
            self.Y_val = encode(self.y_val, n_out, self.n_classes, dtype)
        n = len(self.X)
        self.batch_size = n if self.cfg.batch_size == "full" else min(self.cfg.batch_size, n)
        steps = self.cfg.epochs * -(-n // self.batch_size)
        # step(grads) updates net.params in place; state() / load_state() for checkpoints (nn/optimizers.py)
        self.optimizer = optimizer_cfg.build(net.params, steps=steps)
        if getattr(self.optimizer, "compiled", False):  # numba is loaded for the update: the layers use it too
            net.compile()
        # Work buffers, allocated once. Each epoch's shuffled rows are gathered a few
        # batches at a time into `_gathered`, so every batch is a contiguous slice without
        # a second full copy of the training split in memory.
        shuffled = self.shuffles = self.cfg.shuffle and self.batch_size < n
        rows = min(n, self.batch_size * max(1, GATHER_BYTES // max(1, self.batch_size * self.X[0].nbytes)))
        self._gathered: Any = (
            (np.empty((rows, *self.X.shape[1:]), self.X.dtype), np.empty((rows, *self.Y.shape[1:]), self.Y.dtype))
            if shuffled
            else None
        )
        self._predicted = np.empty(n, np.int64) if self.n_classes is not None else None
        self.schedule = schedules.build(training_cfg.schedule, optimizer_cfg.lr, training_cfg.epochs)
        es = training_cfg.early_stopping
        self.stopper = Stopper(es, net.params) if es is not None else None
        check_monitors(training_cfg, splits.val is not None, self.n_classes is not None)
        # the loss of the run's first batch, scaled to a whole epoch for summed losses: an
        # epoch loss divergence_factor times larger fails the run as diverged
        self.initial_loss: Optional[float] = None
        self.history: list[EpochRecord] = []
        self.epoch = 0
        self.stop_requested = False  # set from a signal handler: stop after the current batch
        self._on_batch: Optional[Callable[[float], None]] = None

    @property
    def stopped_early(self) -> bool:
        return self.stopper is not None and self.stopper.stopped_epoch is not None

    @property
    def finished(self) -> bool:
        """Every configured epoch trained, or early stopping ended the training: nothing cut it off."""
        return self.epoch >= self.cfg.epochs or self.stopped_early

    def fit(
        self,
        on_epoch: Callable[[EpochRecord], None] = lambda r: None,
        on_batch: Optional[Callable[[float], None]] = None,
    ) -> list[EpochRecord]:
        """Train up to the configured epochs. on_batch(epochs_done): after each batch of a
        multi-batch epoch, with the epochs done so far as a fraction (2.25: a quarter into epoch 3)."""
        self._on_batch = on_batch
        mark = checkpoint.Mark(self)
        while self.epoch < self.cfg.epochs and not self.stop_requested and not self.stopped_early:
            start = time.perf_counter()
            self.optimizer.lr = self.schedule.lr(self.epoch)
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
            self.schedule.observe(record)
            if self.stopper is not None:
                self.stopper.observe(record, self.net.params)
            on_epoch(record)
        return self.history

    def _epoch(self) -> Optional[EpochRecord]:
        n, bs = len(self.X), self.batch_size
        X, Y, y = self.X, self.Y, self.y
        order = None
        if self._gathered is not None:
            order = self.rng.permutation(n)
            y = y[order]
        # the inner loop stays short: no logging, no per-batch allocation beyond the loss scalar
        summed, predicted = self.net.loss in SUMMED, self._predicted
        net, step = self.net, self.optimizer.step
        on_batch = self._on_batch if bs < n else None
        total, base = 0.0, 0
        for lo in range(0, n, bs):
            hi = min(lo + bs, n)
            if order is not None:
                if hi - base > len(self._gathered[0]) or lo == 0:  # next rows of the shuffled order
                    base, chunk = lo, order[lo : lo + len(self._gathered[0])]
                    X = np.take(self.X, chunk, axis=0, out=self._gathered[0][: len(chunk)])
                    Y = np.take(self.Y, chunk, axis=0, out=self._gathered[1][: len(chunk)])
                xb, yb = X[lo - base : hi - base], Y[lo - base : hi - base]
            else:
                xb, yb = X[lo:hi], Y[lo:hi]
            loss, out = net.loss_and_grads(xb, yb)
            if not math.isfinite(loss):
                self._diverged(loss)
            if self.initial_loss is None:
                self.initial_loss = loss * (n / (hi - lo)) if summed else loss
            step(net.grads)
            total += loss if summed else loss * (hi - lo)
            if predicted is not None:
                predict_classes(out, out=predicted[lo:hi])
            if on_batch is not None:
                on_batch(self.epoch + hi / n)
            if self.stop_requested and hi < n:  # cut short; after its last batch the epoch is whole
                return None
        classify = predicted is not None
        correct = int(np.count_nonzero(predicted == y)) if classify else 0
        self._check_weights()
        train_loss = total if self.net.loss in SUMMED else total / n
        factor = self.cfg.divergence_factor
        if factor is not None and self.initial_loss and train_loss > factor * self.initial_loss:
            self._diverged(
                train_loss,
                f", over training.divergence_factor ({factor:g}) times the first loss {self.initial_loss:.6g}",
            )
        record = EpochRecord(
            self.epoch + 1, train_loss, correct / n if classify else None, None, None, self.optimizer.lr, 0.0
        )
        if self.splits.val is not None:
            record.val_loss, out = self.net.loss_value(self.X_val, self.Y_val)
            if classify:
                record.val_accuracy = float(np.mean(predict_classes(out) == self.y_val))
        return record

    def _last_loss(self) -> str:
        return f"{self.history[-1].train_loss:.6g}" if self.history else "none yet"

    def _diverged(self, loss: float, why: str = ""):
        raise TrainingFailed(
            f"the loss became {loss:.6g} in epoch {self.epoch + 1}{why} (last finite epoch loss: {self._last_loss()}); "
            f"training stopped. Hint: {self._lower_lr()} or scale the inputs."
        )

    def _check_weights(self):
        if not self.net.all_finite():
            raise TrainingFailed(
                f"the weights became NaN or infinite in epoch {self.epoch + 1} (last finite epoch loss: {self._last_loss()}); "
                f"training stopped. Hint: {self._lower_lr()}."
            )

    def _lower_lr(self) -> str:
        """The hint's rate: the configured one, and the epoch's where a schedule made it another."""
        hint = f"lower training.optimizer.lr (now {self.optimizer_cfg.lr}"
        if self.optimizer.lr != self.optimizer_cfg.lr:
            hint += f"; training.schedule made it {self.optimizer.lr:.6g} in this epoch"
        return hint + ")"
