"""Where sweep points train: in this process, in local worker processes, or on a Dask cluster.

    with make_backend("local", jobs=2) as backend:       # a Dask backend connects here
        for trained in backend.run(tasks, data_dir):     # tasks: [(point index, config dict), ...]
            ...                                          # results arrive as points finish

Every backend runs `train_point` and yields its `Trained` results; the caller writes
the run folders. Closing the iterator (as Ctrl-C does) stops the points still running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from dltrain.errors import ConfigError
from dltrain.sweep.point import Trained, train_point

Task = tuple[int, dict]  # (point index, resolved config as a JSON-ready dict)


class Backend:
    """A context manager: entering it reaches the workers, so a bad address fails before anything is written."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Local(Backend):
    """Points in this process (jobs=1) or in `jobs` joblib (loky) worker processes."""

    def __init__(self, jobs: int = 1, scheduler: Optional[str] = None):
        if scheduler:
            raise ConfigError("--scheduler applies to --backend dask only")
        if jobs < 1:
            raise ConfigError(f"--jobs must be 1 or more, got {jobs}")
        self.jobs = jobs

    def describe(self) -> str:
        return (
            "in this process"
            if self.jobs == 1
            else f"{self.jobs} parallel processes, {self.blas_threads()} BLAS thread(s) each"
        )

    def blas_threads(self) -> int:
        from joblib import cpu_count

        # Each process gets its share of the cores, so N processes never run N x all-cores BLAS threads.
        return max(1, cpu_count() // self.jobs)

    def run(self, tasks: Iterable[Task], data_dir: Optional[str]) -> Iterator[Trained]:
        if self.jobs == 1:
            for index, config in tasks:
                yield train_point(index, config, data_dir)
            return
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=self.jobs, backend="loky", return_as="generator_unordered")
        blas = self.blas_threads()
        yield from parallel(delayed(train_point)(index, config, data_dir, blas) for index, config in tasks)


class Dask(Backend):
    """Points as tasks on an existing Dask distributed cluster; results come back to this process.

    Workers need dltrain installed and the dataset in their data directory, nothing else:
    no shared filesystem, since run folders are written here, by the client.
    """

    def __init__(self, jobs: int = 1, scheduler: Optional[str] = None):
        if not scheduler:
            raise ConfigError("--backend dask needs --scheduler tcp://HOST:PORT (the address `dask scheduler` prints)")
        if jobs != 1:
            raise ConfigError(
                "--jobs applies to --backend local; on Dask, each worker thread trains one point at a time"
            )
        self.scheduler = scheduler
        self.distributed = _import_distributed()
        self.client: Any = None
        self.stop = ClusterStop(f"dltrain-sweep-stop-{uuid.uuid4().hex}")

    def __enter__(self):
        try:
            self.client = self.distributed.Client(self.scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {self.scheduler}: {err}. Is `dask scheduler` running there?"
            ) from None
        return self

    def __exit__(self, *exc):
        self.client.close()
        return False

    def describe(self) -> str:
        return f"Dask cluster at {self.scheduler}"

    def run(self, tasks: Iterable[Task], data_dir: Optional[str]) -> Iterator[Trained]:
        submit = self.client.submit
        futures = {
            submit(train_point, index, config, data_dir, "worker", self.stop, pure=False): index
            for index, config in tasks
        }
        try:
            for future in self.distributed.as_completed(futures):
                yield _outcome(future, futures[future])
        finally:
            # Cancelling a future does not stop a task already running in a worker thread: ask it to stop.
            self.distributed.Event(self.stop.name, client=self.client).set()
            self.client.cancel(list(futures))


class ClusterStop:
    """Picklable; on a worker, says whether the client has set the sweep's stop event.

    Asking costs a round trip to the scheduler, so it asks at most once a second.
    """

    def __init__(self, name: str):
        self.name = name
        self._event: Any = None
        self._asked = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._asked < 1.0:
            return False
        self._asked = now
        if self._event is None:
            from dask.distributed import Event

            self._event = Event(self.name)
        return self._event.is_set()

    def __getstate__(self):
        return {"name": self.name, "_event": None, "_asked": 0.0}


def _outcome(future, index: int) -> Trained:
    try:
        return future.result()
    except Exception as err:  # the worker died or could not run dltrain: this point failed, not the sweep
        return Trained(index, "failed", error=f"the Dask task failed: {type(err).__name__}: {err}")


def _import_distributed():
    try:
        import dask.distributed
    except ImportError:
        raise ConfigError(
            "--backend dask needs Dask distributed, an optional extra: pip install 'dltrain[cluster]'"
        ) from None
    return dask.distributed


BACKENDS = {"local": Local, "dask": Dask}


def make_backend(name: str, jobs: int = 1, scheduler: Optional[str] = None):
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
    return BACKENDS[name](jobs, scheduler)
