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
    Status.CORRUPT: "bold magenta",
    Status.PENDING: "dim",
    Status.PRUNED: "blue",
}


UNLIMITED = 1_000_000  # a width no table reaches: each row stays one line, however wide


def table_console(stderr: bool = False) -> Console:
    """A console for tables on stdout (or stderr), as wide as the terminal. Piped or redirected,
    as wide as $COLUMNS says, and without it unlimited (one line per row, for grep and less -S)."""
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(highlight=False, stderr=stderr, width=UNLIMITED)
    return console


def fit_widths(table, console: Console) -> None:
    """Fix each column of `table` at the width of its widest cell when the whole table fits `console`.

    What is printed stays the same; Rich then no longer measures every cell of every column,
    which is most of the time a table of thousands of rows takes. Cells must be str or Text;
    a table too wide for the console is left to Rich to fold.
    """
    from rich.cells import cell_len
    from rich.text import Text

    def width(cell) -> int:
        if isinstance(cell, Text):
            return max((cell_len(line) for line in cell.plain.split("\n")), default=0)
        return width(Text.from_markup(cell)) if "[" in cell else cell_len(cell)

    if not all(isinstance(c, (str, Text)) for column in table.columns for c in (column.header, *column.cells)):
        return
    widths = [max(width(c) for c in (column.header, *column.cells)) for column in table.columns]
    _, right, _, left = table.padding
    if sum(widths) + len(widths) * (left + right + 1) + 1 <= console.width:  # cells, padding and borders
        for column, w in zip(table.columns, widths):
            column.width, column.no_wrap = w, True  # every cell fits: nothing to wrap


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
