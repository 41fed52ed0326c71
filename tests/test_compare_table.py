"""The compare table at the widths people use: every differing key and the main metric visible,
no empty column, no line wider than $COLUMNS; --json keeps the full dotted paths."""

from __future__ import annotations

import json

import pytest

from dltrain import api
from dltrain.formatting import number

BASE = {
    "name": "wide",
    "seed": 1,
    "dataset": {"name": "digits", "classes": [0, 1, 2], "test_size": 0.3, "validation_split": 0.2, "scaling": "minmax"},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 3, "batch_size": 32},
}
EIGHT = [
    "seed=2",
    "training.optimizer.lr=0.03",
    "model.hidden=[16,8]",
    "model.activation=tanh",
    "training.batch_size=16",
    "training.epochs=4",
    "dataset.test_size=0.25",
    "dataset.scaling=standard",
]
REGRESSION = {
    "name": "reg",
    "dataset": {"name": "sqrt_mean", "n": 60, "dim": 3, "test_size": 0.25},
    "model": {"type": "perceptron", "rule": "gradient", "activation": "sigmoid"},
    "training": {"loss": "mse", "optimizer": {"name": "gd", "lr": 0.5}, "epochs": 3},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    made = {
        "same": [api.run(BASE, runs_dir=root / "same").path for _ in range(2)],
        "one": [api.run(BASE, overrides=o, runs_dir=root / "one").path for o in ([], ["training.optimizer.lr=0.1"])],
        "eight": [api.run(BASE, overrides=o, runs_dir=root / "eight").path for o in ([], EIGHT)],
    }
    made["mixed"] = [*made["one"], api.run(REGRESSION, runs_dir=root / "reg").path]
    return made


def assert_fits(text: str, columns: int) -> None:
    assert text.strip()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= columns, text


def shows(text: str, *values: str) -> None:
    for value in values:
        assert value in text, f"{value!r} is not in\n{text}"


@pytest.mark.parametrize("columns", [80, 120])
def test_two_runs_of_one_config(cli, runs, columns):
    text = cli("compare", *runs["same"], env={"COLUMNS": str(columns)}, code=0).stdout
    assert_fits(text, columns)
    d = cli("compare", *runs["same"], "--json").json
    assert d["changed_keys"] == [] and d["hidden_keys"] > 20
    shows(text, "test.accuracy", number(d["runs"][0]["test.accuracy"]), "identical", f"{d['hidden_keys']} config keys")
    assert "seed" not in text and "None" not in text  # no config column at all when nothing differs


@pytest.mark.parametrize("columns", [80, 120])
def test_runs_differing_in_one_key(cli, runs, columns):
    text = cli("compare", *runs["one"], env={"COLUMNS": str(columns)}, code=0).stdout
    assert_fits(text, columns)
    d = cli("compare", *runs["one"], "--json").json
    assert d["changed_keys"] == ["training.optimizer.lr"]  # --json: the full path
    shows(text, "lr", "0.1", "0.01", *(number(r["test.accuracy"]) for r in d["runs"]))
    assert "training.optimizer.lr" not in text  # the table: the short name
    if columns >= 120:
        shows(text, "train.loss")  # room for more metrics


@pytest.mark.parametrize("columns", [80, 120])
def test_runs_differing_in_eight_keys(cli, runs, columns):
    text = cli("compare", *runs["eight"], env={"COLUMNS": str(columns)}, code=0).stdout
    assert_fits(text, columns)
    d = cli("compare", *runs["eight"], "--json").json
    assert len(d["changed_keys"]) == 8 and "training.optimizer.lr" in d["changed_keys"]
    shows(text, "seed", "lr", "hidden", "activation", "batch_size", "epochs", "test_size", "scaling", "[16,8]")
    shows(text, "tanh", "standard", *(number(r["test.accuracy"]) for r in d["runs"]))


@pytest.mark.parametrize("columns", [80, 120])
def test_classification_and_regression_are_ranked_apart(cli, runs, columns):
    result = cli("compare", *runs["mixed"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    assert_fits(result.stdout, columns)
    assert "2 kinds" in result.stderr and "ranked on its own" in " ".join(result.stderr.split())
    shows(result.stdout, "classification on digits", "regression on sqrt_mean", "test.accuracy", "test.loss")
    d = cli("compare", *runs["mixed"], "--json").json
    assert [(g["task"], len(g["runs"])) for g in d["groups"]] == [("classification", 2), ("regression", 1)]
    assert d["best"] is None  # no single best across kinds


def test_no_column_is_empty(runs):
    """Every column of every rendering has a header and at least one non-blank cell."""
    from rich.console import Console

    from dltrain.cli.compare_table import _columns
    from dltrain.inspection.compare import comparison
    from dltrain.runs.reader import read_run

    for paths in runs.values():
        cmp = comparison([read_run(p) for p in paths])
        for group in cmp.groups:
            essential, optional = _columns(cmp, group, group.changed_keys)
            for column in essential + optional:
                assert column.header and any(c.plain.strip() for c in column.cells), column.header
    Console()  # Rich imported as the CLI does


def test_one_run_shows_its_summary(cli, runs):
    result = cli("compare", runs["same"][0], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "two or more runs" in result.stderr
    d = json.loads((runs["same"][0] / "metrics.json").read_text())
    shows(result.stdout, "completed", number(d["test"]["accuracy"]))


def test_piped_without_columns_keeps_one_line_per_row(cli, runs, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    text = cli("compare", *runs["eight"]).stdout
    header = next(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "seed" in header and "scaling" in header and "train.loss" in header  # all in one wide table


def test_a_legend_label_names_three_keys_and_counts_the_rest(runs):
    from dltrain.inspection.compare import comparison
    from dltrain.runs.reader import read_run

    labels = comparison([read_run(p) for p in runs["eight"]]).labels()
    assert len(labels) == 2 and all(label.count("=") == 3 and label.endswith(", +5 more") for label in labels)
