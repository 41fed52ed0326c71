"""`dltrain compare`: what differs between runs, their metrics side by side, overlaid cost curves."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest

from dltrain import api
from dltrain.inspection.compare import comparison, flatten, short_names
from dltrain.runs.reader import read_run

CONFIG = {
    "name": "cmp",
    "seed": 5,
    "dataset": {"name": "digits", "classes": [0, 1, 2], "test_size": 0.3, "validation_split": 0.2, "scaling": "minmax"},
    "model": {"type": "logreg"},
    "training": {"optimizer": {"name": "gd", "lr": 0.5}, "epochs": 12},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Two runs of one config that differ only in the learning rate."""
    root = tmp_path_factory.mktemp("runs")
    for lr in (0.5, 0.005):
        api.run(CONFIG, overrides=[f"training.optimizer.lr={lr}"], runs_dir=root)
    return root


def test_only_changed_shows_exactly_the_learning_rate(cli, root):
    doc = json.loads(cli("compare", root, "--json", code=0).stdout)
    assert doc["config_keys"] == ["training.optimizer.lr"] and doc["hidden_keys"] > 20
    assert [r["training.optimizer.lr"] for r in doc["runs"]] == [0.5, 0.005]  # ranked: the larger step is better
    full = json.loads(cli("compare", root, "--all", "--json", code=0).stdout)
    assert full["changed_keys"] == ["training.optimizer.lr"] and full["hidden_keys"] == 0
    assert "model.type" in full["config_keys"] and "name" not in full["config_keys"]


def test_sort_by_puts_the_best_first(cli, root):
    by_accuracy = json.loads(cli("compare", root, "--sort-by", "val.accuracy", "--json", code=0).stdout)
    accuracies = [r["val.accuracy"] for r in by_accuracy["runs"]]
    assert accuracies == sorted(accuracies, reverse=True)
    by_loss = json.loads(cli("compare", root, "--sort-by", "test.loss", "--json", code=0).stdout)
    losses = [r["test.loss"] for r in by_loss["runs"]]
    assert losses == sorted(losses)  # lower is better for losses
    assert by_loss["best"] == by_loss["runs"][0]["run"]
    assert by_loss["runs"][0]["training.optimizer.lr"] == 0.5  # the larger step learns more in 12 epochs


def test_unknown_sort_metric_suggests_one(cli, root):
    result = cli("compare", root, "--sort-by", "test.acuracy")
    assert result.exit_code == 2
    assert "did you mean 'test.accuracy'" in " ".join(result.stderr.split())


def test_csv_and_markdown_are_the_only_stdout(cli, root):
    rows = list(csv.DictReader(io.StringIO(cli("compare", root, "--csv", code=0).stdout)))
    assert len(rows) == 2 and list(rows[0])[:3] == ["run", "status", "train.loss"]
    assert list(rows[0])[-1] == "training.optimizer.lr"  # full paths, metrics first
    assert {r["status"] for r in rows} == {"completed"}
    markdown = cli(
        "compare", root, "--only-changed", "--markdown", "--sort-by", "test.accuracy", code=0
    ).stdout.splitlines()
    assert len(markdown) == 4 and all(line.startswith("|") for line in markdown)
    assert "**" in markdown[2]  # the best value, in bold


def test_csv_and_markdown_print_no_control_characters(cli, root, tmp_path):
    """A run folder named with an escape sequence, a bell, a newline and a '|' (a hostile
    runs directory): CSV keeps the name whole but for the control characters (the newline
    quoted), Markdown keeps each run on one line of the table with its '|' escaped."""
    odd = "x\x1b]0;title\x07\nsecond|line"
    first, second = sorted(root.iterdir())
    shutil.copytree(first, tmp_path / first.name)
    shutil.copytree(second, tmp_path / odd)
    metrics = json.loads((tmp_path / odd / "metrics.json").read_text())  # a metric named likewise
    metrics["test"]["m\x1b[2J|n\no"] = 0.5
    (tmp_path / odd / "metrics.json").write_text(json.dumps(metrics))
    out = cli("compare", tmp_path, "--csv", code=0).stdout
    assert "\x1b" not in out and "\x07" not in out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["run"] for r in rows} == {first.name, "x]0;title\nsecond|line"} and "test.m[2J|n\no" in rows[0]
    lines = cli("compare", tmp_path, "--markdown", code=0).stdout.splitlines()
    assert "\x1b" not in "".join(lines) and "\x07" not in "".join(lines)
    assert len(lines) == 4 and all(line.startswith("| ") and line.endswith(" |") for line in lines)
    assert " test.m[2J\\|n o " in lines[0] and lines[0].count(" | ") == lines[2].count(" | ")
    assert any(line.startswith("| x]0;title second\\|line | ") for line in lines)


def test_globs_folders_and_the_rich_table(cli, root):
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    by_glob = json.loads(cli("compare", f"{root}/*-cmp*", "--json", code=0).stdout)
    assert sorted(r["run"] for r in by_glob["runs"]) == [p.name for p in folders]
    once = json.loads(cli("compare", folders[0], folders[0], root, "--json", code=0).stdout)
    assert len(once["runs"]) == 2  # a run named twice is compared once
    table = cli("compare", root, "--only-changed", "--sort-by", "test.accuracy", code=0).stdout
    assert "lr" in table and folders[0].name in table and "hidden (--all shows them)" in table


def test_a_glob_passes_over_what_is_not_a_run(cli, root, tmp_path):
    """'DIR/*' matched the report.html that `dltrain report DIR` writes there (or a sweep's sweep.json)
    and ended with exit 2: 'report.html is a file, not a run folder'."""
    copy = shutil.copytree(root, tmp_path / "copy")
    (copy / "report.html").write_text("<html></html>")
    (copy / "notes").mkdir()
    by_glob = cli("compare", f"{copy}/*", "--json", code=0).json
    assert sorted(r["run"] for r in by_glob["runs"]) == sorted(p.name for p in root.iterdir() if p.is_dir())
    assert "matches no run folder" in cli("compare", f"{copy}/*.html", code=2).message
    assert "is a file, not a run folder" in cli("compare", copy / "report.html", code=2).message  # named: an error


def test_plot_overlays_the_cost_curves(cli, root, tmp_path):
    target = tmp_path / "overlay.png"
    result = cli("compare", root, "--only-changed", "--plot", target, "--json", code=0)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.loads(result.stdout)  # the plot message went to stderr


def test_the_plot_is_written_in_the_format_its_suffix_names(cli, root, tmp_path):
    # A name whose last dot starts no word of letters (curves_lr0.01) has no suffix: PNG, as with none.
    for name, start in [("c.svg", b"<?xml"), ("c.PDF", b"%PDF-"), ("c", b"\x89PNG"), ("curves_lr0.01", b"\x89PNG")]:
        cli("compare", root, "--plot", tmp_path / name, code=0)
        assert (tmp_path / name).read_bytes().startswith(start), name


def test_a_plot_suffix_with_no_format_is_refused_before_any_run_is_read(cli, tmp_path):
    result = cli("compare", tmp_path / "missing", "--plot", tmp_path / "c.jpg", code=2)
    assert "--plot" in result.message and "cannot write a .jpg file (only .png, .svg or .pdf)" in result.message
    assert not (tmp_path / "c.jpg").exists()


def test_not_a_run_is_a_clear_error(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "missing", f"{tmp_path}/nothing*"):
        result = cli("compare", target)
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_flatten_and_short_names():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    assert short_names(["training.optimizer.lr", "model.init.name", "dataset.name"]) == {
        "training.optimizer.lr": "lr",
        "model.init.name": "init.name",
        "dataset.name": "dataset.name",
    }


def test_a_key_that_ends_another_key_keeps_its_whole_name():
    assert short_names(["lr", "optimizer.lr"]) == {"lr": "lr", "optimizer.lr": "optimizer.lr"}


def test_an_unwritable_plot_is_a_clear_error(cli, root, tmp_path):
    result = cli("compare", root, "--plot", tmp_path / "missing" / "cost.png")
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_a_run_folder_named_with_bytes_that_are_not_utf8(cli, root, tmp_path):
    """Two copies of one run, one in a folder whose name is not UTF-8: every output shows it
    as 'bad\\xffname', the plot legend (which names runs alike by their folders) too, and
    --json's path is the real folder."""
    first = sorted(root.iterdir())[0]
    shutil.copytree(first, tmp_path / first.name)
    shutil.copytree(first, tmp_path / os.fsdecode(b"bad\xffname"))
    shown = "bad\\xffname"
    assert shown in cli("compare", tmp_path, code=0).stdout
    doc = cli("compare", tmp_path, "--json", code=0).json
    assert shown in [r["run"] for r in doc["runs"]]
    assert all(os.path.isdir(r["path"]) for r in doc["runs"])
    assert shown in cli("compare", tmp_path, "--csv", code=0).stdout
    assert f"| {shown} |" in cli("compare", tmp_path, "--markdown", code=0).stdout
    cli("compare", tmp_path, "--plot", tmp_path / "curves.png", code=0)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_and_markdown_spell_values_as_the_config_does(cli, tmp_path):
    """Markdown wrote Python's None, True and False where the config says null, true and false."""
    base = {"name": "b", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}}
    api.run(base, runs_dir=tmp_path)
    api.run(
        base,
        overrides=["training.shuffle=false", "training.early_stopping={patience: 2, monitor: train.loss}"],
        runs_dir=tmp_path,
    )
    markdown = cli("compare", tmp_path, "--markdown", "--all", code=0).stdout
    assert "None" not in markdown and "True" not in markdown and "False" not in markdown
    assert " true " in markdown and " false " in markdown
    rows = list(csv.DictReader(io.StringIO(cli("compare", tmp_path, "--csv", "--all", code=0).stdout)))
    assert sorted(r["training.shuffle"] for r in rows) == ["false", "true"]


def test_a_config_key_named_as_a_run_column_is_shown_whole(cli, tmp_path):
    """Two columns read 'epochs': the epochs each run trained, and the differing training.epochs."""
    base = {"name": "e", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}}
    for epochs in (3, 5):
        api.run(base, overrides=[f"training.epochs={epochs}"], runs_dir=tmp_path)
    header = next(
        line for line in cli("compare", tmp_path, env={"COLUMNS": "200"}, code=0).stdout.splitlines() if " run " in line
    )
    assert header.split().count("epochs") == 1 and "training.epochs" in header


def _quick_runs(runs_dir, overrides, **changes):
    base = {"name": "q", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}}
    return [read_run(api.run({**base, **changes}, overrides=o, runs_dir=runs_dir).path) for o in overrides]


def test_legend_labels_lead_with_the_key_of_most_values_and_tell_apart_the_same_text(tmp_path):
    """Legend text names the key with the most distinct values first, past `most` keys '+K more';
    two runs whose text would read the same get their run names beside it."""
    seeds_and_rates = [(1, 0.1), (1, 0.2), (2, 0.3), (2, 0.1)]
    runs = _quick_runs(tmp_path, [[f"seed={s}", f"training.optimizer.lr={lr}"] for s, lr in seeds_and_rates])
    cmp = comparison(runs)
    names = [run.name for run in runs]
    assert cmp.changed_keys == ["seed", "training.optimizer.lr"]

    def labels(**most):
        return dict(zip([row["run"] for row in cmp.rows], cmp.labels(**most)))

    whole = {name: f"lr={lr}, seed={s}" for name, (s, lr) in zip(names, seeds_and_rates)}
    assert labels() == whole and labels(most=2) == whole  # no '+0 more'
    assert labels(most=1) == {
        names[0]: f"lr=0.1, +1 more ({names[0]})",
        names[1]: "lr=0.2, +1 more",
        names[2]: "lr=0.3, +1 more",
        names[3]: f"lr=0.1, +1 more ({names[3]})",
    }
    assert labels(most=0) == {name: name for name in names}  # no key shown: the run name


def test_a_legend_label_shortens_a_key_among_every_config_key(tmp_path):
    """training.optimizer.name alone differs, but 'name' also ends dataset.name: optimizer.name."""
    cmp = comparison(_quick_runs(tmp_path, [["training.optimizer.name=sgd"], ["training.optimizer.name=gd"]]))
    assert cmp.changed_keys == ["training.optimizer.name"]
    assert sorted(cmp.labels()) == ["optimizer.name=gd", "optimizer.name=sgd"]


def test_each_kind_of_run_is_ranked_on_a_metric_its_runs_have(tmp_path):
    """Two regressions (one with a validation split, both with a baseline) and two classifiers:
    each group has its own metric, validation metric, differing keys, order and best run; the
    metrics go train, val, test, then the baseline's, and the baseline's estimator is no metric."""
    regression = {
        "name": "r",
        "dataset": {"name": "sqrt_mean", "n": 40, "dim": 2},
        "model": {"type": "perceptron", "rule": "gradient", "activation": "sigmoid"},
        "training": {"loss": "mse", "epochs": 2},
        "output": {"plots": False},
        "baseline": "sklearn",
    }
    no_val, val = (
        read_run(api.run(regression, overrides=o, runs_dir=tmp_path / "reg").path)
        for o in ([], ["dataset.validation_split=0.25"])
    )
    short, long = _quick_runs(tmp_path / "gate", [["training.epochs=1"], ["training.epochs=40"]])
    runs = [no_val, val, short, long]

    alone = comparison([no_val, val])
    assert alone.config_keys == alone.changed_keys == ["dataset.validation_split"] and alone.hidden > 20
    splits = [f"{split}.{m}" for split in ("train", "val", "test") for m in ("loss", "mae", "mse", "r2")]
    assert alone.metric_keys == splits + [f"baseline.{k}" for k in splits if not k.endswith("loss")]

    by_main = comparison(runs)
    reg, gate = by_main.groups
    assert (reg.dataset, reg.metric, reg.val_metric) == ("sqrt_mean", "test.loss", "val.loss")
    assert (gate.dataset, gate.metric, gate.val_metric) == ("or_gate", "train.accuracy", None)  # no validation split
    assert reg.changed_keys == ["dataset.validation_split"] and gate.changed_keys == ["training.epochs"]

    by_val = comparison(runs, sort_by="val.loss")
    reg, gate = by_val.groups
    assert (reg.metric, reg.val_metric) == ("val.loss", None) and [by_val.rows[i]["run"] for i in reg.rows] == [
        val.name,
        no_val.name,  # without the metric: last
    ]
    assert gate.metric is None and gate.best is None  # no run of the group has it: not ranked

    doc = comparison(runs, sort_by="train.loss").as_dict()
    assert doc["best"] is None  # two kinds
    assert doc["groups"][1]["runs"] == [long.name, short.name] and doc["groups"][1]["best"] == long.name
    assert [r["run"] for r in doc["runs"]][2:] == [long.name, short.name]
