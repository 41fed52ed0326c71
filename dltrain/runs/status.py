"""What state a run is in, as `dltrain runs` shows it: meta.json's status, except that a
run still marked `running` whose process is gone from this host is `crashed`.

    run_status(folder.read_json("meta.json"))   # 'running' | 'completed' | 'failed' | 'interrupted' | 'crashed'
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Optional


def run_status(meta: dict, host: Optional[str] = None) -> str:
    """meta['status'] ('unknown' when missing), or 'crashed' for a dead `running` run.

    A run started on another host cannot be checked from here and stays 'running'.
    """
    status = meta.get("status", "unknown")
    if status != "running":
        return status
    here = host or socket.gethostname()
    if meta.get("host") not in (None, here):
        return status
    pid = meta.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "crashed"
    return status if _alive(pid, meta.get("process_started") or meta.get("started")) else "crashed"


def _alive(pid: int, started: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
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
        return began > datetime.fromisoformat(started).timestamp() + 2.0  # started has 1 s resolution
    except (OSError, ValueError, IndexError, StopIteration):
        return False
