"""`dltrain eval`: a saved run re-evaluates to its own metrics.json, bit for bit, plus sklearn's extra metrics."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import two_class_csv_config

from dltrain import api
from dltrain.runs.folder import RunFolder

PNG = b"\x89PNG\r\n\x1a\n"

MLP_DIGITS = {
    "name": "eval-mlp",
    "seed": 3,
    "dataset": {
        "name": "digits",
        "classes": [3, 5, 8],
        "test_size": 0.25,
        "validation_split": 0.2,
        "scaling": "minmax",
        "stratify": True,
    },
    "model": {"type": "mlp", "hidden": [16], "activation": "tanh"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 8, "batch_size": 32},
}
LOGREG_F32 = {
    "name": "eval-logreg",
    "seed": 1,
    "dataset": {"name": "digits", "test_size": 0.3, "scaling": "standard"},
    "model": {"type": "logreg"},
    "training": {"optimizer": {"name": "gd", "lr": 0.1}, "epochs": 15, "dtype": "float32"},
    "baseline": "sklearn",
}
SQRT_MEAN = {
    "name": "eval-sqrt",
    "seed": 0,
    "dataset": {"name": "sqrt_mean", "n": 200, "dim": 4, "test_size": 0.25},
    "model": {
        "type": "perceptron",
        "rule": "gradient",
        "activation": "sigmoid",
        "init": {"name": "uniform", "low": -0.5, "high": 0.5},
    },
    "training": {"loss": "mse", "optimizer": {"name": "gd", "lr": 0.5}, "epochs": 30, "batch_size": 1},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {cfg["name"]: api.run(cfg, runs_dir=root).path for cfg in (MLP_DIGITS, LOGREG_F32, SQRT_MEAN)}


@pytest.mark.parametrize("name", ["eval-mlp", "eval-logreg", "eval-sqrt"])
def test_eval_reproduces_metrics_json_exactly(cli, runs, name):
    saved = json.loads((runs[name] / "metrics.json").read_text())
    saved.pop("baseline", None)
    report = cli("eval", runs[name], "--json", code=0).json
    # == on floats parsed from JSON: every digit of every metric, for float64 and float32 runs
    assert report["metrics"] == saved
    assert json.dumps(report["metrics"]) == json.dumps(saved)


def test_classifier_details_and_confusion_matrix(cli, runs):
    path = runs["eval-mlp"]
    (path / "confusion_matrix.png").unlink(missing_ok=True)
    report = cli("eval", path, "--split", "test", "--json", code=0).json
    assert list(report["metrics"]) == ["test"]
    details = report["details"]["test"]
    assert set(details["per_class"]) == {"3", "5", "8"}  # the real digits, not indices 0..2
    matrix = details["confusion_matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == details["n"]
    assert details["accuracy"] == report["metrics"]["test"]["accuracy"]
    assert 0.0 <= details["f1_macro"] <= 1.0 and details["log_loss"] > 0
    assert (path / "confusion_matrix.png").read_bytes()[:8] == PNG


def test_eval_draws_a_confusion_matrix_once(cli, runs, tmp_path, monkeypatch):
    """The run drew confusion_matrix.png of its last split: eval of that split keeps the file;
    another split is another picture, drawn once too."""
    from dltrain.plots import samples

    copy = shutil.copytree(runs["eval-mlp"], tmp_path / "once")
    drawn = copy / "confusion_matrix.png"
    cli("eval", copy, "--split", "test", "--json", code=0)  # as the run drew it (or an earlier test redrew it)
    before = drawn.read_bytes()
    titles = []
    real = samples.confusion_figure
    monkeypatch.setattr(samples, "confusion_figure", lambda *args: titles.append(args[2]) or real(*args))
    assert cli("eval", copy, "--json", code=0).json["plots"] == [str(drawn)]  # all splits: the last one is test
    assert titles == [] and drawn.read_bytes() == before
    cli("eval", copy, "--split", "train", "--json", code=0)
    assert titles == ["eval-mlp: train split"] and drawn.read_bytes() != before
    cli("eval", copy, "--split", "train", "--json", code=0)
    assert titles == ["eval-mlp: train split"]  # kept this time


def test_regression_details_and_plot(cli, runs):
    path = runs["eval-sqrt"]
    report = cli("eval", path, "--split", "test", "--json", code=0).json
    assert set(report["details"]["test"]) == {"n", "mse", "mae", "r2"}
    assert report["details"]["test"]["mse"] == report["metrics"]["test"]["mse"]
    assert (path / "predictions.png").read_bytes()[:8] == PNG and not (path / "predicted_vs_actual.png").exists()


def test_eval_runs_one_forward_pass_per_split(cli, runs, monkeypatch):
    from dltrain.nn.network import Network

    calls = []
    real = Network.loss_value
    monkeypatch.setattr(Network, "loss_value", lambda self, X, y: calls.append(len(X)) or real(self, X, y))
    monkeypatch.setattr(Network, "predict", lambda self, X: pytest.fail("a second forward pass"))
    report = cli("eval", runs["eval-mlp"], "--json", code=0).json
    assert len(calls) == len(report["metrics"]) == 3  # train, val, test: one pass each


def test_an_unwritable_plot_is_a_warning_not_an_error(cli, runs, tmp_path):
    # bug B3: the plot writer raises RunFolderError, which eval's `except OSError` let through
    copy = shutil.copytree(runs["eval-mlp"], tmp_path / "copy")
    (copy / "confusion_matrix.png").unlink(missing_ok=True)
    (copy / "confusion_matrix.png").mkdir()  # os.replace cannot put a file there
    result = cli("eval", copy, "--split", "test")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "confusion_matrix.png" in result.message and "warning" not in result.stdout
    report = cli("eval", copy, "--split", "test", "--json", code=0).json
    assert report["plots"] == [] and "no plot written" in report["warnings"][0]


def test_eval_of_a_run_a_resume_is_training_writes_nothing_into_its_folder(cli, runs, tmp_path):
    copy = shutil.copytree(runs["eval-mlp"], tmp_path / "copy")
    RunFolder(copy).update_meta(status="running", pid=os.getpid(), host=socket.gethostname())  # alive, here
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    report = cli("eval", copy, "--split", "train", "--json", code=0).json  # a split its figure does not show
    assert report["plots"] == [] and f"copy is training (pid {os.getpid()})" in report["warnings"][0]
    assert report["metrics"]["train"] == json.loads((copy / "metrics.json").read_text())["train"]
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_a_fifo_where_the_confusion_matrix_was_is_replaced_not_waited_on(cli, runs, tmp_path):
    """eval reads the figure it may keep (its source digest) as a regular file only: opening
    a FIFO to read it would block until some writer came."""
    import os
    import threading

    copy = shutil.copytree(runs["eval-mlp"], tmp_path / "fifo")
    (copy / "confusion_matrix.png").unlink(missing_ok=True)
    os.mkfifo(copy / "confusion_matrix.png")
    results = []
    command = threading.Thread(target=lambda: results.append(cli("eval", copy, "--split", "test")), daemon=True)
    command.start()
    command.join(timeout=30)
    if command.is_alive():
        with open(copy / "confusion_matrix.png", "wb"):  # let the blocked reader go before failing
            pass
    assert not command.is_alive() and results[0].exit_code == 0, results and results[0].output
    assert (copy / "confusion_matrix.png").read_bytes()[:8] == PNG  # the FIFO replaced by the figure


def test_eval_shows_the_recorded_baseline(cli, runs):
    report = cli("eval", runs["eval-logreg"], "--json", code=0).json
    assert report["baseline"]["model"].startswith("LogisticRegression(")
    table = cli("eval", runs["eval-logreg"])
    assert table.exit_code == 0 and "sklearn test" in table.stdout


def test_eval_set_changes_the_dataset_only(cli, runs):
    saved = json.loads((runs["eval-mlp"] / "meta.json").read_text())["split_sizes"]
    report = cli(
        "eval", runs["eval-mlp"], "--set", "dataset.test_size=0.5", "--split", "test", "--resplit", "--json", code=0
    ).json
    assert report["details"]["test"]["n"] > saved["test"]
    assert "not held-out" in report["warnings"][0]
    bad = cli("eval", runs["eval-mlp"], "--set", "training.epochs=3")
    assert bad.exit_code == 2 and "dataset only" in bad.stderr
    other_classes = cli("eval", runs["eval-mlp"], "--set", "dataset.classes=[1, 2, 3]")
    assert other_classes.exit_code == 2 and "trained on [3, 5, 8]" in other_classes.stderr


@pytest.mark.parametrize(
    "override, key",
    [
        ("dataset.test_size=0.5", "dataset.test_size"),
        ("dataset.split_seed=1", "dataset.split_seed"),
        ("dataset.validation_split=0.3", "dataset.validation_split"),
        ("dataset.stratify=false", "dataset.stratify"),
        ("dataset.scaling=standard", "dataset.scaling"),
    ],
)
def test_eval_refuses_a_resplit_without_the_flag(cli, runs, override, key):
    """Training rows would enter 'test' and the accuracy would rise without a word."""
    refused = cli("eval", runs["eval-mlp"], "--set", override)
    assert refused.exit_code == 2
    assert f"eval --set {key}:" in refused.stderr and "--resplit" in refused.stderr
    assert "Traceback" not in refused.output
    allowed = cli("eval", runs["eval-mlp"], "--set", override, "--resplit")
    assert allowed.exit_code == 0, allowed.output
    assert f"warning: --resplit ({key})" in allowed.stderr and "not held-out" in allowed.message
    assert "warning" not in allowed.stdout  # `eval ... > report.txt` still shows it at the terminal


def test_eval_set_of_a_key_that_keeps_the_split_needs_no_flag(cli, runs):
    same = cli("eval", runs["eval-mlp"], "--set", "dataset.test_size=0.25", "--json")
    assert same.exit_code == 0, same.output  # the value it was trained with: nothing changes
    assert "warnings" not in json.loads(same.stdout)


def test_eval_latest_and_a_missing_split(cli, runs):
    root = runs["eval-sqrt"].parent
    assert cli("eval", "latest", "--runs-dir", root, "--json", code=0).json["run"] == str(
        runs["eval-sqrt"]
    )  # trained last
    result = cli("eval", runs["eval-sqrt"], "--split", "val")
    assert result.exit_code == 2 and "no val split" in result.stderr


def test_eval_split_choices_in_help_and_checked(cli, runs):
    assert "<train|val|test|all>" in cli("eval", "--help", env={"COLUMNS": "200"}).stdout
    result = cli("eval", runs["eval-sqrt"], "--split", "tset")
    assert result.exit_code == 2 and "'tset' is not one of" in result.output


def _resave_weights(folder, **replaced):
    weights = dict(np.load(folder / "weights.npz"))
    np.savez(folder / "weights.npz", **{**weights, **replaced})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "weights.npz").unlink(), "weights.npz"),
        (lambda p: (p / "config.yaml").unlink(), "config.yaml is missing"),
        (lambda p: (p / "meta.json").write_text('{"status": "runn'), "meta.json is unreadable"),
        (lambda p: (p / "weights.npz").write_bytes(b"PK\x03\x04 truncated"), "weights.npz is not a .npz archive"),
        (lambda p: (p / "config.yaml").write_text("model: {type: nope}\n"), "not a valid dltrain config"),
        (lambda p: _resave_weights(p, W0=np.zeros((3, 3))), "weights.npz is damaged: b0 has shape"),
        (
            lambda p: _resave_weights(p, b0=np.full(dict(np.load(p / "weights.npz"))["b0"].shape, "x")),
            "weights.npz is damaged: b0 holds <U1 values, not real numbers",
        ),
    ],
)
def test_half_written_run_folder_is_a_clear_error(cli, runs, tmp_path, damage, message):
    copy = shutil.copytree(runs["eval-mlp"], tmp_path / "copy")
    damage(copy)
    result = cli("eval", copy)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())  # Rich wraps long lines
    assert "Traceback" not in result.output


def test_missing_run_folder(cli, tmp_path):
    result = cli("eval", tmp_path / "nope", "--json")
    assert result.exit_code == 2 and "no run folder" in result.stderr
    assert json.loads(result.stdout)["status"] == "error"
    empty = cli("eval", "latest", "--runs-dir", tmp_path)
    assert empty.exit_code == 2 and "no run folders" in empty.stderr


def test_eval_of_a_run_folder_named_with_bytes_that_are_not_utf8(cli, runs, tmp_path):
    copy = shutil.copytree(runs["eval-mlp"], tmp_path / os.fsdecode(b"bad\xffname"))
    assert "bad\\xffname" in cli("eval", copy, code=0).stdout
    assert (copy / "confusion_matrix.png").read_bytes()[:8] == PNG


def test_eval_uses_the_blas_threads_the_run_was_trained_with(cli, tmp_path):
    """A run trained with one BLAS thread (a sweep point beside others) and evaluated with two:
    784-wide products split their sums differently, and the metrics differed in the last bits."""
    from threadpoolctl import threadpool_info, threadpool_limits

    if max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") < 2:
        pytest.skip("one BLAS thread here: nothing differs")
    rng = np.random.default_rng(0)
    data = tmp_path / "wide.npz"
    np.savez(data, X=rng.standard_normal((2000, 784)), y=rng.integers(0, 2, 2000))
    cfg = {
        "name": "wide",
        "dataset": {"name": "file", "path": str(data)},
        "model": {"type": "mlp", "hidden": [64]},
        "training": {"epochs": 1, "dtype": "float32", "optimizer": {"name": "adam"}},
        "output": {"plots": False},
    }
    with threadpool_limits(1, "blas"):
        run = api.run(cfg, runs_dir=tmp_path / "runs")
    assert {b["threads"] for b in json.loads((run.path / "meta.json").read_text())["blas"]} == {1}  # each BLAS loaded
    report = cli("eval", run.path, "--json", code=0).json
    assert report["metrics"] == json.loads((run.path / "metrics.json").read_text())


@pytest.mark.parametrize(
    "blas",
    [
        [{"threads": [1]}],
        [{"threads": True}],
        [{"threads": 1}, {"threads": 2}],
        "x",
        [7],
        [{"threads": 0}],
        [{"threads": 4097}],
    ],
)
def test_a_blas_record_that_is_not_one_thread_count_sets_no_limit(blas):
    """meta.json is input like any other: a list where a count belongs failed eval (unhashable)."""
    import contextlib

    from dltrain.inspection.evaluate import threads_of

    assert isinstance(threads_of({"blas": blas}), contextlib.nullcontext)


def test_eval_of_data_with_another_width_is_a_clear_error(cli, runs):
    """dataset.dim decides neither the split nor the preprocessing, but the model takes 4 features."""
    result = cli("eval", runs["eval-sqrt"], "--set", "dataset.dim=5", code=2)
    assert "the evaluation data has 5 features per sample but" in result.message and "takes 4" in result.message


def test_another_dataset_changes_both_the_split_and_the_preprocessing(runs):
    from dltrain.errors import ConfigError
    from dltrain.inspection.evaluate import resplit_keys, splits_of
    from dltrain.runs.reader import read_run

    mlp, sqrt = read_run(runs["eval-mlp"]), read_run(runs["eval-sqrt"])
    assert resplit_keys(mlp.config, sqrt.config) == [("dataset.name", "split and preprocessing")]
    assert resplit_keys(mlp.config, mlp.config) == []
    with pytest.raises(ConfigError, match="eval --set dataset.test_size: changes the split"):
        splits_of(mlp, ["dataset.test_size=0.5"])  # --resplit is not the default


def test_macro_scores_are_the_mean_over_the_classes(cli, runs):
    details = cli("eval", runs["eval-mlp"], "--split", "test", "--json", code=0).json["details"]["test"]
    for score in ("precision", "recall", "f1"):
        per_class = [values[score] for values in details["per_class"].values()]
        assert details[f"{score}_macro"] == pytest.approx(np.mean(per_class)), score


def test_evaluate_without_plots_draws_nothing(runs, tmp_path):
    from dltrain.inspection.evaluate import evaluate, splits_of
    from dltrain.runs.reader import read_run

    copy = shutil.copytree(runs["eval-sqrt"], tmp_path / "quiet")
    (copy / "predictions.png").unlink(missing_ok=True)
    run = read_run(copy)
    report = evaluate(run, splits_of(run), "test", plots=False)
    assert report["plots"] == [] and not (copy / "predictions.png").exists()


def test_eval_refuses_a_data_file_grown_or_shrunk_since_the_run_trained(cli, tmp_path):
    # the split moves with the row count: training rows enter the test split and the metrics rise
    config = two_class_csv_config(tmp_path, "grown", "big", "small")
    run = cli("run", config, "--runs-dir", tmp_path / "runs", "--json", code=0).json["run"]
    data = tmp_path / "grown.csv"
    rows = data.read_text().splitlines(keepends=True)
    cli("eval", run, code=0)
    for changed in (rows + rows[-1:], rows[:-1]):
        data.write_text("".join(changed))
        message = cli("eval", run, code=2).message
        assert f"the data {Path(run).name} trained on has changed: its splits now hold train" in message
        assert "samples, when it trained train 45, test 15;" in message and "add --resplit" in message
        cli("eval", run, "--resplit", code=0)
    data.write_text("".join(rows[:1] + [rows[1].replace("0.", "1.", 1)] + rows[2:]))  # one value, in place
    message = cli("eval", run, code=2).message
    assert "trained on has changed: its file has been edited (its SHA-256 is not the one meta.json recorded)" in message
    data.write_text("".join(rows))
    cli("eval", run, code=0)
    other = tmp_path / "other.csv"  # another file of the same kind, as --set asks: its own split
    other.write_text("".join(rows + rows[1:11]))
    cli("eval", run, "--set", f"dataset.path={other}", code=0)


def test_eval_and_predict_refuse_a_config_edited_since_the_run_trained(cli, tmp_path):
    # the weights belong to the config they were trained with: edited, it computed other numbers, exit 0
    run = api.run("perceptron_or", runs_dir=tmp_path / "runs", overrides=["output.plots=false"]).path
    np.save(tmp_path / "x.npy", np.array([[0.0, 1.0]]))
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("plots: false", "plots: true"))  # what it writes: no number
    cli("eval", run, code=0)
    (run / "config.yaml").write_text(config.replace("activation: relu", "activation: tanh"))
    for command in (["eval", run], ["predict", run, tmp_path / "x.npy"]):
        message = cli(*command, code=2).message
        assert 'checkpoint.npz was trained with model.activation: "relu", not "tanh" as in its config.yaml' in message


def test_eval_names_other_classes_in_a_message_of_bounded_length(cli, tmp_path):
    config = two_class_csv_config(tmp_path, "two", "big", "small")
    run = cli("run", config, "--runs-dir", tmp_path / "runs", "--json", code=0).json["run"]
    many = tmp_path / "many.csv"
    many.write_text("a,b,label\n" + "".join(f"0.5,0.5,class-{i:04d}\n" for i in range(1000)))
    message = cli("eval", run, "--set", f"dataset.path={many}", code=2).message
    assert "the evaluation data has classes ['class-0000', 'class-0001'" in message and len(message) < 1000
