"""One process at a time trains into a folder: two `dltrain resume` of one run (or two `sweep
--resume` of one sweep, or a resume of a sweep's run while the sweep trains) started together
would both find it not running and train into it; and `runs --delete` would delete a run in the
moment between a resume's check of it and its writing `running` into meta.json.

    with claimed(path, "another dltrain process is training it"):   # InUse while another holds it
        ...check the folder, then train into it (or delete it)

A run, fresh or resumed, holds its folder for as long as it trains, so that `runs --delete` keeps
it whatever its files say. A sweep holds its folder for as long as it trains; a resume of one of
its runs holds the sweep folder shared, so that neither starts while the other trains. The claim
is a flock on the folder itself: no file is written, and the kernel drops it when the process
ends, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from dltrain.errors import RunFolderError


class InUse(RunFolderError):
    """Another process holds the folder."""


@contextlib.contextmanager
def claimed(path: Path, busy: str, shared: bool = False) -> Iterator[None]:
    """Hold the folder `path` for the block: alone, or `shared` with other shared holders.
    InUse "`path` is in use: `busy`; wait for it to end" while another process holds it
    in a way that excludes this one.

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
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InUse(f"{path} is in use: {busy}; wait for it to end") from None
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def claimed_sweep_of(run: Path) -> contextlib.AbstractContextManager:
    """The sweep folder holding the run folder `run`, claimed shared (no sweep: nothing to claim)."""
    sweep = Path(os.path.abspath(run)).parent
    if not (sweep / "sweep.json").is_file():
        return contextlib.nullcontext()
    return claimed(sweep, "another dltrain process is training this sweep", shared=True)
