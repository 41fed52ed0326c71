"""Where sweep runs train: in this process, in local worker processes, or on a Dask cluster.

    with make_backend("local", jobs=2) as backend:                    # a Dask backend connects here
        for key, returned in backend.run(jobs, lookahead, data_dir):  # jobs: an iterator of point.Job
            ...                                                        # results arrive as runs finish

Every backend runs `train_point` and yields each job's key with what it returned: the
RunRecord, or a RunResult for a run that could not train. The caller writes the run
folders. Jobs are pulled lazily, at most `lookahead` in flight, so an Optuna search
asks for its next point only once a slot is free. `request_stop()` (safe in a signal
handler) lets running points stop after their current batch and come back with their
checkpoint; closing the iterator abandons whatever still runs.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

from dltrain.errors import ConfigError, TrainingFailed
from dltrain.runs.status import Status
from dltrain.sweep import point
from dltrain.sweep.point import Job, Key, Returned, not_trained, train_point

POLL = 0.1  # seconds between looks at the running jobs
GRACE = 30.0  # seconds the running points get to stop after their batch and come back (a loaded machine is slow)
MAX_RESTARTS = 3  # local workers broken this often in a row, no run coming back between: the sweep fails


class NoWorkers(TrainingFailed):
    """Nothing to train on: no Dask worker alive for the backend's timeout, or local workers that keep dying."""


class Backend:
    """A context manager: entering it reaches the workers, so a bad address fails before anything is written."""

    slots = 1  # runs at once
    stopping = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def request_stop(self) -> None:
        self.stopping = True


class Serial(Backend):
    """Runs one after the other in this process."""

    def describe(self) -> str:
        return "in this process"

    def request_stop(self) -> None:
        self.stopping = True
        point.request_stop()  # the run training now stops after its batch

    def run(self, jobs: Iterator[Job], lookahead: int, data_dir: Optional[str]) -> Iterator[tuple[Key, Returned]]:
        point.clear_stop()
        try:
            for job in jobs:
                yield job.key, train_point(job, data_dir)
        finally:
            point.clear_stop()


class Pool(Backend):
    """`jobs` worker processes (dltrain.sweep.pool), each limited to its share of the cores' BLAS threads."""

    def __init__(self, jobs: int):
        from dltrain.sweep import pool

        self.pool, self.slots = pool, jobs
        self.workers = pool.start(jobs)
        self.restarts = 0  # new workers since the last run came back

    def blas_threads(self) -> int:
        # Each process gets its share of the cores, so N processes never run N x all-cores BLAS threads.
        return max(1, self.pool.cpu_count() // self.slots)

    def describe(self) -> str:
        return f"{self.slots} parallel processes, {self.blas_threads()} BLAS thread(s) each"

    def __exit__(self, *exc):
        self.workers.close()  # every result is in: no worker outlives the sweep
        return False

    def run(self, jobs: Iterator[Job], lookahead: int, data_dir: Optional[str]) -> Iterator[tuple[Key, Returned]]:
        from concurrent.futures.process import BrokenProcessPool

        blas = self.blas_threads()

        def submit(job: Job):
            try:
                return self.workers.submit(train_point, job, data_dir, blas, key=job.key)
            except BrokenProcessPool:  # a worker died: new ones take the runs that were not its own
                self.restarts += 1
                if self.restarts > MAX_RESTARTS:
                    raise NoWorkers(
                        f"the worker processes broke {self.restarts} times in a row with no run coming back"
                    ) from None
                self.workers.restart()
                return self.workers.submit(train_point, job, data_dir, blas, key=job.key)

        yield from drain(
            jobs,
            lookahead,
            submit,
            self,
            on_stop=self.workers.signal,
            abandon=lambda futures: self.workers.close(),
            check=self.workers.fail_orphans,
        )

    def outcome(self, future, job: Job) -> Optional[Returned]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            returned = future.result()
        except BrokenProcessPool:  # a worker died (killed for memory): its run failed, the others run again
            death = self.workers.death(job.key)
            if death is None:
                return None
            returned = not_trained(Status.FAILED, f"the worker process died ({death}: out of memory?)")
        except Exception as err:  # the run's record could not come back (pickling)
            returned = not_trained(Status.FAILED, f"the worker process failed: {type(err).__name__}: {err}")
        self.restarts = 0
        return returned


def drain(
    jobs: Iterator[Job],
    lookahead: int,
    submit: Callable,
    backend,
    on_stop: Callable[[], None],
    abandon: Callable[[list], None],
    check: Callable[[], None] = lambda: None,
) -> Iterator[tuple[Key, Returned]]:
    """Keep up to `lookahead` jobs in flight and yield each (job key, result) as it arrives.

    `submit(job)` returns a future, or None when nothing can take the job now (it is
    tried again); `backend.outcome(future, job)` returns what the job returned, or None to
    run the job again (a Dask worker died with its data). Once the backend is stopping
    no job is started; the running ones get GRACE seconds to come back, then everything
    left is abandoned. `check`, called while nothing comes back, may raise (no workers for
    too long) or fail the jobs that can no longer come back.
    """
    in_flight: dict = {}
    jobs = iter(jobs)
    retry: deque[Job] = deque()
    exhausted, deadline = False, None
    try:
        while True:
            while not backend.stopping and len(in_flight) < lookahead and (retry or not exhausted):
                job = retry.popleft() if retry else next(jobs, None)
                if job is None:
                    exhausted = True
                    continue
                future = submit(job)
                if future is None:
                    retry.appendleft(job)
                    break
                in_flight[future] = job
            done = [f for f in in_flight if f.done()]
            for future in done:
                job = in_flight.pop(future)
                returned = backend.outcome(future, job)
                if returned is None:
                    retry.append(job)
                else:
                    yield job.key, returned
            if not in_flight and (backend.stopping or (exhausted and not retry)):
                return
            if done:
                continue
            if backend.stopping:
                if deadline is None:
                    deadline = time.monotonic() + GRACE
                    on_stop()
                elif time.monotonic() > deadline:
                    return
            check()
            time.sleep(POLL)
    finally:
        if in_flight:
            abandon(list(in_flight))


def make_backend(
    name: str,
    jobs: int = 1,
    scheduler: Optional[str] = None,
    *,
    worker_data: bool = False,
    data_dir=None,
    worker_timeout: float = 60.0,
):
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
    if name == "local":
        if scheduler:
            raise ConfigError("--scheduler applies to --backend dask only")
        if worker_data:
            raise ConfigError("--data-on-workers applies to --backend dask only")
        if jobs < 1:
            raise ConfigError(f"--jobs must be 1 or more, got {jobs}")
        return Serial() if jobs == 1 else Pool(jobs)
    from dltrain.sweep.cluster import Dask

    if worker_data and data_dir is not None and not Path(data_dir).expanduser().is_absolute():
        raise ConfigError(
            f"--data-dir {data_dir} is relative: with --data-on-workers each worker would read it from its own "
            "working directory; give an absolute path (or none: each worker's DLTRAIN_DATA_DIR or cache)"
        )
    return Dask(jobs, scheduler, worker_data=worker_data, worker_timeout=worker_timeout)


BACKENDS = {"local": "this machine", "dask": "a Dask distributed cluster"}


def stop_event_name() -> str:
    return f"dltrain-sweep-stop-{uuid.uuid4().hex}"
