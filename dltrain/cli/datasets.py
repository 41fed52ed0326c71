"""`dltrain datasets`: list the datasets and fetch the real ones ahead of time.

A standalone Typer sub-app (`from dltrain.cli.datasets import app`); errors are shown as
one message on stderr with the error's exit code, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli.common import DATA_DIR_HELP, print_json, reports_errors
from dltrain.data.paths import DOWNLOADABLE
from dltrain.formatting import printable

app = typer.Typer(
    help="List the datasets and where they live; download MNIST or Sign Language Digits ahead of time.",
    no_args_is_help=False,
)

DataDirOption = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)


def _size(n: float) -> str:
    """Bytes as a short human size, e.g. 11.6 MB."""
    units = ("B", "kB", "MB", "GB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.0f} B" if i == 0 else f"{n:.1f} {units[i]}"


@app.callback(invoke_without_command=True)
@reports_errors
def list_datasets(
    ctx: typer.Context,
    data_dir: Optional[Path] = DataDirOption,
    as_json: bool = typer.Option(False, "--json", help="print the list as JSON"),
) -> None:
    """List every dataset: whether the real ones are on disk, their size and folder."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table
    from rich.text import Text

    from dltrain.cli.tables import plain_console
    from dltrain.data import catalog
    from dltrain.data.paths import resolve_data_dir

    rows = catalog.describe(resolve_data_dir(data_dir))
    if as_json:
        print_json(rows)
        return
    table = Table(title="Datasets")
    for column in ("name", "kind", "available", "size"):
        table.add_column(column)
    # Fold rather than truncate: the path is what users copy files into.
    table.add_column("path", overflow="fold")
    for row in rows:
        available = "yes" if row["available"] else "no (downloaded on first use)"
        size = _size(row["size_bytes"]) if row["size_bytes"] else ""
        cells = (row["name"], row["kind"], available, size, row["path"] or "")
        table.add_row(*(Text(c) for c in cells))
    plain_console().print(table)


@app.command("fetch")
@reports_errors
def fetch(
    name: str = typer.Argument(..., help=f"one of: {', '.join(DOWNLOADABLE)}"),
    data_dir: Optional[Path] = DataDirOption,
    source: Optional[Path] = typer.Option(
        None,
        "--from",
        help="sign_digits only: build the arrays from this photo archive (zip) or folder downloaded by hand",
    ),
) -> None:
    """Download a dataset into the data directory (sign_digits: build it from the photos) and check it."""
    from dltrain.data import catalog
    from dltrain.data.paths import resolve_data_dir

    folder = catalog.fetch(name, resolve_data_dir(data_dir), source=source)
    typer.echo(printable(f"{name} is ready in {folder}"), err=True)  # a message: the data is the result
