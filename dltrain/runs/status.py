"""What state a run is in, as `dltrain runs` shows it: meta.json's status, except that a
run still marked `running` whose process is gone from this host is `crashed`.

    run_status(read_meta(path))   # Status.RUNNING, .COMPLETED, .FAILED, .INTERRUPTED, .CRASHED
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from enum import Enum
from typing import Optional


class Status(str, Enum):
    """How a run (or a sweep, or a sweep point) stands. A str, so it is written to JSON as
    its value and compares equal to it: Status.COMPLETED == "completed"."""

    PENDING = "pending"  # a sweep point not started yet
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # diverged, or an error while training or saving
    INTERRUPTED = "interrupted"  # stopped by a signal; resumable
    PRUNED = "pruned"  # a sweep point an Optuna search stopped early: worse than the median
    CRASHED = "crashed"  # meta.json says running, but its process is gone
    UNKNOWN = "unknown"  # meta.json has no status
    INCOMPLETE = "incomplete"  # a folder without a meta.json (yet)
    CORRUPT = "corrupt"  # a file of the folder cannot be read or fails its check

    __hash__ = str.__hash__  # a dict keyed by Status finds its plain-string values too

    def __str__(self) -> str:
        return self.value


def run_status(meta: dict, host: Optional[str] = None) -> str:
    """meta['status'] (UNKNOWN when missing), or CRASHED for a dead RUNNING run.

    A run started on another host cannot be checked from here and stays 'running'.
    """
    status = meta.get("status", Status.UNKNOWN)
    if status != Status.RUNNING:
        return status
    here = host or socket.gethostname()
    if meta.get("host") not in (None, here):
        return status
    pid = meta.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return Status.CRASHED
    return status if _alive(pid, meta.get("process_started") or meta.get("started")) else Status.CRASHED


def _alive(pid: int, started: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except (OSError, OverflowError):
        return False
    return not _reused(pid, started)


def _reused(pid: int, started: Optional[str]) -> bool:
    """True when process `pid` began after the run did: the number now belongs to another process (Linux only)."""
    if not started:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time since boot
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        began = boot + ticks / os.sysconf("SC_CLK_TCK")
        # 2 s of slack: btime is whole seconds, and older runs wrote `started` to the second
        return began > datetime.fromisoformat(started).timestamp() + 2.0
    except (OSError, ValueError, TypeError, IndexError, StopIteration):
        return False
