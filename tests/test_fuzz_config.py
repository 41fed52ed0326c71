"""Fuzzed configs: whatever the YAML says, `dltrain run` ends with exit 0, 1 or 2, one JSON
document on stdout with --json, and never a traceback.

Valid configs are mutated (wrong types, unknown keys, extreme numbers, deleted sections,
random YAML text). CI runs 300 examples; raise the count with DLTRAIN_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import fuzzed, invoke
from hypothesis import given, note
from hypothesis import strategies as st

from dltrain.config.loader import validate
from dltrain.errors import ConfigError

EXAMPLES = 300  # in CI; DLTRAIN_FUZZ_EXAMPLES=N runs N new ones

BASES = [
    {
        "name": "or",
        "seed": 1,
        "dataset": {"name": "or_gate", "bias_input": True},
        "model": {"type": "perceptron", "rule": "rosenblatt", "bias": False},
        "training": {"optimizer": {"name": "gd", "lr": 1.0}, "epochs": 2},
    },
    {
        "name": "inline",
        "dataset": {"name": "inline", "X": [[0, 1], [1, 0], [1, 1], [0, 0]], "y": [1, 1, 0, 0]},
        "model": {"type": "logreg", "init": {"name": "normal", "std": 0.1}},
        "training": {"optimizer": {"name": "adam", "lr": 0.1}, "epochs": 2, "batch_size": 2, "loss": "bce"},
    },
    {
        "name": "digits",
        "seed": 2,
        "dataset": {
            "name": "digits",
            "classes": [0, 1],
            "test_size": 0.2,
            "validation_split": 0.1,
            "scaling": "minmax",
        },
        "model": {"type": "mlp", "hidden": [8], "activation": "tanh"},
        "training": {
            "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "epochs": 1,
            "batch_size": 64,
            "checkpoint_every": 1,
        },
    },
    {
        "name": "reg",
        "dataset": {"name": "sqrt_mean", "n": 40, "dim": 3},
        "model": {"type": "mlp", "hidden": [4, 4], "activation": "relu", "output_activation": "identity"},
        "training": {"loss": "mse", "epochs": 2, "dtype": "float32"},
        "output": {"plots": False},
    },
]

WORDS = [
    "gd",
    "sgd",
    "adam",
    "mlp",
    "logreg",
    "perceptron",
    "full",
    "auto",
    "relu",
    "sigmoid",
    "softmax",
    "step",
    "identity",
    "bce",
    "mse",
    "sse",
    "cross_entropy",
    "or_gate",
    "sqrt_mean",
    "digits",
    "inline",
    "file",
    "float32",
    "float64",
    "minmax",
    "standard",
    "none",
    "he",
    "xavier",
    "normal",
    "constant",
    "gradient",
    "rosenblatt",
    "classification",
    "regression",
]
EXTREMES = [0, -1, 1, 2, 3, 2**31, 2**63, 10**12, -(10**12), 1e-300, 1e300, -1e300, 0.5, -0.5, 1.5]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.sampled_from(EXTREMES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(WORDS),
)
values = st.one_of(
    scalars,
    st.lists(st.one_of(st.integers(-3, 40), st.floats(-2, 2), st.sampled_from(WORDS)), max_size=4),
    st.lists(st.lists(st.integers(-2, 2), min_size=0, max_size=3), max_size=4),
    st.dictionaries(st.sampled_from(["name", "type", "lr", "std", "value", "x"]), scalars, max_size=2),
)


def paths(node, prefix=()):
    """Every key path into a nested dict / list config."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def parent_of(doc, path):
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node


def mutate(doc: dict, data) -> object:
    """One random edit: set a value, delete a key, add an unknown key, or replace everything."""
    op = data.draw(st.sampled_from(["set", "set", "set", "delete", "unknown", "whole"]))
    if op == "whole":
        return data.draw(values)
    all_paths = list(paths(doc))
    if op == "unknown" or not all_paths:
        sections = [()] + [p for p in all_paths if isinstance(parent_of(doc, p + ("",)), dict)]
        section = data.draw(st.sampled_from(sections))
        target = doc
        for key in section:
            target = target[key]
        target[data.draw(st.text(min_size=1, max_size=10))] = data.draw(values)
        return doc
    path = data.draw(st.sampled_from(all_paths))
    parent = parent_of(doc, path)
    if op == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(values)
    return doc


def affordable(text: bytes) -> bytes:
    """Keep valid configs quick (the engine's cost is not what this test is about); others as they are."""
    try:
        doc = yaml.safe_load(text)
        validate(copy.deepcopy(doc))
    except (yaml.YAMLError, UnicodeDecodeError, ConfigError, TypeError, ValueError):
        return text  # rejected before any work
    training, dataset, model = doc.setdefault("training", {}), doc["dataset"], doc.setdefault("model", {})
    training["epochs"] = min(training.get("epochs", 3), 3)
    training.pop("checkpoint_every", None) if training.get("checkpoint_every", 0) > 3 else None
    if dataset.get("name") == "sqrt_mean":
        dataset["n"], dataset["dim"] = min(dataset.get("n", 50), 50), min(dataset.get("dim", 5), 5)
    if isinstance(model.get("hidden"), list):
        model["hidden"] = [min(h, 16) for h in model["hidden"][:3]]
    doc.setdefault("output", {})["plots"] = False
    return yaml.safe_dump(doc).encode()


def render(doc, data) -> bytes:
    """The YAML text, sometimes damaged: cut short, a junk line, bytes that are not UTF-8."""
    text = yaml.safe_dump(doc, allow_unicode=True)
    damage = data.draw(st.sampled_from(["none"] * 6 + ["cut", "junk", "binary", "random"]))
    if damage == "cut":
        text = text[: data.draw(st.integers(0, len(text)))]
    elif damage == "junk":
        lines = text.splitlines()
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.text(max_size=20)))
        text = "\n".join(lines)
    elif damage == "random":
        text = data.draw(st.text(max_size=60))
    encoded = text.encode("utf-8", "surrogatepass")
    return encoded + b"\xff\xfe\x00" if damage == "binary" else encoded


def write(folder: Path, text: bytes) -> Path:
    path = folder / "fuzz.yaml"
    path.write_bytes(text)
    return path


@fuzzed("DLTRAIN_FUZZ_EXAMPLES", default=EXAMPLES)
@given(data=st.data())
def test_fuzzed_configs_end_with_a_documented_exit_code(data):
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        doc = mutate(doc, data)
        if not isinstance(doc, dict):
            break
    text = render(doc, data)
    note(f"config: {doc!r}")  # shown with the failing example, whatever the command raises
    with tempfile.TemporaryDirectory() as tmp:  # hypothesis runs many examples in one test: no tmp_path
        config = write(Path(tmp), affordable(text))
        result = invoke("run", config, "--runs-dir", Path(tmp) / "runs", "--quiet", "--json")

    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)  # exactly one JSON document
    assert report["status"] in {"completed", "failed", "error"}
    if result.exit_code == 0:
        assert report["status"] == "completed" and all(
            not isinstance(v, float) or not math.isnan(v) for v in [report["seconds"]]
        )


def test_out_of_memory_is_a_clear_error(cli, tmp_path):
    """A dataset too big to allocate says so; it is not a traceback. (A model too big is refused
    before it is built: tests/test_failures.py.)"""
    doc = {"name": "huge", "dataset": {"name": "sqrt_mean", "n": 10**12}, "model": {"type": "perceptron"}}
    result = cli(
        "run", write(tmp_path, yaml.safe_dump(doc).encode()), "--runs-dir", tmp_path / "runs", "--quiet", "--json"
    )
    assert result.exit_code == 2, result.output
    assert "not enough memory" in result.output and "Traceback" not in result.output


# Cases the fuzzer found (or could take long to find), kept as fixed examples.
FOUND = {
    "negative seed": {"seed": -1},
    "split seed too large for scikit-learn": {"dataset": {"name": "or_gate", "split_seed": 2**40}},
    "ragged inline targets": {"dataset": {"name": "inline", "X": [[0], [1]], "y": [1, [1, 2]]}},
    "inline rows without features": {"dataset": {"name": "inline", "X": [[], []], "y": [0, 1]}},
    "file name too long": {"dataset": {"name": "file", "path": "x" * 5000 + ".csv"}},
    "NUL in a file name": {"dataset": {"name": "file", "path": "a\x00b.csv"}},
    "infinite initial weights": {
        "model": {"type": "logreg", "init": {"name": "constant", "value": 1e308}},
        "training": {"dtype": "float32", "epochs": 2},
    },
    "array too large for numpy": {"dataset": {"name": "sqrt_mean", "dim": 10**16}, "model": {"type": "mlp"}},
    "one-sample split": {"dataset": {"name": "sqrt_mean", "n": 1, "test_size": 0.5}, "model": {"type": "mlp"}},
}


@pytest.mark.parametrize("case", list(FOUND))
def test_found_cases(cli, tmp_path, case):
    doc = {
        "name": "found",
        "dataset": {"name": "or_gate"},
        "training": {"epochs": 2},
        "output": {"plots": False},
        **FOUND[case],
    }
    result = cli(
        "run", write(tmp_path, yaml.safe_dump(doc).encode()), "--runs-dir", tmp_path / "runs", "--quiet", "--json"
    )
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    json.loads(result.stdout)
