"""Local worker processes for sweep runs, forked from a process started as early as possible.

    pool.start_forkserver()  # first thing in `dltrain sweep --jobs 2`, before the heavy imports
    workers = pool.start(2)  # once the sweep is checked: the workers come up in the background
    future = workers.submit(train_point, job, data_dir, blas)
    workers.signal()         # every worker stops after its batch
    workers.close()          # every worker ends now

The workers are forks of one forkserver process that imports the training modules
once, so N workers cost one import instead of N, and that import runs while this
process is still importing its own and checking the sweep. (joblib's loky workers each
start a fresh interpreter and import everything again, seconds per worker on a busy
machine.) Only the forkserver starts before the sweep is checked: a sweep refused
(exit 2) has no worker to end, and the forkserver ends by itself with this process.
This module imports nothing heavy, so it can run first.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import MutableMapping
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Optional

PRELOAD = ["dltrain.sweep.worker"]
JOIN = 5.0  # seconds to wait for a killed worker to be gone


class Workers:
    """A ProcessPoolExecutor whose workers tell their PIDs (the executor keeps its processes to
    itself), so that they can be signalled, and that ends them all when closed.

    A worker that dies (killed by the kernel for memory) breaks the executor: every run in it,
    those queued too, ends with BrokenProcessPool. `death(key)` says whether the run `key` is
    the one whose worker died; `restart()` brings up new workers for the others."""

    def __init__(self, jobs: int):
        self._context = multiprocessing.get_context("forkserver")
        self._jobs = jobs
        start_forkserver()
        # Each worker tells its PID as it starts, then (PID, run key) as each run starts in it: small
        # messages, each one whole write to a pipe, read as they come (a pipe left unread fills up).
        self._heard, self._told = self._context.Pipe(duplex=False)
        self._pids: set[int] = set()
        self._runs: dict = {}  # run key -> the PID it last started in
        self._read = threading.Condition()  # the listener has read up to a mark of this process's (`_caught_up`)
        self._marks_sent = self._marks_read = 0
        self._listener = threading.Thread(target=self._listen, daemon=True)
        self._listener.start()
        # Only this process holds the sending end: the workers see the pipe close when it ends, however it ends.
        self._alive, self._alive_end = self._context.Pipe(duplex=False)
        self._dead: dict[int, int] = {}  # PID -> exit code of the workers of broken executors that had died
        self._submitted: list[tuple[ProcessPoolExecutor, Future]] = []  # runs not seen done yet, by executor
        self.executor = self._executor()

    def _executor(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self._jobs, mp_context=self._context, initializer=_init_worker, initargs=(self._told, self._alive)
        )
        self._processes: MutableMapping[int, Any] = executor._processes  # PID -> process, filled as it forks
        return executor

    def _listen(self) -> None:
        try:
            while (message := self._heard.recv()) is not None:
                pid, key = message
                if pid is None:  # a mark: every message sent before it has been read
                    with self._read:
                        self._marks_read = key
                        self._read.notify_all()
                    continue
                self._pids.add(pid)
                if key is not None:
                    self._runs[key] = pid
        except (EOFError, OSError):  # closed
            pass

    def submit(self, fn, *args, key=None) -> Future:
        """Run fn(*args) in a worker; `key` names the run for `death`. BrokenProcessPool once a worker died."""
        future = self.executor.submit(_run, key, fn, *args)
        self._submitted.append((self.executor, future))
        return future

    def fail_orphans(self) -> None:
        """Fail every run that a broken executor will never complete (BrokenProcessPool; it never
        started, so it runs again). CPython's executor marks itself broken without the lock its
        submit takes: a run submitted as a worker dies can miss both the error at submit and the
        failing of the runs the executor knew, and wait forever once the executor's thread is gone."""
        from concurrent.futures.process import BrokenProcessPool

        waiting = []
        for executor, future in self._submitted:
            if future.done():
                continue
            manager = executor._executor_manager_thread
            if executor._broken and (manager is None or not manager.is_alive()):  # type: ignore[attr-defined]
                try:
                    future.set_exception(BrokenProcessPool("the worker processes broke before this run started"))
                except InvalidStateError:  # it completed meanwhile after all
                    pass
            else:
                waiting.append((executor, future))
        self._submitted = waiting

    def death(self, key) -> Optional[str]:
        """How the worker that ran `key` ended (a signal, an exit code), or None: the run never started,
        or its worker is alive, or it was one this process ended (restart) after another had died."""
        self._caught_up()  # a worker killed just after it told the run's start: that message may be unread
        pid = self._runs.get(key, -1)
        code = self._dead[pid] if pid in self._dead else getattr(self._processes.get(pid), "exitcode", None)
        return ending(code) if code else None

    def _caught_up(self) -> None:
        """Wait until the listener has read every message sent before now (a dead worker sent its last
        one before the executor could tell that it died): a mark sent after them comes back after them."""
        if self._told.closed or not self._listener.is_alive():
            return
        with self._read:
            self._marks_sent += 1
            mark = self._marks_sent
        self._told.send((None, mark))
        with self._read:
            self._read.wait_for(lambda: self._marks_read >= mark, timeout=JOIN)

    def restart(self) -> None:
        """New workers in place of a broken executor's: those that died are noted first, then the others ended."""
        self._dead.update({pid: process.exitcode for pid, process in self._processes.items() if process.exitcode})
        self._end()
        self.executor = self._executor()

    def pids(self) -> set[int]:
        """The workers that have started. One still starting has taken no run yet."""
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

        Those still starting too: one left to start after this process has ended would find
        the pool's locks gone and print a traceback. Shutting the executor down waits for a
        worker being forked (after the forkserver's imports), and starts no other."""
        self._end()
        self._alive_end.close()
        self._alive.close()
        if not self._told.closed:  # closed once already (a stop abandons the runs, then the backend exits)
            self._told.send(None)  # the listener's last message
            self._listener.join(timeout=JOIN)
            self._told.close()
            self._heard.close()

    def _end(self) -> None:
        """Shut the executor down (it waits for a worker being forked), then kill every worker it forked."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        processes = list(self._processes.values())  # told their PIDs or not
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=JOIN)


def ending(exitcode: int) -> str:
    """How a process ended, from its exit code: 'killed by SIGKILL', 'killed by signal 40', 'exit code 3'."""
    if exitcode > 0:
        return f"exit code {exitcode}"
    try:
        return f"killed by {signal.Signals(-exitcode).name}"
    except ValueError:  # a real-time signal has no name
        return f"killed by signal {-exitcode}"


def start_forkserver() -> None:
    """Start the forkserver (if it is not running), which imports PRELOAD in the background,
    with SIGTERM blocked, as the standard library starts its resource tracker.

    `timeout`, Slurm and systemd send SIGTERM to the whole process group. The forkserver would
    die of it, and the pool takes the forkserver's end for the end of every worker
    (BrokenProcessPool) while the workers are still stopping after their batch. Blocked, the
    signal never reaches the forkserver; its workers inherit the block and lift it once their
    handler is installed (`_init_worker`), so a SIGTERM sent meanwhile is handled then.
    The signal's disposition is left alone: one ignored when dltrain started stays ignored.
    The forkserver serves this process alone, and only the pool's workers are forked from it.
    """
    from multiprocessing import forkserver, resource_tracker

    forkserver.set_forkserver_preload(PRELOAD)
    resource_tracker.ensure_running()  # first: starting its own process, it unblocks SIGTERM again
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def start(jobs: int) -> Workers:
    """The workers for `jobs` runs at once; their processes come up in the background."""
    workers = Workers(jobs)
    # Starting a worker waits until the forkserver has imported PRELOAD: do it in a
    # thread, so this process goes on meanwhile.
    threading.Thread(target=_start_workers, args=(workers, jobs), daemon=True).start()
    return workers


def _start_workers(workers: Workers, jobs: int) -> None:
    """Fork the `jobs` workers now, so that they are ready when the first runs are submitted."""
    try:
        for _ in range(jobs):
            workers.submit(os.getpid)  # the executor forks a worker for each task while it has fewer than `jobs`
    except RuntimeError:  # closed meanwhile (the sweep failed or was interrupted): no more to start
        pass


def _init_worker(told: Connection, sweep_alive: Connection) -> None:
    from dltrain.sweep.point import request_stop
    from dltrain.train.signals import catch

    # Ctrl-C reaches the whole process group, `timeout` and the parent send SIGTERM: either way the
    # worker finishes its batch and hands back a record with a checkpoint, which the parent saves.
    # A signal the sweep ignores (a script's background job ignores SIGINT) the worker ignores too.
    catch(lambda *_: request_stop())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked since the forkserver started
    threading.Thread(target=_end_with_the_sweep, args=(sweep_alive,), daemon=True).start()
    global _told
    _told = told
    told.send((os.getpid(), None))


_told: Optional[Connection] = None  # in a worker: where it tells its PID and the runs it starts


def _run(key, fn, *args):
    """In a worker: fn(*args), the run `key` told first (Workers.death finds the worker of a run)."""
    if key is not None and _told is not None:
        _told.send((os.getpid(), key))
    return fn(*args)


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
