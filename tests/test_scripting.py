"""The scripting contract: one JSON document on stdout, logs on stderr, exit codes, concurrent runs."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import DLTRAIN, process_env

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
