"""Rich output shared by the commands: the table console, status styles, the metrics table.

Only Rich is imported here (at module level, the console alone), so every command
module can import this at the top and `dltrain --help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

from rich.console import Console

from dltrain.formatting import number
from dltrain.runs.status import Status

# Run and sweep-point statuses, as `dltrain runs` and `dltrain sweep` colour them.
STATUS_STYLE: dict[str, str] = {
    Status.COMPLETED: "green",
    Status.RUNNING: "cyan",
    Status.FAILED: "red",
    Status.CRASHED: "bold red",
    Status.INTERRUPTED: "yellow",
    Status.INCOMPLETE: "magenta",
    Status.PENDING: "dim",
}


UNLIMITED = 1_000_000  # a width no table reaches: each row stays one line, however wide


def table_console(stderr: bool = False) -> Console:
    """A console for tables on stdout (or stderr), as wide as the terminal. Piped or redirected,
    as wide as $COLUMNS says, and without it unlimited (one line per row, for grep and less -S)."""
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(highlight=False, stderr=stderr, width=UNLIMITED)
    return console


def _stat(value: Any) -> str:
    return number(value)


def metrics_table(
    metrics: Mapping[str, Any],
    keys: Optional[list] = None,
    headers: Optional[Mapping[str, str]] = None,
    title: Optional[str] = None,
):
    """A row per split of `metrics` (metrics.json's shape), then a 'sklearn SPLIT' row for each of those
    splits the baseline has, under the columns `keys` (default: every key in the rows) renamed by
    `headers`; the caption names the baseline's estimator (or its error)."""
    from rich.table import Table

    baseline = metrics.get("baseline") or {}
    splits = {k: v for k, v in metrics.items() if k != "baseline"}
    rows = [*splits.items(), *((f"sklearn {k}", baseline[k]) for k in splits if baseline.get(k))]
    keys = keys if keys is not None else list(dict.fromkeys(k for _, values in rows for k in values))
    table = Table(title=title)
    table.add_column("split", no_wrap=True)
    for key in keys:
        table.add_column((headers or {}).get(key, key), justify="right", no_wrap=True)
    for split, values in rows:
        table.add_row(split, *(_stat(values.get(k)) for k in keys))
    if baseline:
        table.caption = f"sklearn: {baseline.get('error') or baseline.get('model')}"
    return table


def run_summary(result) -> None:
    """What `run` and `resume` print: the status line, the final metrics (and baseline), the run folder."""
    console = Console()
    console.print(f"{result.status} in {result.seconds:.2f} s, {result.epochs} epochs", highlight=False)
    console.print(metrics_table(result.metrics))
    console.print(f"run folder: {result.path}", highlight=False, soft_wrap=True)
