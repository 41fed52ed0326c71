"""Hyperparameter sweeps: a grid of points, each an ordinary run, trained here, in parallel or on Dask."""

from dltrain.sweep.runner import PointState, SweepResult, run_sweep

__all__ = ["PointState", "SweepResult", "run_sweep"]
