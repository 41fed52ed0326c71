"""`dltrain predict RUN INPUT...`: classes with probabilities (or values) for new samples or images."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.text import Text

from dltrain.cli import app
from dltrain.cli.common import err_console, print_json, reports_errors
from dltrain.cli.completion import complete_run
from dltrain.cli.tables import table_console
from dltrain.formatting import one_line


class Invert(str, Enum):
    """--invert values; Typer lists them in --help and rejects others (exit 2)."""

    no = "no"
    yes = "yes"
    auto = "auto"


@app.command("predict")
@reports_errors
def predict(
    run: str = typer.Argument(
        ..., help="run folder, or 'latest' (the newest in --runs-dir)", autocompletion=complete_run
    ),
    inputs: list[Path] = typer.Argument(
        ..., help=".npy/.npz/.csv of samples (rows), or image files (PNG, JPG) for image-trained runs"
    ),
    invert: Invert = typer.Option(
        Invert.no,
        "--invert",
        help="yes: images are dark ink on a light background, invert them; auto: invert each image that looks inverted",
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
):
    """Predict classes (with probabilities) or values for new samples or images with a trained run.

    Images are converted like the training data (grayscale, size, pixel scale), and
    every sample is scaled with the scaler fitted at training time.
    """
    from dltrain.inspection.predict import predictions, read_inputs
    from dltrain.runs.locate import load_run

    loaded = load_run(run, runs_dir)
    names, X, warnings = read_inputs(inputs, loaded, invert.value)
    rows = predictions(loaded, names, X)
    for warning in warnings:
        err_console.print(Text.assemble(("warning: ", "yellow"), warning), soft_wrap=True)
    if as_json:
        print_json({"run": str(loaded.path), "predictions": rows})
        return
    _show(rows, loaded)


def _show(rows: list[dict], run) -> None:
    from rich.table import Table

    table = Table(title=f"predictions of {one_line(run.name)}")
    rows = [{**r, "input": one_line(r["input"])} for r in rows]  # a row per input, whatever its file is named
    table.add_column("input", overflow="fold")
    if run.classes is None:
        table.add_column("value", justify="right")
        for r in rows:
            value = r["value"]
            table.add_row(
                r["input"], f"{value:.6g}" if isinstance(value, float) else ", ".join(f"{v:.6g}" for v in value)
            )
    elif "probability" in rows[0]:
        table.add_column("class", justify="right")
        table.add_column("probability", justify="right")
        for r in rows:
            table.add_row(r["input"], str(r["class"]), f"{r['probability']:.4f}")
    else:  # a step or ReLU output is no probability: its raw value, called what it is
        table.add_column("class", justify="right")
        table.add_column("output", justify="right")
        for r in rows:
            output = r["output"]
            table.add_row(
                r["input"],
                str(r["class"]),
                f"{output:.6g}" if isinstance(output, float) else ", ".join(f"{v:.6g}" for v in output),
            )
    table_console().print(table)
