"""Train one sweep point in memory and hand back everything its run folder will hold.

The same function runs in the sweep's own process, in a joblib worker process and
on a Dask worker; none of them touches the run folder. Its result (a RunRecord of
NumPy arrays and plain dicts, with the trainer's checkpoint) is pickled back to the
process that writes the folder, so every backend writes the same weights, history,
metrics and checkpoint, bit for bit, and `dltrain resume` can train a point further.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np

from dltrain.errors import describe, is_bug, traceback_text
from dltrain.pipeline.experiment import Experiment, RunRecord
from dltrain.runs.folder import elapsed, now_iso
from dltrain.train import checkpoint


@dataclass
class Trained:
    """What came back for point `index`: its record, or only an error if it never started training."""

    index: int
    status: str  # completed | failed | interrupted
    record: Optional[RunRecord] = None
    error: Optional[str] = None


def train_point(
    index: int, config: dict, data_dir: Optional[str], blas_threads=None, stop: Optional[Callable[[], bool]] = None
) -> Trained:
    """Validate `config` (a resolved config as JSON-ready dict), train it, return its record.

    blas_threads: cap on the BLAS threads while training, so that parallel points do not
    oversubscribe the cores (None: no cap; 'worker': share this Dask worker's cores).
    stop: asked after every epoch; True ends training early (the sweep was interrupted).
    """
    from threadpoolctl import threadpool_limits

    from dltrain.config.loader import validate

    limit = _worker_share() if blas_threads == "worker" else blas_threads
    with threadpool_limits(limits=limit, user_api="blas"):
        try:
            exp = Experiment(validate(config), data_dir)
        except Exception as err:  # e.g. the dataset is missing on this worker
            return Trained(index, "failed", error=describe(err))
        started, clock = now_iso(), time.perf_counter()
        status, error, bug = "completed", None, None
        try:
            # Overflow on the way to NaN is reported once, by the trainer's divergence check (as `dltrain run` does).
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
                exp.train(on_epoch=lambda record: _stop_if(stop, exp))
            if exp.trainer.stop_requested:
                status, error = "interrupted", "the sweep was interrupted"
        except Exception as err:  # one failing point must not end the sweep
            status, error, bug = "failed", describe(err), err if is_bug(err) else None
    record = exp.record(status, error)
    record.error_log = traceback_text(bug) if bug else None  # the sweep names the file once it has a folder
    record.meta.update(started=started, ended=now_iso(), seconds=elapsed(clock))
    if (
        status != "failed"
    ):  # `dltrain resume` continues the point, as it does a run (a diverged one would only diverge again)
        record.checkpoint = checkpoint.capture(exp.trainer)
    if status == "completed" and exp.cfg.output.plots:
        from dltrain.plots import run_figures

        record.figures = run_figures(record)  # drawn here, in parallel with the other points
    record.views = None  # drawn: the samples need not travel back
    return Trained(index, status, record, error)


def _stop_if(stop: Optional[Callable[[], bool]], exp: Experiment) -> None:
    if stop is not None and stop():
        exp.trainer.stop_requested = True


def _worker_share() -> int:
    """This Dask worker's cores divided among the points it runs at once."""
    from dask.distributed import get_worker
    from joblib import cpu_count

    return max(1, cpu_count() // max(1, get_worker().state.nthreads))
