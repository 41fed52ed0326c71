"""A real Dask deployment: `dask scheduler` and `dask worker` processes sharing no path and no data with the client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sweeps import assert_same_results, results, sweep_json, tiny, wait_for, write_config

from dltrain.errors import Interrupted, TrainingFailed
from dltrain.sweep import run_sweep

distributed = pytest.importorskip("dask.distributed")

DASK = str(Path(sys.executable).parent / "dask")
TINY = tiny(plots=False)
# Worker processes may use up to 7 BLAS threads (all the cores, below that), not Dask's default of 1, which is
# also the share of two workers on 2 cores: meta.json then gives the share only if recorded while it is in force.
WORKER_BLAS = {
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": str(
        {v: 7 for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    )
}


def isolated_env(home: Path) -> dict:
    """A process of its own: own HOME, TMPDIR and working directory, no DLTRAIN_DATA_DIR."""
    for sub in ("home", "tmp", "cwd"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DLTRAIN_DATA_DIR", "PYTHONPATH")}
    return {**env, "HOME": str(home / "home"), "TMPDIR": str(home / "tmp"), "XDG_CACHE_HOME": str(home / "home")}


class Cluster:
    """`dask scheduler` on 127.0.0.1 and `workers` `dask worker` processes, each in its own session and folder.

    Started in steps, so that two clusters come up side by side."""

    def __init__(self, root: Path, workers: int, *worker_args: str):
        self.root, self.workers, self.worker_args = root, workers, worker_args
        self.procs: list[subprocess.Popen] = []
        self.address = ""
        self._spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(root / "scheduler.json")])  # fmt: skip

    def _spawn(self, name: str, args: list[str], **env_vars: str) -> None:
        env = {**isolated_env(self.root / name), **env_vars}
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 - the process writes it until stopped
        self.procs.append(
            subprocess.Popen(
                args,
                cwd=self.root / name / "cwd",
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def start_workers(self) -> None:
        deadline = time.monotonic() + 60
        while not self.address and time.monotonic() < deadline:
            try:
                self.address = json.loads((self.root / "scheduler.json").read_text())["address"]
            except (OSError, ValueError):  # not written (whole) yet
                time.sleep(0.1)
        for i in range(self.workers):
            self._spawn(f"worker{i}", [DASK, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                                       "--no-dashboard", *self.worker_args], **WORKER_BLAS)  # fmt: skip

    def wait(self) -> None:
        with distributed.Client(self.address, timeout="30s") as client:
            client.wait_for_workers(self.workers, timeout=90)

    def stop(self, procs: list[subprocess.Popen] | None = None) -> None:
        for proc in self.procs if procs is None else procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    """Two clusters: one the tests share (two workers), one whose only worker a test kills (no nanny to restart it)."""
    root = tmp_path_factory.mktemp("dask")
    (root / "shared").mkdir()
    (root / "doomed").mkdir()
    both = Cluster(root / "shared", 2), Cluster(root / "doomed", 1, "--no-nanny")
    try:
        for cluster in both:
            cluster.start_workers()
        for cluster in both:
            cluster.wait()
        yield both
    finally:
        for cluster in both:
            cluster.stop()


@pytest.fixture(scope="module")
def cluster(clusters) -> str:
    return clusters[0].address


def on(cluster: str) -> dict:
    """run_sweep's options for a sweep on `cluster`."""
    return {"backend": "dask", "scheduler": cluster}


def blas_threads(meta: dict) -> set:
    return {entry["threads"] for entry in meta["blas"]}


def test_file_and_sign_digits_data_travel_from_the_client(tmp_path, cluster, monkeypatch):
    """Workers have no data directory and cannot see the client's file; a dataset is loaded once and sent
    once for all its points; results equal local --jobs 2 bit for bit, with the BLAS threads meta.json names."""
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
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 3, "batch_size": 32},
        "output": {"plots": False},
    }
    signs = {
        **file_cfg,
        "name": "signs",
        "dataset": {
            "name": "sign_digits",
            "classes": [0, 1],
            "per_class": 60,
            "scaling": "none",
            "validation_split": 0.2,
        },
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
    share = max(1, cpu_count() // 2)  # two single-thread workers on this host
    for config in (file_cfg, signs):
        write_file()
        monkeypatch.setattr(experiment, "load_splits", load_once_then_remove)
        remote = run_sweep(config, grid, runs_dir=tmp_path / "dask", **on(cluster))
        monkeypatch.setattr(experiment, "load_splits", real_load)
        assert remote.status == "completed" and loads.pop() == config["dataset"]["name"] and not loads  # once, for both
        write_file()
        local = run_sweep(config, grid, jobs=2, runs_dir=tmp_path / "local")
        assert_same_results(results(remote.path), results(local.path))
        for _, _, meta in results(remote.path).values():
            assert meta["pid"] != os.getpid() and blas_threads(meta) == {share}


def test_ctrl_c_stops_the_point_on_its_worker(tmp_path, cluster):
    # Ctrl-C (raised here once the quick point is stored) must also stop the endless point on its worker.
    def interrupt(sweep, state):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run_sweep(TINY, ["training.epochs=2,100000000"], runs_dir=tmp_path, on_point=interrupt, **on(cluster))
    stopped = caught.value.result
    assert stopped.backend == f"Dask cluster at {cluster}"
    assert [p.status for p in stopped.points] == ["completed", "interrupted"]
    assert json.loads((stopped.points[0].run / "meta.json").read_text())["pid"] != os.getpid()  # trained remotely
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
        run_sweep(missing, ["training.optimizer.lr=0.1"], data_on_workers=True, runs_dir=tmp_path, **on(cluster))
    point = caught.value.result.points[0]
    assert point.status == "failed" and "on Dask worker 127.0.0.1" in point.error and "does not exist" in point.error


def test_every_worker_killed_the_sweep_stops_within_its_timeout(tmp_path, clusters, cli):
    doomed = clusters[1]
    runs = tmp_path / "runs"
    args = ["sweep", write_config(tmp_path / "tiny.yaml", TINY), "--grid", "training.epochs=2,100000000",
            "--backend", "dask", "--scheduler", doomed.address, "--worker-timeout", 1, "--runs-dir", runs, "--json"]  # fmt: skip
    done = []
    sweeping = threading.Thread(target=lambda: done.append(cli(*args)), daemon=True)  # a sweep that hangs fails here
    sweeping.start()
    wait_for("*/*-tiny-1_*/meta.json", runs, seconds=60)
    doomed.stop(doomed.procs[1:])  # every worker, killed
    sweeping.join(timeout=1 + 15)  # the timeout, plus noticing the worker is gone
    assert done, "the sweep did not stop within its --worker-timeout"
    result = done[0]
    assert result.exit_code == 1, result.stderr
    doc = result.json
    assert "no Dask worker has been alive" in doc["error"] and "--resume" in doc["error"]
    assert doc["status"] == "failed" and [p["status"] for p in doc["points"]] == ["completed", "interrupted"]
    assert sweep_json(Path(doc["sweep"]))["status"] == "failed"
