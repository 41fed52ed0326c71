"""SIGTERM and `timeout` on real `dltrain sweep` processes, and `--resume` afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from dltrain.runs.folder import RunFolder
from dltrain.sweep import run_sweep

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "name": "tiny",
    "seed": 3,
    "dataset": {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax", "stratify": True},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 4, "batch_size": 64},
    "output": {"plots": False},
}


def sweep_command(config: Path, runs: Path, *args) -> list[str]:
    return [sys.executable, "-m", "dltrain", "sweep", str(config), "--runs-dir", str(runs), "--json", *map(str, args)]


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (workers, the forkserver, the resource tracker), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(pattern: str, root: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not list(root.glob(pattern)):
        time.sleep(0.05)
    assert list(root.glob(pattern)), f"nothing matched {pattern} in {seconds} s"


def assert_consistent(sweep_dir: Path) -> dict:
    """sweep.json lists exactly the run folders on disk, each with the status its meta.json gives."""
    saved = json.loads((sweep_dir / "sweep.json").read_text())
    listed = {sweep_dir / p["run"] for p in saved["points"] if p["run"]}
    assert listed == {p for p in sweep_dir.iterdir() if p.is_dir()}
    for point in saved["points"]:
        if point["run"]:
            assert json.loads((sweep_dir / point["run"] / "meta.json").read_text())["status"] == point["status"]
    assert saved["status"] != "running" and saved["counts"]["pending"] == 0
    return saved


def weights(sweep_dir: Path) -> dict[int, dict]:
    doc = json.loads((sweep_dir / "sweep.json").read_text())
    return {p["index"]: RunFolder(sweep_dir / p["run"]).read_npz("weights.npz") for p in doc["points"]}


LONG = 2000  # epochs of the point a signal stops


def test_sigterm_keeps_finished_points_stops_workers_and_resume_finishes_bit_for_bit(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = tmp_path / "runs"
    # point 1 finishes at once, point 2 trains for seconds (250 epochs took 0.4 s on a quiet machine:
    # done before the signal came)
    grid = f"training.epochs=2,{LONG}"
    proc = start(sweep_command(config, runs, "--grid", grid, "--jobs", 2))
    wait_for("*/*-tiny-1_*/weights.npz", runs)
    time.sleep(0.5)  # well into point 2
    workers = descendants(proc.pid)
    assert len(workers) >= 2  # the worker processes (and the process they fork from)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    doc = json.loads(out)  # exactly one JSON document
    assert doc["status"] == "interrupted" and [p["status"] for p in doc["points"]] == ["completed", "interrupted"]
    assert f"dltrain sweep --resume {doc['sweep']}" in err
    sweep_dir = Path(doc["sweep"])
    assert_consistent(sweep_dir)
    assert doc["points"][1]["run"], err  # it came back from its worker with what it had trained
    cut = RunFolder(sweep_dir / doc["points"][1]["run"])
    assert (cut.path / "checkpoint.npz").is_file() and 0 < cut.read_json("meta.json")["epochs_done"] < LONG
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]  # no worker outlives the sweep by more than a few seconds

    resumed = subprocess.run(
        [sys.executable, "-m", "dltrain", "sweep", "--resume", str(sweep_dir), "--jobs", "2", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["status"] == "completed" and len(again["resumed"]) == 1
    meta = RunFolder(sweep_dir / again["points"][1]["run"]).read_json("meta.json")
    assert meta["epochs_done"] == LONG and meta["resumed"][-1]["from_epoch"] > 0  # continued, not restarted
    whole = run_sweep(TINY, [grid], jobs=2, runs_dir=tmp_path / "whole")
    a, b = weights(sweep_dir), weights(whole.path)
    for index in (1, 2):
        for name in a[index]:
            np.testing.assert_array_equal(a[index][name], b[index][name], err_msg=f"point {index} {name}")


def test_timeout_on_a_serial_sweep_exits_130_with_a_consistent_folder(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = tmp_path / "runs"
    # `timeout` sends SIGTERM; --preserve-status passes on the sweep's own exit code.
    args = ["timeout", "--preserve-status", "6", *sweep_command(config, runs, "--grid", "training.epochs=2,100000000")]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 130, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "interrupted" and doc["points"][1]["status"] == "interrupted"
    saved = assert_consistent(Path(doc["sweep"]))
    if saved["points"][1]["run"]:  # it had started: it stopped after a batch and kept its checkpoint
        assert (Path(doc["sweep"]) / saved["points"][1]["run"] / "checkpoint.npz").is_file()
