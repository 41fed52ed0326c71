"""What each file of a run folder must hold, checked whenever one is read (a sweep folder's
sweep.json: dltrain.runs.sweep_schema, on the field types defined here).

    meta = check_meta(json_doc, path)          # the dict, every known field of the right type
    metrics = check_metrics(json_doc, path)
    check_weights(arrays, path); check_preprocess(arrays, n_features, path)

(checkpoint.npz is checked by dltrain.train.checkpoint, which owns its format.)

A run or sweep folder is data like any other input: it may be half-written, edited by hand
or built to break a reader. Each check raises RunFolderError naming the file and
the field, so that a bad folder is exit 2 with a reason, never a traceback deeper
in (a pid too large for os.kill, a string where a number belongs, a 0-d weight matrix).
Unknown meta.json fields are kept: later versions may add some.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from dltrain.errors import RunFolderError, shorten
from dltrain.formatting import displayable
from dltrain.runs.status import Status

if TYPE_CHECKING:  # a listing checks meta.json without loading NumPy
    import numpy as np


def _as_shown(value: Any) -> Any:
    """A string in its `displayable` form, anything else as it is: a string dltrain wrote may hold
    a path that is not UTF-8 (argv, an error), and pydantic refuses its surrogate escapes."""
    return displayable(value) if isinstance(value, str) else value


Count = Annotated[int, Field(ge=0, lt=2**53)]
Text = Annotated[str, BeforeValidator(_as_shown), Field(max_length=100_000)]
Arg = Annotated[str, BeforeValidator(_as_shown)]  # a command-line argument: any length, as given
Pid = Annotated[int, Field(gt=0, lt=2**31)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
STATUSES = tuple(s.value for s in Status)


def _timestamp(value: Optional[str]) -> Optional[str]:
    if value is not None:
        datetime.fromisoformat(value)  # ValueError: pydantic reports it with the field
    return value


Timestamp = Annotated[Text, AfterValidator(_timestamp)]


class StrictDoc(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Resumed(StrictDoc):
    at: Text
    from_epoch: Count
    argv: list[Arg] = []

    _at = field_validator("at")(_timestamp)


class InputStats(StrictDoc):
    """The training inputs' mean and one sample's spread around it (`dltrain predict` compares images with them)."""

    mean: Annotated[float, Field(allow_inf_nan=False)]
    spread: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Meta(StrictDoc):
    """meta.json: the known fields, each optional (older runs lack some)."""

    name: Optional[Text] = None
    seed: Optional[Count] = None
    pid: Optional[Pid] = None
    host: Optional[Text] = None
    classes: Optional[list[Union[bool, int, float, Text]]] = Field(None, min_length=1)  # labels as y had them
    sample_shape: Optional[list[Annotated[int, Field(gt=0, lt=2**31)]]] = Field(None, min_length=1, max_length=8)
    n_features: Optional[Annotated[int, Field(gt=0, lt=2**31)]] = None
    features: Optional[list[Text]] = Field(None, min_length=1)  # the training CSV's feature columns, in order
    split_sizes: Optional[dict[str, Count]] = None
    data_sha256: Optional[Annotated[str, Field(pattern="^[0-9a-f]{64}$")]] = None
    loss: Optional[Text] = None
    dataset: Optional[Text] = None
    model: Optional[dict[str, Any]] = None
    notes: Optional[list[Text]] = None
    argv: Optional[list[Arg]] = None
    status: Optional[Text] = None
    started: Optional[Text] = None
    process_started: Optional[Text] = None
    ended: Optional[Text] = None
    epochs_done: Optional[Count] = None
    epochs: Optional[Count] = None
    stopped_epoch: Optional[Count] = None  # early stopping ended the run after this epoch
    best_epoch: Optional[Count] = None
    error: Optional[Text] = None
    seconds: Optional[Seconds] = None
    resumed: list[Resumed] = []  # absent in a run never resumed; never null
    input_stats: Optional[InputStats] = None

    _times = field_validator("started", "process_started", "ended")(_timestamp)

    @field_validator("status")
    @classmethod
    def _known(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in STATUSES:
            raise ValueError(f"not a status ({', '.join(STATUSES)})")
        return value


class Baseline(StrictDoc):
    model_config = ConfigDict(strict=True, extra="forbid")
    model: Optional[Text] = None
    error: Optional[Text] = None
    train: Optional[dict[str, float]] = None
    val: Optional[dict[str, float]] = None
    test: Optional[dict[str, float]] = None


class Metrics(StrictDoc):
    """metrics.json: {'train': {metric: number}, 'val': ..., 'test': ..., 'baseline': {...}}."""

    __pydantic_extra__: dict[str, dict[str, float]] = Field(init=False)  # each split: metric -> number
    baseline: Baseline = Field(default_factory=Baseline)  # no default is filled in: checks return the input


def check_meta(doc: Any, path: Path) -> dict:
    """meta.json's object, checked; only the fields it has (no defaults filled in)."""
    if not isinstance(doc, dict):
        raise RunFolderError(f"{path}: meta.json must hold a JSON object, not {type(doc).__name__}")
    try:
        Meta.model_validate(doc)
    except ValidationError as err:
        raise RunFolderError(damaged(err, path)) from None
    return doc


def check_metrics(doc: Any, path: Path) -> dict:
    """metrics.json: {'train': {metric: number}, 'val': ..., 'test': ..., 'baseline': {...}}."""
    if not isinstance(doc, dict):
        raise RunFolderError(f"{path}: metrics.json must hold a JSON object, not {type(doc).__name__}")
    try:
        Metrics.model_validate(doc)
    except ValidationError as err:
        raise RunFolderError(damaged(err, path)) from None
    return doc


def dotted(loc: tuple) -> str:
    """A field by its location in the document: ('train', 'loss') -> 'train.loss'."""
    return ".".join(map(str, loc))


def damaged(err: ValidationError, path: Path, where: Callable[[tuple], str] = dotted) -> str:
    """'PATH is damaged: FIELD: PROBLEM (got VALUE)', for the first three problems; `where` names each field."""
    problems = [
        f"{where(e['loc']) or '(top level)'}: {e['msg']} (got {shorten(e['input'], 60)})" for e in err.errors()[:3]
    ]
    more = f" (and {err.error_count() - 3} more)" if err.error_count() > 3 else ""
    return f"{path} is damaged: {'; '.join(problems)}{more}"


# --- arrays ---------------------------------------------------------------------------------


PREPROCESS_ARRAYS = ("scaler_shift", "scaler_scale")


def is_weight(name: str) -> bool:
    """Whether weights.npz may hold an array of that name: W0, b0, W1, ..."""
    return re.fullmatch(r"[Wb]\d+", name) is not None


def is_preprocess(name: str) -> bool:
    """Whether preprocess.npz may hold an array of that name."""
    return name in PREPROCESS_ARRAYS


def check_weights(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """weights.npz: W0 (n_in, n_1), b0 (n_1,), W1 (n_1, n_2), ...: a chain of finite matrices, nothing else."""
    from dltrain.data.files import numbers

    layers = sum(1 for key in arrays if re.fullmatch(r"W\d+", key))
    if layers == 0:
        raise RunFolderError(f"{path} holds no weight matrices (W0, W1, ...)")
    expected = {f"W{i}" for i in range(layers)}
    stray = sorted(set(arrays) - expected - {f"b{i}" for i in range(layers)})
    if stray or not expected <= set(arrays):
        missing = sorted(expected - set(arrays))
        raise RunFolderError(
            f"{path} is damaged: its arrays are not W0..W{layers - 1} and b0..b{layers - 1}"
            f"{f'; missing {missing}' if missing else ''}{f'; unexpected {shorten(stray, 200)}' if stray else ''}"
        )
    for i in range(layers):
        W = numbers(arrays, f"W{i}", 2, path, RunFolderError)
        if 0 in W.shape:
            raise RunFolderError(f"{path} is damaged: W{i} has shape {W.shape}")
        if i and W.shape[0] != arrays[f"W{i - 1}"].shape[1]:
            raise RunFolderError(
                f"{path} is damaged: W{i} has shape {W.shape} after W{i - 1} {arrays[f'W{i - 1}'].shape}"
            )
        if f"b{i}" in arrays and numbers(arrays, f"b{i}", 1, path, RunFolderError).shape != (W.shape[1],):
            raise RunFolderError(f"{path} is damaged: b{i} has shape {arrays[f'b{i}'].shape}, not ({W.shape[1]},)")
    return arrays


def check_preprocess(arrays: dict[str, np.ndarray], n_features: int, path: Path) -> dict[str, np.ndarray]:
    """preprocess.npz: scaler_shift and scaler_scale, (n_features,) each, the scale finite and non-zero."""
    import numpy as np

    from dltrain.data.files import numbers

    for key in PREPROCESS_ARRAYS:
        if numbers(arrays, key, 1, path, RunFolderError).shape != (n_features,):
            raise RunFolderError(
                f"{path} is damaged: {key} has shape {arrays[key].shape}; the network takes {n_features} features"
            )
    if np.any(arrays["scaler_scale"] == 0):
        raise RunFolderError(f"{path} is damaged: scaler_scale holds zeros")
    if set(arrays) - set(PREPROCESS_ARRAYS):
        raise RunFolderError(f"{path} is damaged: unexpected arrays {shorten(sorted(arrays), 200)}")
    return arrays
