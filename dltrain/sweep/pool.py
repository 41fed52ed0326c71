"""Local worker processes for sweep runs, started as early as possible.

    pool.start(2)        # first thing in `dltrain sweep --jobs 2`, before the heavy imports
    executor = pool.get(2)

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
from concurrent.futures import ProcessPoolExecutor

PRELOAD = ["dltrain.sweep.worker"]

_pool: dict = {}  # jobs -> the started executor


def start(jobs: int) -> ProcessPoolExecutor:
    """The executor for `jobs` workers; its processes come up in the background."""
    if jobs in _pool:
        return _pool[jobs]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    executor = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker)
    # Starting a worker waits until the forkserver has imported PRELOAD: do it in a
    # thread, so this process goes on with its own imports meanwhile.
    threading.Thread(target=lambda: [executor.submit(os.getpid) for _ in range(jobs)], daemon=True).start()
    _pool[jobs] = executor
    return executor


def get(jobs: int) -> ProcessPoolExecutor:
    """The executor for `jobs` workers; one started early for another count is shut down."""
    for other in [executor for count, executor in _pool.items() if count != jobs]:
        close(other, kill=True)
    return start(jobs)


def pids(executor: ProcessPoolExecutor) -> list[int]:
    # ProcessPoolExecutor has no public list of its processes; _processes has held them since Python 3.2.
    return [p.pid for p in list((getattr(executor, "_processes", None) or {}).values()) if p.pid]


def close(executor: ProcessPoolExecutor, kill: bool = False) -> None:
    """Shut the executor down; kill=True ends its processes at once (SIGKILL) instead of letting them finish."""
    for jobs, started in list(_pool.items()):
        if started is executor:
            del _pool[jobs]
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if kill and process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)


def signal_workers(executor: ProcessPoolExecutor, signum: int = signal.SIGTERM) -> None:
    """Ask every worker to stop after its current batch (their handler calls point.request_stop)."""
    for pid in pids(executor):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _init_worker() -> None:
    from dltrain.sweep.point import request_stop

    # Ctrl-C reaches the whole process group, `timeout` and the parent send SIGTERM: either way the
    # worker finishes its batch and hands back a record with a checkpoint, which the parent saves.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: request_stop())


def cpu_count() -> int:
    from joblib import cpu_count as usable  # the cores this process may use (affinity, cgroup quota)

    return int(usable())
