"""Local worker processes for sweep runs, started as early as possible.

    pool.start(2)          # first thing in `dltrain sweep --jobs 2`, before the heavy imports
    workers = pool.get(2)
    future = workers.submit(train_point, job, data_dir, blas)
    workers.signal()       # every worker stops after its batch
    workers.close()        # every worker ends now

The workers are forks of one forkserver process that imports the training modules
once, so N workers cost one import instead of N, and that import runs while this
process is still importing its own. (joblib's loky workers each start a fresh
interpreter and import everything again, seconds per worker on a busy machine.)
This module imports nothing heavy, so it can run first.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.queues import SimpleQueue

PRELOAD = ["dltrain.sweep.worker"]
JOIN = 5.0  # seconds to wait for a killed worker to be gone

_pool: dict[int, Workers] = {}  # jobs -> the started workers


class Workers:
    """A ProcessPoolExecutor whose workers tell their PIDs as they start (the executor keeps
    its processes to itself), so that they can be signalled and killed."""

    def __init__(self, jobs: int):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _start_forkserver()
        self._told: SimpleQueue = context.SimpleQueue()
        self._pids: set[int] = set()
        # Only this process holds the sending end: the workers see the pipe close when it ends, however it ends.
        self._alive, self._alive_end = context.Pipe(duplex=False)
        self.executor = ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_init_worker, initargs=(self._told, self._alive)
        )

    def submit(self, fn, *args) -> Future:
        return self.executor.submit(fn, *args)

    def pids(self) -> set[int]:
        """The workers that have started. One still starting has taken no run yet."""
        while not self._told.empty():
            self._pids.add(self._told.get())
        return set(self._pids)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Ask every worker to stop after its current batch (their handler calls point.request_stop)."""
        alive = {process.pid for process in multiprocessing.active_children()}  # not a PID reused since
        for pid in self.pids() & alive:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """End the workers at once (SIGKILL): no worker outlives the sweep, whatever it is running.

        A worker still starting, whose PID is not known yet, ends when the pipe it watches
        (`_end_with_the_sweep`) closes here."""
        for jobs, started in list(_pool.items()):
            if started is self:
                del _pool[jobs]
        pids = self.pids()
        self.executor.shutdown(wait=False, cancel_futures=True)
        ours = [p for p in multiprocessing.active_children() if p.pid in pids]
        for process in ours:
            process.kill()
        self._alive_end.close()
        self._alive.close()
        for process in ours:
            process.join(timeout=JOIN)


def _start_forkserver() -> None:
    """Start the forkserver (if it is not running) with SIGTERM blocked, as the standard library
    starts its resource tracker.

    `timeout`, Slurm and systemd send SIGTERM to the whole process group. The forkserver would
    die of it, and the pool takes the forkserver's end for the end of every worker
    (BrokenProcessPool) while the workers are still stopping after their batch. Blocked, the
    signal never reaches the forkserver; its workers inherit the block and lift it once their
    handler is installed (`_init_worker`), so a SIGTERM sent meanwhile is handled then.
    The signal's disposition is left alone: one ignored when dltrain started stays ignored.
    """
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()  # first: starting its own process, it unblocks SIGTERM again
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def start(jobs: int) -> Workers:
    """The workers for `jobs` runs at once; their processes come up in the background."""
    if jobs in _pool:
        return _pool[jobs]
    workers = _pool[jobs] = Workers(jobs)
    # Starting a worker waits until the forkserver has imported PRELOAD: do it in a
    # thread, so this process goes on with its own imports meanwhile.
    threading.Thread(target=lambda: [workers.submit(os.getpid) for _ in range(jobs)], daemon=True).start()
    return workers


def get(jobs: int) -> Workers:
    """The workers for `jobs` runs at once; those started early for another count are closed."""
    for other in [workers for count, workers in _pool.items() if count != jobs]:
        other.close()
    return start(jobs)


def _init_worker(told: SimpleQueue, sweep_alive: Connection) -> None:
    from dltrain.sweep.point import request_stop
    from dltrain.train.signals import catch

    # Ctrl-C reaches the whole process group, `timeout` and the parent send SIGTERM: either way the
    # worker finishes its batch and hands back a record with a checkpoint, which the parent saves.
    # A signal the sweep ignores (a script's background job ignores SIGINT) the worker ignores too.
    catch(lambda *_: request_stop())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked since the forkserver started
    threading.Thread(target=_end_with_the_sweep, args=(sweep_alive,), daemon=True).start()
    told.put(os.getpid())


def _end_with_the_sweep(sweep_alive: Connection) -> None:
    """A sweep killed outright (SIGKILL, out of memory) cannot stop its workers, and nothing would
    receive what they train: a worker ends as soon as the sweep's process is gone."""
    try:
        sweep_alive.recv_bytes()  # nothing is ever sent: this returns when the sweep's end of the pipe closes
    except (EOFError, OSError):
        pass
    os._exit(1)


def cpu_count() -> int:
    from joblib import cpu_count as usable  # the cores this process may use (affinity, cgroup quota)

    return int(usable())
