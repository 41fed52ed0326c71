"""Writing files, two ways.

`write_atomically` is for the files dltrain owns (a run folder's, a dataset cache's):
the data goes to a temporary file beside the target, which is then renamed into
place, so a reader (or a crash) only ever sees a complete old or new file.

`write_user_file` is for a path the user names (`--plot cost.png`, `-o report.md`):
renaming over it would replace whatever is there (a device, a symlink's link), so
it writes into the path itself, as a shell's `>` does, and only into a regular file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from dltrain.errors import DltrainError

_UMASK = os.umask(0o022)  # read it once (the only way to read it is to set it)
os.umask(_UMASK)


def write_atomically(target: Path, data: bytes) -> Path:
    """Replace `target` with `data` in one step. Raises OSError when it cannot be written."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; runs and data are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class OutputPathError(DltrainError):
    """A path the user named for an output cannot be written (exit 2)."""


# O_NONBLOCK: opening a FIFO must not wait for a reader; O_NOCTTY: a terminal device
# must not become the controlling terminal. Neither changes how a regular file is written.
_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def write_user_file(path: str | Path, data: bytes) -> Path:
    """Write `data` to the user-named `path` and nothing else.

    A new path is created (never through a dangling symlink); an existing regular
    file, or a symlink to one, is overwritten in place. Anything else that exists
    there (directory, device, FIFO, socket) is refused with an OutputPathError, as
    is a missing parent folder. Only what the user named is ever written.
    """
    path = Path(path)
    fd, created = _open_regular(path)
    try:
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as err:
        if created:
            path.unlink(missing_ok=True)
        raise OutputPathError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    return path


def _open_regular(path: Path) -> tuple[int, bool]:
    """(fd, created): `path` opened for writing, checked to be a regular file."""
    try:
        try:
            fd, created = os.open(path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o666), True  # O_EXCL never follows a link
        except FileExistsError:
            fd, created = os.open(path, _FLAGS), False  # follows a symlink to what it names
    except FileNotFoundError:
        missing = "is a symlink to nothing" if path.is_symlink() else "is in a folder that does not exist"
        raise OutputPathError(f"cannot write {path}: it {missing}") from None
    except OSError as err:
        raise OutputPathError(f"cannot write {path}: {_why(path, err)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OutputPathError(f"cannot write {path}: it is {_kind(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd, created


def _why(path: Path, err: OSError) -> str:
    """The reason an open failed: what is at `path` when that is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return err.strerror or str(err)
    return err.strerror or str(err) if stat.S_ISREG(mode) else f"it is {_kind(mode)}, not a regular file"


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")
