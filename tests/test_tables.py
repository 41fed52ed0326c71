"""Shared CLI rendering (dltrain.cli.tables): one number format and one metrics table for every command."""

from rich.console import Console

from dltrain.cli.tables import metrics_table
from dltrain.formatting import number, value_text


def test_number_fixed_point_with_an_exponent_only_where_needed():
    assert [number(v) for v in (0.98333, 0.0, 12.5, 2.5e-05, 1e270, None, 7)] == [
        "0.9833",
        "0.0000",
        "12.5000",
        "2.5e-05",
        "1e+270",
        "",
        "7",
    ]
    assert value_text([64, 32]) == "[64,32]"


def test_metrics_table_adds_the_baseline_rows_of_the_same_splits():
    metrics = {
        "train": {"loss": 0.4, "accuracy": 0.96},
        "test": {"loss": 0.39, "accuracy": 0.98},
        "baseline": {"model": "LogisticRegression()", "test": {"accuracy": 0.97, "log_loss": 0.09}},
    }
    console = Console(width=120, record=True)
    console.print(metrics_table(metrics))
    text = console.export_text()
    assert "sklearn test" in text and "sklearn train" not in text and "sklearn: LogisticRegression()" in text
    assert text.index("loss") < text.index("accuracy") < text.index("log_loss")  # the columns in first-seen order
