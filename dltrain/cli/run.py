"""`dltrain run CONFIG`: train and write a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import (
    DATA_DIR_HELP,
    at_the_terminal,
    note_shadowed,
    print_json,
    print_result,
    reports_errors,
)
from dltrain.cli.completion import complete_config


@app.command()
@reports_errors
def run(
    config: Path = typer.Argument(
        ..., help="experiment config (YAML file or bundled name)", autocompletion=complete_config
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a key: --set training.optimizer.lr=0.1 (value parsed as YAML; repeatable)"
    ),
    name: Optional[str] = typer.Option(None, "--name", help="run name (default: the config's name)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed (default: the config's seed)"),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where run folders are created"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no live progress bar: a plain line every log_every epochs"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout (progress stays on stderr)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the resolved config and exit"),
    report: bool = typer.Option(
        False, "--report", help="also write report.html into the run folder (output.report: true)"
    ),
):
    """Train the model a YAML config describes; print the run folder it wrote."""
    import sys

    from dltrain import api
    from dltrain.config.loader import dump_config

    note_shadowed(config)
    set_ = [*set_, "output.report=true"] if report else set_
    if dry_run:
        cfg = api.resolve(config, set_, name=name, seed=seed)
        api.check_without_data(cfg)
        if as_json:
            print_json(cfg.model_dump(mode="json"))
        else:
            sys.stdout.write(dump_config(cfg))
        return
    result = api.run(
        config, overrides=set_, runs_dir=runs_dir, data_dir=data_dir, name=name, seed=seed, **at_the_terminal(quiet)
    )
    print_result(result, as_json)
