"""Rich output shared by the commands: the table console, status styles, the metrics table.

Only Rich is imported here (at module level, the console alone), so every command
module can import this at the top and `dltrain --help` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Optional

from rich.console import Console
from rich.segment import Segment

from dltrain.formatting import number, printable
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


class PlainConsole(Console):
    """A Rich console that never passes a control character of the text it prints to the
    terminal: an escape sequence in a class label or a file name ("\\x1b]0;title\\a") is
    dropped, not obeyed. Rich's own styles and cursor movements are not text and pass."""

    def render(self, renderable, options=None):
        for segment in super().render(renderable, options):
            if segment.control is None and not segment.text.isprintable():
                segment = Segment(printable(segment.text), segment.style)  # controls are zero cells wide: columns stay
            yield segment


def plain_console(kind: type[PlainConsole] = PlainConsole, **options) -> Console:
    """A Rich console (`options` as Console's; `kind`: a PlainConsole subclass) that prints every
    string as it is: no markup, no emoji codes. What dltrain prints holds the user's paths, names,
    class labels and messages, where "[/]" or ":smile:" must come out unchanged (and "[/]" would
    stop the command as a markup error); styles are given as Text and styles instead. Control
    characters are dropped (`PlainConsole`)."""
    return kind(markup=False, emoji=False, **options)


def table_console(stderr: bool = False) -> Console:
    """A console for tables on stdout (or stderr), as wide as the terminal. Piped or redirected,
    as wide as $COLUMNS says, and without it unlimited (one line per row, for grep and less -S)."""
    console = plain_console(highlight=False, stderr=stderr)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = plain_console(highlight=False, stderr=stderr, width=UNLIMITED)
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
        plain = cell.plain if isinstance(cell, Text) else cell  # a str is printed as it is (plain_console)
        return max((cell_len(line) for line in plain.split("\n")), default=0)

    if not all(isinstance(c, (str, Text)) for column in table.columns for c in (column.header, *column.cells)):
        return
    widths = [max(width(c) for c in (column.header, *column.cells)) for column in table.columns]
    _, right, _, left = table.padding
    if sum(widths) + len(widths) * (left + right + 1) + 1 <= console.width:  # cells, padding and borders
        for column, w in zip(table.columns, widths):
            column.width, column.no_wrap = w, True  # every cell fits: nothing to wrap


def print_table(console: Console, table) -> None:
    """`console.print(table)`, with the rows of a table that `fit_widths` fixed laid out here.

    Rich passes every cell through its general text layout (wrap, justify, crop, pad), about
    40 us a cell: 0.5 s for 2,000 runs. Once each column has a fixed width and its cells are
    Text, a row's lines are the cells justified to their column and joined by the box's
    divider, which this does directly; Rich still draws the title and the header. Each
    character comes out with the style Rich gives it (tests/test_tables.py compares them).
    Any other table is printed by Rich.
    """
    rows = _body(table)
    if rows is None:
        console.print(table)
        return
    import copy

    from rich.console import Group

    head = copy.copy(table)
    head.rows = []
    head.columns = [copy.copy(column) for column in table.columns]
    for column in head.columns:
        column._cells = []
    console.print(Group(head, rows))


class _Rows:
    """The body rows of a Table whose columns all have a fixed width, as Rich lays them out."""

    def __init__(self, table, rows: list[list]):
        self.table, self.rows = table, rows  # rows: for each row, each column's Text lines

    def __rich_console__(self, console: Console, options):
        from rich.cells import cell_len
        from rich.containers import Lines
        from rich.segment import Segment
        from rich.style import Style

        table = self.table
        box = table.box.substitute(options, safe=table.safe_box if table.safe_box is not None else console.safe_box)
        border = console.get_style(table.style or "") + console.get_style(table.border_style or "")
        columns, (_, right, _, left) = table.columns, table.padding
        last_column = len(columns) - 1
        pads = [
            (" " * (left if i or table.pad_edge else 0), " " * (right if i < last_column or table.pad_edge else 0))
            for i in range(len(columns))
        ]
        newline = Segment.line()
        for index, cells in enumerate(self.rows):
            vertical = box.foot_vertical if index == len(self.rows) - 1 else box.mid_vertical
            divider = Segment(vertical, border)
            height = max(len(lines) for lines in cells)
            for line_no in range(height):
                for i, (column, lines, (pad_left, pad_right)) in enumerate(zip(columns, cells, pads)):
                    if i:
                        yield divider
                    if line_no >= len(lines):  # below a shorter cell: blank, as Rich's top alignment
                        yield Segment(pad_left + " " * column.width + pad_right)
                        continue
                    line = lines[line_no]
                    yield Segment(pad_left)
                    if line._spans:  # Rich's own justification; render() combines the line's style with its spans'
                        justified = Lines([line.copy()])
                        justified.justify(console, column.width, justify=column.justify, overflow=column.overflow)
                        yield from justified[0].render(console)
                    else:  # render() would drop the line's style here, and this is most cells
                        plain = line.plain if column.justify == "left" else line.plain.rstrip()
                        room = " " * (column.width - cell_len(plain))
                        text = plain + room if column.justify == "left" else room + plain
                        yield Segment(text, console.get_style(line.style, default=Style.null()))
                    yield Segment(pad_right)
                yield newline


def _body(table) -> Optional[_Rows]:
    """The rows of `table` for `print_table`, or None when Rich must lay them out itself: a
    column without a fixed width, with a style or justified other than left or right; a cell
    that is not a Text on lines that fit its column; no header; row styles, sections, lines,
    edges, vertical padding, a footer, or a table width of its own (expand, width, min_width)."""
    from rich.cells import cell_len
    from rich.text import Text

    columns = table.columns
    if (
        not table.rows
        or table.box is None
        or not table.show_header
        or table.collapse_padding
        or table.padding[0]
        or table.padding[2]
        or table.show_edge
        or table.show_lines
        or table.leading
        or table.show_footer
        or table.row_styles
        or table.expand
        or table.width is not None
        or table.min_width is not None
        or any(row.style is not None or row.end_section for row in table.rows)
        or any(c.width is None or not c.no_wrap or c.style or c.vertical != "top" for c in columns)
        or any(c.justify not in ("left", "right") for c in columns)
    ):
        return None
    rows: list[list] = [[] for _ in table.rows]
    for column in columns:
        for row, cell in zip(rows, column._cells):
            if not isinstance(cell, Text) or cell.justify or cell.overflow or cell.no_wrap is not None:
                return None
            if "\t" in cell.plain or cell.end != "\n":
                return None
            lines = cell.split("\n", allow_blank=True) if "\n" in cell.plain else [cell]
            if any(cell_len(line.plain) > column.width for line in lines):
                return None
            row.append(lines)
    return _Rows(table, rows)


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
    console = plain_console()
    line = f"{result.status} in {result.seconds:.2f} s, {result.epochs} epochs"
    if result.stopped_epoch is not None:
        line += f"; stopped early at epoch {result.stopped_epoch}, best epoch {result.best_epoch}"
    elif result.best_epoch is not None and result.best_epoch != result.epochs:
        line += f"; best epoch {result.best_epoch}"
    console.print(line, highlight=False)
    console.print(metrics_table(result.metrics))
    console.print(f"run folder: {result.path}", highlight=False, soft_wrap=True)
