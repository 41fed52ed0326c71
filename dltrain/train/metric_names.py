"""Which metrics a split has, which way each is better, and a run's main metric: names only.

Plain Python, no NumPy: `dltrain runs` ranks and lists thousands of run folders from their
JSON files without loading the numerical stack.

A run's main metric, the one `dltrain runs` shows and a sweep ranks by unless told
otherwise, is test.accuracy for a classifier and test.loss otherwise (loss, because
every run has it and it is what training minimised); val, then train, stand in for a
run without a test split.
"""

from __future__ import annotations

import math
from typing import Any, Optional

SPLITS = ("train", "val", "test")  # a run's data splits, as metrics.json names them
SPLIT_METRICS = ("loss", "accuracy", "mse", "mae", "r2")  # what split_metrics can give back
LOWER_IS_BETTER = frozenset({"loss", "mse", "mae", "log_loss"})  # log_loss: the sklearn baseline's; all others higher


def lower_is_better(metric: str) -> bool:
    """For 'test.mse', 'baseline.test.log_loss' or a bare 'loss': whether smaller values are better."""
    return metric.rsplit(".", 1)[-1] in LOWER_IS_BETTER


def rank_key(metric: str, value: Any) -> tuple[int, float]:
    """Sort key that puts the best value of `metric` first and a missing, non-numeric or
    non-finite one (a failed or interrupted run) last. The one ranking of runs: `compare`,
    `runs --sort` and sweeps all sort with it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return (1, 0.0)
    return (0, value if lower_is_better(metric) else -value)


def main_metric(metrics: dict) -> Optional[str]:
    """'test.accuracy' for a classifier, 'test.loss' otherwise; from val or train when there is no test split.

    metrics: as in metrics.json, {'train': {...}, 'val': {...}, 'test': {...}}; None when it has no split.
    """
    for split in ("test", "val", "train"):
        values = metrics.get(split)
        if values:
            return f"{split}.{'accuracy' if 'accuracy' in values else 'loss'}"
    return None
