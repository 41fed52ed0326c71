"""`dltrain init NAME`: a commented starter config in the current directory."""

from __future__ import annotations

import typer

from dltrain.cli import app
from dltrain.cli.common import reports_errors
from dltrain.cli.completion import complete_bundled


@app.command()
@reports_errors
def init(
    name: str = typer.Argument(..., help="config and run name: writes NAME.yaml here"),
    source: str = typer.Option(
        "quickstart",
        "--from",
        help="the bundled config to start from (see dltrain configs)",
        autocompletion=complete_bundled,
    ),
):
    """Write NAME.yaml, a commented starter config copied from a bundled one; never overwrites a file."""
    from dltrain.config.bundled import write_starter

    path = write_starter(name, source)
    typer.echo(f"wrote {path} (from the bundled {source!r}); train it with: dltrain run {path}", err=True)
