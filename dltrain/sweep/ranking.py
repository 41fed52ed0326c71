"""Which metric ranks the points of a sweep, and which way is better.

metric = Metric.parse("test.accuracy")       # higher is better
metric = Metric.default(metrics_of_a_point)  # val.accuracy / val.loss where there is a validation split, else test, else train
metric.value({"test": {"accuracy": 0.98}})   # 0.98
check_metric(metric, base_config, data_dir)  # ConfigError before training when the runs will lack it
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from dltrain.errors import ConfigError
from dltrain.train.metric_names import SPLIT_METRICS, SPLITS, lower_is_better, main_metric, rank_key

if TYPE_CHECKING:
    from dltrain.config.schema import Config


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
        """Accuracy for a classifier, loss otherwise; on the validation split where there is one, else
        test, else train.

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


CLASSIFIER_METRICS, REGRESSION_METRICS = ("loss", "accuracy"), ("loss", "mse", "mae", "r2")


def check_metric(metric: Metric, base: Config, data_dir: Optional[str]) -> None:
    """ConfigError unless the runs of `base` will have `metric` (its split, and a metric of their
    task): a sweep ranked by one they lack would rank nothing, and an Optuna search learn nothing.
    Decided from the base config's splits (a sweep over dataset keys is not checked)."""
    from dltrain.pipeline.experiment import load_splits

    splits = load_splits(base, data_dir)
    present = [name for name, _ in splits.items()]
    keys = CLASSIFIER_METRICS if splits.classes is not None else REGRESSION_METRICS
    kind = "a classifier's" if splits.classes is not None else "a regression's"
    if metric.split not in present:
        raise ConfigError(f"--sort-by {metric}: the runs have no {metric.split} split (they have {', '.join(present)})")
    if metric.key not in keys:
        raise ConfigError(f"--sort-by {metric}: {metric.key} is not one of {kind} metrics ({', '.join(keys)})")


def default_metric(base: Config, data_dir: Optional[str]) -> Metric:
    """The metric an Optuna search optimises when none is given: that of Metric.default, known before
    any point has trained (from the splits of the base config)."""
    from dltrain.pipeline.experiment import load_splits

    splits = load_splits(base, data_dir)
    main = "accuracy" if splits.classes is not None else "loss"
    return Metric.default({name: {main: 0.0} for name, _ in splits.items()})
