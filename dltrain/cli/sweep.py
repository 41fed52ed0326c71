"""`dltrain sweep CONFIG --grid key=v1,v2`: train every point of a grid or a search, each an ordinary run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, err_console, note_shadowed, print_json, reports_errors, saved_in
from dltrain.cli.completion import complete_config
from dltrain.cli.tables import table_console


@app.command()
@reports_errors
def sweep(
    config: Optional[Path] = typer.Argument(
        None,
        help="experiment config (YAML file or bundled name); its `sweep:` section, if any, is the starting grid or space",
        autocompletion=complete_config,
    ),
    grid: list[str] = typer.Option(
        [], "--grid", help="a grid axis: --grid training.optimizer.lr=0.1,0.01 (values parsed as YAML; repeatable)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="override a key for every point: --set training.epochs=20 (repeatable)"
    ),
    search: Optional[str] = typer.Option(
        None,
        "--search",
        help="grid (every grid point, the default) | random | optuna (TPE): --trials points from `sweep: space:`",
    ),
    trials: Optional[int] = typer.Option(None, "--trials", help="points a random or Optuna search trains"),
    repeats: Optional[int] = typer.Option(
        None, "--repeats", help="train each point N times with seeds derived from the config's seed; mean ± std"
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Optuna search: stop bad points early (median rule, per-epoch validation metric)"
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="finish an interrupted sweep in SWEEP_DIR: only the runs that did not complete"
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="points trained at once in parallel processes (local backend)"),
    name: Optional[str] = typer.Option(None, "--name", help="sweep name (default: the config's name)"),
    sort_by: Optional[str] = typer.Option(
        None,
        "--sort-by",
        help="rank by SPLIT.METRIC, e.g. test.loss (default: accuracy for classifiers, else loss; on the "
        "validation split where there is one, else test, else train)",
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where the sweep folder is created"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    backend: str = typer.Option("local", "--backend", help="local (this machine) | dask (a Dask distributed cluster)"),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Dask scheduler address, tcp://HOST:PORT (with --backend dask)"
    ),
    data_on_workers: bool = typer.Option(
        False,
        "--data-on-workers",
        help="Dask: workers load the data from their own data directory (default: this machine loads it and sends it)",
    ),
    worker_timeout: float = typer.Option(
        60.0, "--worker-timeout", help="Dask: stop (exit 1) after this many seconds without a live worker"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="print one JSON document on stdout (progress and table go to stderr)"
    ),
):
    """Train every point of a hyperparameter grid (or a random / Optuna search) and rank them; exit 1 if any failed."""
    import sys

    if backend == "local" and jobs > 1:
        from dltrain.sweep import pool

        pool.start_forkserver()  # the workers' process imports while this one does

    from dltrain.cli.sweep_table import progress_line, start_line, table
    from dltrain.errors import ConfigError, Interrupted, TrainingFailed
    from dltrain.sweep import resume_sweep, run_sweep
    from dltrain.train.signals import work_saved

    out = table_console(stderr=as_json)  # with --json, stdout holds the JSON document alone
    options = dict(
        backend=backend,
        jobs=jobs,
        scheduler=scheduler,
        data_dir=data_dir,
        data_on_workers=data_on_workers,
        worker_timeout=worker_timeout,
        argv=["dltrain", *sys.argv[1:]],
        handle_signals=True,
        on_start=lambda s: say(start_line(s)),
        on_point=lambda s, p: say(progress_line(s, p)),
    )
    # What defines a sweep; --resume continues one as it was defined, so none of these may come with it.
    definition: dict[str, Any] = dict(
        grid=grid, overrides=set_, name=name, search=search, trials=trials, repeats=repeats, prune=prune
    )
    try:
        if resume is not None:
            asked = {"config": config, "sort_by": sort_by, **definition}
            counts = ("trials", "repeats")  # 0 is a value given
            given = [FLAGS[key] for key, value in asked.items() if value or (key in counts and value is not None)]
            if given:
                raise ConfigError(f"--resume continues the sweep as it was defined; leave out {', '.join(given)}")
            result = resume_sweep(resume, **options)
        elif config is None:
            raise ConfigError("give a CONFIG to sweep, or --resume SWEEP_DIR to finish an interrupted sweep")
        else:
            note_shadowed(config)
            result = run_sweep(config, sort_by=sort_by, runs_dir=runs_dir, **definition, **options)
    except (TrainingFailed, Interrupted) as err:
        if err.result is not None:
            out.print(table(err.result))
        raise
    work_saved()  # every run is written: a signal from here on does not change the exit code
    with saved_in(result.path):
        out.print(table(result))
        if as_json:
            print_json(result.as_dict())
        else:
            out.print(f"sweep folder: {result.path}", soft_wrap=True)


def say(text) -> None:
    """A line of progress on stderr, as it is (stdout may hold the JSON document)."""
    err_console.print(text, highlight=False, soft_wrap=True)


FLAGS = {
    "config": "CONFIG",
    "sort_by": "--sort-by",  # the ranking a sweep was started with is its own
    "grid": "--grid",
    "overrides": "--set",
    "name": "--name",
    "search": "--search",
    "trials": "--trials",
    "repeats": "--repeats",
    "prune": "--prune",
}
