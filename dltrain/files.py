"""Files the user names, for reading or writing: only regular files, never anything else.

    write_user_file(Path("cost.png"), png)      # `--plot cost.png`, `-o report.md`
    read_regular(Path("config.yaml"), limit=1 << 20)   # bytes, at most `limit`
    regular_file_at(Path("X.npy"))                     # False if missing; UnreadableFile if a FIFO, a folder...
    with open_regular(Path("X.npy"), limit) as f: ...   # a checked binary file object

Atomic temp-and-rename (dltrain.atomic) is right for the files dltrain owns. A path
the user names is different: renaming over it would replace whatever is there (a
device, a symlink), so it is written in place, as a shell's `>` does, and only when
it is a regular file: not a symlink either, whose target may be anything (`/dev/stdout`
opened by `>> log` names the log). Reads likewise refuse a FIFO (it would hang), a device
(/dev/zero never ends) or a directory, and stop at a size limit before allocating.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from dltrain.atomic import deferred_interrupt
from dltrain.errors import DltrainError


class OutputPathError(DltrainError):
    """A path the user named for an output cannot be written (exit 2)."""


# O_NONBLOCK: opening a FIFO must not wait for a reader; O_NOCTTY: a terminal device
# must not become the controlling terminal. Neither changes how a regular file is written.
_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def write_user_file(path: str | Path, data: bytes) -> Path:
    """Write `data` to the user-named `path` and nothing else.

    A new path is created; an existing regular file is overwritten in place (a hard link
    stays one file). Anything else that is there (a symlink, directory, device, FIFO,
    socket) is refused with an OutputPathError, as is a missing parent folder. Only what
    the user named is ever written. The space is reserved before a byte changes (where
    the system can), so a full disk or a file size limit refuses the write and leaves the
    old file whole; Ctrl-C and SIGTERM wait until the file is written (a file created and
    not written whole is removed).
    """
    path = Path(path)
    with deferred_interrupt():  # handled once the block ends
        fd, created = _open_regular(path)
        try:
            _reserve(fd, len(data))
            view, offset = memoryview(data), 0
            while offset < len(data):
                offset += os.pwrite(fd, view[offset:], offset)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except BaseException as err:
            if created:
                path.unlink(missing_ok=True)
            if isinstance(err, OSError):
                raise OutputPathError(f"cannot write {path}: {err.strerror or err}") from None
            raise
        finally:
            os.close(fd)
    return path


def _reserve(fd: int, size: int) -> None:
    """Reserve `size` bytes of disk for the open file, where the system and file system can
    (OSError when the disk is full or a file size limit is below `size`)."""
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            # not supported here (glibc's emulation fails with EBADF on a write-only descriptor): write as is
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.EBADF):
                raise


def _open_regular(path: Path) -> tuple[int, bool]:
    """(fd, created): `path` opened for writing, checked to be a regular file."""
    try:
        try:
            fd, created = os.open(path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o666), True  # O_EXCL never follows a link
        except FileExistsError:
            fd, created = os.open(path, _FLAGS | os.O_NOFOLLOW), False  # a symlink is refused, never followed
    except FileNotFoundError:
        raise OutputPathError(f"cannot write {path}: it is in a folder that does not exist") from None
    except OSError as err:
        if err.errno == errno.ELOOP and path.is_symlink():
            raise OutputPathError(
                f"cannot write {path}: it is a symbolic link (to {os.readlink(path)}); name the file itself"
            ) from None
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


class UnreadableFile(DltrainError):
    """A file that is not a regular file, too large, or cannot be opened (exit 2)."""


def regular_file_at(path: str | Path) -> bool:
    """Whether a regular file is at `path` (a symlink to one counts); nothing is opened.

    False when nothing is there (a dangling symlink, a file where a folder of the path
    should be, a name no file can have). Raises UnreadableFile naming the path when something else is there
    (a directory, a FIFO, a device): it is not missing, and must not be replaced or read.
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL in the name
        return False
    except OSError as err:
        raise UnreadableFile(f"{path}: {err.strerror or err}") from None
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"{path} is {_kind(mode)}, not a regular file")
    return True


def open_regular(path: str | Path, limit: int) -> IO[bytes]:
    """`path` opened for reading in binary, checked to be a regular file of at most `limit` bytes.

    Raises UnreadableFile naming the path when it is missing, not a regular file (a
    FIFO is never waited on, /dev/zero never read) or larger than `limit` bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile(f"{path} does not exist") from None
    except OSError as err:
        raise UnreadableFile(f"cannot read {path}: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"{path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise UnreadableFile(f"{path} is too large: {info.st_size:,} bytes, at most {limit:,} are read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    # Outside the try: once fdopen has the descriptor, the file object closes it. Closing it
    # here too after an interrupt in the middle failed with EBADF (or closed another file).
    return os.fdopen(fd, "rb")


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at `path` (a symlink to one is followed), at most `limit`."""
    with open_regular(path, limit) as f:
        try:
            # As many bytes as the file holds, and one more: a buffer of `limit` bytes would be
            # allocated on every read (64 MiB for each meta.json of a listing).
            size = os.fstat(f.fileno()).st_size
            data = f.read(min(size, limit) + 1)
            if len(data) > size:  # it grew while being read: read on, up to the limit
                data += f.read(limit + 1 - len(data))
        except OSError as err:
            raise UnreadableFile(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > limit:  # it grew while being read
        raise UnreadableFile(f"{path} is too large: more than {limit:,} bytes")
    return data
