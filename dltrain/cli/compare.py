"""`dltrain compare RUN...`: runs side by side, what differs between them, and their curves."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import err_console, output_format, print_json, reports_errors, write_output
from dltrain.cli.completion import complete_run
from dltrain.cli.tables import table_console
from dltrain.runs.status import Status

PLOT_FORMATS = ("png", "svg", "pdf")  # --plot x.svg: matplotlib writes each of these without extra software


@app.command("compare")
@reports_errors
def compare(
    runs: list[str] = typer.Argument(
        ..., help="run folders, folders of runs, globs ('runs/*lr*') or 'latest'", autocompletion=complete_run
    ),
    show_all: bool = typer.Option(
        False, "--all", help="show every config key, not only the ones that differ between the runs"
    ),
    only_changed: bool = typer.Option(False, "--only-changed", hidden=True, help="the default; kept for old scripts"),
    sort_by: Optional[str] = typer.Option(
        None, "--sort-by", help="rank by this metric, best first (default: the main metric), e.g. val.loss"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as one JSON document on stdout"),
    as_csv: bool = typer.Option(False, "--csv", help="print the comparison as CSV on stdout"),
    as_markdown: bool = typer.Option(False, "--markdown", help="print the comparison as a Markdown table on stdout"),
    plot: Optional[Path] = typer.Option(
        None,
        "--plot",
        help="write the runs' curves into one PNG, SVG or PDF (as its suffix says): a panel per loss, "
        "and accuracy for classifiers",
    ),
    log: Optional[bool] = typer.Option(
        None, "--log/--linear", help="the plot's loss axis (default: log where the values span over two decades)"
    ),
):
    """Compare runs: the config keys that differ, final metrics, epochs and seconds, best first.

    Runs of different datasets or tasks are ranked in separate tables. --json and --csv
    carry the full dotted key paths (training.optimizer.lr); the table shows short ones (lr).
    """
    from dltrain.errors import ConfigError
    from dltrain.inspection.compare import comparison
    from dltrain.runs.locate import expand_refs
    from dltrain.runs.reader import read_run

    if as_json + as_csv + as_markdown > 1:
        raise ConfigError("choose one of --json, --csv and --markdown")
    fmt = output_format(plot, "--plot", PLOT_FORMATS) if plot is not None else "png"
    table = comparison([read_run(p) for p in expand_refs(runs, runs_dir)], show_all, sort_by)
    if plot is not None:
        write_output(plot, _plot(table, log, fmt))
        err_console.print(f"plot: {plot}", soft_wrap=True)
    if as_json:
        print_json(table.as_dict())
    elif as_csv:
        sys.stdout.write(table.as_csv())
    elif as_markdown:
        sys.stdout.write(table.as_markdown())
    else:
        from dltrain.cli.compare_table import show

        show(table, table_console(), err_console)


def _plot(table, log: Optional[bool], fmt: str) -> bytes:
    """The file of `compare --plot`, in `fmt` (png, svg or pdf): each run labelled by the keys
    that differ, coloured past ten runs by the ranked metric of the first group."""
    from dltrain.inspection.compare import task_of
    from dltrain.plots.compare import Curve, compare_plot

    metric = table.groups[0].metric if table.groups else None
    curves = [
        Curve(
            label,
            run.history,
            run.meta.get("loss") or run.config.training.loss,
            task_of(run) == "classification",
            failed=row["status"] in (Status.FAILED, Status.CRASHED),
            value=row.get(metric) if metric else None,
        )
        for label, run, row in zip(table.labels(), table.runs, table.rows)
    ]
    return compare_plot(curves, metric, log, fmt)
