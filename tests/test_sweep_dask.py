"""A real Dask deployment: `dask scheduler` and `dask worker` processes sharing no path and no data with the client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sweeps import assert_same_results, results, start, tiny, wait_for, write_config

from dltrain.errors import Interrupted, TrainingFailed
from dltrain.sweep import run_sweep

distributed = pytest.importorskip("dask.distributed")

DASK = str(Path(sys.executable).parent / "dask")
TINY = tiny(plots=False)


def isolated_env(home: Path) -> dict:
    """A process of its own: own HOME, TMPDIR and working directory, no DLTRAIN_DATA_DIR."""
    for sub in ("home", "tmp", "cwd"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DLTRAIN_DATA_DIR", "PYTHONPATH")}
    return {**env, "HOME": str(home / "home"), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / "home")}


def start_cluster(root: Path, workers: int, *worker_args: str) -> tuple[str, list[subprocess.Popen]]:
    """`dask scheduler` on 127.0.0.1 and `workers` `dask worker` processes, each in its own session."""
    procs = []

    def spawn(name: str, args: list[str]) -> None:
        env = isolated_env(root / name)
        log = open(root / f"{name}.log", "w")
        procs.append(
            subprocess.Popen(
                args, cwd=root / name / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(root / "scheduler.json")])  # fmt: skip
    deadline = time.monotonic() + 60
    while not (root / "scheduler.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    address = json.loads((root / "scheduler.json").read_text())["address"]
    for i in range(workers):
        spawn(f"worker{i}", [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                             *worker_args])  # fmt: skip
    with distributed.Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=90)
    return address, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    address, procs = start_cluster(root, 2)
    yield address
    stop(procs)


def blas_threads(meta: dict) -> set:
    return {entry["threads"] for entry in meta["blas"]}


def test_file_and_sign_digits_data_travel_from_the_client(tmp_path, cluster, monkeypatch):
    """Workers have no data directory and cannot see the client's file; results equal local --jobs 2 bit for bit."""
    from joblib import cpu_count

    from dltrain.pipeline import experiment

    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 6))
    data = tmp_path / "client" / "points.npz"
    data.parent.mkdir()

    def write_file() -> None:
        np.savez(data, X=X, y=(X[:, 0] + X[:, 1] > 0).astype(int))

    file_cfg = {
        "name": "file",
        "dataset": {"name": "file", "path": str(data), "test_size": 0.25, "validation_split": 0.2},
        "model": {"type": "mlp", "hidden": [6], "activation": "tanh"},
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 5, "batch_size": 32},
        "output": {"plots": False},
    }
    loads = []
    real_load = experiment.load_splits

    def load_once_then_remove(cfg, data_dir=None):
        splits = real_load(cfg, data_dir)
        loads.append(cfg.dataset.name)
        if cfg.dataset.name == "file":
            data.unlink()  # from here on the file exists nowhere: only the client's copy in memory
        return splits

    grid = ["training.optimizer.lr=0.01,0.003"]
    write_file()
    monkeypatch.setattr(experiment, "load_splits", load_once_then_remove)
    remote = run_sweep(file_cfg, grid, backend="dask", scheduler=cluster, runs_dir=tmp_path / "dask")
    monkeypatch.setattr(experiment, "load_splits", real_load)
    assert remote.status == "completed" and loads == ["file"]  # one dataset, loaded once, for both points
    write_file()
    local = run_sweep(file_cfg, grid, jobs=2, runs_dir=tmp_path / "local")
    assert_same_results(results(remote.path), results(local.path))
    share = max(1, cpu_count() // 2)  # two single-thread workers on this host
    for _, _, meta in results(remote.path).values():
        assert meta["pid"] != os.getpid() and blas_threads(meta) == {share}

    signs = {
        "name": "signs",
        "dataset": {
            "name": "sign_digits",
            "classes": [0, 1],
            "per_class": 60,
            "scaling": "none",
            "validation_split": 0.2,
        },
        "model": {"type": "mlp", "hidden": [4], "activation": "relu"},
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 2, "batch_size": 32},
        "output": {"plots": False},
    }
    remote = run_sweep(signs, grid, backend="dask", scheduler=cluster, runs_dir=tmp_path / "dask-signs")
    local = run_sweep(signs, grid, jobs=2, runs_dir=tmp_path / "local-signs")
    assert remote.status == "completed"
    assert_same_results(results(remote.path), results(local.path))
    assert all(blas_threads(meta) == {share} for _, _, meta in results(remote.path).values())


def test_a_grid_trains_on_the_workers_like_serial_and_ctrl_c_stops_the_point_on_its_worker(tmp_path, cluster):
    grid = ["training.optimizer.lr=0.01,0.001"]
    remote = run_sweep(TINY, grid, backend="dask", scheduler=cluster, runs_dir=tmp_path / "dask")
    assert remote.status == "completed" and remote.backend == f"Dask cluster at {cluster}"
    assert {meta["pid"] for _, _, meta in results(remote.path).values()}.isdisjoint({os.getpid()})  # only folders here
    assert_same_results(results(remote.path), results(run_sweep(TINY, grid, runs_dir=tmp_path / "serial").path))

    # Ctrl-C (raised here once the quick point is stored) must also stop the endless point on its worker.
    def interrupt(sweep, state):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run_sweep(
            TINY,
            ["training.epochs=2,100000000"],
            backend="dask",
            scheduler=cluster,
            runs_dir=tmp_path / "stopped",
            on_point=interrupt,
        )
    assert [p.status for p in caught.value.result.points] == ["completed", "interrupted"]
    with distributed.Client(cluster) as client:

        def busy():
            return sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values())

        deadline = time.monotonic() + 10
        while busy() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert busy() == 0  # the worker gave up the point (it checks the stop event once a second)


def test_with_data_on_workers_a_worker_without_the_data_fails_the_point_and_says_where(tmp_path, cluster):
    missing = {
        "name": "missing",
        "dataset": {"name": "file", "path": str(tmp_path / "nowhere.npz")},
        "model": {"type": "logreg"},
        "training": {"epochs": 1},
    }
    with pytest.raises(TrainingFailed) as caught:
        run_sweep(
            missing,
            ["training.optimizer.lr=0.1"],
            backend="dask",
            scheduler=cluster,
            data_on_workers=True,
            runs_dir=tmp_path / "runs",
        )
    point = caught.value.result.points[0]
    assert point.status == "failed" and "on Dask worker 127.0.0.1" in point.error and "does not exist" in point.error


def test_every_worker_killed_the_sweep_stops_within_its_timeout(tmp_path):
    root = tmp_path / "cluster"
    root.mkdir()
    address, procs = start_cluster(root, 1, "--no-nanny")
    try:
        config = write_config(tmp_path / "tiny.yaml", TINY)
        runs = tmp_path / "runs"
        sweep = start("sweep", config, "--grid", "training.epochs=2,100000000", "--backend", "dask",
                      "--scheduler", address, "--worker-timeout", 3, "--runs-dir", runs, "--json")  # fmt: skip
        wait_for("*/*-tiny-1_*/meta.json", runs, seconds=60)
        stop(procs[1:])  # every worker, killed
        killed = time.monotonic()
        out, err = sweep.communicate(timeout=60)
        assert time.monotonic() - killed < 3 + 15  # the timeout, plus noticing the worker is gone
        assert sweep.returncode == 1, err
        doc = json.loads(out)
        assert "no Dask worker has been alive" in doc["error"] and "--resume" in doc["error"]
        assert doc["status"] == "failed" and [p["status"] for p in doc["points"]] == ["completed", "interrupted"]
        assert json.loads((Path(doc["sweep"]) / "sweep.json").read_text())["status"] == "failed"
    finally:
        stop(procs)
