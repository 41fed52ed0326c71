"""`dltrain runs [DIR]`: list run folders with their status, data, model, main metric and duration."""

from __future__ import annotations

from pathlib import Path

import typer

from dltrain.cli import app
from dltrain.cli.common import print_json, reports_errors
from dltrain.cli.tables import STATUS_STYLE, fit_widths, table_console


@app.command("runs")
@reports_errors
def runs(
    runs_dir: Path = typer.Argument(Path("runs"), help="folder of run folders"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (a list of runs) on stdout"),
):
    """List the run folders in DIR, oldest first. A run whose process died shows as crashed."""
    from dltrain.inspection.listing import list_runs

    rows = list_runs(runs_dir)
    if as_json:
        print_json(rows)
        return
    _show(rows, runs_dir)


def _show(rows: list[dict], runs_dir: Path) -> None:
    from rich.table import Table
    from rich.text import Text

    console = table_console()
    if not rows:
        console.print(f"no run folders in {runs_dir}")
        return
    table = Table(title=f"{len(rows)} runs in {runs_dir}")
    for column in ("run", "when", "status", "dataset", "model", "metric", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left", overflow="fold")
    for r in rows:
        when = (r["started"] or "")[:16].replace("T", " ")
        metric = f"{r['metric']} {r['value']:.4f}" if r["value"] is not None else ""
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else ""
        status = Text(r["status"], style=STATUS_STYLE.get(r["status"], "white"))
        # Text, not markup: names and meta.json values are shown as they are, and parse faster.
        cells = (r["name"], when, r["dataset"] or "", r["model"] or "", metric, seconds)
        table.add_row(*(Text(c) for c in cells[:2]), status, *(Text(c) for c in cells[2:]))
    fit_widths(table, console)
    console.print(table)
    for r in rows:
        if r.get("problem"):
            console.print(Text(f"{r['name']} is corrupt: {r['problem']}", style="red"), soft_wrap=True)
