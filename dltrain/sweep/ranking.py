"""Which metric ranks the points of a sweep, and which way is better.

metric = Metric.parse("test.accuracy")       # higher is better
metric = Metric.default(metrics_of_a_point)  # val.accuracy / val.loss where there is a validation split, else test
metric.value({"test": {"accuracy": 0.98}})   # 0.98
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from dltrain.errors import ConfigError
from dltrain.train.metric_names import SPLIT_METRICS, SPLITS, lower_is_better, main_metric, rank_key


@dataclass(frozen=True)
class Metric:
    split: str
    key: str

    def __str__(self) -> str:
        return f"{self.split}.{self.key}"

    @property
    def lower_is_better(self) -> bool:
        return lower_is_better(self.key)

    @classmethod
    def parse(cls, text: str) -> Metric:
        split, _, key = text.partition(".")
        if split not in SPLITS or key not in SPLIT_METRICS:
            raise ConfigError(
                f"--sort-by {text!r}: expected SPLIT.METRIC with SPLIT one of {', '.join(SPLITS)} "
                f"and METRIC one of {', '.join(SPLIT_METRICS)} (e.g. test.accuracy)"
            )
        return cls(split, key)

    @classmethod
    def default(cls, metrics: dict) -> Metric:
        """Accuracy for a classifier, loss otherwise; on the validation split where there is one.

        Choosing by the test split would make it one more thing tuned on: the test
        metric stays an unbiased estimate only if no choice was made by it.
        """
        if metrics.get("val"):
            return cls("val", "accuracy" if "accuracy" in metrics["val"] else "loss")
        return cls.parse(main_metric(metrics) or "test.loss")

    def value(self, metrics: dict) -> Optional[float]:
        value = metrics.get(self.split, {}).get(self.key)
        return value if isinstance(value, (int, float)) and math.isfinite(value) else None

    def sort_key(self, metrics: dict) -> tuple:
        """Best first; points without the metric (failed, interrupted) last."""
        return rank_key(str(self), self.value(metrics))
