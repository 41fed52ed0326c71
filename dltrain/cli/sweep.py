"""`dltrain sweep CONFIG --grid key=v1,v2`: train every grid point, each an ordinary run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, err_console, print_json, reports_errors
from dltrain.cli.completion import complete_config
from dltrain.cli.tables import table_console


@app.command()
@reports_errors
def sweep(
    config: Path = typer.Argument(
        ...,
        help="experiment config (YAML); its `sweep: grid:` section, if any, is the starting grid",
        autocompletion=complete_config,
    ),
    grid: list[str] = typer.Option(
        [], "--grid", help="a grid axis: --grid training.optimizer.lr=0.1,0.01 (values parsed as YAML; repeatable)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a key for every point: --set training.epochs=20 (repeatable)"
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="points trained at once in parallel processes (local backend)"),
    name: Optional[str] = typer.Option(None, "--name", help="sweep name (default: the config's name)"),
    sort_by: Optional[str] = typer.Option(
        None,
        "--sort-by",
        help="rank by SPLIT.METRIC, e.g. test.loss (default: test.accuracy for classifiers, else test.loss)",
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where the sweep folder is created"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    backend: str = typer.Option("local", "--backend", help="local (this machine) | dask (a Dask distributed cluster)"),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Dask scheduler address, tcp://HOST:PORT (with --backend dask)"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="print one JSON document on stdout (progress and table go to stderr)"
    ),
):
    """Train every point of a hyperparameter grid and rank them; exit 1 if any point failed."""
    import sys

    from dltrain.cli.sweep_table import progress_line, start_line, table
    from dltrain.errors import Interrupted, TrainingFailed
    from dltrain.sweep import run_sweep

    out = table_console(stderr=as_json)  # with --json, stdout holds the JSON document alone
    try:
        result = run_sweep(
            config,
            grid,
            overrides=set_,
            backend=backend,
            jobs=jobs,
            scheduler=scheduler,
            name=name,
            sort_by=sort_by,
            runs_dir=runs_dir,
            data_dir=data_dir,
            argv=["dltrain", *sys.argv[1:]],
            on_start=lambda s: err_console.print(start_line(s), highlight=False, soft_wrap=True),
            on_point=lambda s, p: err_console.print(progress_line(s, p), highlight=False, soft_wrap=True),
        )
    except (TrainingFailed, Interrupted) as err:
        if err.result is not None:
            out.print(table(err.result))
        raise
    out.print(table(result))
    if as_json:
        print_json(result.as_dict())
    else:
        out.print(f"sweep folder: {result.path}", soft_wrap=True)
