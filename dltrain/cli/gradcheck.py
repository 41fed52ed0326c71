"""`dltrain gradcheck CONFIG`: compare the model's analytic gradients with central differences."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, note_shadowed, print_json, reports_errors
from dltrain.cli.completion import complete_config
from dltrain.cli.tables import table_console


@app.command()
@reports_errors
def gradcheck(
    config: Path = typer.Argument(
        ..., help="experiment config (YAML file or bundled name)", autocompletion=complete_config
    ),
    set_: list[str] = typer.Option([], "--set", help="override a key: --set model.activation=tanh (repeatable)"),
    rows: int = typer.Option(8, "--rows", min=1, help="training rows in the batch the loss is taken on"),
    entries: int = typer.Option(
        1000, "--entries", min=1, help="entries checked per parameter array (larger arrays: a seeded sample)"
    ),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
):
    """Check every layer's backward pass against central differences, in float64; exit 1 if one fails.

    Relative error per parameter array: |analytic - numeric| / (|analytic| + |numeric|) with
    Euclidean norms; a layer passes below 1e-6. The model is initialised as `dltrain run`
    would initialise it, and the loss is taken on the first --rows training rows, but for those on
    which a step of +-h moves a ReLU input across 0 (a kink: no derivative there).
    """
    from dltrain import api
    from dltrain.inspection.gradcheck import gradcheck as check

    note_shadowed(config)
    report = check(api.resolve(config, set_), rows=rows, max_entries=entries, data_dir=data_dir)
    if as_json:
        print_json(report)
    else:
        _show(report)
    if report["status"] == "failed":
        raise typer.Exit(1)


def _show(report: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    from dltrain.formatting import number

    console = table_console()
    if report["status"] == "not applicable":
        console.print(f"{report['name']}: nothing to check: {report['reason']}")
        return
    rows, left_out = report["rows"], len(report["kink_rows"])
    used = (
        f"{rows - left_out} of {rows} rows ({left_out} left out: a step moved a ReLU input across 0)"
        if left_out
        else f"{rows} rows"
    )
    table = Table(title=f"gradient check of {report['name']}: {used}, float64, h={report['h']:g}")
    for column in ("engine", "layer", "rel. error", "worst entry", "analytic", "numeric", "checked", "result"):
        table.add_column(column, justify="left" if column in ("engine", "layer", "worst entry", "result") else "right")
    for c in report["layers"]:
        checked = f"{c['checked']}" if c["checked"] == c["total"] else f"{c['checked']} of {c['total']}"
        result = Text("pass", style="green") if c["passed"] else Text("FAIL", style="bold red")
        table.add_row(
            c["engine"],
            f"{c['layer']} {c['description']}",
            f"{c['error']:.2e}",
            c["worst"],
            number(c["analytic"]),
            number(c["numeric"]),
            checked,
            result,
        )
    console.print(table)
    verdict = "passed" if report["status"] == "passed" else "FAILED"
    console.print(f"{verdict}: every layer must stay below {report['threshold']:g}")
