"""`dltrain resume RUN`: continue an interrupted, crashed or finished run in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, at_the_terminal, print_result, reports_errors
from dltrain.cli.completion import complete_run


@app.command()
@reports_errors
def resume(
    run: Path = typer.Argument(
        ..., help="the run folder, or 'latest' (the newest in --runs-dir)", autocompletion=complete_run
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", min=1, help="train up to this many epochs in all (default: the config's)"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no live progress bar: a plain line every log_every epochs"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout (progress stays on stderr)"),
):
    """Continue a run from its last checkpoint; the result is the same, bit for bit, as a run never stopped."""
    from dltrain import api
    from dltrain.runs.locate import resolve_ref

    result = api.resume(resolve_ref(run, runs_dir), epochs=epochs, data_dir=data_dir, **at_the_terminal(quiet))
    print_result(result, as_json)
