"""What a sweep folder's sweep.json must hold (see dltrain.sweep.state, which writes it), checked
whenever one is read: each field of the right type, each run folder a name inside the sweep
folder, each point's values on the swept keys, as many runs per point as the sweep repeats.

    sweep = check_sweep(json_doc, path)   # the dict, or RunFolderError naming the point and the field
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from dltrain.errors import RunFolderError, shorten
from dltrain.runs.schema import Arg, Count, Metrics, Pid, Seconds, StrictDoc, Text, Timestamp, damaged, dotted
from dltrain.runs.status import Status
from dltrain.train.metric_names import SPLIT_METRICS, SPLITS

POINT_STATUSES = (Status.COMPLETED, Status.FAILED, Status.PRUNED, Status.INTERRUPTED, Status.PENDING)
SWEEP_STATUSES = (Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.INTERRUPTED)


def _one_of(*choices: str) -> AfterValidator:
    """A string that must be one of `choices`."""

    def check(value: str) -> str:
        if value not in choices:
            raise PydanticCustomError("one_of", "not one of {choices}", {"choices": ", ".join(choices)})
        return value

    return AfterValidator(check)


def _folder_name(name: str) -> str:
    """A run folder as sweep.json names it: one name inside the sweep folder, never a path out of it."""
    if name in ("", ".", "..") or "/" in name or "\0" in name or len(name) > 255:
        raise PydanticCustomError("folder_name", "must be a folder name inside the sweep")
    return name


def _run_name(name: str) -> str:
    """The sweep's and each point's name: a run name, as the configs of its runs need."""
    from dltrain.config.schema import NAME_PATTERN  # the config schema loads NumPy: only a sweep's readers need it

    if not re.fullmatch(NAME_PATTERN, name):
        raise PydanticCustomError("run_name", "must be a run name: 1-80 letters, digits, '.', '_' or '-'")
    return name


def _metric_name(text: str) -> str:
    """The metric that ranks the points: SPLIT.METRIC, as `--sort-by` takes it."""
    split, _, key = text.partition(".")
    if split not in SPLITS or key not in SPLIT_METRICS:
        raise PydanticCustomError("metric", "must be SPLIT.METRIC, e.g. test.accuracy")
    return text


def _shallow(value: Any) -> Any:
    """A swept value (any JSON): nested no deeper than a config may be, as it becomes a --set override."""
    from dltrain.config.bounded_yaml import MAX_DEPTH

    if _depth(value) > MAX_DEPTH:
        raise PydanticCustomError("too_deep", "nested more than {limit} levels deep", {"limit": MAX_DEPTH})
    return value


def _depth(value: Any) -> int:
    """How many lists and objects deep `value` is (counted without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


FolderName = Annotated[str, AfterValidator(_folder_name)]
RunName = Annotated[str, AfterValidator(_run_name)]
Values = Annotated[dict[Text, Any], AfterValidator(_shallow)]


class SweepResumed(StrictDoc):
    """One `dltrain sweep --resume` of the sweep: when, and its command line."""

    at: Timestamp
    argv: list[Arg] = []


class SweepRun(StrictDoc):
    """A run of a point, as sweep.json lists it (a point without repeats is its own run)."""

    seed: Optional[int] = None
    status: Annotated[str, _one_of(*POINT_STATUSES)]
    run: Optional[FolderName]
    metrics: Optional[Metrics]
    seconds: Optional[Seconds]
    epochs: Optional[Count]
    error: Optional[Text]


class SweepPoint(SweepRun):
    """A point: its values and, with repeats, its runs."""

    index: int
    name: RunName
    values: Values
    overrides: list[Text] = []
    trial: Optional[Count] = None
    repeats: Optional[list[SweepRun]] = None

    @property
    def runs(self) -> list[SweepRun]:
        return self.repeats or [self]


class SweepDoc(StrictDoc):
    """sweep.json: the sweep's definition, the process training it and its points (see dltrain.sweep.state)."""

    sweep: RunName
    status: Annotated[str, _one_of(*SWEEP_STATUSES)]
    backend: Text
    started: Timestamp
    pid: Optional[Pid] = None
    host: Optional[Text] = None
    process_started: Optional[Timestamp] = None
    seconds: Seconds
    argv: list[Arg] = []
    resumed: list[SweepResumed] = []
    search: Literal["grid", "random", "optuna"] = "grid"
    repeats: Annotated[int, Field(gt=0)] = 1
    grid: Optional[dict[Text, Annotated[list[Any], Field(min_length=1), AfterValidator(_shallow)]]] = None
    space: Optional[dict[Text, Values]] = None  # random and Optuna searches: key -> distribution
    sort_by: Optional[Annotated[str, AfterValidator(_metric_name)]] = None
    best: Optional[int] = None
    counts: dict[Text, Count] = {}
    points: list[SweepPoint]

    def problem(self) -> Optional[str]:
        """What does not add up between the fields, or None: the swept keys, each point's values and
        index, its runs (one per repeat), and each run's folder (its own)."""
        section = "grid" if self.search == "grid" else "space"
        keys = self.grid if self.search == "grid" else self.space
        if not keys:
            return f"a {self.search} search has no {section}: give each swept key its values"
        folders: set[str] = set()
        for number, point in enumerate(self.points, 1):
            if point.index != number:
                return f"point {number}'s index is {point.index}, not {number}"
            if set(point.values) != set(keys):
                return f"point {number}'s values are for {shorten(list(point.values))}, not the {section}'s keys {shorten(list(keys))}"
            if len(point.runs) != self.repeats:
                return f"point {number} has {len(point.runs)} runs; the sweep repeats each point {self.repeats} times"
            for run in point.runs:
                if run.run in folders:
                    return f"point {number}'s run {shorten(run.run)} is another run's folder too"
                if run.run is not None:
                    folders.add(run.run)
        return None


def check_sweep(doc: Any, path: Path) -> dict:
    """sweep.json's object, checked: each field of the right type, each run folder a name inside the
    sweep folder, each point's values on the swept keys, as many runs per point as the sweep repeats."""
    if not isinstance(doc, dict):
        raise RunFolderError(f"{path}: sweep.json must hold a JSON object, not {type(doc).__name__}")
    try:
        sweep = SweepDoc.model_validate(doc)
    except ValidationError as err:
        raise RunFolderError(damaged(err, path, _sweep_field)) from None
    problem = sweep.problem()
    if problem is not None:
        raise RunFolderError(f"{path} is damaged: {problem}")
    return doc


def _sweep_field(loc: tuple) -> str:
    """A field of sweep.json by its location: ('points', 0, 'repeats', 1, 'run') -> "point 1's repeat 2's run"."""
    names, rest = [], loc
    for array, item in (("points", "point"), ("repeats", "repeat")):
        if len(rest) > 1 and rest[0] == array and isinstance(rest[1], int):
            names.append(f"{item} {rest[1] + 1}")
            rest = rest[2:]
    return "'s ".join([*names, dotted(rest)] if rest else names)
