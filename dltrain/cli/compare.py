"""`dltrain compare RUN...`: runs side by side, what differs between them, and their cost curves."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import err_console, print_json, reports_errors
from dltrain.cli.completion import complete_run
from dltrain.cli.tables import table_console
from dltrain.formatting import number, value_text


@app.command("compare")
@reports_errors
def compare(
    runs: list[str] = typer.Argument(
        ..., help="run folders, folders of runs, globs ('runs/*lr*') or 'latest'", autocompletion=complete_run
    ),
    only_changed: bool = typer.Option(
        False, "--only-changed", help="show only the config keys that differ between the runs"
    ),
    sort_by: Optional[str] = typer.Option(
        None, "--sort-by", help="order by a metric, best first, e.g. test.accuracy or val.loss"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as one JSON document on stdout"),
    as_csv: bool = typer.Option(False, "--csv", help="print the comparison as CSV on stdout"),
    as_markdown: bool = typer.Option(False, "--markdown", help="print the comparison as a Markdown table on stdout"),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="write the runs' cost curves into one PNG (train solid, validation dashed)"
    ),
):
    """Compare runs: config keys, final metrics, epochs and seconds; the best value of --sort-by highlighted."""
    from dltrain.errors import ConfigError
    from dltrain.inspection.compare import comparison
    from dltrain.runs.reader import expand_refs, read_run

    if as_json + as_csv + as_markdown > 1:
        raise ConfigError("choose one of --json, --csv and --markdown")
    table = comparison([read_run(p) for p in expand_refs(runs, runs_dir)], only_changed, sort_by)
    if plot is not None:
        _plot(table, plot)
        err_console.print(f"plot: {plot}", soft_wrap=True)
    if as_json:
        print_json(table.as_dict())
    elif as_csv:
        sys.stdout.write(table.as_csv())
    elif as_markdown:
        sys.stdout.write(table.as_markdown())
    else:
        _show(table)


def _plot(table, path: Path) -> None:
    """One PNG of every run's cost curves at the user's `path`; an unwritable path is exit 2."""
    from dltrain.files import write_user_file
    from dltrain.plots import cost_overlay_plot

    losses = {_loss_name(run) for run in table.runs}
    ylabel = f"loss ({losses.pop()})" if len(losses) == 1 else "loss"
    curves = list(zip(table.labels(), (run.history for run in table.runs)))
    write_user_file(path, cost_overlay_plot(curves, ylabel, f"cost of {len(curves)} runs"))


def _loss_name(run) -> str:
    """The loss the run trained on: meta.json's, else the config's (runs from before meta kept it)."""
    return run.meta.get("loss") or run.config.training.loss


def _show(table) -> None:
    """The Rich table: config columns under their short names, the baseline only on its last split."""
    from rich.table import Table

    from dltrain.inspection.compare import short_names

    last_split = next(
        (s for s in ("test", "val", "train") if any(k.startswith(f"baseline.{s}.") for k in table.metric_keys)), None
    )
    metric_keys = [
        k for k in table.metric_keys if not k.startswith("baseline.") or k.startswith(f"baseline.{last_split}.")
    ]
    short = short_names(table.config_keys)
    rich_table = Table(title=f"{len(table.rows)} runs" + (f", best {table.sort_by} first" if table.sort_by else ""))
    rich_table.add_column("run", no_wrap=True)
    rich_table.add_column("status")
    for key in table.config_keys:
        rich_table.add_column(short[key], style="cyan" if key in table.changed_keys else None)
    for key in metric_keys:
        rich_table.add_column(key.replace("baseline.", "sklearn "), justify="right")
    rich_table.add_column("epochs", justify="right")
    rich_table.add_column("seconds", justify="right")
    for i, row in enumerate(table.rows):
        metrics = [number(row.get(k)) for k in metric_keys]
        if i == table.best and table.sort_by in metric_keys:
            j = metric_keys.index(table.sort_by)
            metrics[j] = f"[bold green]{metrics[j]}[/]"
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.2f}"
        rich_table.add_row(
            row["run"],
            row["status"],
            *(value_text(row.get(k)) for k in table.config_keys),
            *metrics,
            number(row["epochs"]),
            seconds,
        )
    if table.changed_keys:
        rich_table.caption = f"differ: {', '.join(table.changed_keys)}"
    table_console().print(rich_table)
