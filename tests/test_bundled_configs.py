"""The configs that ship inside the package: run by name from anywhere, listed, copied by
`init`, suggested when misspelt, and completed by the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO, invoke, with_file_size_limit

from dltrain.config.bundled import BUNDLED_DIR, bundled_names, bundled_path, describe


def test_quickstart_runs_by_name_from_an_empty_directory(cli, tmp_path):
    # the installed command, as a user runs it
    result = cli("run", "quickstart", "--set", "training.epochs=2", "--json", script=True, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "completed" and doc["epochs"] == 2
    assert (tmp_path / doc["run"] / "weights.npz").is_file()  # runs/ of the working directory
    assert doc["metrics"]["test"]["accuracy"] > 0.5  # observed 0.90 after two epochs


def test_the_bundled_configs_are_package_data():
    """configs/ in the repository is the package's folder; pyproject ships its YAML files."""
    import tomllib

    assert BUNDLED_DIR == REPO / "dltrain" / "configs"
    assert (REPO / "configs").resolve() == BUNDLED_DIR
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "configs/*.yaml" in project["tool"]["setuptools"]["package-data"]["dltrain"]
    assert len(bundled_names()) == 11  # mlp_mnist_early_stop among them


def test_configs_lists_every_bundled_config_with_a_description(cli):
    result = cli("configs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == bundled_names()
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)  # a real sentence each
    assert "quickstart" in result.stdout and "8x8" in result.stdout
    doc = json.loads(cli("configs", "--json").stdout)
    assert [d["name"] for d in doc] == bundled_names() and all(Path(d["path"]).is_file() for d in doc)


def test_a_misspelt_or_missing_config_suggests_the_bundled_name(cli, tmp_path):
    for given in ("quikstart", "quickstart.yaml", "configs/quickstart.yml"):
        result = cli("run", given, script=True, cwd=tmp_path)
        assert result.exit_code == 2, given
        assert "did you mean the bundled config 'quickstart'?" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
    unknown = cli("run", "zzz", script=True, cwd=tmp_path)
    assert unknown.exit_code == 2 and "dltrain configs" in unknown.stderr and "did you mean" not in unknown.stderr


def test_a_local_file_wins_over_a_bundled_name(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart").write_text(yaml.safe_dump({"name": "mine", "dataset": {"name": "or_gate"}}))
    result = cli("run", "quickstart", "--dry-run")
    assert result.exit_code == 0 and "name: mine" in result.stdout


@pytest.mark.parametrize("command", ["run", "sweep", "gradcheck"])
def test_a_bundled_name_that_is_also_a_yaml_file_here_trains_the_bundled_one_and_says_so(
    tmp_path, cli, monkeypatch, command
):
    """`dltrain init quickstart` writes quickstart.yaml; `run quickstart` still means the bundled
    config (the exact name comes first), and a note names the file the user may have meant."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart.yaml").write_text(yaml.safe_dump({"name": "mine", "dataset": {"name": "or_gate"}}))
    args = {"run": ["--dry-run"], "sweep": ["--grid", "seed=1,2", "--set", "training.epochs=1"], "gradcheck": []}
    result = cli(command, "quickstart", *args[command], "--json")
    assert result.exit_code == 0, result.stderr
    assert "note: quickstart is the bundled config; give quickstart.yaml to use the file quickstart.yaml here" in (
        result.stderr
    )
    assert "mine" not in result.stdout and "quickstart" in result.stdout  # the bundled config's name
    plain = cli(command, "quickstart.yaml", *args[command], "--json")
    assert plain.exit_code == 0 and "note:" not in plain.stderr and "mine" in plain.stdout


def test_no_note_in_the_bundled_configs_folder_itself(cli, monkeypatch):
    monkeypatch.chdir(BUNDLED_DIR)  # quickstart.yaml here is the bundled config
    result = cli("run", "quickstart", "--dry-run")
    assert result.exit_code == 0 and "note:" not in result.stderr


def test_init_writes_a_commented_starter_and_refuses_to_overwrite(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("init", "my-digits")
    assert result.exit_code == 0, result.output
    path = tmp_path / "my-digits.yaml"
    text = path.read_text()
    assert text.startswith("# my-digits: a starter config") and "# 1797 images" in text  # comments kept
    assert yaml.safe_load(text)["name"] == "my-digits"
    dry = cli("run", "my-digits.yaml", "--dry-run")
    assert dry.exit_code == 0 and "name: my-digits" in dry.stdout
    commands = [line for line in text.splitlines()[1:4]]  # the header's three commands, their notes in one column
    assert len({line.index(note) for line, note in zip(commands, ("shows", "lists", "trains"))}) == 1, commands
    bare = cli("run", "my-digits", "--dry-run", code=2)  # the name init was given, not the file it wrote
    assert "did you mean the file my-digits.yaml?" in bare.message
    path.write_text(text + "# my own notes\n")
    again = cli("init", "my-digits", "--from", "mlp_tiny")
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert path.read_text().endswith("# my own notes\n")  # untouched
    other = cli("init", "tiny.yaml", "--from", "mlp_tiny")
    assert other.exit_code == 0 and yaml.safe_load((tmp_path / "tiny.yaml").read_text())["name"] == "tiny"
    wrong = cli("init", "x", "--from", "mlp_tinny")
    assert wrong.exit_code == 2 and "did you mean 'mlp_tiny'" in wrong.stderr and not (tmp_path / "x.yaml").exists()
    assert cli("init", "bad name").exit_code == 2


@pytest.mark.parametrize("how", ["script", "process"])  # `dltrain` and `python -m dltrain`
def test_completion_scripts_are_generated(cli, tmp_path, how):
    markers = {
        "bash": "_DLTRAIN_COMPLETE=complete_bash $1",
        "zsh": "compdef _dltrain_completion dltrain",
        "fish": "complete --command dltrain",
    }
    for shell, marker in markers.items():
        # Typer's switch for naming the shell instead of detecting the one running the tests
        result = cli(
            "--show-completion",
            shell,
            **{how: True},
            cwd=tmp_path,
            env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        )
        assert result.exit_code == 0, result.stderr
        assert marker in result.stdout and "python" not in result.stdout, result.stdout


def _complete(words: str, cwd: Path) -> list[str]:
    """What bash completion offers after `words` (the last word is the one being completed)."""
    parts = words.split(" ")
    env = {"_DLTRAIN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    return invoke(script=True, cwd=cwd, env=env, timeout=60).stdout.split()


def test_config_names_and_run_folders_complete(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    run = tmp_path / "runs" / "20260101-000000-quickstart"
    run.mkdir(parents=True)
    (run / "meta.json").write_text("{}")
    assert _complete("dltrain run quick", tmp_path) == ["quickstart"]
    assert set(_complete("dltrain run m", tmp_path)) == {
        "mlp_mnist",
        "mlp_mnist_early_stop",
        "mlp_tiny",
        "mlp_tiny_fullbatch",
        "mine.yaml",
    }
    assert _complete("dltrain gradcheck perceptron_r", tmp_path) == ["perceptron_rosenblatt"]
    assert _complete("dltrain eval l", tmp_path) == ["latest"]
    assert _complete("dltrain eval r", tmp_path) == ["runs/"]
    assert _complete("dltrain resume runs/2026", tmp_path) == ["runs/20260101-000000-quickstart"]
    assert _complete("dltrain init x --from sqrt", tmp_path) == ["sqrt_mean"]


def test_init_on_a_full_disk_leaves_no_empty_file_behind(tmp_path):
    """The empty NAME.yaml left by a failed write made every later `init NAME` refuse to overwrite it."""
    code = (
        "from dltrain.config.bundled import write_starter\n"
        "from dltrain.errors import ConfigError\n"
        "try:\n"
        "    write_starter('mine', directory=sys.argv[1])\n"
        "except ConfigError as err:\n"
        "    sys.exit(f'refused: {err}')\n"
    )
    result = with_file_size_limit(100, code, tmp_path)  # as a full disk: the write fails
    assert result.returncode == 1 and "refused: cannot write" in result.stderr, result.stderr
    assert not (tmp_path / "mine.yaml").exists()


@pytest.mark.parametrize("name", bundled_names())
def test_each_bundled_config_opens_with_a_one_line_description(name):
    """`dltrain configs` shows the first comment line: it must be a whole sentence, not the start of one."""
    lines = bundled_path(name).read_text().splitlines()
    assert lines[0].startswith("# ") and lines[0].endswith("."), lines[0]
    assert describe(name) == lines[0][2:]
