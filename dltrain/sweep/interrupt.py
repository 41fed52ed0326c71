"""Hold Ctrl-C back while a finished point is being written, then act on it."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def deferred_interrupt():
    """Inside the block SIGINT is only noted; KeyboardInterrupt is raised when the block ends.

    Only the main thread can install signal handlers; elsewhere, and where SIGINT is
    ignored (a background job of a non-interactive shell), the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
