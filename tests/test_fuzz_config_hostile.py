"""Hostile YAML, fuzzed: deep nesting, alias bombs, huge integers and huge floats, written
in a config file, a `--set` value, a `--grid` value or a run folder's config.yaml. Each
example ends with exit 0, 1 or 2 within TIME_LIMIT, never with a traceback or an internal
error, and allocates less than MEMORY_LIMIT (traced by tracemalloc, NumPy's arrays included).

The texts are built from drawn sizes, never drawn character by character, and never
loaded with plain `yaml.safe_load` here: an alias bomb expands to hundreds of millions of
values there (the test would hang, not the product). CI runs 100 examples;
DLTRAIN_FUZZ_EXAMPLES raises the count (tests/test_fuzz_config.py reads it too).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tracemalloc
from pathlib import Path

import pytest
import yaml
from conftest import fuzzed, invoke
from hypothesis import given, note
from hypothesis import strategies as st

from dltrain import api

EXAMPLES = 100  # in CI; DLTRAIN_FUZZ_EXAMPLES=N runs N new ones
TIME_LIMIT = 20  # seconds: a hang guard (bench/hostile.py measures the real cost, well under 2 s)
MEMORY_LIMIT = 200 << 20  # bytes one command may allocate (traced by tracemalloc, NumPy's arrays included)

BASE = {
    "name": "hostile",
    "seed": 1,
    "dataset": {"name": "or_gate"},
    "model": {"type": "mlp", "hidden": [3], "init": {"name": "uniform", "low": -0.5, "high": 0.5}},
    "training": {"optimizer": {"name": "adam", "lr": 0.1}, "epochs": 2},
    "output": {"plots": False},
}
# Where a hostile value goes. Sweeps and run folders train, so they get only keys whose
# value cannot make the training itself costly (hidden: [10**9] is a real request, not an attack).
CHEAP_KEYS = ["seed", "name", "foo", "training.optimizer.lr", "model.init.low", "model.init.high", "dataset.foo"]
DRY_KEYS = [*CHEAP_KEYS, "training.epochs", "model.hidden", "training.batch_size", "dataset.name"]


def digits(n: int, alphabet: str) -> str:
    return (alphabet * (n // len(alphabet) + 1))[:n]


@st.composite
def nested(draw, flow: bool) -> str:
    """Brackets, braces or block indentation, up to thousands of levels deep."""
    depth = draw(st.one_of(st.sampled_from([63, 64, 65, 600, 1000]), st.integers(1, 3000)))
    kind = draw(st.sampled_from(["seq", "map", "mixed"] + ([] if flow else ["block"])))
    if kind == "seq":
        return "[" * depth + "]" * depth
    if kind == "map":
        return "{a: " * depth + "1" + "}" * depth
    if kind == "mixed":
        return "[{a: " * depth + "1" + "}]" * depth
    depth = min(depth, 1000)  # two spaces a level: 1000 levels is a megabyte of indentation
    return "\n" + "".join(f"{'  ' * level}- a:\n" for level in range(1, depth)) + "  " * depth + "1"


@st.composite
def alias_bomb(draw) -> str:
    """Anchors of `fanout` aliases to the previous anchor, `levels` deep, in one flow sequence;
    or a chain of aliases that is deep rather than wide; or an alias inside its own anchor."""
    kind = draw(st.sampled_from(["wide", "wide", "deep", "merge", "self"]))
    levels = draw(st.integers(1, 12))
    fanout = draw(st.integers(2, 10))
    if kind == "self":
        return "&x [1, *x]"
    if kind == "deep":
        return "[&a0 [1], " + ", ".join(f"&a{i} [*a{i - 1}]" for i in range(1, levels * 10)) + "]"
    if kind == "merge":  # each level merges the previous one and lists it `fanout` times
        aliases = [", ".join([f"*m{i - 1}"] * fanout) for i in range(levels)]
        maps = [f"&m{i} {{<<: *m{i - 1}, k{i}: [{aliases[i]}]}}" for i in range(1, levels)]
        return "[" + ", ".join(["&m0 {a: 1, b: 2}", *maps]) + "]"
    first = "&a0 [" + ", ".join(["lol"] * fanout) + "]"
    rest = [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]" for i in range(1, levels)]
    return "[" + ", ".join([first, *rest]) + "]"


@st.composite
def huge_int(draw) -> str:
    """Integers of up to 10,000 digits, in every base YAML 1.1 reads: decimal, hex, octal,
    binary, sexagesimal (base 60), with underscores."""
    n = draw(st.one_of(st.sampled_from([19, 20, 309, 4299, 4300, 4301, 5000]), st.integers(1, 10_000)))
    sign = draw(st.sampled_from(["", "-", "+"]))
    form = draw(st.sampled_from(["decimal", "hex", "octal", "binary", "sexagesimal", "underscores"]))
    body = {
        "decimal": "9" + digits(n - 1, "0123456789"),
        "hex": "0x" + digits(n, "fedcba9876543210"),
        "octal": "0" + digits(n, "7654321"),
        "binary": "0b" + digits(n, "10"),
        "sexagesimal": "1" + digits(3 * min(n, 3000), ":59"),
        "underscores": "1" + digits(n, "_000"),
    }[form]
    return sign + body


@st.composite
def huge_float(draw) -> str:
    """Floats at and past the ends of float64, in YAML spellings, some thousands of digits long."""
    special = ["1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e309", "4.9e-324", "1e-400"]
    special += [".inf", "-.inf", ".nan", "1e99999999999", "1.5e+308", "9" * 400 + ".0"]
    n = draw(st.integers(1, 5000))
    return draw(st.one_of(st.sampled_from(special), st.just("0." + "0" * n + "1"), st.just("1" + "0" * n + ".5")))


def hostile_value(flow: bool):
    return st.one_of(nested(flow), alias_bomb(), huge_int(), huge_float())


def config_text(key: str, value: str) -> str:
    """BASE as block-style YAML with `value` (YAML text) at the dotted `key`."""
    doc = json.loads(json.dumps(BASE))
    node = doc
    for part in key.split(".")[:-1]:
        node = node.setdefault(part, {})
    node[key.split(".")[-1]] = "HOSTILE"
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    line = next(line for line in text.splitlines() if line.endswith(": HOSTILE"))
    indent = " " * (len(line) - len(line.lstrip()))
    return text.replace(line, line.removesuffix("HOSTILE") + value.replace("\n", "\n" + indent))


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "base.yaml").write_text(yaml.safe_dump(BASE))
    return api.run(BASE, runs_dir=root / "runs").path


def measured(args: list[str]):
    """The command's result (tests/conftest.py's `invoke`, stopped after TIME_LIMIT seconds) and
    the peak of what it allocated."""
    tracemalloc.start()
    try:
        return invoke(*args, timeout=TIME_LIMIT), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@fuzzed("DLTRAIN_FUZZ_EXAMPLES", default=EXAMPLES)
@given(data=st.data())
def test_hostile_yaml_ends_with_a_documented_exit_code(original, data):
    channel = data.draw(st.sampled_from(["file", "set", "grid", "run folder"]))
    key = data.draw(st.sampled_from(DRY_KEYS if channel in ("file", "set") else CHEAP_KEYS))
    value = data.draw(hostile_value(flow=channel == "grid"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = original.parent.parent / "base.yaml"
        if channel == "file":
            (tmp / "c.yaml").write_text(config_text(key, value))
            args = ["run", str(tmp / "c.yaml"), "--dry-run", "--json"]
        elif channel == "set":
            args = ["run", str(base), "--set", f"{key}={value}", "--dry-run", "--json"]
        elif channel == "grid":
            args = ["sweep", str(base), "--grid", f"{key}={value}", "--runs-dir", str(tmp), "--json"]
        else:
            folder = Path(shutil.copytree(original, tmp / "runs" / "r"))
            (folder / "config.yaml").write_text(config_text(key, value))
            command = data.draw(st.sampled_from(["runs", "eval", "resume", "compare"]))
            args = {
                "runs": ["runs", str(folder.parent), "--json"],
                "eval": ["eval", str(folder), "--json"],
                "resume": ["resume", str(folder), "--epochs", "3", "-q", "--json"],
                "compare": ["compare", str(folder), str(original), "--json"],
            }[command]
        note(f"{args[0]} ({channel}) {key}={value[:200]!r}...")  # shown if the command raises
        result, peak = measured(args)
    what = f"{args[0]} ({channel}) {key}={value[:200]!r}...: exit {result.exit_code}\n{result.output[-1500:]}"
    assert result.exit_code in (0, 1, 2), what
    assert "Traceback" not in result.output and "internal error" not in result.output, what
    quoted = result.stderr if result.exit_code == 0 else result.output  # a result may hold a value in full
    assert len(quoted) < 20_000, f"an error message quotes what it should only name\n{what}"
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MiB allocated\n{what}"
    json.loads(result.stdout)  # one JSON document, whatever happened
