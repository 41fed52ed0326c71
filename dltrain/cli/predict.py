"""`dltrain predict RUN INPUT...`: classes with probabilities (or values) for new samples or images."""

from __future__ import annotations

from pathlib import Path

import typer

from dltrain.cli import app
from dltrain.cli.common import print_json, reports_errors
from dltrain.cli.tables import table_console


@app.command("predict")
@reports_errors
def predict(
    run: str = typer.Argument(..., help="run folder, or 'latest' (the newest in --runs-dir)"),
    inputs: list[Path] = typer.Argument(
        ..., help=".npy/.npz/.csv of samples (rows), or image files (PNG, JPG) for image-trained runs"
    ),
    invert: bool = typer.Option(False, "--invert", help="images are dark ink on a light background: invert them first"),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
):
    """Predict classes (with probabilities) or values for new samples or images with a trained run.

    Images are converted like the training data (grayscale, size, pixel scale), and
    every sample is scaled with the scaler fitted at training time.
    """
    from dltrain.inspection.predict import predictions, read_inputs
    from dltrain.runs.reader import load_run

    loaded = load_run(run, runs_dir)
    names, X = read_inputs(inputs, loaded, invert)
    rows = predictions(loaded, names, X)
    if as_json:
        print_json({"run": str(loaded.path), "predictions": rows})
        return
    _show(rows, loaded)


def _show(rows: list[dict], run) -> None:
    from rich.table import Table

    table = Table(title=f"predictions of {run.name}")
    table.add_column("input", overflow="fold")
    if run.classes is None:
        table.add_column("value", justify="right")
        for r in rows:
            value = r["value"]
            table.add_row(
                r["input"], f"{value:.6g}" if isinstance(value, float) else ", ".join(f"{v:.6g}" for v in value)
            )
    else:
        table.add_column("class", justify="right")
        table.add_column("probability", justify="right")
        for r in rows:
            table.add_row(r["input"], str(r["class"]), f"{r['probability']:.4f}")
    table_console().print(table)
