"""A sweep's account of itself: its points, each point's runs (one per repeat), sweep.json.

sweep.points[0].runs[1].status   # 'completed': the second repeat of the first point (a RunResult)
sweep.points[0].metrics          # the mean over the repeats of every metric
sweep.as_dict(relative=True)     # sweep.json; read back with SweepResult.from_dict
sweep.json_text()                # sweep.json as it is written: that document, indented, byte for byte
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from dltrain.pipeline.session import RunResult
from dltrain.runs.folder import now_iso
from dltrain.runs.status import Status
from dltrain.runs.sweep_schema import POINT_STATUSES
from dltrain.sweep.grid import Point
from dltrain.sweep.ranking import Metric
from dltrain.sweep.tally import INDENT, Tally, dumps, field_text


def pending(seed: int) -> RunResult:
    """A run of a point that has not trained yet."""
    return RunResult(None, Status.PENDING, seed=seed)


def run_entry(run: RunResult, root: Optional[Path] = None) -> dict:
    """A run as sweep.json lists it (its folder relative to `root`, the sweep folder)."""
    path = None if run.path is None else str(run.path.relative_to(root) if root else run.path)
    return {
        "seed": run.seed,
        "status": run.status,
        "run": path,
        "metrics": run.metrics,
        "seconds": run.seconds,
        "epochs": run.epochs,
        "error": run.error,
    }


@dataclass
class PointState:
    """One point: its values and its runs (one per repeat, pending until it trains).
    `trial`: the Optuna trial number, in an Optuna search."""

    point: Point
    runs: list[RunResult]
    trial: Optional[int] = None

    @property
    def status(self) -> str:
        """The first of failed, interrupted, pending, pruned that any run has; else completed."""
        states = {r.status for r in self.runs}
        return next(
            (s for s in (Status.FAILED, Status.INTERRUPTED, Status.PENDING, Status.PRUNED) if s in states),
            Status.COMPLETED,
        )

    @property
    def metrics(self) -> dict:
        """A single run's metrics; over repeats, the mean of each metric (once every repeat completed)."""
        if len(self.runs) == 1:
            return self.runs[0].metrics
        return _across(self.runs, np.mean) if self.status == Status.COMPLETED else {}

    @property
    def metrics_std(self) -> dict:
        """The standard deviation (NumPy's, ddof 0) of each metric over the repeats."""
        return _across(self.runs, np.std) if len(self.runs) > 1 and self.status == Status.COMPLETED else {}

    @property
    def run(self) -> Optional[Path]:
        return self.runs[0].path if len(self.runs) == 1 else None

    @property
    def seconds(self) -> Optional[float]:
        done = [r.seconds for r in self.runs if r.seconds is not None]
        return round(sum(done), 3) if done else None

    @property
    def epochs(self) -> Optional[int]:
        return self.runs[0].epochs if len(self.runs) == 1 else None

    @property
    def error(self) -> Optional[str]:
        return next((r.error for r in self.runs if r.error), None)

    def as_dict(self, root: Optional[Path] = None) -> dict:
        """The point as sweep.json lists it (run folders relative to `root`, the sweep folder)."""
        doc = {
            "index": self.point.index,
            "name": self.point.name,
            "values": self.point.values,
            "overrides": self.point.overrides,
            "status": self.status,
            "run": run_entry(self.runs[0], root)["run"] if len(self.runs) == 1 else None,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "epochs": self.epochs,
            "error": self.error,
        }
        if len(self.runs) > 1:
            doc["metrics_std"] = self.metrics_std
            doc["repeats"] = [run_entry(r, root) for r in self.runs]
        else:
            doc["seed"] = self.runs[0].seed
        if self.trial is not None:
            doc["trial"] = self.trial
        return doc

    def json_text(self, root: Optional[Path] = None) -> str:
        """as_dict as it stands in sweep.json's list of points (indented two levels)."""
        return dumps(self.as_dict(root)).replace("\n", "\n" + 2 * INDENT)


def _across(runs: list[RunResult], reduce) -> dict:
    """{split: {metric: reduce(values over runs)}} for the metrics every run has."""
    first = runs[0].metrics
    out: dict = {}
    for split, values in first.items():
        for key in values:
            column = [r.metrics.get(split, {}).get(key) for r in runs]
            if all(isinstance(v, (int, float)) for v in column):
                out.setdefault(split, {})[key] = float(reduce(column))
    return out


UNENDED = (Status.PENDING, Status.INTERRUPTED)  # a point that has not ended: not trained, or cut off (trained again)


@dataclass
class SweepResult:
    """The sweep so far. status: running | completed (every point) | failed (some) | interrupted.

    pid, host, process_started: the process training it (this one), as a run's meta.json
    names it, so that a resume can tell a sweep still running from one whose process died.
    """

    path: Path
    name: str
    space: dict  # key -> grid values, or key -> distribution (random and Optuna searches)
    points: list[PointState]
    backend: str
    metric: Optional[Metric] = None
    status: str = Status.RUNNING
    started: str = field(default_factory=now_iso)
    seconds: float = 0.0
    argv: list = field(default_factory=list)
    search: str = "grid"
    repeats: int = 1
    resumed: list = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    process_started: str = field(default_factory=now_iso)
    planned: int = field(default=0, compare=False)  # the points it will have (an Optuna search adds them as it goes)
    _tally: Optional[Tally] = field(default=None, init=False, repr=False, compare=False)

    @contextmanager
    def tracking(self) -> Iterator[None]:
        """While training: whoever changes a point (or adds one, at the end) then calls `changed(point)`,
        and in return counts, the best point and json_text no longer go through every point."""
        self._tally = Tally(self)
        try:
            yield
        finally:
            self._tally = None

    def changed(self, state: PointState) -> None:
        """`state`, one of the points, changed (a run finished or was cut off)."""
        if self._tally is not None:
            self._tally.changed(state)

    def _tallied(self) -> Optional[Tally]:
        if self._tally is not None:
            self._tally.update()
        return self._tally

    @property
    def grid(self) -> dict:
        return self.space

    @property
    def done(self) -> int:
        """The points that have ended (an interrupted one, trained again by a resume, has not)."""
        tally = self._tallied()
        if tally is not None:
            return len(tally.entries) - sum(tally.counts[s] for s in UNENDED)
        return sum(p.status not in UNENDED for p in self.points)

    def count(self, status: str) -> int:
        tally = self._tallied()
        if tally is not None:
            return tally.counts[status]
        return sum(p.status == status for p in self.points)

    def ranked(self) -> list[PointState]:
        """Best first by `metric` (the mean over repeats); points without a value keep their order at the end."""
        if self.metric is None:
            return list(self.points)
        metric = self.metric
        return sorted(self.points, key=lambda p: (*metric.sort_key(p.metrics), p.point.index))

    def best(self) -> Optional[PointState]:
        tally = self._tallied()
        if tally is not None:
            first = None if tally.best is None else self.points[tally.best]
        else:
            ranked = self.ranked()
            first = ranked[0] if ranked else None
        return first if first is not None and self.metric and self.metric.value(first.metrics) is not None else None

    def as_dict(self, relative: bool = False) -> dict:
        """sweep.json (run folders relative to the sweep folder) or the --json document (absolute)."""
        return {**self._head(relative), "points": [p.as_dict(self.path if relative else None) for p in self.points]}

    def json_text(self) -> str:
        """sweep.json: as_dict(relative=True) as RunFolder.write_json writes it, byte for byte."""
        tally = self._tallied()
        doc = self._head(relative=True)
        if tally is not None:
            fields = [tally.field(key, value) for key, value in doc.items()]
            points = tally.texts
        else:
            fields = [field_text(key, dumps(value)) for key, value in doc.items()]
            points = [p.json_text(self.path) for p in self.points]
        head = "{\n" + ",\n".join(fields) + f',\n{INDENT}"points": '
        if not points:
            return head + "[]\n}\n"
        return "".join((head, f"[\n{2 * INDENT}", f",\n{2 * INDENT}".join(points), f"\n{INDENT}]\n}}\n"))

    def _head(self, relative: bool) -> dict:
        """Everything in sweep.json but its points."""
        best = self.best()
        return {
            "sweep": self.name if relative else str(self.path),
            "status": self.status,
            "backend": self.backend,
            "started": self.started,
            "pid": self.pid,
            "host": self.host,
            "process_started": self.process_started,
            "seconds": self.seconds,
            "argv": self.argv,
            "resumed": self.resumed,
            "search": self.search,
            "repeats": self.repeats,
            "grid" if self.search == "grid" else "space": self.space,
            "sort_by": str(self.metric) if self.metric else None,
            "best": best.point.index if best else None,
            "counts": {s: self.count(s) for s in POINT_STATUSES},
        }

    @classmethod
    def from_dict(cls, doc: dict, path: Path) -> SweepResult:
        """The sweep sweep.json describes (its run folders under `path`), to be resumed in this process.
        `doc` as dltrain.runs.reader.read_sweep gives it: checked."""
        search = doc.get("search", "grid")
        points = []
        for p in doc["points"]:
            rows = p.get("repeats") or [{**p, "seed": p.get("seed")}]
            runs = [
                RunResult(
                    None if r["run"] is None else path / r["run"],
                    Status(r["status"]),
                    r["metrics"] or {},
                    r["seconds"],
                    r["epochs"],
                    r["error"],
                    seed=r["seed"],
                )
                for r in rows
            ]
            points.append(PointState(Point(p["index"], p["values"], p["name"]), runs, p.get("trial")))
        return cls(
            path,
            doc["sweep"],
            doc["grid"] if search == "grid" else doc["space"],
            points,
            doc["backend"],
            Metric.parse(doc["sort_by"]) if doc.get("sort_by") else None,
            doc["status"],
            doc["started"],
            doc["seconds"],
            doc.get("argv", []),
            search,
            doc.get("repeats", 1),
            doc.get("resumed", []),
        )
