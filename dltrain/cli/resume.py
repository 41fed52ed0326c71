"""`dltrain resume RUN`: continue an interrupted, crashed or finished run in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, print_json, print_note, reports_errors, saved_in
from dltrain.cli.completion import complete_run
from dltrain.cli.progress import rich_progress
from dltrain.cli.tables import run_summary


@app.command()
@reports_errors
def resume(
    run: Path = typer.Argument(..., help="the run folder", autocompletion=complete_run),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", min=1, help="train up to this many epochs in all (default: the config's)"
    ),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no live progress bar: a plain line every log_every epochs"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout (progress stays on stderr)"),
):
    """Continue a run from its last checkpoint; the result is the same, bit for bit, as a run never stopped."""
    import sys

    from dltrain import api
    from dltrain.train.signals import work_saved

    result = api.resume(
        run,
        epochs=epochs,
        data_dir=data_dir,
        progress=rich_progress(quiet),
        on_note=print_note,
        argv=["dltrain", *sys.argv[1:]],
        handle_signals=True,
    )
    work_saved()  # the run folder is complete: a signal from here on does not change the exit code
    with saved_in(result.path):
        if as_json:
            print_json(result.as_dict())
        elif result.note:  # nothing was trained: no summary that could read as a new result
            print(result.note, file=sys.stderr)
        else:
            run_summary(result)
