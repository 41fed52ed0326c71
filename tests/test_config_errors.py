"""Config mistakes through the CLI: exit code 2, a message that names the key path (and
the bad value, and what is allowed), and never a traceback. `--dry-run` prints the
resolved config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

GOOD = """\
name: errs
seed: 1
dataset: {name: or_gate}
model: {type: mlp, hidden: [4], activation: relu}
training: {optimizer: {name: adam, lr: 0.01}, epochs: 3, batch_size: 2}
"""


@pytest.fixture
def config(tmp_path: Path):
    """write(text) -> path of a config file holding `text` (default: a valid config)."""

    def write(text: str = GOOD) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        return path

    return write


def with_change(section: str, key: str, value) -> str:
    """GOOD with data[section][key] = value (section '' for the top level)."""
    data = yaml.safe_load(GOOD)
    (data[section] if section else data)[key] = value
    return yaml.safe_dump(data)


# (id, YAML text, --set overrides, fragments the message must contain)
CASES = [
    (
        "unknown-key-suggests",
        GOOD.replace("hidden:", "hiden:"),
        [],
        ["model.hiden", "unknown key", "did you mean 'hidden'?", "allowed keys:", "activation"],
    ),
    (
        "unknown-top-level-key",
        GOOD + "epochs: 3\n",
        [],
        ["epochs: unknown key", "allowed keys: name, seed, dataset, model, training, output"],
    ),
    (
        "unknown-dataset",
        GOOD.replace("or_gate", "digitz"),
        [],
        [
            "dataset",
            "'digitz' is unknown",
            "did you mean 'digits'?",
            "dataset.name",
            "allowed: or_gate, sqrt_mean, digits, sign_digits, mnist, inline, file",
        ],
    ),
    (
        "unknown-model",
        GOOD.replace("type: mlp", "type: mpl"),
        [],
        ["model", "'mpl' is unknown", "did you mean 'mlp'?", "allowed: logreg, perceptron, mlp"],
    ),
    (
        "unknown-optimizer",
        GOOD.replace("name: adam", "name: adamw"),
        [],
        ["training.optimizer", "'adamw' is unknown", "did you mean 'adam'?", "allowed: gd, sgd, adam"],
    ),
    (
        "unknown-activation",
        GOOD.replace("activation: relu", "activation: relux"),
        [],
        ["model.activation", "'relux' is not allowed", "did you mean 'relu'?", "leaky_relu", "softmax"],
    ),
    (
        "wrong-type-epochs",
        with_change("training", "epochs", "ten"),
        [],
        ["training.epochs", "integer", "(got 'ten')"],
    ),
    (
        "negative-lr",
        GOOD.replace("lr: 0.01", "lr: -0.5"),
        [],
        ["training.optimizer.lr", "greater than 0", "(got -0.5)"],
    ),
    (
        "batch-size-zero",
        GOOD.replace("batch_size: 2", "batch_size: 0"),
        [],
        ["training.batch_size", "'full' or a whole number >= 1", "(got 0)"],
    ),
    (
        "empty-hidden",
        GOOD.replace("hidden: [4]", "hidden: []"),
        [],
        ["model.hidden", "at least 1 item", "(got [])"],
    ),
    (
        "negative-hidden-size",
        GOOD.replace("hidden: [4]", "hidden: [4, -2]"),
        [],
        ["model.hidden.1", "greater than 0", "(got -2)"],
    ),
    (
        "bad-dtype",
        GOOD,
        ["training.dtype=float16"],
        ["training.dtype", "'float16' is not allowed", "allowed: float32, float64"],
    ),
    (
        "set-wrong-type",
        GOOD,
        ["training.epochs=ten"],
        ["training.epochs", "(got 'ten')"],
    ),
    (
        "set-unknown-key",
        GOOD,
        ["training.optimizer.momentun=0.9"],
        ["training.optimizer.momentun", "unknown key"],
    ),
    (
        "yaml-syntax",
        "name: x\ndataset: {name: or_gate\nmodel: {type: mlp}\n",
        [],
        ["invalid YAML at line 3, column 6"],
    ),
    (
        "yaml-indentation",
        "name: x\ndataset:\n  name: or_gate\n model: 3\n",
        [],
        ["invalid YAML at line 4, column 2"],
    ),
    (
        "not-a-mapping",
        "- just\n- a list\n",
        [],
        ["a config is a YAML mapping", "got a list"],
    ),
    (
        "nesterov-without-momentum",
        GOOD,
        ["training.optimizer={name: sgd, lr: 0.1, nesterov: true}"],
        ["training.optimizer", "nesterov: true needs momentum > 0"],
    ),
    ("set-without-equals", GOOD, ["model.hidden"], ["--set expects key.path=value", "'model.hidden'"]),
    ("set-without-key", GOOD, ["=3"], ["--set expects key.path=value"]),
    (
        "set-bad-yaml-value",
        GOOD,
        ["training.optimizer.lr=[1"],
        ["--set training.optimizer.lr", "not a valid YAML value"],
    ),
    ("set-into-a-value", GOOD, ["training.epochs.x=3"], ["training.epochs is a value, not a section"]),
    # What meta.json records must read back: counts stay below 2**53, where JSON numbers are exact.
    ("seed-past-2**53", GOOD, [f"seed={2**53}"], ["seed: Input should be less than 9007199254740992"]),
    ("epochs-past-2**53", GOOD, [f"training.epochs={2**53}"], ["training.epochs: Input should be less than"]),
    (
        "more-hidden-layers-than-a-run-folder-holds",
        GOOD,
        [f"model.hidden=[{', '.join(['2'] * 1001)}]"],
        ["model.hidden: List should have at most 1000 items"],
    ),
    (  # the Python parser reads a user's config (libyaml takes a tab after `key:`)
        "tab-after-a-key-is-invalid-yaml",
        GOOD.replace("seed: 1", "seed:\t1"),
        [],
        ["invalid YAML at line 2, column 6: found character '\\t' that cannot start any token"],
    ),
    (  # each --set value may nest 63 levels; under baseline.options it would go deeper than config.yaml reads
        "nested-deeper-than-config-yaml-reads",
        GOOD,
        ["baseline.name=sklearn", "baseline.options.class_weight=" + "[" * 63 + "]" * 63],
        ["the config nests more than 64 levels deep; a config file may nest no deeper"],
    ),
]


@pytest.mark.parametrize("text, overrides, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_error_exits_2_with_a_message(cli, config, text, overrides, fragments):
    path = config(text)
    sets = [arg for value in overrides for arg in ("--set", value)]
    result = cli("run", path, "--dry-run", *sets)
    assert result.exit_code == 2
    assert result.message.startswith("error:")
    for fragment in fragments:
        assert fragment in result.message
    assert result.stdout == ""  # nothing that looks like a resolved config


def test_the_same_errors_stop_a_real_run_before_any_run_folder(cli, config, tmp_path):
    runs = tmp_path / "runs"
    result = cli("run", config(GOOD.replace("hidden:", "hiden:")), "--runs-dir", runs)
    assert result.exit_code == 2 and "did you mean 'hidden'?" in result.message
    assert not runs.exists() or not any(runs.iterdir())


def test_a_step_output_with_an_explicit_loss_is_a_config_error(cli, config, tmp_path):
    # Only found when the network is built, so it needs a real run, not --dry-run.
    text = GOOD.replace(
        "model: {type: mlp, hidden: [4], activation: relu}", "model: {type: perceptron, rule: rosenblatt}"
    )
    text = text.replace("training: {", "training: {loss: sse, ")
    runs = tmp_path / "runs"
    result = cli("run", config(text), "--runs-dir", runs)
    assert result.exit_code == 2
    assert "model" in result.message and "step output" in result.message and "training.loss" in result.message
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize(
    "text, fragment",
    [
        (GOOD + '"bad\\nkey": 1\n', "'bad\\nkey': unknown key"),
        (GOOD.replace("epochs: 3", '"ep\\nochs\\e[31m": 3'), "training.'ep\\nochs\\x1b[31m': unknown key"),
        ("\0" + GOOD, "invalid YAML at line 1, column 1: the character U+0000 is not allowed in YAML"),
        ("\nnote: a\0b\n" + GOOD, "invalid YAML at line 2, column 8: the character U+0000 is not allowed in YAML"),
        (GOOD + "note: a\0b\n", "invalid YAML at line 6, column 8: the character U+0000 is not allowed in YAML"),
    ],
)
def test_keys_and_characters_that_break_lines_are_named_on_one_line(cli, config, text, fragment):
    result = cli("run", config(text), "--dry-run", code=2)
    problems = [line for line in result.stderr.splitlines() if not line.endswith("config.yaml: invalid config:")]
    assert len(problems) == 1 and fragment in problems[0], result.stderr


@pytest.mark.parametrize(
    "text, line",
    [
        (GOOD.replace("dataset: {name: or_gate}\n", ""), "dataset: required key is missing"),
        (
            GOOD.replace("type: mlp, ", ""),
            "model.type: required key is missing: it says which kind this section describes",
        ),
        (GOOD.replace("hidden: [4]", "hidden: [4, -1]"), "model.hidden.1: Input should be greater than 0 (got -1)"),
        (
            GOOD.replace("or_gate", "inline, X: [[0, 1], [1, a]], y: [1, 0]"),
            "dataset.X.1.1: Input should be a valid number (got 'a')",
        ),
        (  # the section's own check: its key, not the kind pydantic tried, and not the whole section as the value
            GOOD.replace("activation: relu", "init: {name: uniform, low: 2, high: 1}"),
            "model.init: low (2.0) must be below high (1.0)",
        ),
        (
            GOOD + "output: {plotz: true}\n",
            "output.plotz: unknown key (did you mean 'plots'?); allowed keys: plots, report",
        ),
        (
            GOOD + "baseline: {name: sklearn, optionz: {}}\n",
            "baseline.optionz: unknown key (did you mean 'options'?); allowed keys: name, options",
        ),
        (
            GOOD.replace("epochs: 3", "schedule: {name: step, step_sise: 3}"),
            "training.schedule.step_sise: unknown key (did you mean 'step_size'?); allowed keys: warmup_epochs, name, step_size, gamma",
        ),
    ],
    ids=["missing", "missing-kind", "list-item", "nested-list-item", "section-check", "section", "optional", "kind"],
)
def test_each_problem_names_the_key_path_as_written(cli, config, text, line):
    problems = cli("run", config(text), "--dry-run", code=2).stderr.splitlines()[1:]
    assert [problem.strip() for problem in problems] == [line]


def test_a_config_error_names_the_file_and_an_empty_file_is_called_empty(cli, tmp_path):
    """The errors of a config's values named no file, unlike its YAML errors; an empty file was 'NoneType'."""
    path = tmp_path / "unk.yaml"
    path.write_text("name: a\ndataset: {name: digits}\nmodel: {type: mlp, hiden: [3]}\n")
    assert cli("run", path, code=2).message.startswith(f"error: {path}: invalid config: model.hiden: unknown key")
    edited = cli("run", path, "--set", "model.hiden=4", code=2).message
    assert edited.startswith(f"error: {path} with --set: invalid config:")
    assert cli("run", "quickstart", "--set", "training.epochs=x", code=2).message.startswith(
        "error: quickstart with --set: invalid config: training.epochs:"
    )
    path.write_text("")
    assert cli("run", path, code=2).message.endswith("got an empty document")
    flagged = cli("run", "quickstart", "--name", "bad name", "--seed", "1", code=2).message
    assert flagged.startswith("error: quickstart with --name, --seed: invalid config: name:")


def test_a_yaml_error_is_one_line_naming_its_position_once(cli, config):
    path = config(GOOD + "bad: [1\n")
    message = cli("run", path, "--dry-run", code=2).message
    assert message == f"error: {path}: invalid YAML at line 7, column 1: expected ',' or ']', but got '<stream end>'"


def test_missing_config_file(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    result = cli("run", missing, "--dry-run")
    assert result.exit_code == 2
    assert "nope.yaml does not exist" in result.message


def test_bad_flag_value_names_the_key(cli, config):
    result = cli("run", config(), "--dry-run", "--name", "bad name")
    assert result.exit_code == 2
    assert "name:" in result.message and "(got 'bad name')" in result.message


def test_json_run_error_document(cli, config, tmp_path):
    result = cli("run", config(GOOD.replace("lr: 0.01", "lr: -1")), "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["status"] == "error" and "training.optimizer.lr" in doc["error"]


# --- --dry-run -----------------------------------------------------------------------------


def test_dry_run_prints_the_resolved_config_with_defaults(cli, config, tmp_path):
    runs = tmp_path / "runs"
    result = cli("run", config(), "--dry-run", "--runs-dir", runs)
    assert result.exit_code == 0 and result.message == ""
    resolved = yaml.safe_load(result.stdout)
    assert resolved["model"]["hidden"] == [4]  # from the file
    # defaults the file does not mention
    assert resolved["training"]["dtype"] == "float64"
    assert resolved["training"]["loss"] == "auto"
    assert resolved["training"]["optimizer"]["beta2"] == 0.999
    assert resolved["model"]["init"] == {"name": "he"}
    assert resolved["output"] == {"plots": True, "report": False}
    assert not runs.exists()  # a dry run trains nothing and writes nothing


def test_dry_run_shows_set_overrides_and_flags(cli, config):
    result = cli(
        "run",
        config(),
        "--dry-run",
        "--set",
        "model.hidden=[64,32]",
        "--set",
        "training.optimizer.lr=0.5",
        "--seed",
        "9",
    )
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.stdout)
    assert resolved["model"]["hidden"] == [64, 32]
    assert resolved["training"]["optimizer"]["lr"] == 0.5
    assert resolved["seed"] == 9


def test_dry_run_prints_block_style_in_schema_order_with_flat_lists_on_one_line(cli, config):
    text = GOOD.replace("dataset: {name: or_gate}", "dataset: {name: inline, X: [[0, 1], [1, 0]], y: [1, 0]}")
    printed = cli("run", config(text), "--dry-run", code=0).stdout
    assert printed.startswith("name: errs\nseed: 1\ndataset:\n  name: inline\n"), printed
    assert "\n  X:\n  - [0.0, 1.0]\n  - [1.0, 0.0]\n  y: [1.0, 0.0]\n" in printed, printed
    assert "\n  hidden: [4]\n" in printed, printed


def test_dry_run_json_is_one_document(cli, config):
    result = cli("run", config(), "--dry-run", "--json", "--set", "model.hidden=[8]")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["model"]["hidden"] == [8]


def test_resolved_config_validates_again(cli, config, tmp_path):
    # What --dry-run prints (and a run saves as config.yaml) is itself a valid config.
    first = cli("run", config(), "--dry-run")
    again = tmp_path / "again.yaml"
    again.write_text(first.stdout)
    second = cli("run", again, "--dry-run")
    assert (first.exit_code, second.exit_code) == (0, 0) and second.stdout == first.stdout


def test_bce_needs_a_sigmoid_output(cli, tmp_path):
    path = tmp_path / "relu_bce.yaml"
    path.write_text(
        "dataset: {name: or_gate}\nmodel: {type: mlp, hidden: [4], output_activation: relu}\ntraining: {loss: bce, epochs: 2}\n"
    )
    result = cli("run", path, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "bce needs probabilities from a sigmoid output" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_interrupt_while_a_config_validates_waits_for_it(monkeypatch):
    """The sections' validators are built on first use; an interrupt inside pydantic's build
    came out as SchemaError, an internal error (exit 1), instead of exit 130 (seen once in the
    signal-at-any-moment test). Validation now finishes first, then the interrupt is raised."""
    import os
    import signal

    from dltrain.config import loader
    from dltrain.config.schema import Config
    from dltrain.train.signals import interrupt_on_signals

    build, finished = Config.model_validate, []

    def interrupted_build(data):
        os.kill(os.getpid(), signal.SIGINT)  # delivered at once, as if in the middle of the build
        cfg = build(data)
        finished.append(True)
        return cfg

    monkeypatch.setattr(Config, "model_validate", interrupted_build)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupt_on_signals()
    try:
        with pytest.raises(KeyboardInterrupt):
            loader.validate({"name": "x", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}})
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    assert finished == [True]
