"""What the sweep tests share: a tiny real config, `dltrain sweep` as a process, and a sweep's results read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from dltrain.runs.folder import RunFolder

REPO = Path(__file__).resolve().parents[1]


def tiny(*, validation: float = 0.1, plots: bool = True, **training) -> dict:
    """Small but real: an MLP on the bundled 8x8 digits, 4 epochs (about 0.05 s a run)."""
    return {
        "name": "tiny",
        "seed": 3,
        "dataset": {
            "name": "digits",
            "test_size": 0.2,
            "validation_split": validation,
            "scaling": "minmax",
            "stratify": True,
        },
        "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 4, "batch_size": 64, **training},
        "output": {"plots": plots},
    }


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def grid_args(grid: list[str]) -> list[str]:
    """['--grid', g1, '--grid', g2, ...]"""
    return [arg for g in grid for arg in ("--grid", g)]


def start(*args, cwd=None, env=None, sigint_ignored: bool = False, own_group: bool = False) -> subprocess.Popen:
    """`dltrain ARGS...` as a process of its own, to signal or kill while it runs; with
    `own_group`, in a process group of its own, to signal or kill with every process it
    started (os.killpg); with `sigint_ignored`, started as a shell script starts a background
    job (SIGINT ignored), in a process group of its own."""
    command = [sys.executable, "-m", "dltrain", *map(str, args)]
    if sigint_ignored:
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        start_new_session=sigint_ignored or own_group,
    )


def wait_for(pattern: str, root: Path, seconds: float = 90) -> Path:
    """The first path under `root` matching `pattern`, once there is one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {pattern} in {root} in {seconds} s")


def sweep_json(sweep_dir: Path) -> dict:
    return json.loads((Path(sweep_dir) / "sweep.json").read_text())


def results(sweep_dir: Path) -> dict[int, tuple[dict, dict, dict]]:
    """Point index -> (weights arrays, metrics, meta) read back from the run folders sweep.json lists."""
    out = {}
    for point in sweep_json(sweep_dir)["points"]:
        folder = RunFolder(Path(sweep_dir) / point["run"])
        out[point["index"]] = (
            folder.read_npz("weights.npz"),
            folder.read_json("metrics.json"),
            folder.read_json("meta.json"),
        )
    return out


def assert_same_results(a: dict, b: dict) -> None:
    """The same points with the same weights, bit for bit, and the same metrics."""
    assert a.keys() == b.keys()
    for index in a:
        (wa, ma, *_), (wb, mb, *_) = a[index], b[index]
        assert wa.keys() == wb.keys(), index
        for name in wa:
            np.testing.assert_array_equal(wa[name], wb[name], err_msg=f"point {index} {name}")
        assert ma == mb, index


def killing_point(job, data_dir, blas_threads):
    """Stands in for train_point in a local worker: the run kills its worker (SIGKILL, as for memory)."""
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def exiting_point(job, data_dir, blas_threads):
    """Stands in for train_point in a local worker: the worker ends (status 0), taken for one that died idle."""
    os._exit(0)


def scripted_point(job, data_dir, blas_threads):
    """Stands in for train_point in a local worker (pickled by name: the workers import this module).

    Marks each start in `<job.config['marks']>/<point>`, then does what job.config['act'] says:
    'die' (SIGKILL, once point 2 has started beside it), 'die-when-retried' (2 s on its first start, SIGKILL on
    the next), 'exit' (the worker ends with status 0), 'exit N times' (the same on its first N starts, then
    it completes), 'slow' (2 s on its first start), 'unpicklable' (a result that cannot come back) or
    nothing; returns a completed RunResult."""
    import signal

    from dltrain.pipeline.session import RunResult
    from dltrain.runs.status import Status

    marks, act = Path(job.config["marks"]), job.config.get("act")
    mark = marks / str(job.point)
    first = not mark.exists()
    with open(mark, "a") as f:
        f.write("started\n")
    if act == "die":
        while not (marks / "2").exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
    if act == "die-when-retried":  # cut off by another run's death first
        if first:
            time.sleep(2)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    if act == "exit" or (act and act.startswith("exit ") and mark.read_text().count("started") <= int(act.split()[1])):
        os._exit(0)
    if act == "slow" and first:
        time.sleep(2)
    if act == "unpicklable":  # its record cannot be sent back
        return RunResult(None, Status.COMPLETED, note=lambda: None)
    return RunResult(None, Status.COMPLETED)


def imported(module: str) -> bool:
    """Whether `module` is imported in this process (a local worker, where it is pickled by name)."""
    return module in sys.modules
