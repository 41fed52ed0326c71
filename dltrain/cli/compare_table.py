"""The `compare` table, fitted to the console's width.

Each group of runs (one dataset and task) gets its own table. Its columns, in order:
run, status (only when some run did not complete), the ranked metric, its validation
counterpart, epochs, seconds, then the config keys that differ under their short names.
Those always show. The other metrics (train.loss, test.loss, the baseline's ...) are
added while they fit. When even the essential columns do not fit, the table is turned
on its side (a row per column, a column per run #) if that fits; otherwise the key
columns continue in further tables, each led by the run's # again.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dltrain.cli.tables import STATUS_STYLE, metrics_table, plain_console
from dltrain.formatting import number, one_line, seconds, shorten, value_text
from dltrain.inspection.compare import Comparison, Group, column_names
from dltrain.runs.status import Status

MAX_VALUE = 24  # config values longer than this are shortened in the middle


@dataclass
class Column:
    header: str
    cells: list[Text]
    numeric: bool = False


def show(table: Comparison, out: Console, err: Console) -> None:
    if len(table.rows) == 1:
        _single(table, out, err)
        return
    if len(table.groups) > 1:
        kinds = ", ".join(f"{g.label} ({len(g.rows)})" for g in table.groups)
        err.print(
            Text.assemble(
                ("warning: ", "yellow"),
                f"these runs are of {len(table.groups)} kinds: {kinds}; each kind is ranked on its own",
            ),
            soft_wrap=True,
        )
    for group in table.groups:
        keys = table.config_keys if table.hidden == 0 else group.changed_keys
        for part in _fitted(table, group, keys, out.width):
            out.print(part)
    notes = []
    if table.hidden:
        notes.append(f"{table.hidden} config keys, the same in every run, hidden (--all shows them)")
    if not table.changed_keys:
        notes.append("the runs' configs are identical")
    for note in notes:
        out.print(note, style="dim", soft_wrap=True)


def _single(table: Comparison, out: Console, err: Console) -> None:
    """One run: nothing to compare, so its summary and a word on what compare is for."""
    row, run = table.rows[0], table.runs[0]
    err.print("compare needs two or more runs to show what differs; the one run named:", soft_wrap=True)
    out.print(
        f"{one_line(row['run'])}: {row['status']}, {number(row['epochs'])} epochs, {seconds(row['seconds']) or '?'} s",
        soft_wrap=True,
    )
    if run.metrics:
        out.print(metrics_table(run.metrics))


def _fitted(table: Comparison, group: Group, keys: list[str], width: int) -> list:
    """The Rich renderables that show this group within `width` columns."""
    essential, optional = _columns(table, group, keys)
    n = len(group.rows)
    title = f"{n} run{'s' * (n != 1)}: {group.label}" + (f", best {group.metric} first" if group.metric else "")
    rich = _wide(essential, title)
    if _width(rich) <= width:
        for column in optional:
            trial = _wide([*essential, column], title)
            if _width(trial) > width:
                break
            essential.append(column)
            rich = trial
        return [rich]
    side = _sideways(essential, title)
    if _width(side) <= width:
        return [side]
    return _continued(essential, len(essential) - len(keys), title, width)


def _continued(columns: list[Column], n_lead: int, title: str, width: int) -> list[Table]:
    """The first `n_lead` columns in one table, then the key columns in as many tables as
    it takes, each led by the # column."""
    tables = [_wide(columns[:n_lead], title)]
    part: list[Column] = []
    for column in columns[n_lead:]:
        if part and _width(_wide([columns[0], *part, column], "")) > width:
            tables.append(_wide([columns[0], *part], ""))
            part = []
        part.append(column)
    if part:
        tables.append(_wide([columns[0], *part], ""))
    return tables


def _columns(table: Comparison, group: Group, keys: list[str]) -> tuple[list[Column], list[Column]]:
    rows = [table.rows[i] for i in group.rows]
    metric_cells = {}
    for key in table.metric_keys:
        cells = [Text(number(r.get(key))) for r in rows]
        if any(c.plain for c in cells):
            metric_cells[key] = cells
    if group.metric in metric_cells and group.best is not None:
        metric_cells[group.metric][group.rows.index(group.best)].stylize("bold green")
    essential = [Column("#", [Text(str(i + 1)) for i in range(len(rows))], numeric=True)]
    essential.append(Column("run", [Text(one_line(r["run"])) for r in rows]))
    if any(r["status"] != Status.COMPLETED for r in rows):
        essential.append(Column("status", [Text(r["status"], STATUS_STYLE.get(r["status"], "")) for r in rows]))
    ranked = [k for k in (group.metric, group.val_metric) if k in metric_cells]
    essential += [Column(_metric_header(k), metric_cells[k], numeric=True) for k in ranked]
    for name, cells in (
        ("epochs", [Text(number(r["epochs"])) for r in rows]),
        ("seconds", [Text(seconds(r["seconds"])) for r in rows]),
    ):
        if any(c.plain for c in cells):
            essential.append(Column(name, cells, numeric=True))
    short = column_names(keys, table.all_keys)
    for key in keys:
        cells = [Text(shorten(value_text(r.get(key)), MAX_VALUE), "cyan") for r in rows]
        essential.append(Column(short[key], cells))
    last_baseline = next(
        (s for s in ("test", "val", "train") if any(k.startswith(f"baseline.{s}.") for k in metric_cells)), None
    )
    optional = [
        Column(_metric_header(k), cells, numeric=True)
        for k, cells in metric_cells.items()
        if k not in ranked and (not k.startswith("baseline.") or k.startswith(f"baseline.{last_baseline}."))
    ]
    return essential, optional


def _metric_header(key: str) -> str:
    return key.replace("baseline.", "sklearn ")


def _wide(columns: list[Column], title: str) -> Table:
    rich = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        rich.add_column(column.header, justify="right" if column.numeric else "left", overflow="fold")
    for i in range(len(columns[0].cells)):
        rich.add_row(*(column.cells[i] for column in columns))
    return rich


def _sideways(columns: list[Column], title: str) -> Table:
    """A row per column of the wide table (the run's name first), a column per run, headed by its #."""
    ranks, fields = columns[0], columns[1:]
    rich = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    rich.add_column("#", style="bold")
    for rank in ranks.cells:
        rich.add_column(rank.plain, overflow="fold")
    for column in fields:
        rich.add_row(column.header, *column.cells)
    return rich


def _width(table: Table) -> int:
    measuring = plain_console(width=1_000_000)
    return measuring.measure(table).maximum
