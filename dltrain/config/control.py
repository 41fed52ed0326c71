"""The config sections of training control: learning-rate schedules and early stopping.

Declarations only (keys, defaults, meanings); what they do each epoch is in
dltrain/train/schedules.py and dltrain/train/early_stopping.py.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from dltrain.config.section import Section

Monitor = Literal["val.loss", "val.accuracy", "train.loss", "train.accuracy"]
Mode = Literal["auto", "min", "max"]
MONITOR_HELP = "the metric watched after each epoch, as history.csv records it (val.loss is its val_loss column)"
MODE_HELP = "auto: min for a loss, max for an accuracy"


class _Schedule(Section):
    warmup_epochs: int = Field(
        0, ge=0, description="epochs of linear warmup first: epoch e uses lr * (e + 1) / (warmup_epochs + 1)"
    )


class Constant(_Schedule):
    """The optimizer's lr every epoch."""

    name: Literal["constant"] = "constant"


class Step(_Schedule):
    """PyTorch's StepLR: lr * gamma ** (k // step_size) in epoch k (after the warmup)."""

    name: Literal["step"] = "step"
    step_size: int = Field(10, gt=0, description="epochs between two decays")
    gamma: float = Field(0.1, gt=0, description="factor of each decay")


class Exponential(_Schedule):
    """PyTorch's ExponentialLR: lr * gamma ** k in epoch k (after the warmup)."""

    name: Literal["exponential"] = "exponential"
    gamma: float = Field(0.95, gt=0, description="factor per epoch")


class Cosine(_Schedule):
    """PyTorch's CosineAnnealingLR with T_max = epochs - warmup_epochs:
    min_lr + (lr - min_lr) * (1 + cos(pi * k / T_max)) / 2 in epoch k (after the warmup)."""

    name: Literal["cosine"] = "cosine"
    min_lr: float = Field(0.0, ge=0, description="the rate the last epoch approaches (PyTorch's eta_min)")


class ReduceOnPlateau(_Schedule):
    """PyTorch's ReduceLROnPlateau (threshold_mode 'rel', no cooldown): after more than
    `patience` epochs in a row without the monitored metric improving on its best by
    `threshold` (relative), lr = max(lr * factor, min_lr)."""

    name: Literal["reduce_on_plateau"] = "reduce_on_plateau"
    monitor: Monitor = Field("val.loss", description=MONITOR_HELP)
    mode: Mode = Field("auto", description=MODE_HELP)
    factor: float = Field(0.1, gt=0, lt=1, description="the rate is multiplied by this on a plateau")
    patience: int = Field(10, ge=0, description="epochs without improvement tolerated before reducing")
    threshold: float = Field(1e-4, ge=0, description="relative improvement that counts")
    min_lr: float = Field(0.0, ge=0, description="the rate never goes below this")


# The config accepts exactly these schedules, chosen by their `name`.
Schedule = Annotated[Union[Constant, Step, Exponential, Cosine, ReduceOnPlateau], Field(discriminator="name")]


class EarlyStopping(Section):
    """Stop once the monitored metric has not improved for `patience` epochs; keep the best epoch's weights.

    An epoch improves when its value beats the best so far by more than `min_delta`
    (value < best - min_delta for a loss, value > best + min_delta for an accuracy).
    """

    monitor: Monitor = Field("val.loss", description=MONITOR_HELP)
    mode: Mode = Field("auto", description=MODE_HELP)
    patience: int = Field(5, ge=1, description="stop after this many epochs in a row without improvement")
    min_delta: float = Field(0.0, ge=0, description="smallest change of the metric that counts as an improvement")
    restore_best: bool = Field(
        True, description="weights.npz and metrics.json are the best epoch's (history keeps every epoch)"
    )
