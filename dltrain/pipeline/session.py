"""One training session of an experiment into its run folder: progress, periodic
checkpoints, signals, and the final save, whatever way the training ends.

    outcome = Session(exp, folder, handle_signals=True).train()
    outcome.status      # completed | interrupted | failed

A session is what `dltrain run` and `dltrain resume` share. The checkpoint it leaves
(`checkpoint.npz`) lets the next session continue bit for bit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dltrain.errors import (
    ERROR_LOG,
    Interrupted,
    RunFolderError,
    TrainingFailed,
    debugging,
    describe,
    is_bug,
    traceback_text,
)
from dltrain.pipeline.experiment import Experiment, RunRecord, weights_of
from dltrain.pipeline.save import save_record
from dltrain.runs.folder import RunFolder, now_iso
from dltrain.runs.status import Status
from dltrain.train import checkpoint
from dltrain.train.monitor import HISTORY_COLUMNS, EpochRecord
from dltrain.train.signals import ForcedExit, graceful_stop

# Called with (total epochs, log_every); returns a context manager that yields the function
# to call with each finished epoch. If that function has a `batch` attribute that is not None,
# it is called after each batch of a multi-batch epoch with the epochs done so far (a float).
# The CLI passes its Rich progress; the default shows nothing.
ProgressFactory = Callable[[int, int], ContextManager[Callable[[EpochRecord], None]]]


def no_progress(total_epochs: int, log_every: int) -> ContextManager[Callable[[EpochRecord], None]]:
    return contextlib.nullcontext(lambda record: None)


LIVE_SECONDS = 1.0  # history.csv and epochs_done on disk are at most this much behind the training


@dataclass
class RunResult:
    """How one run ended: its folder, its status, its final metrics.

    A sweep keeps one per run of each point, from before the run starts (status pending,
    no folder yet) to its end; a run that never started training has no folder either.
    """

    path: Optional[Path]
    status: Status
    metrics: dict = field(default_factory=dict)
    seconds: Optional[float] = None
    epochs: Optional[int] = None
    error: Optional[str] = None
    stopped_epoch: Optional[int] = None  # early stopping ended training after this epoch
    best_epoch: Optional[int] = None  # ... and weights and metrics are this epoch's (restore_best)
    note: Optional[str] = None  # e.g. why a resume had nothing to do
    seed: Optional[int] = None

    @classmethod
    def of(cls, record: RunRecord, path: Optional[Path] = None) -> RunResult:
        """The result a run's record gives, once written to `path`."""
        meta = record.meta
        return cls(
            path,
            meta["status"],
            record.metrics,
            meta.get("seconds"),
            meta.get("epochs_done"),
            meta.get("error"),
            meta.get("stopped_epoch"),
            meta.get("best_epoch"),
            seed=meta.get("seed"),
        )

    def as_dict(self) -> dict:
        doc = {
            "run": str(self.path),
            "status": self.status,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "metrics": self.metrics,
            "error": self.error,
        }
        if self.best_epoch is not None:
            doc.update(stopped_epoch=self.stopped_epoch, best_epoch=self.best_epoch)
        return {**doc, "note": self.note} if self.note else doc


class Session:
    def __init__(
        self,
        exp: Experiment,
        folder: RunFolder,
        progress: Optional[ProgressFactory] = None,
        handle_signals: bool = False,
        seconds_before: float = 0.0,
    ):
        self.exp, self.folder, self.handle_signals = exp, folder, handle_signals
        self.progress = progress or no_progress
        self.seconds_before = seconds_before
        self.saved_epoch = exp.trainer.epoch  # epoch of the newest checkpoint on disk
        self.write_error: Optional[TrainingFailed] = None  # the folder could not be written: status failed, exit 1
        self.next_live_write = time.monotonic() + LIVE_SECONDS
        self.bug: Optional[Exception] = None  # an unexpected exception that ended the training

    def train(self) -> RunResult:
        clock = time.perf_counter()
        try:
            with graceful_stop(self.exp.trainer, enabled=self.handle_signals):
                status, error = self._fit()
                record = self.exp.record(status, error)
                record.error_log = traceback_text(self.bug) if self.bug else None
                record.meta.update(ended=now_iso(), seconds=round(self.seconds_before + time.perf_counter() - clock, 3))
                self._save(record, status)
        except ForcedExit:
            self._abandon()
            resuming = (
                f"resuming continues from its checkpoint (epoch {self.saved_epoch})"
                if checkpoint.exists(self.folder)
                else "no checkpoint was saved yet, so resuming starts over from epoch 0"
            )
            raise Interrupted(
                f"stopped at once by a second interrupt; every file in {self.folder.path} is complete and {resuming}"
                f"\nresume with: dltrain resume {self.folder.path}"
            ) from None
        if self.bug is not None and debugging():
            raise self.bug  # the run folder is saved (as far as it could be); now the traceback, for a debugger
        if self.write_error is not None:
            raise self.write_error
        return RunResult.of(record, self.folder.path)

    def _fit(self) -> tuple[Status, Optional[str]]:
        trainer, training = self.exp.trainer, self.exp.cfg.training
        try:
            with self.progress(training.epochs, training.log_every) as progress:

                def on_epoch(record: EpochRecord) -> None:
                    progress(record)
                    if not self._maybe_checkpoint(record):
                        self._live_history(record)

                # Overflow on the way to NaN is reported once, by the trainer's divergence check.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                    self.exp.train(on_epoch=on_epoch, on_batch=getattr(progress, "batch", None))
        except RunFolderError as err:  # a checkpoint could not be written: stop, keep what is on disk
            self.write_error = TrainingFailed(str(err))
            return Status.FAILED, str(err)
        except ForcedExit:
            raise
        except Exception as err:  # diverged, out of memory, or a bug: whatever it is, save what was done
            if is_bug(err):
                self.bug = err
                return Status.FAILED, describe(err, log=self.folder.path / ERROR_LOG)
            return Status.FAILED, describe(err)
        except KeyboardInterrupt:  # no handlers installed (the Python API): the epoch was rolled back
            return Status.INTERRUPTED, "interrupted by the user"
        if not trainer.finished:
            return Status.INTERRUPTED, "interrupted by the user"
        return Status.COMPLETED, None

    def _maybe_checkpoint(self, record: EpochRecord) -> bool:
        every, trainer = self.exp.cfg.training.checkpoint_every, self.exp.trainer
        if not every or record.epoch % every or self._last(record):
            return False  # the last epoch is saved by _save
        self._checkpoint()
        self.folder.write_csv("history.csv", [r.as_row() for r in trainer.history], columns=HISTORY_COLUMNS)
        self.folder.write_npz("weights.npz", weights_of(self.exp.net))
        self.folder.update_meta(epochs_done=trainer.epoch)
        self.next_live_write = time.monotonic() + LIVE_SECONDS
        return True

    def _last(self, record: EpochRecord) -> bool:
        return record.epoch == self.exp.cfg.training.epochs or self.exp.trainer.stopped_early

    def _live_history(self, record: EpochRecord) -> None:
        """Keep history.csv and meta.json's epochs_done on disk up to date for readers (`dltrain runs`,
        another shell) and against a hard kill: at most every LIVE_SECONDS, and at the last epoch (by _save).

        Not flushed to the disk: a killed process loses nothing the page cache holds."""
        now = time.monotonic()
        if now < self.next_live_write or self._last(record):
            return
        rows = [r.as_row() for r in self.exp.trainer.history]
        self.folder.write_csv("history.csv", rows, sync=False, columns=HISTORY_COLUMNS)
        self.folder.update_meta(sync=False, epochs_done=self.exp.trainer.epoch)
        self.next_live_write = time.monotonic() + LIVE_SECONDS

    def _checkpoint(self) -> None:
        checkpoint.save(self.folder, checkpoint.capture(self.exp.trainer, self.exp.cfg))
        self.saved_epoch = self.exp.trainer.epoch

    def _save(self, record: RunRecord, status: Status) -> None:
        try:
            if status != Status.FAILED:  # a diverged run would only diverge again
                self._checkpoint()
            output = self.exp.cfg.output
            save_record(self.folder, record, plots=output.plots, report=output.report)
        except Exception as err:  # a full disk, most often; whatever it is, meta.json must not say running
            log = None
            if is_bug(err):
                self.bug, log = err, self._write_error_log(err)
            problem = (
                describe(err) if isinstance(err, RunFolderError) else f"saving the run failed: {describe(err, log)}"
            )
            self._mark_failed(f"{problem}; the run folder keeps the last complete version of every file")
            self.write_error = TrainingFailed(f"{problem}\nrun folder: {self.folder.path} (status failed)")

    def _write_error_log(self, err: Exception) -> Optional[Path]:
        """error.log with the traceback of a bug met while saving; its path, or None if it cannot be written."""
        try:
            self.folder.write_text(ERROR_LOG, traceback_text(err))
        except (RunFolderError, OSError, ValueError):
            return None
        return self.folder.path / ERROR_LOG

    def _mark_failed(self, error: str) -> None:
        """Status failed in meta.json, as far as the disk allows: when a full disk leaves no room
        for the atomic write's second copy, meta.json is rewritten in its own blocks."""
        fields: dict[str, Any] = dict(status=Status.FAILED, error=error, ended=now_iso(), epochs_done=self.saved_epoch)
        try:
            self.folder.update_meta(**fields)
        except (RunFolderError, OSError, ValueError):
            try:
                self.folder.update_meta_in_place(**fields)
            except (RunFolderError, OSError, ValueError):
                pass  # the folder cannot be written at all: nothing more to do

    def _abandon(self) -> None:
        try:
            self.folder.update_meta(
                status=Status.INTERRUPTED,
                error="stopped at once by a second interrupt",
                ended=now_iso(),
                epochs_done=self.saved_epoch,
            )
        except (RunFolderError, OSError, ValueError):
            pass
