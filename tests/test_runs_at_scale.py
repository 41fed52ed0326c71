"""`dltrain runs --json` over 2,000 run folders lists every one of them, correctly and in order.

The folders hold one real run's meta.json, each with its own start time, status, metrics
and model; some sit inside sweep folders, one is half-written, some come from before
meta.json recorded the dataset and model (only those need their config.yaml here: the
listing reads nothing else). This checks what is listed, not how fast (bench/scale.py
times it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dltrain import api

N = 2000
STATUSES = ("completed", "failed", "interrupted", "running", "dead")  # dead: 'running' by a process that is gone


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict[str, str]:
    """meta.json, metrics.json and config.yaml of one real run, as text."""
    config = {"name": "scale", "dataset": {"name": "or_gate"}, "training": {"epochs": 2}, "output": {"plots": False}}
    path = api.run(config, runs_dir=tmp_path_factory.mktemp("template")).path
    return {name: (path / name).read_text() for name in ("meta.json", "metrics.json", "config.yaml")}


def model_of(i: int) -> dict:
    """Run i's model: a logistic regression, or an MLP with one hidden layer of 8 to 12 units."""
    return {"type": "logreg"} if i % 3 == 0 else {"type": "mlp", "hidden": [8 + i % 5]}


def expected_row(i: int, path: Path, configs: dict[str, str], dead_pid: int) -> dict:
    """Write run folder number i at `path` and return the row `runs --json` should give for it."""
    start = datetime(2026, 3, 1, 8, 0, 0).astimezone() + timedelta(seconds=(i * 7919) % N)  # not in name order
    kind = STATUSES[i % len(STATUSES)]
    model = model_of(i)
    text = model["type"] + (f" {model['hidden'][0]}" if "hidden" in model else "")
    meta = {
        "name": "scale",
        "started": start.isoformat(timespec="seconds"),
        "status": "running" if kind == "dead" else kind,
        "pid": dead_pid if kind == "dead" else os.getpid(),
        "host": socket.gethostname(),
        "epochs_done": i % 50,
        "seconds": None if kind in ("running", "dead") else round(0.01 * i, 3),
    }
    if kind == "running":  # this process: started after the run began, which a reused pid would not be
        meta["process_started"] = datetime.now().astimezone().isoformat(timespec="seconds")
    path.mkdir(parents=True)
    if i % 97:
        meta.update(dataset="or_gate", model=model)
    else:  # written before meta.json held the dataset and the model: they come from config.yaml
        (path / "config.yaml").write_text(configs[text])
    (path / "meta.json").write_text(json.dumps(meta))
    value = None
    if kind == "completed":
        value = (i % 100) / 100
        (path / "metrics.json").write_text(json.dumps({"train": {"loss": 1.0, "accuracy": value}}))
    return {
        "name": path.name,
        "path": str(path),
        "started": meta["started"],
        "status": "crashed" if kind == "dead" else kind,
        "dataset": "or_gate",
        "model": text,
        "metric": "train.accuracy" if kind == "completed" else None,
        "value": value,
        "epochs": meta["epochs_done"],
    }


@pytest.fixture(scope="module")
def runs(template):
    """A runs directory of N run folders (a quarter in five sweep folders), a half-written one and
    a folder that is neither; the rows expected for the N, in no particular order.

    In memory (/dev/shm) where the system has it: thousands of small files on a busy disk take
    seconds to create and more to delete, and this test is about the listing, not the disk.
    """
    memory = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=memory if os.access(memory, os.W_OK) else None) as tmp:
        yield make_runs(Path(tmp), template)


def make_runs(root: Path, template: dict[str, str]) -> tuple[Path, list[dict]]:
    import yaml

    configs = {}
    for i in range(3):  # the config.yaml of each model, from the template's
        data = {**yaml.safe_load(template["config.yaml"]), "model": model_of(i)}
        for j in range(5):
            data["model"] = model_of(3 * j + i)
            text = data["model"]["type"] + (f" {data['model']['hidden'][0]}" if "hidden" in data["model"] else "")
            configs[text] = yaml.safe_dump(data, sort_keys=False)
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now belongs to no process
    rows = []
    for i in range(N):
        sweep = i // 400 if i % 4 == 0 else None
        parent = root if sweep is None else root / f"20260301-080000-sweep-{sweep}"
        if sweep is not None and not (parent / "sweep.json").exists():
            parent.mkdir(parents=True)
            (parent / "sweep.json").write_text("{}")
        rows.append(expected_row(i, parent / f"20260301-{i:06d}-scale", configs, gone.pid))
    half = root / "20260301-999999-half-written"  # a run folder whose meta.json is not there yet
    half.mkdir()
    (half / "config.yaml").write_text(configs["mlp 8"])
    (root / "notes").mkdir()  # neither a run nor a sweep: not listed
    return root, rows


def test_runs_json_lists_two_thousand_folders_oldest_first(runs, cli):
    root, expected = runs
    result = cli("runs", root, "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert len(listed) == N + 1
    half = [r for r in listed if r["name"].endswith("half-written")]
    assert len(half) == 1 and half[0]["status"] == "incomplete" and half[0]["model"] == "mlp 8"
    listed = [r for r in listed if r is not half[0]]
    by_start = sorted(expected, key=lambda r: (r["started"], r["name"]))
    assert [r["path"] for r in listed] == [r["path"] for r in by_start]  # every folder once, by start time
    for got, want in zip(listed, by_start):
        assert {k: got[k] for k in want} == want, got["path"]
    assert {r["status"] for r in listed} == {"completed", "failed", "interrupted", "running", "crashed"}
