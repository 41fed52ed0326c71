"""One process at a time continues a folder: two `dltrain resume` of one run (or two `sweep
--resume` of one sweep) started together would both find it not running and train into it.

    with claimed(path, "resumed"):      # RunFolderError while another process holds it
        ...check the folder, then train into it

The claim is an exclusive flock on the folder itself: no file is written, and the kernel drops it
when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from dltrain.errors import RunFolderError


@contextlib.contextmanager
def claimed(path: Path, doing: str) -> Iterator[None]:
    """Hold the folder `path` for the block. RunFolderError when another process holds it.

    A path that is no directory is not claimed: the reader that follows names what is wrong with
    it. Neither is a folder whose file system has no such locks (some network file systems);
    there, meta.json's status alone tells a run still running.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(
                f"{path} is being {doing} by another dltrain process right now; wait for it to end"
            ) from None
        except OSError:
            pass
        yield
    finally:
        os.close(fd)
