"""Ctrl-C or SIGTERM at any moment of `dltrain run`, `resume` and `sweep`, from start-up
(imports included) to exit: the process always ends with exit 0 (the work was complete
and saved) or 130, never by the signal itself (143), and never with a traceback.

Moments are drawn at random over each command's whole life, from the moment its
interpreter can catch a signal (imports included); some trials send a second signal
shortly after the first. CI runs 12 trials; DLTRAIN_SIGNAL_TRIALS raises the count.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml
from conftest import spawn

from dltrain import api

TRIALS = int(os.environ.get("DLTRAIN_SIGNAL_TRIALS", "12"))
CONFIG = {
    "name": "sig",
    "dataset": {"name": "or_gate"},
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 400, "checkpoint_every": 40},
    "output": {"plots": True},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    done = api.run(CONFIG, overrides=["training.epochs=20"], runs_dir=root / "base").path
    return root, config, done


def commands(root: Path, config: Path, done: Path, trial: int) -> dict[str, list[str]]:
    runs = root / f"runs-{trial}"
    copy = root / f"resume-{trial}"
    shutil.copytree(done, copy)
    return {
        "run": ["run", str(config), "--runs-dir", str(runs), "-q"],
        "resume": ["resume", str(copy), "--epochs", "400", "-q"],
        "sweep": ["sweep", str(config), "--grid", "seed=1,2", "--runs-dir", str(runs)],
    }


def handling(pid: int, timeout: float = 20.0) -> None:
    """Wait until process `pid` catches SIGINT and SIGTERM: the first thing `dltrain` does once
    the interpreter runs. Before that no Python program can act on a signal, so the moments
    drawn start here (on a loaded machine the interpreter alone can take a second to start)."""
    wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return  # already gone
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & wanted == wanted:
            return
        time.sleep(0.001)


def test_a_signal_at_any_moment_ends_with_0_or_130(setup):
    root, config, done = setup
    rng = random.Random(int(os.environ.get("DLTRAIN_SIGNAL_SEED", "15")))
    env = {"MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
    outcomes = []
    for trial in range(TRIALS):
        name = ("run", "resume", "sweep")[trial % 3]
        args = commands(root, config, done, trial)[name]
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        delay = rng.uniform(0.0, 3.0)
        second = rng.choice([None, rng.uniform(0.0, 0.5)])
        proc = spawn(*args, env=env)
        handling(proc.pid)
        time.sleep(delay)
        proc.send_signal(signum)
        if second is not None:
            time.sleep(second)
            if proc.poll() is None:
                proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        outcomes.append(proc.returncode)
        what = (
            f"{name} with {signal.Signals(signum).name} after {delay:.2f}s (second: {second}): exit {proc.returncode}"
        )
        assert proc.returncode in (0, 130), f"{what}\n{err[-2000:]}"
        assert "Traceback" not in err + out, f"{what}\n{err[-3000:]}"
    print(f"{TRIALS} trials; exits {sorted(set(outcomes))}")
