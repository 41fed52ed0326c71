"""What a sweep shows its user: one progress line per finished point, then a ranked table."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dltrain.cli.tables import STATUS_STYLE
from dltrain.formatting import number
from dltrain.sweep.grid import short_key, yaml_inline
from dltrain.sweep.runner import PointState, SweepResult


def start_line(sweep: SweepResult) -> str:
    return f"sweep {sweep.name}: {len(sweep.points)} points, {sweep.backend} -> {sweep.path}"


def progress_line(sweep: SweepResult, state: PointState) -> Text:
    """'[2/4] quick-2_lr0.1 completed test.accuracy 0.9833 (1.21 s) | best: #1 test.accuracy 0.9861'."""
    width = len(str(len(sweep.points)))
    line = Text(f"[{sweep.done:>{width}}/{len(sweep.points)}] {state.point.name} ")
    line.append(state.status, STATUS_STYLE.get(state.status, ""))
    if state.status == "completed" and sweep.metric is not None:
        line.append(f" {sweep.metric} {number(sweep.metric.value(state.metrics))} ({state.seconds:.2f} s)")
    elif state.error:
        line.append(f": {state.error.splitlines()[0]}")
    best = sweep.best()
    if best is not None and sweep.metric is not None:
        line.append(f" | best: #{best.point.index} {sweep.metric} {number(sweep.metric.value(best.metrics))}", "bold")
    return line


def table(sweep: SweepResult) -> Table:
    """The points ranked by the sweep's metric: grid values, status, that split's metrics, seconds."""
    keys = list(sweep.grid)
    shorts = [short_key(k) for k in keys]
    headers = shorts if len(set(shorts)) == len(shorts) else keys  # full paths only when short ones clash
    split = sweep.metric.split if sweep.metric else "test"
    metric_keys = list(dict.fromkeys(k for p in sweep.points for k in p.metrics.get(split, {})))
    title = f"sweep {sweep.name}"
    if sweep.metric:
        title += f": sorted by {sweep.metric}, {'lower' if sweep.metric.lower_is_better else 'higher'} is better"
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
        values = state.metrics.get(split, {})
        out.add_row(
            str(state.point.index),
            *(yaml_inline(state.point.values[k]) for k in keys),
            Text(state.status, STATUS_STYLE.get(state.status, "")),
            *(number(values.get(k)) for k in metric_keys),
            "" if state.epochs is None else str(state.epochs),
            "" if state.seconds is None else f"{state.seconds:.2f}",
            style="bold" if state is best else None,
        )
    return out
