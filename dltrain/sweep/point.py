"""Train one sweep run in memory and hand back everything its run folder will hold.

The same function runs in the sweep's own process, in a local worker process and on
a Dask worker; none of them touches the run folder. Its result (a RunRecord of NumPy
arrays and plain dicts, with the trainer's checkpoint) is pickled back to the process
that writes the folder, so every backend writes the same weights, history, metrics and
checkpoint, bit for bit, and a cut-off run continues from its checkpoint. A run that
could not start training comes back as a RunResult without a folder, saying why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from dltrain.data.split import Splits
from dltrain.errors import describe, is_bug, traceback_text
from dltrain.pipeline.experiment import Experiment, RunRecord, check_same_data
from dltrain.pipeline.session import RunResult
from dltrain.runs.folder import elapsed, now_iso
from dltrain.runs.status import Status
from dltrain.train import checkpoint

# Set by this process's signal handlers (or the sweep's own): every trainer running here
# stops after its current batch, and runs that have not started yet do not start.
_stop = {"requested": False}
_running: list = []  # the trainers training in this process now


def request_stop() -> None:
    """Signal-safe: only sets flags, which the training loop reads after every batch."""
    _stop["requested"] = True
    for trainer in list(_running):
        trainer.stop_requested = True


def clear_stop() -> None:
    _stop["requested"] = False


Key = tuple[int, int]  # a run of a sweep: (point index, repeat)


@dataclass
class Job:
    """One training run of a sweep: repeat `repeat` (0-based) of point `point`.

    config: the resolved config as a JSON-ready dict. resume: a checkpoint to continue from
    (a run cut off earlier); then `folder` is that run's folder and `trained_on` the data it
    trained on, as its meta.json recorded them (experiment.DATA_RECORD). prune: asked after
    every epoch with the epoch's record; True stops the run as `pruned`.
    """

    point: int
    repeat: int
    config: dict
    resume: dict[str, np.ndarray] = field(default_factory=dict)
    trained_on: dict = field(default_factory=dict)
    folder: str = ""  # the run folder it continues, as the sweep's process names it
    seconds_before: float = 0.0  # training time of the session that was cut off
    prune: Optional[Callable[[Any], bool]] = None

    @property
    def key(self) -> Key:
        return self.point, self.repeat


# What a job gives back: the record of the run it trained (its meta.json holds the status:
# completed, failed, interrupted or pruned), or how it ended without training.
Returned = Union[RunRecord, RunResult]


def not_trained(status: Status, error: str) -> RunResult:
    """A run that never started training: it has no record and no folder."""
    return RunResult(None, status, error=error)


def train_point(
    job: Job,
    data: Union[str, Splits, None],
    blas_threads: Optional[int] = None,
    stop: Optional[Callable[[], bool]] = None,
) -> Returned:
    """Validate the job's config, train it, return its record (a RunResult if it could not start).

    data: the data directory (None: the default) or the splits themselves, loaded once by
    the sweep's client and sent to a Dask worker. blas_threads: cap on the BLAS threads
    while training, so that parallel runs do not oversubscribe the cores (None: no cap).
    stop: asked after every epoch; True ends training early (the sweep was interrupted).
    """
    from threadpoolctl import threadpool_limits

    from dltrain.config.loader import validate

    if _stop["requested"] or (stop is not None and stop()):  # queued before the sweep was told to stop
        return not_trained(Status.INTERRUPTED, "the sweep was interrupted before this run started")
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        try:
            cfg = validate(job.config)
            exp = Experiment(cfg, splits=data) if isinstance(data, Splits) else Experiment(cfg, data)
            if job.resume:
                check_same_data(job.trained_on, exp.splits, job.folder)
                checkpoint.restore_fitting(
                    exp.trainer, job.resume, "its checkpoint.npz", exp.cfg, "the config sweep.yaml gives it"
                )
        except Exception as err:  # e.g. the dataset is missing on this worker, or not the one the run began on
            return not_trained(Status.FAILED, describe(err))
        started, clock = now_iso(), time.perf_counter()
        status, error, bug = _fit(exp, job, stop)
        # Inside the thread limit: meta.json must name the BLAS threads the training used.
        record = exp.record(status, error)
    record.error_log = traceback_text(bug) if bug else None  # the sweep names the file once it has a folder
    record.meta.update(started=started, ended=now_iso(), seconds=round(job.seconds_before + elapsed(clock), 3))
    if status != Status.FAILED:  # a cut-off run continues from here (a diverged one would only diverge again)
        record.checkpoint = checkpoint.capture(exp.trainer, exp.cfg)
    if status == Status.COMPLETED and exp.cfg.output.plots:
        from dltrain.plots import run_figures

        record.figures = run_figures(record)  # drawn here, in parallel with the other runs
    record.views = None  # drawn: the samples need not travel back
    return record


def _fit(
    exp: Experiment, job: Job, stop: Optional[Callable[[], bool]]
) -> tuple[str, Optional[str], Optional[BaseException]]:
    """Train; (status, error, the exception when it is a bug in dltrain)."""
    trainer, pruned = exp.trainer, []

    def on_epoch(record) -> None:
        if (stop is not None and stop()) or _stop["requested"]:
            trainer.stop_requested = True
        elif job.prune is not None and job.prune(record):
            pruned.append(record.epoch)
            trainer.stop_requested = True

    status, error, bug = Status.COMPLETED, None, None
    exp.trainer.stop_requested = _stop["requested"]
    _running.append(trainer)
    try:
        # Overflow on the way to NaN is reported once, by the trainer's divergence check (as `dltrain run` does).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            exp.train(on_epoch=on_epoch)
        if pruned and not trainer.finished:  # judged at its last epoch: nothing was cut, the point is complete
            status, error = Status.PRUNED, f"pruned after epoch {pruned[0]}: worse than the median of earlier points"
        elif not trainer.finished:  # early stopping ends a run complete, as in `dltrain run`
            status, error = Status.INTERRUPTED, "the sweep was interrupted"
    except Exception as err:  # one failing run must not end the sweep
        status, error, bug = Status.FAILED, describe(err), err if is_bug(err) else None
    finally:
        _running.remove(trainer)
    return status, error, bug
