"""A sweep folder is input like any other: whatever its sweep.json holds, `dltrain sweep --resume`
and `dltrain report` end with exit 2 and a message naming the file and the field, and a resume
never writes outside the sweep folder (nor anything at all when it refuses)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import claimed_elsewhere, two_class_csv_config
from sweeps import sweep_json

from dltrain.config.loader import validate
from dltrain.runs.folder import RunFolder
from dltrain.sweep import run_sweep
from dltrain.sweep.point import Job, train_point
from dltrain.train import checkpoint

GRID = ["training.optimizer.lr=0.1,0.01"]
QUICK = ["training.epochs=2", "output.plots=false"]


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    """A completed two-point sweep of the OR-gate perceptron (milliseconds a run)."""
    return run_sweep("perceptron_or", GRID, overrides=QUICK, runs_dir=tmp_path_factory.mktemp("sweeps")).path


@pytest.fixture
def sweep_dir(original, tmp_path) -> Path:
    """A copy of the sweep, in a folder of its own inside tmp_path."""
    return Path(shutil.copytree(original, tmp_path / "sweeps" / original.name, symlinks=True))


def edit(sweep_dir: Path, change) -> None:
    """sweep.json rewritten after `change(doc)`, with point 1 cut off: what a resume trains again."""
    path = sweep_dir / "sweep.json"
    doc = json.loads(path.read_text())
    doc["status"] = "interrupted"
    doc["points"][0].update(status="interrupted")
    change(doc)
    path.write_text(json.dumps(doc))


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and link under `folder` (links not followed): {relative path: (size, mtime in ns)}."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = Path(root, name)
            info = path.lstat()
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


def first_run(sweep_dir: Path) -> Path:
    return sweep_dir / sweep_json(sweep_dir)["points"][0]["run"]


def refused_resume(cli, sweep_dir: Path, *args):
    """`sweep --resume SWEEP_DIR ARGS...` of the edited sweep: exit 2, and nothing in the sweep folder written."""
    before = files(sweep_dir)
    result = cli("sweep", "--resume", sweep_dir, *args)
    assert result.exit_code == 2, result.output
    assert files(sweep_dir) == before
    return result


# --- run folders that lead out of the sweep ---------------------------------------------------------


@pytest.mark.parametrize("run", ["../../victim", "/ABSOLUTE/victim", "..", ".", "", "a/b", "bad\x00name", "a" * 300])
def test_resume_refuses_a_run_folder_that_is_not_a_name_inside_the_sweep(cli, sweep_dir, tmp_path, run):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "note.txt").write_text("keep")
    run = run.replace("/ABSOLUTE/victim", str(victim))
    edit(sweep_dir, lambda doc: doc["points"][0].update(run=run))
    before = files(tmp_path)
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 2, result.output
    assert f"{sweep_dir / 'sweep.json'} is damaged: point 1's run: must be a folder name inside the sweep" in (
        result.message
    )
    assert files(tmp_path) == before  # nothing trained, nothing written anywhere


def test_a_repeat_is_named_in_the_message(cli, sweep_dir):
    def two_repeats(doc):
        doc["repeats"] = 2
        for point in doc["points"]:
            point["repeats"] = [{**point, "seed": 1}, {**point, "seed": 2, "run": "../elsewhere"}]

    edit(sweep_dir, two_repeats)
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 2 and "point 1's repeat 2's run: must be a folder name" in result.message


def test_report_refuses_a_run_folder_outside_the_sweep(cli, sweep_dir, tmp_path):
    outside = shutil.copytree(first_run(sweep_dir), tmp_path / "outside")  # a real run folder, read before
    edit(sweep_dir, lambda doc: doc["points"][1].update(run="../../outside"))
    result = cli("report", sweep_dir)
    assert result.exit_code == 2, result.output
    assert "point 2's run: must be a folder name inside the sweep" in result.message
    assert not (sweep_dir / "report.html").exists() and outside.is_dir()


@pytest.mark.parametrize("replacement", ["a symbolic link", "missing", "not a folder"])
def test_resume_writes_only_into_the_sweeps_own_run_folders(cli, sweep_dir, tmp_path, replacement):
    run = first_run(sweep_dir)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run, elsewhere)
    if replacement == "a symbolic link":
        run.symlink_to(elsewhere, target_is_directory=True)
    elif replacement == "not a folder":
        run.write_text("")
    edit(sweep_dir, lambda doc: None)
    before = files(tmp_path)
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 2, result.output
    assert f"the run folder of sweep point 1 is {replacement}; nothing was trained" in result.message
    assert files(tmp_path) == before


def test_resume_checks_the_meta_json_an_unfinished_run_continues(cli, sweep_dir, tmp_path):
    (first_run(sweep_dir) / "meta.json").write_text('{"resumed": 5}')
    edit(sweep_dir, lambda doc: None)
    before = files(tmp_path)
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 2, result.output
    assert "meta.json is damaged: resumed: Input should be a valid list" in result.message
    assert files(tmp_path) == before


# --- sweep.json of the wrong shape ------------------------------------------------------------------


def point(n: int, **fields):
    """A change that updates point `n` (1-based) with `fields`."""
    return lambda doc: doc["points"][n - 1].update(fields)


DAMAGED = {
    "nested 200,000 deep": ("[" * 200_000 + "]" * 200_000, "sweep.json is unreadable: not JSON"),
    "a number": ("100", "sweep.json must hold a JSON object, not int"),
    "another object": ('{"a": 1}', "sweep.json is damaged: sweep: Field required"),
    "grid a list": (lambda doc: doc.update(grid=[1]), "grid: Input should be a valid dictionary"),
    "grid values a number": (lambda doc: doc.update(grid={"x": 5}), "grid.x: Input should be a valid list"),
    "values off the grid": (
        point(1, values={"\x1b[31mk": 1}),
        "point 1's values are for ['\\x1b[31mk'], not the grid's keys ['training.optimizer.lr']",
    ),
    "values missing a key": (point(2, values={}), "point 2's values are for [], not the grid's keys"),
    "values nested too deep": (
        point(1, values={"training.optimizer.lr": json.loads("[" * 200 + "]" * 200)}),
        "point 1's values: nested more than 64 levels deep",
    ),
    "run a number": (point(1, run=5), "point 1's run: Input should be a valid string"),
    "status unknown": (point(2, status="done"), "point 2's status: not one of completed, failed, pruned"),
    "metrics a list": (point(1, metrics=[1]), "point 1's metrics: Input should be a valid dictionary"),
    "metric a string": (point(1, metrics={"train": {"loss": "x"}}), "point 1's metrics.train.loss:"),
    "index out of order": (point(2, index=7), "point 2's index is 7, not 2"),
    "name a path": (point(1, name="../x"), "point 1's name: must be a run name"),
    "one folder for two points": (
        lambda doc: doc["points"][1].update(run=doc["points"][0]["run"]),
        "point 2's run '",
    ),
    "more repeats than runs": (lambda doc: doc.update(repeats=3), "point 1 has 1 runs; the sweep repeats each point 3"),
    "sort_by unknown": (lambda doc: doc.update(sort_by="x.y"), "sort_by: must be SPLIT.METRIC"),
    "no grid": (lambda doc: doc.pop("grid"), "a grid search has no grid"),
    "pid a string": (lambda doc: doc.update(pid="1"), "pid: Input should be a valid integer"),
    "seconds a string": (lambda doc: doc.update(seconds="x"), "is damaged: seconds: Input should be a valid number"),
    "sort_by an unknown metric": (
        lambda doc: doc.update(sort_by="test.bogus"),
        "is damaged: sort_by: must be SPLIT.METRIC",
    ),
    "sweep a path": (lambda doc: doc.update(sweep="../x"), "is damaged: sweep: must be a run name"),
    "status unknown to a sweep": (
        lambda doc: doc.update(status="done"),
        "is damaged: status: not one of running, completed",
    ),
    "started not a time": (
        lambda doc: doc.update(started="yesterday"),
        "is damaged: started: Value error, Invalid isoformat string",
    ),
    "values one level too deep": (
        point(1, values={"training.optimizer.lr": json.loads("[" * 64 + "]" * 64)}),
        "point 1's values: nested more than 64 levels deep",
    ),
}


@pytest.mark.parametrize("command", ["resume", "report"])
@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_sweep_json_is_exit_2_naming_the_field(cli, sweep_dir, case, command):
    damage, message = DAMAGED[case]
    if isinstance(damage, str):
        (sweep_dir / "sweep.json").write_text(damage)
    else:
        edit(sweep_dir, damage)
    before = files(sweep_dir)
    result = cli(*(("sweep", "--resume") if command == "resume" else ("report",)), sweep_dir)
    assert result.exit_code == 2, result.output
    assert message in result.message, result.message
    assert str(sweep_dir) in result.message and len(result.stderr.strip().splitlines()) == 1
    assert "\x1b" not in result.output
    assert files(sweep_dir) == before  # nothing trained, no report written


def test_values_nested_to_the_limit_are_read_and_one_level_more_refused(sweep_dir):
    from dltrain.config.bounded_yaml import MAX_DEPTH
    from dltrain.errors import RunFolderError
    from dltrain.runs.reader import read_sweep

    def nested(levels):  # a point's values: an object holding a value `levels - 1` lists deep
        return {"training.optimizer.lr": json.loads("[" * (levels - 1) + "]" * (levels - 1))}

    edit(sweep_dir, point(1, values=nested(MAX_DEPTH)))
    assert read_sweep(sweep_dir)["points"][0]["values"] == nested(MAX_DEPTH)
    edit(sweep_dir, point(1, values=nested(MAX_DEPTH + 1)))
    with pytest.raises(RunFolderError, match=f"point 1's values: nested more than {MAX_DEPTH} levels deep"):
        read_sweep(sweep_dir)


# --- meta.json's resumed: a list, or absent ----------------------------------------------------


@pytest.mark.parametrize("command", ["sweep", "resume"])
def test_resumed_null_in_meta_json_is_exit_2(cli, sweep_dir, command):
    meta = first_run(sweep_dir) / "meta.json"
    doc = json.loads(meta.read_text())
    meta.write_text(json.dumps({**doc, "status": "interrupted", "resumed": None}))
    edit(sweep_dir, lambda doc: None)
    before = files(sweep_dir)
    result = cli(*(("sweep", "--resume", sweep_dir) if command == "sweep" else ("resume", first_run(sweep_dir))))
    assert result.exit_code == 2, result.output
    assert "meta.json is damaged: resumed: Input should be a valid list (got None)" in result.message
    assert files(sweep_dir) == before


# --- a refused --prune writes nothing -------------------------------------------------------------


def test_a_refused_prune_creates_no_sweep_folder(cli, tmp_path):
    pytest.importorskip("optuna")
    from sweeps import tiny, write_config

    space = {"training.optimizer.lr": {"loguniform": [1.0e-4, 0.1]}}
    cfg = write_config(tmp_path / "opt.yaml", {**tiny(), "sweep": {"search": "optuna", "trials": 3, "space": space}})
    runs = tmp_path / "runs"
    result = cli("sweep", cfg, "--prune", "--sort-by", "test.accuracy", "--runs-dir", runs)
    assert result.exit_code == 2, result.output
    assert "--prune judges points by their per-epoch validation metric" in result.message
    assert not runs.exists() or not any(runs.iterdir())


# --- a run folder that cannot be written ------------------------------------------------------


def test_a_run_folder_that_cannot_be_written_fails_its_point_not_the_sweep(cli, sweep_dir, monkeypatch):
    from dltrain.runs import folder

    weights, write = first_run(sweep_dir) / "weights.npz", folder.write_atomically

    def full_disk_at_weights(target, data, sync=True):
        if target == weights:
            raise OSError(28, "No space left on device")
        return write(target, data, sync)

    monkeypatch.setattr(folder, "write_atomically", full_disk_at_weights)
    edit(sweep_dir, lambda doc: None)
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 1, result.output
    assert "1 of 2 sweep points failed" in result.message
    doc = sweep_json(sweep_dir)
    assert doc["status"] == "failed" and doc["points"][0]["status"] == "failed"
    assert "weights.npz: No space left on device" in doc["points"][0]["error"]


@pytest.mark.parametrize("name", ["weights.npz", "cost.png", "checkpoint.npz"])
def test_a_folder_where_a_run_writes_a_file_is_refused_before_anything_trains(cli, sweep_dir, name):
    planted = first_run(sweep_dir) / name
    if planted.exists():
        planted.unlink()
    planted.mkdir()
    edit(sweep_dir, lambda doc: None)
    assert f"{planted} is a folder, where the run writes its file {name}" in refused_resume(cli, sweep_dir).message


# --- a resume that refuses leaves sweep.json as it was --------------------------------------------


def test_a_bad_checkpoint_is_refused_before_sweep_json_is_touched(cli, sweep_dir):
    (first_run(sweep_dir) / "checkpoint.npz").write_text("garbage")
    edit(sweep_dir, lambda doc: None)
    result = refused_resume(cli, sweep_dir, "-j", "2")  # sweep.json still says interrupted, no resume of a dead process
    assert "checkpoint.npz is not a .npz archive" in result.message


def test_a_bad_checkpoint_of_a_run_whose_config_yaml_is_gone_is_refused_too(cli, sweep_dir):
    (first_run(sweep_dir) / "checkpoint.npz").write_text("garbage")
    (first_run(sweep_dir) / "config.yaml").unlink()
    edit(sweep_dir, lambda doc: None)
    assert "checkpoint.npz is not a .npz archive" in refused_resume(cli, sweep_dir).message


def test_a_point_whose_values_make_no_config_is_refused_naming_sweep_json(cli, sweep_dir):
    edit(sweep_dir, point(1, values={"training.optimizer.lr": "abc"}))
    result = refused_resume(cli, sweep_dir, "-j", "2")
    assert f"{sweep_dir / 'sweep.json'} is damaged: sweep point 1 (lr=abc): invalid config:" in result.message
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_pending_point_whose_values_make_no_config_is_refused_naming_sweep_json(cli, sweep_dir):
    def second_point_pending(doc):
        doc["points"][1].update(status="pending", run=None, metrics={}, seconds=None, epochs=None)
        doc["points"][1].update(values={"training.optimizer.lr": "abc"})

    shutil.rmtree(sweep_dir / sweep_json(sweep_dir)["points"][1]["run"])
    edit(sweep_dir, second_point_pending)
    result = refused_resume(cli, sweep_dir)
    assert f"{sweep_dir / 'sweep.json'} is damaged: sweep point 2 (lr=abc): invalid config:" in result.message


# --- sweep.yaml edited after the sweep started ---------------------------------------------------


def _edit_yaml(path: Path, old: str = "bias_input: true", new: str = "bias_input: false") -> None:
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def test_a_resume_refuses_a_sweep_another_process_is_resuming(cli, sweep_dir):
    edit(sweep_dir, lambda doc: None)
    with claimed_elsewhere(sweep_dir):
        result = refused_resume(cli, sweep_dir)
    assert f"{sweep_dir} is in use: another dltrain process is training it" in result.message
    assert cli("sweep", "--resume", sweep_dir).exit_code == 0


def test_a_resume_refuses_a_sweep_whose_process_is_alive_though_it_holds_no_claim(cli, sweep_dir):
    # a sweep trained on another host of a shared file system: there, the claim may not reach
    edit(sweep_dir, lambda doc: doc.update(status="running", pid=os.getpid()))
    result = refused_resume(cli, sweep_dir)
    assert (
        f"sweep {json.loads((sweep_dir / 'sweep.json').read_text())['sweep']} is still running (pid {os.getpid()}"
        in result.message
    )


def test_a_run_of_a_sweep_is_not_resumed_while_the_sweep_trains(cli, sweep_dir):
    edit(sweep_dir, lambda doc: None)
    run = first_run(sweep_dir)
    before = files(run)
    with claimed_elsewhere(sweep_dir):
        result = cli("resume", run)
    assert result.exit_code == 2, result.output
    assert f"{sweep_dir} is in use: another dltrain process is training this sweep" in result.message
    assert files(run) == before
    assert cli("resume", run).exit_code == 0


def test_a_resume_refuses_a_sweep_yaml_its_runs_were_not_trained_with(cli, sweep_dir):
    _edit_yaml(sweep_dir / "sweep.yaml")  # two inputs where the cut-off run's checkpoint has weights for three
    edit(sweep_dir, lambda doc: None)
    result = refused_resume(cli, sweep_dir)
    assert (
        f"{sweep_dir / 'sweep.yaml'} does not agree with {first_run(sweep_dir) / 'config.yaml'}: "
        "dataset.bias_input is false in sweep.yaml but true in the run's config" in result.message
    )
    assert f"dltrain sweep {sweep_dir / 'sweep.yaml'}" in result.message
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_resume_refuses_a_checkpoint_that_does_not_fit_the_edited_config(cli, sweep_dir):
    for config in [sweep_dir / "sweep.yaml", *sweep_dir.glob("*/config.yaml")]:
        _edit_yaml(config)  # every config agrees, but the checkpoint was trained with three inputs
    edit(sweep_dir, lambda doc: None)
    result = refused_resume(cli, sweep_dir)
    assert (
        f"{first_run(sweep_dir) / 'checkpoint.npz'} was trained with dataset.bias_input: true, not false as in "
        f"the config {sweep_dir / 'sweep.yaml'} gives it" in result.message
    )
    assert "internal error" not in result.output
    for run in sweep_dir.glob("*/checkpoint.npz"):  # a checkpoint that does not say what it was trained with
        state = dict(np.load(run))
        del state["settings"]
        np.savez(run, **state)
    result = refused_resume(cli, sweep_dir)
    assert (
        f"{first_run(sweep_dir) / 'checkpoint.npz'} does not fit the config {sweep_dir / 'sweep.yaml'} gives it "
        "(parameter 0 has shape (3, 1), the network expects (2, 1))" in result.message
    )


def test_a_resume_takes_a_point_trained_further_by_dltrain_resume(cli, sweep_dir):
    further = sweep_dir / sweep_json(sweep_dir)["points"][1]["run"]
    cli("resume", further, "--epochs", "3", code=0)
    weights = (further / "weights.npz").read_bytes()
    edit(sweep_dir, lambda doc: None)
    cli("sweep", "--resume", sweep_dir, code=0)
    assert (further / "weights.npz").read_bytes() == weights
    _edit_yaml(sweep_dir / "sweep.yaml", "epochs: 2", "epochs: 1")  # now the sweep itself asks for other epochs
    edit(sweep_dir, lambda doc: None)
    result = refused_resume(cli, sweep_dir)
    assert "training.epochs is 1 in sweep.yaml but 2 in the run's config" in result.message


def test_a_resume_refuses_data_changed_since_its_runs_trained(cli, tmp_path):
    config = two_class_csv_config(tmp_path, "grown", "big", "small", epochs=2)
    sweep_dir = run_sweep(str(config), GRID, overrides=QUICK, runs_dir=tmp_path / "sweeps").path
    edit(sweep_dir, lambda doc: None)
    data = tmp_path / "grown.csv"
    text = data.read_text()
    data.write_text(text + "".join(text.splitlines(keepends=True)[1:21]))  # the split moves: test rows trained on
    result = refused_resume(cli, sweep_dir)
    assert (
        f"the data {first_run(sweep_dir)} trained on has changed: its splits now hold train 60, test 20 samples, "
        "when it trained train 45, test 15" in result.message
    )
    data.write_text(text.replace("0.", "1.", 1))  # one value, edited in place
    assert "its file has been edited" in refused_resume(cli, sweep_dir).message

    def second_point_pending(doc):  # it would train from scratch, and be ranked against the first on other data
        doc["points"][0].update(status="completed")
        doc["points"][1].update(status="pending", run=None, metrics={}, seconds=None, epochs=None)

    shutil.rmtree(sweep_dir / sweep_json(sweep_dir)["points"][1]["run"])
    edit(sweep_dir, second_point_pending)
    assert f"the data {first_run(sweep_dir)} trained on has changed" in refused_resume(cli, sweep_dir).message
    data.write_text(text)
    cli("sweep", "--resume", sweep_dir, code=0)
    assert [point["status"] for point in sweep_json(sweep_dir)["points"]] == ["completed", "completed"]


def continued(run: Path) -> Job:
    """The job a resume of the sweep sends a worker to continue the run in folder `run`."""
    meta = json.loads((run / "meta.json").read_text())
    config = validate(yaml.safe_load((run / "config.yaml").read_text())).model_dump(mode="json")
    trained_on = {key: meta[key] for key in ("features", "split_sizes", "data_sha256") if key in meta}
    return Job(0, 0, config, resume=checkpoint.load(RunFolder(run)), trained_on=trained_on, folder=str(run))


def test_a_worker_does_not_continue_a_run_on_data_other_than_it_began_on(sweep_dir):
    # with --data-on-workers only the worker has the data: it checks them against the run's meta.json
    run = first_run(sweep_dir)
    job = continued(run)
    assert train_point(job, None).meta["status"] == "completed"
    job.trained_on = {"split_sizes": {"train": 5, "test": 4}}
    returned = train_point(job, None)
    assert returned.status == "failed" and returned.path is None
    assert f"the data {run} trained on has changed: its splits now hold train 4 samples, when it trained train 5" in (
        returned.error
    )


def test_a_worker_names_a_column_added_to_the_data_not_the_checkpoint_that_no_longer_fits(tmp_path):
    config = two_class_csv_config(tmp_path, "wider", "big", "small", epochs=2)
    run = first_run(run_sweep(str(config), GRID, overrides=QUICK, runs_dir=tmp_path / "sweeps").path)
    job = continued(run)
    data = tmp_path / "wider.csv"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text(lines[0].replace(",", ",z,", 1) + "".join(line.replace(",", ",0,", 1) for line in lines[1:]))
    error = train_point(job, None).error
    assert (
        f"the data {run} trained on has changed: its feature columns are a, z, b; the run was trained on a, b" in error
    )


def test_a_pending_point_is_not_trained_with_an_edited_base_config(cli, sweep_dir):
    def second_point_pending(doc):
        doc["points"][0].update(status="completed")
        doc["points"][1].update(status="pending", run=None, metrics={}, seconds=None, epochs=None)

    shutil.rmtree(sweep_dir / sweep_json(sweep_dir)["points"][1]["run"])
    edit(sweep_dir, second_point_pending)
    _edit_yaml(sweep_dir / "sweep.yaml", "epochs: 2", "epochs: 3")
    result = refused_resume(cli, sweep_dir)
    assert "training.epochs is 3 in sweep.yaml but 2 in the run's config" in result.message

    _edit_yaml(sweep_dir / "sweep.yaml", "epochs: 3", "epochs: 2")  # put back: the pending point trains
    result = cli("sweep", "--resume", sweep_dir)
    assert result.exit_code == 0, result.output
    assert sweep_json(sweep_dir)["status"] == "completed"


@pytest.mark.parametrize(
    "text", ["model: [", "name: s\nmodel: {type: perceptron}\ndataset: {name: or_gate, bogus: 1}\n"]
)
def test_a_sweep_yaml_that_is_no_config_is_exit_2_naming_it(cli, sweep_dir, text):
    (sweep_dir / "sweep.yaml").write_text(text)
    edit(sweep_dir, lambda doc: None)
    result = refused_resume(cli, sweep_dir)
    assert f"{sweep_dir / 'sweep.yaml'}: invalid" in result.message and "internal error" not in result.output


# --- an Optuna sweep: optuna.db and sweep.yaml ---------------------------------------------------


@pytest.fixture(scope="module")
def optuna_original(tmp_path_factory) -> Path:
    """A completed three-trial Optuna sweep on digits (a fraction of a second a trial)."""
    pytest.importorskip("optuna")
    from sweeps import tiny

    space = {"training.optimizer.lr": {"loguniform": [1.0e-4, 0.1]}}
    cfg = {**tiny(plots=False, epochs=2), "sweep": {"search": "optuna", "trials": 3, "space": space}}
    return run_sweep(cfg, runs_dir=tmp_path_factory.mktemp("optuna")).path


@pytest.fixture
def optuna_dir(optuna_original, tmp_path) -> Path:
    """A copy of the Optuna sweep with its last point cut off."""
    path = Path(shutil.copytree(optuna_original, tmp_path / "sweeps" / optuna_original.name, symlinks=True))
    doc = sweep_json(path)
    doc["status"] = "interrupted"
    doc["points"][-1]["status"] = "interrupted"
    (path / "sweep.json").write_text(json.dumps(doc))
    return path


def _replace_db(replacement: str, tmp_path: Path):
    def change(sweep_dir: Path) -> None:
        db = sweep_dir / "optuna.db"
        if replacement == "a symbolic link":
            victim = tmp_path / "victim.db"
            shutil.copy(db, victim)
            db.unlink()
            db.symlink_to(victim)
        elif replacement.startswith("garbage"):
            db.write_text("garbage")
            if replacement.endswith("journal"):
                (sweep_dir / "optuna.db-journal").write_bytes(bytes(512))
        elif replacement == "empty":
            db.write_bytes(b"")
        elif replacement == "a folder":
            db.unlink()
            db.mkdir()
        elif replacement == "a FIFO":
            db.unlink()
            os.mkfifo(db)
        elif replacement == "missing":
            db.unlink()

    return change


def _yaml_edit(old: str, new: str):
    def change(sweep_dir: Path) -> None:
        path = sweep_dir / "sweep.yaml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))

    return change


def _trial(number: int):
    def change(sweep_dir: Path) -> None:
        doc = sweep_json(sweep_dir)
        doc["points"][-1]["trial"] = number
        (sweep_dir / "sweep.json").write_text(json.dumps(doc))

    return change


OWN = ": a resume continues the sweep's study only in files of its own"
OPTUNA_DAMAGED = {
    "optuna.db a symbolic link": ("a symbolic link", f"optuna.db is a symbolic link{OWN}"),
    "optuna.db garbage": ("garbage", "optuna.db is not the sweep's Optuna study: (sqlite3.DatabaseError) file is not"),
    "optuna.db garbage, a journal beside": (
        "garbage+journal",
        "optuna.db is not the sweep's Optuna study: file is not",
    ),
    "optuna.db empty": ("empty", "optuna.db is not the sweep's Optuna study: it holds no Optuna study"),
    "optuna.db a folder": ("a folder", f"optuna.db is not a regular file{OWN}"),
    "optuna.db a FIFO": ("a FIFO", f"optuna.db is not a regular file{OWN}"),
    "optuna.db missing": ("missing", "optuna.db is missing"),
    "a trial the study lacks": (_trial(99), "optuna.db holds 3 trials, but sweep.json names trial 99"),
    "a trial one past the study's last": (_trial(3), "optuna.db holds 3 trials, but sweep.json names trial 3"),
    "sweep.yaml another key": (
        _yaml_edit("training.optimizer.lr:\n", "training.optimizer.beta1:\n"),
        "sweep.yaml does not agree with sweep.json: its sweep section is search: optuna over "
        '{"training.optimizer.beta1"',
    ),
    "sweep.yaml a grid": (
        _yaml_edit("search: optuna", "search: grid"),
        "sweep.yaml does not agree with sweep.json: its sweep section is search: grid over {}",
    ),
}


@pytest.mark.parametrize("case", list(OPTUNA_DAMAGED))
def test_an_optuna_resume_checks_optuna_db_and_sweep_yaml_first(cli, optuna_dir, tmp_path, case):
    damage, message = OPTUNA_DAMAGED[case]
    (_replace_db(damage, tmp_path) if isinstance(damage, str) else damage)(optuna_dir)
    before, victim = files(tmp_path), (tmp_path / "victim.db")
    victim_bytes = victim.read_bytes() if victim.exists() else None
    result = cli("sweep", "--resume", optuna_dir)
    assert result.exit_code == 2, result.output
    assert message in result.message, result.message
    assert str(optuna_dir) in result.message and len(result.stderr.strip().splitlines()) == 1
    assert files(tmp_path) == before  # nothing written in the sweep, nor through a link out of it
    if victim_bytes is not None:
        assert victim.read_bytes() == victim_bytes


def test_an_optuna_resume_of_a_sound_sweep_still_continues_its_study(cli, optuna_dir):
    result = cli("sweep", "--resume", optuna_dir)
    assert result.exit_code == 0, result.output
    doc = sweep_json(optuna_dir)
    assert doc["status"] == "completed" and [p["trial"] for p in doc["points"]] == [0, 1, 3]


# A sweep killed (SIGKILL, power cut) while Optuna wrote to optuna.db: the transaction's pages reached
# the file, and its journal (the pages as they were) is left beside it. Every trial is deleted here.
CUT_OFF_WRITE = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size = 1")  # changed pages spill to the file before the commit
connection.execute("BEGIN")
connection.execute("CREATE TABLE filler (x)")
connection.execute("INSERT INTO filler VALUES (zeroblob(400000))")
connection.execute("DELETE FROM trials")
os._exit(0)  # killed before the commit
"""


def test_an_optuna_resume_rolls_back_a_write_that_was_cut_off(cli, optuna_dir):
    db = optuna_dir / "optuna.db"
    subprocess.run([sys.executable, "-c", CUT_OFF_WRITE, str(db)], check=True)
    assert (optuna_dir / "optuna.db-journal").stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # a read-only open cannot undo it
        sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM trials").fetchone()

    result = cli("sweep", "--resume", optuna_dir)
    assert result.exit_code == 0, result.output
    doc = sweep_json(optuna_dir)
    assert doc["status"] == "completed" and [p["trial"] for p in doc["points"]] == [0, 1, 3]
    assert not (optuna_dir / "optuna.db-journal").exists()


def test_an_optuna_resume_refuses_a_journal_that_is_a_symbolic_link(cli, optuna_dir, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"x" * 512)
    (optuna_dir / "optuna.db-journal").symlink_to(victim)
    result = cli("sweep", "--resume", optuna_dir)
    assert result.exit_code == 2, result.output
    assert f"optuna.db-journal is a symbolic link{OWN}" in result.message
    assert victim.read_bytes() == b"x" * 512 and (optuna_dir / "optuna.db-journal").is_symlink()


def test_an_optuna_resume_that_cannot_roll_back_a_cut_off_write_says_it_needs_write_access(
    cli, optuna_dir, monkeypatch
):
    """optuna.db on a read-only file system: SQLite refuses the read-write open that would undo the write."""
    db = optuna_dir / "optuna.db"
    subprocess.run([sys.executable, "-c", CUT_OFF_WRITE, str(db)], check=True)
    connect = sqlite3.connect

    def read_only(database, *args, **kwargs):
        if str(database).endswith("mode=rw"):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    result = cli("sweep", "--resume", optuna_dir)
    assert result.exit_code == 2, result.output
    assert f"{db}: a write to it was cut off, and rolling it back needs write access: attempt to write" in (
        result.message
    )


# --- what a sweep is asked to train: bounded, and coherent -------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "training.epochs=1", "--repeats", "1000000000"], "--repeats 1,000,000,000: a sweep trains at most"),
        (["--search", "random", "--trials", "1000000000", "--grid", "training.epochs=1,2"], "--trials 1,000,000,000"),
        (["--grid", "training.epochs=1,2", "--repeats", "10000"], "2 points x 10,000 repeats: a sweep trains at most"),
        (["--grid", "seed=1,2", "--repeats", "2"], "sweep over `seed` or repeat, not both"),
    ],
    ids=["repeats", "trials", "points x repeats", "seed grid with repeats"],
)
def test_a_sweep_asked_for_too_many_runs_or_seeds_twice_is_refused_up_front(cli, tmp_path, args, message):
    """10**9 repeats took 2 GB in 30 s with nothing trained; a grid over seed with --repeats trained
    every point with the same repeat seeds, folders named seed1 and seed2 holding the same runs."""
    result = cli("sweep", "perceptron_or", *args, "--runs-dir", tmp_path / "runs", code=2)
    assert message in result.message and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("dist", [{"int": [1, 1.0e300]}, {"uniform": [-1.0e308, 1.0e308]}])
def test_a_random_search_space_whose_draws_would_overflow_is_a_config_error(cli, tmp_path, dist):
    config = tmp_path / "s.yaml"
    cfg = {"name": "s", "dataset": {"name": "or_gate"}, "model": {"type": "perceptron"}}
    config.write_text(
        json.dumps({**cfg, "sweep": {"search": "random", "trials": 2, "space": {"training.epochs": dist}}})
    )
    result = cli("sweep", config, "--runs-dir", tmp_path / "runs", code=2)
    assert "needs" in result.message and "internal error" not in result.message


def test_a_sweep_with_an_unknown_engine_is_refused_before_its_folder_is_made(cli, sweep_dir, tmp_path):
    grid = ["--grid", GRID[0], *(f"--set={o}" for o in QUICK)]
    result = cli("sweep", "perceptron_or", *grid, "--runs-dir", tmp_path / "new", env={"DLTRAIN_ENGINE": "turbo"})
    assert result.exit_code == 2 and "DLTRAIN_ENGINE must be one of fast, numpy, reference" in result.message
    assert not (tmp_path / "new").exists()
    edit(sweep_dir, lambda doc: None)
    before = files(sweep_dir)
    result = cli("sweep", "--resume", sweep_dir, env={"DLTRAIN_ENGINE": "turbo"})
    assert result.exit_code == 2 and "DLTRAIN_ENGINE must be one of" in result.message
    assert files(sweep_dir) == before


def test_dltrain_resume_of_a_sweep_folder_points_to_sweep_resume(cli, sweep_dir):
    before = files(sweep_dir)
    message = cli("resume", sweep_dir, code=2).message
    assert f"{sweep_dir} is a sweep folder: finish it with dltrain sweep --resume {sweep_dir}" in message
    assert files(sweep_dir) == before
