"""Where datasets live (--data-dir, else $DLTRAIN_DATA_DIR, else a per-user cache) and which
of them can be downloaded there.

Importable without NumPy or pydantic: `dltrain datasets fetch --help` lists DOWNLOADABLE
and must stay fast. `dltrain.data.catalog` maps each to its files; every other registered
dataset is built in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ENV_VAR = "DLTRAIN_DATA_DIR"
DOWNLOADABLE: tuple[str, ...] = ("mnist", "sign_digits")


def resolve_data_dir(flag: Optional[str | Path] = None) -> Path:
    """The data directory in force: the flag, the environment variable, or the user cache."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    import platformdirs  # pooch's os_cache("dltrain"), the folder downloads go to; pooch itself takes 0.1 s to import

    return Path(platformdirs.user_cache_dir("dltrain"))
