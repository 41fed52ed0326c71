"""The scripting contract: one JSON document on stdout, logs on stderr, exit codes, concurrent runs."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import DLTRAIN, invoke, process_env, spawn

from dltrain import api

TINY = {
    "name": "script",
    "seed": 1,
    "dataset": {"name": "digits", "test_size": 0.2, "scaling": "minmax"},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 3, "batch_size": 128},
    "output": {"plots": False},
}
DIVERGING = {
    "name": "diverge",
    "dataset": {"name": "sqrt_mean", "n": 200, "dim": 4},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    # lr 1e6 really diverges: the loss reaches inf in epoch 25 (last finite loss 6.2e+301);
    # the divergence_factor check, which would stop it sooner, is off to reach that point.
    "training": {"optimizer": {"name": "gd", "lr": 1e6}, "epochs": 50, "divergence_factor": None},
}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_run_json_prints_one_document_on_stdout_and_progress_on_stderr(cli, config, tmp_path):
    # a fresh process, so stdout and stderr are the real streams
    result = cli("run", config, "--runs-dir", tmp_path / "runs", "--json", process=True)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert doc["status"] == "completed" and doc["error"] is None and doc["epochs"] == 3
    assert Path(doc["run"]).parent == tmp_path / "runs" and (Path(doc["run"]) / "weights.npz").exists()
    assert set(doc["metrics"]) == {"train", "test"} and 0 <= doc["metrics"]["test"]["accuracy"] <= 1
    assert doc["seconds"] > 0
    assert "epoch 3/3" in result.stderr and "epoch 3/3" not in result.stdout


def test_concurrent_runs_from_a_shell_loop_get_distinct_folders(config, tmp_path):
    runs = tmp_path / "runs"
    # The same run name, started in the same second: names must still not collide.
    loop = (
        f"for lr in 0.01 0.02 0.03 0.04; do "
        f"{shlex.join(DLTRAIN)} run {shlex.quote(str(config))} --set training.optimizer.lr=$lr "
        f"--runs-dir {shlex.quote(str(runs))} --json > {shlex.quote(str(tmp_path))}/out-$lr.json 2>/dev/null & "
        f"done; wait"
    )
    subprocess.run(["bash", "-c", loop], check=True, env=process_env(), timeout=120)
    docs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("out-*.json"))]
    assert len(docs) == 4 and all(d["status"] == "completed" for d in docs)
    folders = {d["run"] for d in docs}
    assert len(folders) == 4 and folders == {str(p) for p in runs.iterdir()}
    lrs = {yaml.safe_load((Path(d["run"]) / "config.yaml").read_text())["training"]["optimizer"]["lr"] for d in docs}
    assert lrs == {0.01, 0.02, 0.03, 0.04}
    assert all(json.loads((Path(f) / "meta.json").read_text())["status"] == "completed" for f in folders)


def test_a_diverging_run_exits_1_with_status_failed_and_a_hint(cli, tmp_path):
    config = tmp_path / "diverge.yaml"
    config.write_text(yaml.safe_dump(DIVERGING))
    result = cli("run", config, "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and doc["epochs"] == 24
    assert "the loss became inf in epoch 25" in doc["error"] and "lower training.optimizer.lr" in doc["error"]
    assert json.loads((Path(doc["run"]) / "meta.json").read_text())["status"] == "failed"


def strict_json(text: str):
    """The document, parsed as standard JSON (Python's json takes NaN and Infinity; jq and browsers do not)."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_standard_json_with_non_finite_numbers_as_null(cli, config, tmp_path):
    run = cli("run", config, "--runs-dir", tmp_path / "runs", "--json").json["run"]
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    metrics["train"].update(loss=float("nan"), accuracy=float("inf"))  # as a diverged run may record
    (Path(run) / "metrics.json").write_text(json.dumps(metrics))
    for args in (("runs", tmp_path / "runs"), ("compare", run)):
        result = cli(*args, "--json")
        assert result.exit_code == 0, result.output
        text = json.dumps(strict_json(result.stdout))
        assert "NaN" not in text and "Infinity" not in text and "null" in text


def test_a_config_error_exits_2_with_a_json_error_and_no_traceback(cli, config, tmp_path):
    result = cli("run", config, "--set", "training.optimizer.lr=fast", "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["status"] == "error"
    assert "training.optimizer.lr" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_set_is_repeatable_and_takes_yaml_values(cli, config):
    result = cli(
        "run",
        config,
        "--dry-run",
        "--json",
        "--set",
        "model.hidden=[64, 32]",
        "--set",
        "training.epochs=7",
        "--set",
        "training.epochs=9",
        "--set",
        "training.optimizer={name: gd, lr: 0.5, momentum: 0.9}",
        "--set",
        "output.plots=false",
    )
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.stdout)
    assert cfg["model"]["hidden"] == [64, 32]
    assert cfg["training"]["epochs"] == 9  # the last --set of a key wins
    assert cfg["training"]["optimizer"]["name"] == "gd" and cfg["training"]["optimizer"]["momentum"] == 0.9
    assert cfg["output"]["plots"] is False


def test_resolve_leaves_the_callers_dict_alone():
    import copy

    from dltrain.api import resolve

    config = {"dataset": {"name": "digits"}, "training": {"epochs": 3}}
    before = copy.deepcopy(config)
    assert resolve(config, ["training.epochs=5"]).training.epochs == 5
    assert config == before


def test_schema_json_prints_the_config_as_json_schema(cli):
    result = cli("schema", "--json")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["required"] == ["dataset"] and schema["additionalProperties"] is False
    training = schema["$defs"]["Training"]["properties"]
    assert training["epochs"]["default"] == 100 and "passes over" in training["epochs"]["description"]


def test_resolve_keeps_a_configs_sweep_section_and_validates_flags():
    from dltrain.api import resolve
    from dltrain.errors import ConfigError

    cfg = resolve({"dataset": {"name": "digits"}, "sweep": {"grid": {"training.epochs": [1, 2]}}})
    again = resolve(cfg, ["training.epochs=3"], name="other", seed=None)
    assert again.sweep.grid == {"training.epochs": [1, 2]} and again.name == "other" and again.seed == cfg.seed
    with pytest.raises(ConfigError, match="name"):
        resolve(cfg, name="../escape")


def test_resolve_of_a_config_naming_another_kind_starts_from_that_kinds_defaults():
    """Overrides apply to the values a Config was given: Adam's defaults (beta1, ...) are not carried to gd."""
    from dltrain.api import resolve

    cfg = resolve({"dataset": {"name": "digits"}, "training": {"optimizer": {"name": "adam", "lr": 0.01}}})
    optimizer = resolve(cfg, ["training.optimizer.name=gd"]).training.optimizer
    assert (optimizer.name, optimizer.lr, optimizer.momentum) == ("gd", 0.01, 0.0)


def test_a_value_assigned_to_a_config_in_python_is_checked_like_one_in_its_file():
    from pydantic import ValidationError

    from dltrain.api import resolve

    cfg = resolve({"dataset": {"name": "digits"}})
    for section, key, value in [
        (cfg.training, "epochs", 2.5),
        (cfg.training, "epochs", 0),
        (cfg.output, "plotz", True),
    ]:
        with pytest.raises(ValidationError):
            setattr(section, key, value)
    cfg.training.epochs = 7
    assert cfg.training.epochs == 7


# --- stdout that is closed, gone or cannot show a character ----------------------------------


def test_a_completed_run_whose_stdout_reader_left_says_the_result_is_lost(config, tmp_path):
    """`dltrain run --json | true`: the reader leaves before the document is written. The run is
    complete and saved, but a script must not read the missing document as a result: exit 1 and
    one line that says both, never a traceback or Python's 'Exception ignored' at exit."""
    runs = tmp_path / "runs"
    proc = spawn("run", config, "--runs-dir", runs, "--json", "-q")
    proc.stdout.close()  # type: ignore[union-attr]  # the reader is gone long before the run ends
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=120) == 1, err
    (folder,) = runs.iterdir()
    assert (
        f"error: stdout could not be written (Broken pipe); the output is lost; the work is complete and saved in {folder}"
        in " ".join(err.split())
    )
    assert "Traceback" not in err and "Exception ignored" not in err
    assert json.loads((folder / "meta.json").read_text())["status"] == "completed"


def test_a_run_with_stdout_closed_writes_its_folder_and_exits_0(config, tmp_path):
    """`dltrain run ... >&-`: no stdout at all was asked for; the note says where the results are."""
    runs = tmp_path / "runs"
    command = f"{shlex.join(DLTRAIN)} run {shlex.quote(str(config))} --runs-dir {shlex.quote(str(runs))} --json >&-"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=process_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    (folder,) = runs.iterdir()
    assert f"note: stdout is closed; the results are saved in {folder}" in " ".join(proc.stderr.split())
    assert json.loads((folder / "meta.json").read_text())["status"] == "completed"


def test_commands_whose_result_is_a_file_succeed_with_stdout_closed(tmp_path):
    """init wrote its file and then failed with exit 1 ('the output is lost'), and a retry was refused
    as the file existed: its message, like runs --delete's table and datasets fetch's, is for stderr."""
    runs = tmp_path / "runs"
    api.run(dict(TINY), runs_dir=runs)
    for args in (["init", "mine"], ["runs", str(runs), "--delete", "--last", "1", "--yes"]):
        command = f"cd {shlex.quote(str(tmp_path))} && {shlex.join(DLTRAIN)} {shlex.join(args)} >&-"
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=process_env(), timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine.yaml").is_file() and not any(runs.iterdir())


@pytest.mark.parametrize("args", [["schema", "--json"], ["configs"], ["run", "perceptron_or", "--dry-run"]])
def test_a_command_whose_only_output_is_stdout_fails_with_stdout_closed(args):
    """Its output is lost: exit 1, not exit 0 and a note about a run folder it does not have."""
    command = f"{shlex.join(DLTRAIN)} {shlex.join(args)} >&-"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=process_env(), timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().endswith("error: stdout is closed; the output is lost")
    assert "run folder" not in proc.stderr


def stderr_gone(*args, stdout_too: bool = False) -> tuple[int, str]:
    """`dltrain ARGS...` whose stderr reader (`2>&1 >out | head`), or with `stdout_too` its only
    reader (`2>&1 | head`), leaves before anything is written: every write there fails. The
    exit code and what came on stdout."""
    proc = spawn(*args)
    proc.stderr.close()  # type: ignore[union-attr]
    if stdout_too:
        proc.stdout.close()  # type: ignore[union-attr]
    out = "" if stdout_too else proc.stdout.read()  # type: ignore[union-attr]
    return proc.wait(timeout=120), out


def test_a_run_whose_stderr_reader_left_completes_and_exits_0(tmp_path):
    """Progress and the note (a batch size clamped) are dropped; the summary is still on stdout."""
    config = tmp_path / "note.yaml"
    config.write_text(yaml.safe_dump({**TINY, "dataset": {"name": "or_gate"}, "model": {"type": "mlp"}}))
    code, out = stderr_gone("run", config, "--runs-dir", tmp_path / "runs")
    assert code == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert f"run folder: {folder}" in out
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["notes"]


def test_a_config_error_whose_stderr_reader_left_still_exits_2(config, tmp_path):
    code, out = stderr_gone("run", config, "--set", "training.epochs=-1", "--runs-dir", tmp_path, "--json")
    assert code == 2 and json.loads(out)["status"] == "error"


def test_an_interrupted_run_whose_stderr_reader_left_still_exits_130(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump({**TINY, "training": {**TINY["training"], "epochs": 100_000}}))
    runs = tmp_path / "runs"
    proc = spawn("run", config, "--runs-dir", runs, stdout=subprocess.DEVNULL)
    proc.stderr.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while not any(len(p.read_text().splitlines()) > 2 for p in runs.glob("*/history.csv")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    (folder,) = runs.iterdir()
    assert json.loads((folder / "meta.json").read_text())["status"] == "interrupted"


SWEEP = ("sweep", Path(__file__).parents[1] / "dltrain/configs/perceptron_or.yaml", "--search", "random")
SWEEP_POINTS = ("--trials", "6", "--grid", "training.epochs=1,2")


def test_a_sweep_whose_stderr_reader_left_trains_every_point_and_exits_0(tmp_path):
    """The progress lines are dropped; every point runs, sweep.json ends completed, the table is on stdout."""
    code, out = stderr_gone(*SWEEP, *SWEEP_POINTS, "--runs-dir", tmp_path)
    (folder,) = tmp_path.iterdir()
    doc = json.loads((folder / "sweep.json").read_text())
    assert code == 0 and f"sweep folder: {folder}" in out
    assert doc["status"] == "completed" and len(doc["points"]) == 6


def test_a_sweep_whose_only_reader_left_finishes_and_says_its_output_is_lost(tmp_path):
    """`dltrain sweep ... 2>&1 | head -1`: the sweep still trains every point and ends sweep.json
    with its status; the table on stdout is lost, which is exit 1 as for any lost stdout."""
    code, _ = stderr_gone(*SWEEP, *SWEEP_POINTS, "--runs-dir", tmp_path, stdout_too=True)
    (folder,) = tmp_path.iterdir()
    doc = json.loads((folder / "sweep.json").read_text())
    assert code == 1 and doc["status"] == "completed" and len(doc["points"]) == 6


def test_compare_on_an_ascii_stdout_replaces_what_it_cannot_show(tmp_path):
    """PYTHONIOENCODING=ascii: a run folder named 'café' and values shortened with '…' print as '?'."""
    from dltrain import api

    tiny = {"dataset": {"name": "or_gate"}, "model": {"type": "mlp"}, "training": {"epochs": 2}}
    runs = [
        api.run({**tiny, "model": {"type": "mlp", "hidden": [hidden] * 12}}, runs_dir=tmp_path / "runs").path
        for hidden in (3, 4)
    ]
    cafe = runs[0].rename(runs[0].with_name("café"))
    result = invoke("compare", cafe, runs[1], process=True, env={"PYTHONIOENCODING": "ascii", "COLUMNS": "200"}, code=0)
    assert "caf?" in result.stdout and "[3,3,3,3,3,3?,3,3,3,3,3]" in result.stdout, result.stdout


@pytest.mark.parametrize("args", [["--help"], ["configs"], ["schema"]])
def test_any_command_whose_stdout_reader_left_says_so_in_one_line(args):
    """`dltrain --help | true`: Typer's own output (outside any command) and a command's alike."""
    proc = spawn(*args)
    proc.stdout.close()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 1, err
    assert err == "error: stdout could not be written (Broken pipe); the output is lost\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--version"], ["configs"], ["configs", "--json"], ["schema"]])
def test_any_command_whose_stdout_is_a_full_disk_says_so_in_one_line(args):
    """`dltrain configs > /dev/full`: every write fails, even an empty one (which click makes
    to probe the stream, inside `except Exception`): exit 1 and one line, never exit 0."""
    with open("/dev/full", "w") as full:
        proc = spawn(*args, stdout=full)
        err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 1, err
    assert err == "error: stdout could not be written (No space left on device); the output is lost\n"


def test_an_interrupt_a_library_swallowed_still_ends_with_130(cli, monkeypatch):
    """pydantic, interrupted while it builds a validator, reports a SchemaError: that was an
    'internal error' with exit 1 (seen once in the signal-at-any-moment test)."""
    from dltrain.config import loader
    from dltrain.train import signals

    def swallowing(data):
        try:
            signals._interrupt(2, None)  # the handler, run inside the library's code
        except KeyboardInterrupt:
            raise RuntimeError("Error building 'literal' validator: Interrupt: ") from None

    monkeypatch.setattr(loader, "validate", swallowing)
    result = cli("run", "perceptron_or", "--dry-run", "--json", code=130)
    assert result.json["status"] == "interrupted" and "internal error" not in result.output

    def buggy(data):
        raise RuntimeError("a bug")

    monkeypatch.setattr(loader, "validate", buggy)  # a later command's bug is a bug: the count is per command
    assert "internal error: RuntimeError: a bug" in cli("run", "perceptron_or", "--dry-run", code=1).message


@pytest.mark.parametrize("size", ["0", "00"])
def test_columns_or_lines_of_zero_are_ignored_not_a_screen_nothing_fits(cli, tmp_path, size):
    # Rich would print at a width of 0: nothing at all, not even the error
    result = cli("run", "quikstart", process=True, env={"COLUMNS": size, "LINES": size}, code=2)
    assert "no config file or bundled config named 'quikstart'" in result.message
    run = cli("run", "perceptron_or", "--runs-dir", tmp_path, process=True, env={"COLUMNS": size}, code=0)
    assert "test" in run.stdout and "run folder:" in run.stdout
    listing = cli("runs", tmp_path, process=True, env={"COLUMNS": size}, code=0)
    assert "perceptron-or" in listing.stdout and len(listing.stdout.splitlines()[2]) > 40  # one line per row
