"""Hostile configs, --set and --grid values: exit 2 with a short message naming the
problem (and its line), never a traceback, never more than a few megabytes of memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import CliResult

BASE = "name: t\ndataset: {name: or_gate}\n"
# A flat list past MAX_NODES with a syntax error at its end: refused for its size before the
# parser gets there (it used to be composed whole, 4 MB in 53 s and 1.6 GB, then refused).
LONG = "z: [" + "1, " * 200_001 + "]]]\n"
BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def short(result: CliResult) -> CliResult:
    """`result`, checked to say little: an error message names what it must not quote."""
    assert len(result.output) < 2000, "an error message quotes what it should only name"
    return result


@pytest.fixture
def config(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        return path

    return write


@pytest.mark.parametrize(
    "text, reason",
    [
        (BASE + "foo: " + "[" * 600 + "]" * 600, "nested more than 64 levels deep"),
        (BASE + "foo: " + "{a: " * 5000 + "1" + "}" * 5000, "nested more than 64 levels deep"),
        (BASE + BOMB + "model: {type: mlp, hidden: *a9}\n", "aliases expand to more than 200,000 values"),
        (BASE + "x: &x [1, *x]\n", "an alias refers to a node that contains it"),
        (BASE + "seed: " + "7" * 5000 + "\n", "an integer of 5,000 digits is too large"),
        # base 60 is built by repeated multiplication: judged by its length before it is built
        (BASE + "seed: 1" + ":0" * 100_000 + "\n", "an integer of 200,001 characters is too large"),
        (BASE + "seed: 1\nseed: 2\n", "line 4, column 1: duplicate key 'seed' (first at line 3)"),
        (BASE + "training: {epochs: true}\n", "training.epochs: Input should be a valid integer (got True)"),
        (BASE + "training: {epochs: 2.5}\n", "training.epochs: Input should be a valid integer"),
        (BASE + "model: {type: logreg, init: {name: uniform, low: -1e308, high: 1e308}}\n", "too wide for a float"),
        (BASE + "model: {type: logreg, init: {name: normal, std: .inf}}\n", "finite number"),
        (BASE + "seed: [" + ", ".join(["x" * 50] * 2000) + "]\n", "seed: Input should be a valid integer"),
    ],
)
def test_hostile_config_files_are_refused(cli, config, text, reason):
    result = short(cli("run", config(text), "--dry-run"))
    assert result.exit_code == 2 and reason in result.message, result.message


@pytest.mark.parametrize(
    "assignment, reason",
    [
        ("model.hidden=" + "[" * 2000 + "]" * 2000, "nested more than 64 levels deep"),
        ("seed=" + "9" * 4400, "an integer of 4,400 digits is too large"),
        ("model.hidden=" + BOMB.replace("\n", ", ").join("{}"), "aliases expand"),
        ("a" + ".a" * 200 + "=1", "a key path of 201 parts is too deep"),
        ("training.optimizer={name: gd, lr: true}", "training.optimizer.lr: Input should be a valid number"),
    ],
)
def test_hostile_set_values_are_refused(cli, config, assignment, reason):
    result = short(cli("run", config(BASE), "--set", assignment, "--dry-run"))
    assert result.exit_code == 2 and reason in result.message, result.message


@pytest.mark.parametrize(
    "option, reason",
    [
        ("training.epochs=" + "[" * 2000 + "]" * 2000, "nested more than 64 levels deep"),
        ("seed=" + "9" * 5000, "too large"),
    ],
)
def test_hostile_grid_values_are_refused(cli, config, option, reason, tmp_path):
    result = short(cli("sweep", config(BASE), "--grid", option, "--runs-dir", tmp_path / "runs"))
    assert result.exit_code == 2 and reason in result.message, result.message


def test_a_grid_too_large_to_run_is_refused_before_it_is_built(cli, config, tmp_path):
    values = ",".join(str(i) for i in range(1000))
    result = short(cli(
        "sweep", config(BASE), "--grid", f"seed={values}", "--grid", f"training.epochs={values}",
        "--grid", f"split_seed={values}", "--runs-dir", tmp_path / "runs",
    ))  # fmt: skip
    assert result.exit_code == 2 and "1000 x 1000 x 1000 = 1,000,000,000 points" in result.message, result.message
    assert not (tmp_path / "runs").exists()


def test_config_paths_that_are_not_regular_files_are_refused(cli, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" * (5 << 20))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(BASE.encode() + b"# caf\xe9\n")
    for path, reason in [
        (fifo, "is a FIFO, not a regular file"),
        (zero, "is a character device, not a regular file"),
        (tmp_path, "is a directory, not a regular file"),
        (big, "is too large"),
        (latin, "is not UTF-8 text"),
    ]:
        result = short(cli("run", path, "--dry-run"))
        assert result.exit_code == 2 and reason in result.message, result.message


def test_a_config_file_of_four_mebibytes_is_read_and_one_byte_more_is_too_large(cli, tmp_path):
    # a first byte that is not UTF-8: a file within the bound gets as far as decoding it
    path = tmp_path / "big.yaml"
    for size, reason in [(4 << 20, "is not UTF-8 text"), ((4 << 20) + 1, "is too large: 4,194,305 bytes")]:
        path.write_bytes(b"\xff" + b"#" * (size - 1))
        result = short(cli("run", path, "--dry-run"))
        assert result.exit_code == 2 and reason in result.message, result.message


def nested_lists(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "data, reason",
    [  # {"x": ...} is the mapping, its key and value, and what the value holds
        ({"x": list(range(199_997))}, "x: unknown key"),
        ({"x": list(range(199_998))}, "the config holds more than 200,000 values"),
        ({"x": nested_lists(63)}, "x: unknown key"),
        ({"x": nested_lists(64)}, "the config nests more than 64 levels deep"),
        ({"x": nested_lists(5000)}, "the config nests more than 64 levels deep"),  # not a RecursionError copying it
    ],
    ids=["200000-values", "200001-values", "64-levels", "65-levels", "5000-levels"],
)
def test_a_config_built_in_python_is_bounded_like_a_config_file(data, reason):
    from dltrain.api import resolve
    from dltrain.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        resolve(data)
    assert reason in str(refused.value), str(refused.value)[:300]


def test_a_config_with_a_byte_order_mark_reads(cli, tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert short(cli("run", path, "--dry-run")).exit_code == 0


def test_anchors_and_merge_keys_still_work(cli, config):
    text = BASE + "opt: &opt {name: adam, lr: 0.1}\ntraining: {optimizer: {<<: *opt, lr: 0.2}, epochs: 2}\n"
    result = short(cli("run", config(text), "--dry-run"))
    assert result.exit_code == 2 and "opt: unknown key" in result.message  # the anchor's holder is an unknown key...
    text = BASE + "training: {optimizer: &opt {name: adam, lr: 0.1}, epochs: 2}\nbaseline: null\n"
    assert short(cli("run", config(text), "--dry-run")).exit_code == 0  # ...an anchor alone is fine


YAML_BOUNDS = [
    ("foo: " + "[" * 600 + "]" * 600, "nested more than 64 levels deep"),
    ("foo: " + "{a: " * 5000 + "1" + "}" * 5000, "nested more than 64 levels deep"),
    (BOMB + "model: {type: mlp, hidden: *a9}\n", "aliases expand to more than 200,000 values"),
    ("x: &x [1, *x]\n", "an alias refers to a node that contains it"),
    ("seed: " + "7" * 5000 + "\n", "an integer of 5,000 digits is too large"),
    ("seed: 1\nseed: 2\n", "duplicate key 'seed' (first at line 3)"),
    (LONG, "more than 200,000 values (a config is far smaller)"),
    ("seed: 0x" + "f" * 4000 + "\n", "an integer of about 4,817 digits is too large"),
]


@pytest.mark.parametrize("text, reason", YAML_BOUNDS)
def test_the_c_parser_for_run_folders_keeps_the_same_bounds(text, reason):
    # A run's config.yaml is read with libyaml's parser (dltrain.runs.reader): a hostile one is refused alike.
    import yaml

    from dltrain.config.bounded_yaml import load_yaml

    for fast in (False, True):
        with pytest.raises(yaml.YAMLError) as refused:
            load_yaml(BASE + text, fast=fast)
        assert reason in refused.value.problem, (fast, refused.value)
        assert refused.value.problem_mark.line >= 2  # the line is named


def test_the_c_parser_reads_what_the_python_parser_reads(tmp_path):
    from dltrain import api
    from dltrain.config.bounded_yaml import load_yaml

    repo = Path(__file__).resolve().parents[1]
    run = api.run(repo / "configs/perceptron_or.yaml", runs_dir=tmp_path)
    texts = [(run.path / "config.yaml").read_text(), BASE + "x: 1e-3\ny: &y {a: [1, 2.5, null, yes, '3']}\nz: *y\n"]
    texts += [p.read_text() for p in sorted((repo / "configs").glob("*.yaml"))]
    for text in texts:
        assert load_yaml(text, fast=True) == load_yaml(text)


@pytest.mark.parametrize("fast", [False, True], ids=["python", "libyaml"])
def test_a_document_exactly_at_the_bounds_reads(fast, monkeypatch):
    """A bound is the most a config may have: one more node, level or digit is refused, not one fewer."""
    import yaml

    from dltrain.config import bounded_yaml
    from dltrain.config.bounded_yaml import MAX_INT_BITS, load_yaml

    def refused(text: str) -> str:
        with pytest.raises(yaml.YAMLError) as err:
            load_yaml(text, fast)
        return err.value.problem

    # 64 levels: the mapping and 63 lists (or 31 lists holding an alias of 32 more)
    assert load_yaml("foo: " + "[" * 63 + "]" * 63, fast)["foo"]
    assert "nested more than 64 levels deep" in refused("foo: " + "[" * 64 + "]" * 64)
    deep = "a: &a " + "[" * 32 + "]" * 32 + "\nb: "
    assert load_yaml(deep + "[" * 31 + "*a" + "]" * 31, fast)["b"]
    assert "its aliases expand to more than 64 levels" in refused(deep + "[" * 32 + "*a" + "]" * 32)
    # the largest integer that prints: MAX_INT_BITS bits, "0b" and as many digits
    assert load_yaml("seed: 0b1" + "0" * (MAX_INT_BITS - 1), fast)["seed"].bit_length() == MAX_INT_BITS
    assert f"an integer of {MAX_INT_BITS + 3:,} characters" in refused("seed: 0b01" + "0" * (MAX_INT_BITS - 1))
    # 100 nodes, as written (the mapping, its key, the list and its items) and with aliases expanded
    monkeypatch.setattr(bounded_yaml, "MAX_NODES", 100)
    assert len(load_yaml("z: [" + "1, " * 97 + "]", fast)["z"]) == 97
    assert "more than 100 values" in refused("z: [" + "1, " * 98 + "]")
    nine = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: [" + "*a, " * 8 + "1, 1, 1, 1, 1, "
    assert len(load_yaml(nine + "1]", fast)["b"]) == 14
    assert "its aliases expand to more than 100 values" in refused(nine + "1, 1]")


# libyaml takes these, the Python parser does not, or reads them otherwise
PARSERS_DIFFER = ["lr:\t0.1\n", "a: 1\t# c\n", "a: [1,\t2]\n", "a: {b: c?}\n", "a: [x ?]\n", "a: !\n", "\n\ufeffa: 1\n"]


@pytest.mark.parametrize("pad", [0, 70_000], ids=["short", "long"])  # a long config is bounded by libyaml first
@pytest.mark.parametrize("text", PARSERS_DIFFER)
def test_a_users_config_means_what_the_python_parser_reads(text, pad):
    import yaml

    from dltrain.config.bounded_yaml import _Loader, load_yaml

    text = "#" * pad + "\n" + text
    try:
        expected = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        with pytest.raises(type(err)):
            load_yaml(text)
    else:
        assert load_yaml(text) == expected


@pytest.mark.parametrize("value", ["\udcff", "[" + "1, " * 30_000 + "\udcff]"], ids=["short", "long"])
def test_a_value_with_bytes_that_are_not_utf8_is_a_usage_error(cli, config, value, tmp_path):
    """The shell passes such bytes as surrogates: libyaml cannot encode them (an internal error)."""
    for result, said in (
        (cli("run", config(BASE), "--set", f"name={value}", "--dry-run"), "U+DCFF is not allowed"),
        (cli("sweep", config(BASE), "--grid", f"seed={value}", "--runs-dir", tmp_path), "not a comma-separated list"),
    ):
        assert short(result).exit_code == 2 and said in result.message, result.message


def test_a_run_folders_config_past_the_node_bound_is_refused(cli, tmp_path):
    # compare, eval and report read a run's config.yaml with libyaml's parser: bounded alike
    from dltrain import api

    run = api.run({"name": "or", "dataset": {"name": "or_gate"}, "training": {"epochs": 2}}, runs_dir=tmp_path)
    (run.path / "config.yaml").write_text(BASE + LONG)
    result = short(cli("compare", run.path, run.path))
    assert result.exit_code == 2 and "more than 200,000 values" in result.message, result.message
    assert "alias" not in result.message
