"""What a local worker process imports before its first run (the forkserver's preload).

Importing it here, once, means no worker pays for it again: the point's training code
and the plots. (Optuna, needed only with --prune, is imported when used.)
"""

from __future__ import annotations

import matplotlib.backends.backend_agg  # noqa: F401  - every completed point draws its figures
import matplotlib.figure  # noqa: F401

import dltrain.config.loader  # noqa: F401
import dltrain.sweep.point  # noqa: F401
