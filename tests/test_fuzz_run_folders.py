"""Fuzzed run folders: whatever a run folder holds, `eval`, `predict`, `compare`, `runs`,
`resume` and `report` end with exit 0, 1 or 2 within a time limit, and never with a traceback.

Each example damages a copy of a real run folder one to three times:
- a file truncated, emptied, made non-UTF-8, replaced by a symlink to /dev/zero, a FIFO
  or a directory, or removed;
- a field of meta.json or metrics.json given a value of the wrong type;
- an array of weights.npz, preprocess.npz or checkpoint.npz given the wrong shape or
  dtype, NaN values, a new name, or removed (and a stray array added);
then runs one command on it. CI runs 500 examples; DLTRAIN_FUZZ_RUNS sets the count.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import fuzzed, invoke
from hypothesis import given, note
from hypothesis import strategies as st

from dltrain import api

EXAMPLES = 500  # in CI; DLTRAIN_FUZZ_RUNS=N runs N new ones
TIME_LIMIT = 20  # seconds for one command on a damaged folder (they take milliseconds)

CONFIG = {
    "name": "fz",
    "seed": 3,
    "dataset": {
        "name": "inline",
        "X": [[i % 3, i % 5, (i * 7) % 11] for i in range(24)],
        "y": [i % 3 for i in range(24)],
        "test_size": 0.25,
        "validation_split": 0.2,
        "scaling": "standard",
    },
    "model": {"type": "mlp", "hidden": [4]},
    "training": {"optimizer": {"name": "adam", "lr": 0.05}, "epochs": 2, "checkpoint_every": 1},
    "output": {"plots": False},
}
FILES = ["config.yaml", "meta.json", "metrics.json", "history.csv", "weights.npz", "preprocess.npz", "checkpoint.npz"]
COMMANDS = ["eval", "predict", "compare", "runs", "resume", "report"]

wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**70, -1, 0, 10**400 // 10**399, 1e308, float("nan"), float("inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "abc", "running", "2026-13-45", "completed", "nan"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.just([[[[[[[[]]]]]]]]),
)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-runs")
    path = api.run(CONFIG, runs_dir=root / "runs").path
    np.save(root / "samples.npy", np.arange(9, dtype=float).reshape(3, 3))
    return path


def key_paths(node, prefix=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield prefix + (key,)
        yield from key_paths(child, prefix + (key,))


def damage_file(path: Path, data) -> str:
    op = data.draw(st.sampled_from(["truncate", "empty", "non-utf8", "dev-zero", "fifo", "directory", "remove"]))
    if not path.exists() and not path.is_symlink():
        return f"{path.name}: absent"
    raw = path.read_bytes() if path.is_file() and not path.is_symlink() else b"\x00"  # never read a FIFO here
    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    if op == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))])
    elif op == "empty":
        path.write_bytes(b"")
    elif op == "non-utf8":
        at = data.draw(st.integers(0, len(raw)))
        path.write_bytes(raw[:at] + b"\xff\xfe\xc3\x28" + raw[at:])
    elif op == "dev-zero":
        path.symlink_to("/dev/zero")
    elif op == "fifo":
        os.mkfifo(path)
    elif op == "directory":
        path.mkdir()
    return f"{path.name}: {op}"


def damage_json(path: Path, data) -> str:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"{path.name}: unreadable already"
    keys = list(key_paths(doc))
    if not keys or data.draw(st.booleans()) and data.draw(st.booleans()):
        doc = data.draw(wrong_values)
        what = "whole"
    else:
        key = data.draw(st.sampled_from(keys))
        parent = doc
        for part in key[:-1]:
            parent = parent[part]
        parent[key[-1]] = data.draw(wrong_values)
        what = ".".join(map(str, key))
    path.write_text(json.dumps(doc))
    return f"{path.name}: {what} wrong"


def damage_npz(path: Path, data) -> str:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return f"{path.name}: unreadable already"
    if not arrays:
        return f"{path.name}: empty already"
    key = data.draw(st.sampled_from(sorted(arrays)))
    a = arrays[key]
    op = data.draw(st.sampled_from(["shape", "0-d", "dtype", "nan", "remove", "rename", "extra", "pickle"]))
    if op == "shape":
        arrays[key] = np.zeros(data.draw(st.lists(st.integers(0, 5), max_size=3)))
    elif op == "0-d":
        arrays[key] = np.array(1.5)
    elif op == "dtype":
        kind = data.draw(st.sampled_from(["U3", "complex128", "bool", "int8", "float16", "S2", "datetime64[s]"]))
        arrays[key] = np.zeros(a.shape, dtype=kind) if kind != "U3" else np.full(a.shape, "abc")
    elif op == "nan" and a.dtype.kind == "f" and a.size:
        arrays[key] = np.full(a.shape, np.nan)
    elif op == "remove":
        del arrays[key]
    elif op == "rename":
        arrays[f"{key}9"] = arrays.pop(key)
    elif op == "extra":
        arrays["W9" if path.name == "weights.npz" else "junk"] = np.ones((2, 2))
    if op == "pickle":
        buf = io.BytesIO()
        np.savez(buf, **{**arrays, key: np.array([{"a": 1}], dtype=object)})
        path.write_bytes(buf.getvalue())
    else:
        np.savez(path, **arrays)
    return f"{path.name}: {key} {op}"


def arguments(command: str, folder: Path, root: Path) -> list:
    """The command line of `command` on the damaged `folder` (its sibling `good` is intact)."""
    return {
        "eval": ["eval", folder, "--json"],
        "predict": ["predict", folder, root / "samples.npy", "--json"],
        "compare": ["compare", folder, folder.parent / "good", "--json"],
        "runs": ["runs", folder.parent, "--json"],
        "resume": ["resume", folder, "--epochs", "3", "--json", "-q"],
        "report": ["report", folder, "-o", folder.parent / "report.html"],
    }[command]


@fuzzed("DLTRAIN_FUZZ_RUNS", default=EXAMPLES)
@given(data=st.data())
def test_damaged_run_folders_end_with_a_documented_exit_code(original, data):
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        folder = Path(shutil.copytree(original, runs / "damaged", symlinks=True))
        shutil.copytree(original, runs / "good")
        done = []
        for _ in range(data.draw(st.integers(1, 3))):
            name = data.draw(st.sampled_from(FILES))
            path = folder / name
            kind = data.draw(st.sampled_from(["file", "content", "content"]))
            if kind == "file" or not path.is_file() or path.is_symlink():
                done.append(damage_file(path, data))
            elif name.endswith(".json"):
                done.append(damage_json(path, data))
            elif name.endswith(".npz"):
                done.append(damage_npz(path, data))
            else:
                done.append(damage_file(path, data))
        command = data.draw(st.sampled_from(COMMANDS))
        note(f"{command} after {done}")  # shown with the failing example, whatever the command raises
        result = invoke(*arguments(command, folder, original.parent.parent), timeout=TIME_LIMIT)
        what = f"{command} after {done}: exit {result.exit_code}\n{result.output[-1500:]}"
        assert result.exit_code in (0, 1, 2), what
        assert "Traceback" not in result.output, what
        assert "internal error" not in result.output, what
        if command not in ("runs", "report") and result.exit_code == 0:
            json.loads(result.stdout)  # a command that succeeded printed its one JSON document
