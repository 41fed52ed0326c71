"""Ctrl-C and SIGTERM during a sweep, and holding them back while a finished run is written.

    with stop_signals(on_first=backend.request_stop):   # the CLI's sweeps
        ...                                              # first signal: on_first(); second: KeyboardInterrupt

SIGTERM is what `timeout`, Slurm, `docker stop` and systemd send; it is handled exactly
like Ctrl-C. The first signal lets the running points stop after their current batch
and come back with a checkpoint (kept, so `--resume` continues them); a second one
abandons them at once. Handlers exist only in the main thread, only inside the block.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_signals(on_first: Callable[[], None], enabled: bool = True):
    """First SIGINT/SIGTERM: on_first() (signal-safe: it only sets flags); the second raises KeyboardInterrupt."""
    if not enabled or not _main_thread():
        yield
        return
    received = []

    def on_signal(signum, frame):
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        on_first()
        # os.write, not print: a buffered write here could re-enter one the main code is making.
        os.write(
            2, b"\nstopping the sweep: running points stop after their current batch; interrupt again to quit at once\n"
        )

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def deferred_interrupt():
    """Inside the block SIGINT and SIGTERM are only noted; when it ends, each is handled as it would have been.

    Only signals with a Python handler are held back (SIGTERM left at its default still
    ends the process); elsewhere than the main thread the block runs unchanged.
    """
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    held = [s for s, handler in previous.items() if callable(handler)]
    received = []
    for s in held:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, previous[s])
    for signum in received:
        previous[signum](signum, None)
