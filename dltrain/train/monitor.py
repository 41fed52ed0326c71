"""One epoch's record (a row of history.csv), and the metric in it that early stopping and
reduce_on_plateau watch, with which way is better.

    value = metric_value(record, "val.loss")     # record.val_loss
    lower_is_better("val.loss", "auto")          # True; "val.accuracy" -> False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from dltrain.errors import ConfigError
from dltrain.train import metric_names


@dataclass
class EpochRecord:
    """One row of history.csv. Metrics are None where they do not apply."""

    epoch: int
    train_loss: float
    train_accuracy: Optional[float]
    val_loss: Optional[float]
    val_accuracy: Optional[float]
    lr: float
    seconds: float

    def as_row(self) -> dict:
        return dict(vars(self))  # every field a number or None: no deep copy (asdict) needed


HISTORY_COLUMNS = tuple(EpochRecord.__dataclass_fields__)  # history.csv's header, a run with no epoch yet included


def field_name(monitor: str) -> str:
    """The EpochRecord attribute (a history.csv column) of `monitor`: 'val.loss' -> 'val_loss'."""
    return monitor.replace(".", "_")


def metric_value(record, monitor: str) -> float:
    value = getattr(record, field_name(monitor))
    return float("nan") if value is None else float(value)


def lower_is_better(monitor: str, mode: str) -> bool:
    """'auto' decides from the metric as every ranking of runs does: losses fall, accuracies rise."""
    if mode == "auto":
        return metric_names.lower_is_better(monitor)
    return mode == "min"


def check_monitors(training_cfg, has_val: bool, classifies: Optional[bool]) -> None:
    """check_monitor for early stopping's and the schedule's monitors, where they have one."""
    for key, section in (
        ("training.early_stopping.monitor", training_cfg.early_stopping),
        ("training.schedule.monitor", training_cfg.schedule),
    ):
        if getattr(section, "monitor", None) is not None:
            check_monitor(key, section.monitor, has_val, classifies)


def check_monitor(key: str, monitor: str, has_val: bool, classifies: Optional[bool]) -> None:
    """A ConfigError naming `key` and the fix when the run cannot give `monitor` each epoch
    (`classifies`: None while the data is not loaded, and that question open)."""
    if monitor.startswith("val.") and not has_val:
        other = monitor.replace("val.", "train.")
        raise ConfigError(
            f"invalid config: {key} is {monitor}, but the run has no validation split; "
            f"set dataset.validation_split (e.g. 0.1) or monitor {other}"
        )
    if monitor.endswith("accuracy") and classifies is False:
        raise ConfigError(
            f"invalid config: {key} is {monitor}, but a regression run has no accuracy; "
            f"monitor {monitor.replace('accuracy', 'loss')}"
        )
