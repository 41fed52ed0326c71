"""`dltrain eval RUN`: rebuild a run's model from config.yaml + weights.npz and recompute its metrics."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from dltrain.cli import app
from dltrain.cli.common import DATA_DIR_HELP, err_console, print_json, reports_errors
from dltrain.cli.completion import complete_run
from dltrain.cli.tables import metrics_table, table_console
from dltrain.formatting import one_line


class Split(str, Enum):
    """--split values; Typer lists them in --help and rejects others (exit 2)."""

    train = "train"
    val = "val"
    test = "test"
    all = "all"


HEADERS = {"accuracy": "acc", "precision_macro": "prec", "recall_macro": "rec", "f1_macro": "F1", "log_loss": "logloss"}


@app.command("eval")
@reports_errors
def eval_(
    run: str = typer.Argument(
        ..., help="run folder, or 'latest' (the newest in --runs-dir)", autocompletion=complete_run
    ),
    split: Split = typer.Option(Split.all, "--split", help="the split to evaluate, or all"),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="change the dataset before reloading it: --set dataset.path=other.csv (repeatable; split and preprocessing keys need --resplit)",
    ),
    resplit: bool = typer.Option(
        False, "--resplit", help="allow --set to change the split or preprocessing (the metrics are then not held-out)"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
):
    """Recompute a run's metrics from its saved config and weights (equal to metrics.json on an unchanged run).

    Classifiers also get precision/recall/F1 per class and macro, log loss and
    confusion_matrix.png; regression gets mse, mae, r2 and predictions.png (both redrawn for the split evaluated).
    """
    from dltrain.inspection.evaluate import evaluate, resplit_warning, splits_of
    from dltrain.runs.locate import load_run

    loaded = load_run(run, runs_dir)
    report = evaluate(loaded, splits_of(loaded, set_, data_dir, resplit=resplit), split.value)
    report["overrides"] = list(set_)
    warning = resplit_warning(loaded, set_) if resplit else None
    if warning:
        report["warnings"] = [warning, *report.get("warnings", [])]
    for said in report.get("warnings", []):  # for the person at the terminal, even with stdout in a file
        err_console.print(Text.assemble(("warning: ", "yellow"), said), soft_wrap=True)
    if as_json:
        print_json(report)
    else:
        _show(report, loaded.classes)


def _show(report: dict, classes) -> None:
    from rich.table import Table

    console = table_console()
    details = report["details"]
    keys = (
        ["accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss"]
        if classes is not None
        else ["mse", "mae", "r2"]
    )
    rows = {name: {"loss": metrics["loss"], **details[name]} for name, metrics in report["metrics"].items()}
    baseline = report.get("baseline")
    if baseline:  # the baseline's log loss, where it has one, stands in its loss column
        rows["baseline"] = {
            **baseline,
            **{name: {"loss": baseline[name].get("log_loss"), **baseline[name]} for name in rows if baseline.get(name)},
        }
    title = f"eval {one_line(report['run'])}" + (f" ({', '.join(report['overrides'])})" if report["overrides"] else "")
    table = metrics_table(rows, ["n", "loss", *keys], HEADERS, title)
    if classes is not None:
        table.caption = "\n".join(filter(None, ["prec, rec, F1: macro averages over the classes", table.caption]))
    console.print(table)
    if classes is not None:
        last = details[list(details)[-1]]
        per_class = Table(title=f"per class ({list(details)[-1]} split)")
        for column in ("class", "precision", "recall", "f1", "support"):
            per_class.add_column(column, justify="right")
        for name, values in last["per_class"].items():
            per_class.add_row(
                name,
                f"{values['precision']:.4g}",
                f"{values['recall']:.4g}",
                f"{values['f1']:.4g}",
                str(values["support"]),
            )
        console.print(per_class)
    for path in report["plots"]:
        console.print(f"plot: {path}", soft_wrap=True)
