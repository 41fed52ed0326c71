"""Hyperparameter sweeps: grid, random or Optuna points, each an ordinary run, trained here, in parallel or on Dask.

The names below load on first use, so that `dltrain.sweep.pool` can start the process
the workers are forked from before the training modules are imported.
"""

from __future__ import annotations

__all__ = ["PointState", "SweepResult", "resume_sweep", "run_sweep"]


def __getattr__(name: str):
    if name in ("run_sweep", "resume_sweep"):
        from dltrain.sweep import runner

        return getattr(runner, name)
    if name in ("PointState", "SweepResult"):
        from dltrain.sweep import state

        return getattr(state, name)
    raise AttributeError(f"module 'dltrain.sweep' has no attribute {name!r}")
