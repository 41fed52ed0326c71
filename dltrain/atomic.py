"""Atomic file writes: data goes to a temporary file beside the target, which is then
renamed into place, so a reader (or a crash) only ever sees a complete old or new file.
`deferred_interrupt` holds Ctrl-C and SIGTERM back while files are written (used here
by every write that cannot be atomic, and by dltrain.train.signals' callers)."""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_UMASK = os.umask(0o022)  # read it once (the only way to read it is to set it)
os.umask(_UMASK)
SHARED_MODE = 0o666 & ~_UMASK  # a new file's mode, as open() makes it: runs and data are meant to be shared
# The temporary file of write_atomically: "." + the target's name + "." + mkstemp's 8 characters + ".tmp"
PARTIAL_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def write_atomically(target: Path, data: bytes, sync: bool = True) -> Path:
    """Replace `target` with `data` in one step. Raises OSError when it cannot be written.

    sync=False skips the fsync: the file still survives the process being killed (it is in
    the page cache) but not a power cut, which is enough for files rewritten every second.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, SHARED_MODE)  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM are only noted; when it ends, each is handled as it would have been.

    Only signals with a Python handler are held back (one left at its default still
    ends the process); elsewhere than the main thread the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    held = [s for s, handler in previous.items() if callable(handler)]
    received: list[int] = []
    for s in held:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, previous[s])
    for signum in received:
        handler = previous[signal.Signals(signum)]
        if callable(handler):  # always: only those were held
            handler(signum, None)
