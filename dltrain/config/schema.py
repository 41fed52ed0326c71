"""The experiment config: one typed schema, every default written once with its meaning.

It validates the YAML, fills defaults, is what `--set` overrides and what a run
saves as `config.yaml`. `Config.model_json_schema()` prints it as JSON Schema.
"""

from __future__ import annotations

import math
import re
from typing import Literal, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from dltrain.baseline import Baseline
from dltrain.config.control import Constant, EarlyStopping, Schedule
from dltrain.config.section import Section
from dltrain.data.registry import DatasetSpec
from dltrain.nn.models import LossName, Mlp, Model
from dltrain.nn.optimizers import GD, Optimizer

MAX_RUNS = 10_000  # run folders in one sweep: points (grid, trials) times repeats

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"  # a run name becomes part of a folder name


class Training(Section):
    """How the model is fitted."""

    loss: LossName = Field(
        "auto",
        description="auto: bce (sigmoid), cross_entropy (softmax), perceptron (step), mse (otherwise); "
        "config.yaml records the choice. bce and mse average over samples "
        "and outputs alike, as PyTorch (reduction='mean') and Keras do, so k sigmoid outputs do not weigh k times "
        "one; cross_entropy averages over samples the sum over classes; sse is the plain sum",
    )
    optimizer: Optimizer = Field(default_factory=GD, description="gd | sgd | adam and their settings")
    epochs: int = Field(100, gt=0, lt=2**53, description="passes over the training split")
    batch_size: Union[Literal["full"], int] = Field(
        "full",
        description="'full' (one batch per epoch) or samples per batch (more than the training samples: one full batch, with a note)",
    )
    shuffle: bool = Field(True, description="reshuffle the training split once per epoch (seeded)")
    dtype: Literal["float32", "float64"] = Field("float64", description="floating-point type of data and weights")
    log_every: int = Field(
        1,
        gt=0,
        description="without a live display, print epoch 1, every log_every-th epoch counted from it (1, 1 + log_every, ...) and the last",
    )
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="also save checkpoint.npz, history and weights every this many epochs (0: only when the run stops)",
    )
    schedule: Schedule = Field(
        default_factory=Constant,
        description="learning rate per epoch, PyTorch's torch.optim.lr_scheduler formulas: constant | step | "
        "exponential | cosine | reduce_on_plateau, each with an optional linear warmup_epochs",
    )
    early_stopping: Optional[EarlyStopping] = Field(
        None, description="stop when a metric stops improving and keep the best epoch's weights (null: off)"
    )
    divergence_factor: Optional[float] = Field(
        1e4,
        gt=1,
        description="fail the run as diverged when an epoch's loss exceeds this times the first batch's loss (null: off)",
    )

    @field_validator("batch_size", mode="before")
    @classmethod
    def _full_or_positive(cls, value):
        if value == "full" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError("batch_size must be 'full' or a whole number >= 1")


class Output(Section):
    """What the run writes besides weights and metrics."""

    plots: bool = Field(
        True,
        description="write cost.png and, where they apply, accuracy.png, confusion_matrix.png, predictions.png, weights.png, errors.png, boundary.png",
    )
    report: bool = Field(False, description="also write report.html: the run as one self-contained HTML page")


DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


class Distribution(Section):
    """Where a random or Optuna search draws a key's values, written `{loguniform: [1.0e-4, 0.1]}`.

    uniform / loguniform: floats in [low, high] (loguniform: uniform in log space);
    int: whole numbers low..high, both included; choice: one of the listed values.
    """

    kind: Literal["uniform", "loguniform", "int", "choice"]
    low: Optional[float] = None
    high: Optional[float] = None
    values: Optional[list] = None

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data):
        # {loguniform: [1e-4, 0.1]} -> kind, low, high; {choice: [a, b]} -> kind, values
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in DISTRIBUTIONS:
            ((kind, args),) = data.items()
            if not isinstance(args, list):
                raise ValueError(f"{kind} takes a list: {{{kind}: [low, high]}}")
            if kind == "choice":
                return {"kind": kind, "values": args}
            if len(args) != 2:
                raise ValueError(f"{kind} takes two bounds, [low, high], got {args}")
            return {"kind": kind, "low": args[0], "high": args[1]}
        if isinstance(data, dict) and "kind" not in data:
            raise ValueError(f"a distribution is one of {', '.join(f'{{{d}: [...]}}' for d in DISTRIBUTIONS)}")
        return data

    @model_validator(mode="after")
    def _bounds(self):
        if self.kind == "choice":
            if not self.values:
                raise ValueError("choice needs at least one value")
            return self
        if self.low is None or self.high is None or not self.low <= self.high:
            raise ValueError(f"{self.kind} needs low <= high, got [{self.low}, {self.high}]")
        if not math.isfinite(self.high - self.low):  # a draw in between would overflow
            raise ValueError(f"{self.kind} needs finite bounds, got [{self.low}, {self.high}]")
        if self.kind == "int" and max(abs(self.low), abs(self.high)) >= 2**53:
            raise ValueError(f"int needs bounds within ±2**53, got [{self.low}, {self.high}]")
        if self.kind == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs bounds above 0, got [{self.low}, {self.high}]")
        if self.kind == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError(f"int needs whole-number bounds, got [{self.low}, {self.high}]")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of uniform, loguniform and int (the validator made sure both exist)."""
        assert self.low is not None and self.high is not None
        return self.low, self.high

    @property
    def choices(self) -> list:
        return self.values or []

    def as_yaml(self) -> dict:
        """The one-key form the config is written in."""
        if self.kind == "choice":
            return {"choice": self.values}
        low, high = self.bounds
        return {self.kind: [int(low), int(high)] if self.kind == "int" else [low, high]}


class Sweep(Section):
    """What `dltrain sweep` trains: a grid, or a space searched at random or with Optuna."""

    grid: dict[str, list] = Field(
        default_factory=dict, description="key.path -> [values]; the sweep runs their cartesian product"
    )
    # Kept in the one-key form it is written in (checked by Distribution), so the reference
    # documents it as one key; dltrain.sweep.search turns it into Distributions.
    space: dict[str, dict[str, list]] = Field(
        default_factory=dict,
        description="key.path -> {uniform|loguniform|int: [low, high]} or {choice: [values]}, for --search random|optuna",
    )
    search: Literal["grid", "random", "optuna"] = Field(
        "grid", description="grid: every grid point; random / optuna: `trials` points drawn from the space"
    )
    trials: Optional[int] = Field(None, gt=0, le=MAX_RUNS, description="points a random or Optuna search trains")
    repeats: int = Field(
        1, gt=0, le=MAX_RUNS, description="runs per point, each with its own seed; the table shows mean ± std"
    )
    prune: bool = Field(
        False, description="Optuna search: stop points early by Optuna's median rule on the validation metric"
    )

    @field_validator("space", mode="before")
    @classmethod
    def _distributions(cls, space):
        if not isinstance(space, dict):
            return space
        checked = {}
        for key, value in space.items():
            try:
                checked[key] = Distribution.model_validate(value).as_yaml()
            except ValidationError as err:
                raise ValueError(f"{key}: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        return checked


class Config(Section):
    """One experiment."""

    name: str = Field("run", description="run name, part of the run folder's name")
    seed: int = Field(0, ge=0, lt=2**53, description="seed of initialization and shuffling")
    dataset: DatasetSpec = Field(description="which data and how it is split")
    model: Model = Field(default_factory=Mlp, description="logreg | perceptron | mlp and its settings")
    training: Training = Field(default_factory=Training)
    output: Output = Field(default_factory=Output)
    baseline: Optional[Baseline] = Field(
        None,
        description="'sklearn': also fit scikit-learn's counterpart on the same split and report its metrics beside "
        "the model's: LogisticRegression for logreg, which keeps scikit-learn's C=1.0 (an L2 penalty dltrain's logreg "
        "does not have, whatever weight_decay says), as in the logistic-regression tutorial; Perceptron, SGDClassifier "
        "or SGDRegressor for a perceptron; MLPClassifier or MLPRegressor for an mlp, its settings carried over",
    )
    # Excluded from dumps: a run's config.yaml describes that one run, not the grid it came from.
    sweep: Optional[Sweep] = Field(None, exclude=True, description="grid for `dltrain sweep`; `dltrain run` ignores it")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(
                "a run name must be 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return name

    @model_validator(mode="after")
    def _baseline_fits_model(self):
        if self.baseline is not None:
            self.baseline.check(self.model)
        return self
