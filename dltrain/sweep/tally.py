"""sweep.json written again after every run in about the same time at the 10,000th point as at
the first: each point's text and rank are kept, and only what changed is serialized anew.

    tally = Tally(sweep); tally.update()   # take in the sweep's points
    tally.changed(state)                   # a point's status or metrics changed
    tally.counts, tally.best               # points per status; the place of the best point
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.state import PointState, SweepResult


INDENT = "  "  # sweep.json's indentation, as RunFolder.write_json writes it
STEADY = ("argv", "resumed", "grid", "space")  # the head's fields that stay as they are while a sweep trains


def dumps(doc) -> str:
    return json.dumps(doc, indent=len(INDENT), allow_nan=True)


def field_text(key: str, text: str) -> str:
    """`"key": value` as a field of sweep.json's top level (`text`: the value as `dumps` writes it)."""
    return f"{INDENT}{json.dumps(key)}: " + text.replace("\n", "\n" + INDENT)


@dataclass
class _Entry:
    """What one point contributes to sweep.json's head: its status and its rank."""

    status: str
    rank: tuple  # (*the metric's sort key, index); () before the sweep has a metric


class Tally:
    """Each point's entry and text, kept while a sweep trains (SweepResult.tracking): the counts, the
    best point and serializing sweep.json then cost about the same at the 10,000th point as at the
    first (the file is still written whole: about 1 ms a megabyte), as only the points named to
    `changed` are serialized again (and of the head's STEADY fields, such as
    the grid's 10,000 values, those that changed). Points are only ever added at the end."""

    def __init__(self, sweep: SweepResult):
        self.sweep = sweep
        self.entries: list[_Entry] = []
        self.texts: list[str] = []  # each point as it stands in sweep.json
        self.fields: dict[str, tuple[Any, str]] = {}  # STEADY key -> (a copy of its value, its text)
        self.position: dict[int, int] = {}  # point index -> its place in sweep.points
        self.counts: Counter = Counter()
        self.metric: Optional[Metric] = None
        self.best: Optional[int] = None  # the place of the first-ranked point, once there is a metric

    def rank(self, state: PointState) -> tuple:
        metric = self.metric
        return () if metric is None else (*metric.sort_key(state.metrics), state.point.index)

    def field(self, key: str, value: Any) -> str:
        """The head's field `key`; a STEADY one serialized again only when its value changed."""
        if key not in STEADY:
            return field_text(key, dumps(value))
        known = self.fields.get(key)
        if known is None or known[0] != value:
            known = self.fields[key] = (copy.deepcopy(value), field_text(key, dumps(value)))
        return known[1]

    def update(self) -> None:
        """Take in the points added since the last look, and every rank again if the metric changed."""
        if self.metric != self.sweep.metric:
            self.metric = self.sweep.metric
            for entry, state in zip(self.entries, self.sweep.points):
                entry.rank = self.rank(state)
            self.best = self._first() if self.metric else None
        for state in self.sweep.points[len(self.entries) :]:
            self.position[state.point.index] = len(self.entries)
            self.entries.append(_Entry(state.status, self.rank(state)))
            self.texts.append(state.json_text(self.sweep.path))
            self.counts[state.status] += 1
            self._ranked(len(self.entries) - 1, ())

    def changed(self, state: PointState) -> None:
        self.update()
        i = self.position[state.point.index]
        old, self.entries[i] = self.entries[i], _Entry(state.status, self.rank(state))
        self.texts[i] = state.json_text(self.sweep.path)
        self.counts[old.status] -= 1
        self.counts[self.entries[i].status] += 1
        self._ranked(i, old.rank)

    def _ranked(self, i: int, old_rank: tuple) -> None:
        """Keep `best` right after the entry at `i` (ranked `old_rank` before) changed."""
        if self.metric is None:
            return
        rank = self.entries[i].rank
        if self.best is None or (self.best != i and rank < self.entries[self.best].rank):
            self.best = i
        elif self.best == i and rank > old_rank:  # the best fell back: look again
            self.best = self._first()

    def _first(self) -> Optional[int]:
        return min(range(len(self.entries)), key=lambda i: self.entries[i].rank, default=None)
