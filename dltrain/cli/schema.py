"""`dltrain schema`: every config key with its type, default and meaning (a table, Markdown or JSON Schema)."""

from __future__ import annotations

import sys

import typer

from dltrain.cli import app
from dltrain.cli.common import print_json, reports_errors

TITLE = "Config reference"
PREAMBLE = """\
Every key of an experiment config (YAML), its type, default and meaning, generated from
the schema by `dltrain schema --markdown`; `dltrain schema` prints the same as tables and
`dltrain schema --json` as JSON Schema. A key that takes one of several sections (a
dataset, a model, an optimizer, an initializer) lists the keys every choice shares, then
each choice with its own.

Where libraries differ, the key says which one dltrain follows: weight decay
(`training.optimizer.weight_decay`), the `he` and `xavier` initializers (`model.init`),
leaky ReLU's slope (`model.negative_slope`), how `bce` averages (`training.loss`), the
Rosenblatt rule (`model.rule`) and the scikit-learn baseline's C (`baseline`)."""


@app.command()
@reports_errors
def schema(
    as_json: bool = typer.Option(False, "--json", help="print JSON Schema (for editors and validators)"),
    as_markdown: bool = typer.Option(False, "--markdown", help="print the reference as Markdown (docs/config.md)"),
):
    """Print every config key: its type, default and meaning."""
    from dltrain.config.reference import markdown, reference
    from dltrain.config.schema import Config

    if as_json and as_markdown:
        from dltrain.errors import ConfigError

        raise ConfigError("--json and --markdown are two formats of the same: choose one")
    if as_json:
        print_json(Config.model_json_schema())
    elif as_markdown:
        sys.stdout.write(markdown(reference(Config), TITLE, PREAMBLE))
    else:
        _show(reference(Config))


def _show(parts) -> None:
    from rich.table import Table
    from rich.text import Text

    from dltrain.cli.tables import table_console

    console = table_console()
    for part in parts:
        console.print(Text(part.title.replace("`", ""), style="bold"))
        if part.intro:
            console.print(Text(part.intro.replace("`", "")), soft_wrap=False)
        if part.rows:
            table = Table(show_edge=False, header_style="bold", pad_edge=False)
            table.add_column("key", style="cyan", no_wrap=True)
            table.add_column("type", max_width=34)
            table.add_column("default", max_width=24)
            table.add_column("meaning")
            for row in part.rows:
                # Text, not markup: types and meanings hold brackets such as [0, 1).
                table.add_row(row.key, Text(row.type), Text(row.default), Text(row.meaning.replace("`", "")))
            console.print(table)
        console.print()
