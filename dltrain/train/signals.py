"""Ctrl-C and SIGTERM during training: the first asks the trainer to stop after the
current batch (everything is then saved), the second leaves at once.

    with graceful_stop(trainer):
        trainer.fit()

Handlers are installed only for the duration of the block and only in the main thread
(Python delivers signals there; in a worker thread this is a no-op, and a worker
process keeps whatever its pool installed).
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ForcedExit(KeyboardInterrupt):
    """A second interrupt: stop now, without waiting for the end of the batch or the saving."""


@contextmanager
def graceful_stop(trainer, enabled: bool = True):
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        if trainer.stop_requested:
            raise ForcedExit()
        trainer.stop_requested = True
        # os.write, not print: a buffered write here could re-enter one the main code is making.
        os.write(2, b"\nstopping after the current batch and saving; interrupt again to quit at once\n")

    previous = {s: signal.signal(s, on_signal) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
