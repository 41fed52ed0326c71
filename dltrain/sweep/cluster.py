"""Sweep runs as tasks on an existing Dask distributed cluster; results come back to this process.

Workers need dltrain installed, nothing else: no shared filesystem and no data. The
client loads each distinct dataset (and split) once and scatters it to the workers once;
each run's task gets it from there. With `worker_data=True` the workers load it
themselves, from their own data directory. Run folders are always written here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Optional
from urllib.parse import urlparse

from dltrain.errors import ConfigError, describe
from dltrain.pipeline.session import RunResult
from dltrain.runs.status import Status
from dltrain.sweep.backends import Backend, NoWorkers, drain, stop_event_name
from dltrain.sweep.point import Job, Key, Returned, not_trained, train_point


class Dask(Backend):
    def __init__(self, jobs: int, scheduler: Optional[str], *, worker_data: bool = False, worker_timeout: float = 60.0):
        if not scheduler:
            raise ConfigError("--backend dask needs --scheduler tcp://HOST:PORT (the address `dask scheduler` prints)")
        if jobs != 1:
            raise ConfigError(
                "--jobs applies to --backend local; on Dask, each worker thread trains one point at a time"
            )
        if worker_timeout <= 0:
            raise ConfigError(f"--worker-timeout must be above 0 seconds, got {worker_timeout}")
        self.scheduler, self.worker_data, self.worker_timeout = scheduler, worker_data, worker_timeout
        self.distributed = _import_distributed()
        self.client: Any = None
        self.stop = ClusterStop(stop_event_name())
        # dataset key -> the scattered splits (a Dask future), or the failed result of every run on it
        self._data: dict[str, object] = {}
        self._no_worker_since: Optional[float] = None
        self._checked = 0.0

    def __enter__(self):
        try:
            self.client = self.distributed.Client(self.scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {self.scheduler}: {err}. Is `dask scheduler` running there?"
            ) from None
        self.slots = max(1, sum(self._threads_by_host().values()))
        return self

    def __exit__(self, *exc):
        self.client.close()
        return False

    def describe(self) -> str:
        return f"Dask cluster at {self.scheduler}"

    def run(self, jobs: Iterator[Job], lookahead: int, data_dir: Optional[str]) -> Iterator[tuple[Key, Returned]]:
        shares = self._threads_by_host()

        def submit(job: Job):
            data = data_dir if self.worker_data else self._scattered(job, data_dir)
            if data is None and not self.worker_data:
                return None
            if isinstance(data, RunResult):  # the client could not load it: the run fails, the sweep goes on
                return _Done(data)
            return self.client.submit(train_on_worker, job, data, shares, self.stop, pure=False)

        def stop_all() -> None:
            self.distributed.Event(self.stop.name, client=self.client).set()

        def abandon(futures: list) -> None:
            stop_all()  # cancelling does not stop a task already running in a worker thread: ask it to stop
            self.client.cancel([f for f in futures if not isinstance(f, _Done)])

        yield from drain(jobs, lookahead, submit, self, on_stop=stop_all, abandon=abandon, check=self._check_workers)

    def outcome(self, future, job: Job) -> Optional[Returned]:
        if isinstance(future, _Done):
            return future.returned
        if future.status == "cancelled" and not self.stopping:
            # Not by us: its data was lost with the worker(s) holding it. Send the data again, then the job.
            self._data.clear()
            return None
        try:
            return future.result()
        except Exception as err:  # the worker died or could not run dltrain: this run failed, not the sweep
            return not_trained(Status.FAILED, f"the Dask task failed: {type(err).__name__}: {err}")

    def _scattered(self, job: Job, data_dir: Optional[str]):
        """The job's splits, loaded here and sent to the workers once per distinct dataset."""
        from dltrain.config.loader import validate
        from dltrain.pipeline.experiment import load_splits

        key = json.dumps([job.config["dataset"], job.config["training"]["dtype"]], sort_keys=True)
        if key not in self._data:
            if not self._workers_alive():
                return None  # scattering would wait for a worker here, unchecked: try again later
            try:
                splits = load_splits(validate(job.config), data_dir)
            except Exception as err:
                self._data[key] = not_trained(Status.FAILED, f"loading the data on this machine: {describe(err)}")
            else:
                # broadcast: every worker holds a copy, so losing one worker does not lose the data
                self._data[key] = self.client.scatter(splits, broadcast=True, hash=False)
        data = self._data[key]
        return replace(data) if isinstance(data, RunResult) else data  # each failed run its own result

    def _threads_by_host(self) -> dict[str, int]:
        """Host -> the threads of all worker processes there: the points that host trains at once."""
        shares: dict[str, int] = {}
        for info in self.client.scheduler_info(n_workers=-1)["workers"].values():
            shares[info["host"]] = shares.get(info["host"], 0) + info["nthreads"]
        return shares

    def _check_workers(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        if self._workers_alive():
            self._no_worker_since = None
        elif self._no_worker_since is None:
            self._no_worker_since = now
        elif now - self._no_worker_since > self.worker_timeout:
            raise NoWorkers(
                f"no Dask worker has been alive at {self.scheduler} for {self.worker_timeout:g} s "
                "(--worker-timeout); the sweep stopped"
            )

    def _workers_alive(self) -> bool:
        try:
            return bool(self.client.nthreads())
        except Exception:  # the scheduler itself is gone
            return False


class _Done:
    """A run settled on the client (its data could not be loaded), in place of a future."""

    def __init__(self, returned: RunResult):
        self.returned = returned

    def done(self) -> bool:
        return True


def train_on_worker(job: Job, data, shares: dict[str, int], stop) -> Returned:
    """train_point on a Dask worker, with the BLAS threads of its share of the host's cores."""
    from dask.distributed import get_worker

    from dltrain.sweep.pool import cpu_count

    worker = get_worker()
    host = urlparse(worker.address).hostname or ""
    # The cores of this host, divided among all points that its worker processes train at once.
    slots = shares.get(host) or worker.state.nthreads
    returned = train_point(job, data, max(1, cpu_count() // max(1, slots)), stop)
    if isinstance(returned, RunResult) and returned.status == Status.FAILED:
        returned.error = f"on Dask worker {host} ({worker.address}): {returned.error}"
    return returned


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


def _import_distributed():
    try:
        import dask.distributed
    except ImportError:
        raise ConfigError(
            "--backend dask needs Dask distributed, an optional extra: pip install 'dltrain[cluster]'"
        ) from None
    return dask.distributed
