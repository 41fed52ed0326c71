"""`dltrain configs`: the bundled example configs, each with what it trains."""

from __future__ import annotations

import typer

from dltrain.cli import app
from dltrain.cli.common import print_json, reports_errors


@app.command()
@reports_errors
def configs(
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (name, description, path) on stdout"),
):
    """List the configs that ship with dltrain; run one by name: dltrain run quickstart."""
    from dltrain.config.bundled import bundled_names, bundled_path, describe

    rows = [{"name": n, "description": describe(n), "path": str(bundled_path(n))} for n in bundled_names()]
    if as_json:
        print_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['description']}")
