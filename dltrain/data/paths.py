"""Where datasets live: --data-dir, else $DLTRAIN_DATA_DIR, else a per-user cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV_VAR = "DLTRAIN_DATA_DIR"


def resolve_data_dir(flag: Optional[str | Path] = None) -> Path:
    """The data directory in force: the flag, the environment variable, or the user cache."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    import pooch  # deferred: only needed when no directory is given

    return Path(pooch.os_cache("dltrain"))
