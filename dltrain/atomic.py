"""Atomic file writes: data goes to a temporary file beside the target, which is then
renamed into place, so a reader (or a crash) only ever sees a complete old or new file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
