"""What a sweep shows its user: one progress line per finished point, then a ranked table."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dltrain.cli.tables import STATUS_STYLE
from dltrain.formatting import number, one_line, shorten
from dltrain.runs.status import Status
from dltrain.sweep.grid import short_key, short_number, yaml_inline
from dltrain.sweep.state import PointState, SweepResult

SPLIT_NAMES = {"val": "validation split", "test": "test split", "train": "training split"}


def start_line(sweep: SweepResult) -> str:
    what = f"{len(sweep.points)} points" if sweep.search == "grid" else f"{sweep.search} search"
    if sweep.repeats > 1:
        what += f" x {sweep.repeats} repeats"
    return f"sweep {sweep.name}: {what}, {sweep.backend} -> {one_line(str(sweep.path))}"


def _value(sweep: SweepResult, state: PointState, key: str, split: str) -> str:
    """'0.9806', or '0.9806 ± 0.0031' over repeats."""
    mean = state.metrics.get(split, {}).get(key)
    std = state.metrics_std.get(split, {}).get(key)
    return number(mean) if std is None else f"{number(mean)} ± {number(std)}"


def _show(value) -> str:
    """A point's value as short as it reads: 0.0031622776601683794 -> 0.003162, a long list or a
    300-digit seed cut in the middle (sweep.json has it whole)."""
    return short_number(value) if isinstance(value, float) else shorten(yaml_inline(value), 24)


def progress_line(sweep: SweepResult, state: PointState) -> Text:
    """'[2/4] quick-2_lr0.1 completed val.accuracy 0.9833 (1.21 s) | best: #1 val.accuracy 0.9861'."""
    total = max(len(sweep.points), sweep.planned, sweep.done)
    width = len(str(total))
    line = Text(f"[{sweep.done:>{width}}/{total}] {state.point.name} ")
    line.append(state.status, STATUS_STYLE.get(state.status, ""))
    metric = sweep.metric
    if state.status == Status.COMPLETED and metric is not None:
        line.append(f" {metric} {_value(sweep, state, metric.key, metric.split)} ({state.seconds:.2f} s)")
    elif state.error:
        line.append(f": {state.error.splitlines()[0]}")
    best = sweep.best()
    if best is not None and metric is not None:
        line.append(f" | best: #{best.point.index} {metric} {number(metric.value(best.metrics))}", "bold")
    return line


def table(sweep: SweepResult) -> Table:
    """The points ranked by the sweep's metric: values, status, that split's metrics, seconds."""
    keys = list(sweep.space)
    shorts = [short_key(k) for k in keys]
    headers = shorts if len(set(shorts)) == len(shorts) else keys  # full paths only when short ones clash
    split = sweep.metric.split if sweep.metric else "test"
    metric_keys = list(dict.fromkeys(k for p in sweep.points for k in p.metrics.get(split, {})))
    title = f"sweep {sweep.name}"
    if sweep.metric:
        better = "lower" if sweep.metric.lower_is_better else "higher"
        title += f": sorted by {sweep.metric} ({SPLIT_NAMES[split]}), {better} is better"
        if sweep.repeats > 1:
            title += f"; mean ± std of {sweep.repeats} repeats"
    out = Table(title=title, title_justify="left")
    out.add_column("#", justify="right")
    for header in headers:
        out.add_column(header)
    out.add_column("status")
    for key in metric_keys:
        out.add_column(f"{split}.{key}", justify="right", min_width=len(f"{split}.{key}"))
    out.add_column("epochs done", justify="right")
    out.add_column("seconds", justify="right")
    best = sweep.best()
    for state in sweep.ranked():
        out.add_row(
            str(state.point.index),
            *(_show(state.point.values[k]) for k in keys),
            Text(state.status, STATUS_STYLE.get(state.status, "")),
            *(_value(sweep, state, k, split) for k in metric_keys),
            "" if state.epochs is None else str(state.epochs),
            "" if state.seconds is None else f"{state.seconds:.2f}",
            style="bold" if state is best else None,
        )
    return out
