"""`dltrain datasets`: list the datasets and fetch the real ones ahead of time.

A standalone Typer sub-app (`from dltrain.cli.datasets import app`); errors are shown as
one message on stderr with the error's exit code, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dltrain.errors import DltrainError

# dltrain.data.catalog imports NumPy and pydantic: it is imported inside the commands
# so that `dltrain --help` stays fast (tests/test_startup_imports.py).
DOWNLOADABLE = ("mnist", "sign_digits")  # checked against catalog.DOWNLOADABLE by the tests

app = typer.Typer(
    help="List the datasets and where they live; download MNIST or Sign Language Digits ahead of time.",
    no_args_is_help=False,
)

DataDirOption = typer.Option(
    None, "--data-dir", help="data directory (default: $DLTRAIN_DATA_DIR, else the per-user cache)"
)


def _fail(err: DltrainError) -> typer.Exit:
    # Text, not markup: messages hold lists such as [0, 1] that markup would swallow.
    Console(stderr=True).print(Text.assemble(("Error: ", "bold red"), str(err)))
    return typer.Exit(err.exit_code)


def _size(n: float) -> str:
    """Bytes as a short human size, e.g. 11.6 MB."""
    units = ("B", "kB", "MB", "GB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.0f} B" if i == 0 else f"{n:.1f} {units[i]}"


@app.callback(invoke_without_command=True)
def list_datasets(
    ctx: typer.Context,
    data_dir: Optional[Path] = DataDirOption,
    as_json: bool = typer.Option(False, "--json", help="print the list as JSON"),
) -> None:
    """List every dataset: whether the real ones are on disk, their size and folder."""
    if ctx.invoked_subcommand is not None:
        return
    from dltrain.data import catalog
    from dltrain.data.paths import resolve_data_dir

    rows = catalog.describe(resolve_data_dir(data_dir))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
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
    Console().print(table)


@app.command("fetch")
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

    try:
        folder = catalog.fetch(name, resolve_data_dir(data_dir), source=source)
    except DltrainError as err:
        raise _fail(err) from None
    Console().print(Text(f"{name} is ready in {folder}"))
