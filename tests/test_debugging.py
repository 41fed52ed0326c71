"""A bug leaves a trace: error.log in the run folder, DLTRAIN_DEBUG=1 for the traceback, one error report for every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from dltrain import api
from dltrain.cli import app
from dltrain.pipeline.experiment import Experiment

TINY = {
    "name": "tiny",
    "dataset": {"name": "or_gate"},
    "model": {"type": "logreg"},
    "training": {"epochs": 3},
    "output": {"plots": False},
}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(TINY))
    return path


@pytest.fixture
def buggy_training(monkeypatch):
    """Training that trains one epoch, then hits a bug (a RuntimeError from `a_bug_in_training`)."""
    real_train = Experiment.train

    def a_bug_in_training(self, on_epoch=lambda record: None, on_batch=None):
        def then_break(record):
            on_epoch(record)
            if record.epoch == 1 and self.cfg.training.epochs != 1:  # a sweep's 1-epoch point is spared
                raise RuntimeError("simulated bug")

        real_train(self, on_epoch=then_break, on_batch=on_batch)

    monkeypatch.setattr(Experiment, "train", a_bug_in_training)


def test_a_bug_in_training_writes_its_traceback_to_error_log_and_the_message_names_it(
    cli, config, runs_dir, buggy_training
):
    result = cli("run", config, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    doc = json.loads(result.stdout)
    run = Path(doc["run"])
    log = run / "error.log"
    assert doc["status"] == "failed"
    message = f"internal error: RuntimeError: simulated bug (the traceback is in {log})"
    assert doc["error"] == f"{message}\nrun folder: {run}"
    assert str(log) in result.stderr.replace("\n", "")
    text = log.read_text()
    assert text.startswith("Traceback (most recent call last):") and text.endswith("RuntimeError: simulated bug\n")
    assert "in then_break" in text and "in a_bug_in_training" in text
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == message and meta["epochs_done"] == 1


def test_a_bug_while_saving_marks_the_run_failed_and_keeps_its_traceback(cli, config, runs_dir, monkeypatch):
    """A bug in writing the run folder (here in writing metrics.json) happens after training: the run
    fails with exit 1, meta.json says why, and error.log holds the traceback the message names."""
    from dltrain.runs.folder import RunFolder

    real = RunFolder.write_json

    def broken(self, name, *args, **kwargs):
        if name == "metrics.json":
            raise RuntimeError("simulated bug while saving")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(RunFolder, "write_json", broken)
    result = cli("run", config, "--runs-dir", runs_dir, "--json", code=1)
    (run,) = runs_dir.iterdir()
    log = run / "error.log"
    assert (
        f"internal error: RuntimeError: simulated bug while saving (the traceback is in {log})" in result.json["error"]
    )
    assert log.read_text().rstrip().endswith("RuntimeError: simulated bug while saving")
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and "saving the run failed" in meta["error"]


def test_dltrain_debug_reraises_the_bug_after_saving_the_run(cli, config, runs_dir, buggy_training, monkeypatch):
    monkeypatch.setenv("DLTRAIN_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):
        cli("run", config, "--runs-dir", runs_dir)
    (run,) = runs_dir.iterdir()
    assert json.loads((run / "meta.json").read_text())["status"] == "failed"
    assert "RuntimeError: simulated bug" in (run / "error.log").read_text()


def test_an_expected_failure_writes_no_error_log(tmp_path):
    diverging = {**TINY, "dataset": {"name": "sqrt_mean", "n": 50, "dim": 2}, "model": {"type": "mlp", "hidden": [4]}}
    diverging["training"] = {"optimizer": {"name": "gd", "lr": 1e6}, "epochs": 50}
    from dltrain.errors import TrainingFailed

    with pytest.raises(TrainingFailed) as failed:
        api.run(diverging, runs_dir=tmp_path)
    assert "the loss became" in str(failed.value) and "error.log" not in str(failed.value)
    assert not (failed.value.result.path / "error.log").exists()


def test_a_resumed_run_that_completes_drops_the_old_error_log(tmp_path, buggy_training, monkeypatch):
    from dltrain.errors import TrainingFailed

    with pytest.raises(TrainingFailed) as failed:
        api.run(TINY, runs_dir=tmp_path)
    run = failed.value.result.path
    assert (run / "error.log").is_file()
    monkeypatch.undo()  # the bug is fixed
    assert api.resume(run).status == "completed"
    assert not (run / "error.log").exists()


def test_a_sweep_point_with_a_bug_keeps_its_traceback_in_its_own_folder(cli, config, runs_dir, buggy_training):
    result = cli("sweep", config, "--grid", "training.epochs=1,3", "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    ok, broken = json.loads(result.stdout)["points"]
    log = Path(broken["run"]) / "error.log"
    assert ok["status"] == "completed" and not (Path(ok["run"]) / "error.log").exists()
    assert broken["error"] == f"internal error: RuntimeError: simulated bug (the traceback is in {log})"
    assert "in a_bug_in_training" in log.read_text()
    assert json.loads((Path(broken["run"]) / "meta.json").read_text())["error"] == broken["error"]


# --- every command: the same error reporting ----------------------------------------------


def commands() -> dict[str, object]:
    """Every command's function by its name on the command line ('datasets' for the group's own listing)."""
    found = {c.name or c.callback.__name__: c.callback for c in app.registered_commands}
    for group in app.registered_groups:
        sub = group.typer_instance
        found[group.name] = sub.registered_callback.callback
        found.update({f"{group.name} {c.name}": c.callback for c in sub.registered_commands})
    return found


def test_every_command_goes_through_the_error_reporting():
    found = commands()
    assert {"run", "resume", "sweep", "eval", "predict", "runs", "compare", "schema", "datasets"} <= set(found)
    unreported = [name for name, callback in found.items() if not getattr(callback, "reports_errors", False)]
    assert unreported == []


def test_a_bug_outside_training_is_one_line_exit_1_and_debug_shows_it(cli, monkeypatch):
    from dltrain.config import schema

    def broken_schema(*args, **kwargs):
        raise KeyError("simulated bug")

    monkeypatch.setattr(schema.Config, "model_json_schema", broken_schema)
    result = cli("schema", "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "internal error: KeyError: 'simulated bug'; run again with DLTRAIN_DEBUG=1" in result.stderr
    monkeypatch.setenv("DLTRAIN_DEBUG", "1")
    with pytest.raises(KeyError, match="simulated bug"):
        cli("schema", "--json")


def test_typer_exits_and_usage_errors_pass_through_the_reporting():
    from dltrain.cli.common import reports_errors

    @reports_errors
    def stops():
        raise typer.Exit(3)

    with pytest.raises(typer.Exit):
        stops()
