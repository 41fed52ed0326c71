"""Safety: only the safe YAML loader, no pickles, no shell, and no file outside the runs directory."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

import dltrain
from dltrain import api

PACKAGE = Path(dltrain.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_uses_no_unsafe_loader_pickle_or_shell(source):
    tree = ast.parse(source.read_text())
    for node, name in calls(tree):
        keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
        assert name not in {
            "yaml.load",
            "yaml.unsafe_load",
            "yaml.full_load",
            "eval",
            "exec",
            "os.system",
            "os.popen",
        }, f"{source}:{node.lineno} {name}"
        assert keywords.get("shell") not in {"True"}, f"{source}:{node.lineno} shell=True"
        if name in {"np.load", "numpy.load"}:
            assert keywords.get("allow_pickle") == "False", f"{source}:{node.lineno}: np.load needs allow_pickle=False"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not {"pickle", "cPickle", "dill", "marshal", "shelve"} & set(names), f"{source}:{node.lineno}"


@pytest.mark.parametrize(
    "name", ["../escape", "/tmp/abs", "a/b", "..", ".hidden", "a\\b", "x" * 81, "", "ok\x00", "-rf"]
)
def test_run_names_cannot_leave_the_runs_dir(cli, tmp_path, name):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"name": "ok", "dataset": {"name": "or_gate"}, "training": {"epochs": 1}}))
    runs = tmp_path / "box" / "runs"
    for args in (["--name", name], ["--set", f"name={name}"]):
        result = cli("run", config, "--runs-dir", runs, "--quiet", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "name" in result.output  # "a run name must be ...", or the --set value is not even YAML
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.yaml"]  # nothing created anywhere


def test_yaml_python_tags_are_refused(cli, tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "c.yaml"
    config.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\ndataset: {{name: or_gate}}\n")
    result = cli("run", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "invalid YAML" in result.output
    assert not marker.exists()
    result = cli(
        "run",
        config,
        "--runs-dir",
        tmp_path / "runs",
        "--set",
        f"seed=!!python/object/apply:os.system ['touch {marker}']",
    )
    assert result.exit_code == 2 and not marker.exists()


def test_a_checkpoint_holding_pickled_objects_is_refused(cli, tmp_path):
    path = api.run(
        {"name": "p", "dataset": {"name": "or_gate"}, "training": {"epochs": 2}, "output": {"plots": False}},
        runs_dir=tmp_path,
    ).path
    np.savez(path / "checkpoint.npz", format=np.array(1), epoch=np.array(1), rng=np.array([{"evil": 1}], dtype=object))
    result = cli("resume", path, "--epochs", "3")
    assert result.exit_code == 2, result.output
    assert "checkpoint.npz is unreadable" in result.output and "allow_pickle=False" in result.output


LONG = "x" * 300  # longer than any file name can be (255 bytes)


@pytest.mark.parametrize(
    "args",
    [
        ("run", f"{LONG}.yaml"),
        ("eval", LONG),
        ("runs", LONG),
        ("compare", LONG),
        ("report", LONG),
        ("resume", LONG),
        ("sweep", "--resume", LONG),
        ("predict", LONG, "x.csv"),
        ("datasets", "fetch", "sign_digits", "--data-dir", LONG),  # said to delete X.npy and Y.npy
        ("datasets", "fetch", "mnist", "--data-dir", LONG),
    ],
    ids=lambda args: " ".join(args[:3]) if args[0] == "datasets" else args[0],
)
def test_a_path_no_file_can_have_is_a_usage_error(cli, args):
    """Checking such a path raises ENAMETOOLONG, which ended these commands as an internal error (exit 1)."""
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.message.endswith(": File name too long") and "internal error" not in result.message
