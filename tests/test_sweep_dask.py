"""A real Dask deployment: `dask scheduler` and `dask worker` processes sharing no path and no data with the client."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import two_class_csv_config
from sweeps import assert_same_results, results, sweep_json, tiny, wait_for, write_config

from dltrain.errors import ConfigError, Interrupted, TrainingFailed
from dltrain.sweep import resume_sweep, run_sweep

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


def test_with_data_on_workers_a_worker_does_not_continue_a_run_on_changed_data(tmp_path, cluster):
    config = two_class_csv_config(tmp_path, "grown", "big", "small", epochs=2)
    grid, remote = ["training.optimizer.lr=0.1"], {"data_on_workers": True, **on(cluster)}
    path = run_sweep(str(config), grid, runs_dir=tmp_path / "runs", **remote).path
    doc = sweep_json(path)
    doc["status"], doc["points"][0]["status"] = "interrupted", "interrupted"  # cut off: a resume continues it
    (path / "sweep.json").write_text(json.dumps(doc))
    data = tmp_path / "grown.csv"
    data.write_text(data.read_text() + "".join(data.read_text().splitlines(keepends=True)[1:21]))
    with pytest.raises(TrainingFailed) as caught:
        resume_sweep(path, **remote)  # the client never reads the data: only the worker can tell
    point = caught.value.result.points[0]
    assert point.status == "failed" and "on Dask worker 127.0.0.1" in point.error
    assert (
        f"the data {path / doc['points'][0]['run']} trained on has changed: its splits now hold train 60" in point.error
    )


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


# --- the Dask backend's own logic, with a stand-in client: no cluster needed ---------------------------

ADDRESS = "tcp://127.0.0.1:1"  # nothing is reached: each test gives the backend a client of its own


class _Clock:
    """time, as the cluster module sees it: monotonic() is `now`, set by the test."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def monotonic(self) -> float:
        return self.now


class _Client:
    """A client of a cluster whose workers are `workers` (address -> (host, threads)); counts its calls."""

    def __init__(self, workers: dict | None = None):
        self.workers = {"tcp://10.0.0.1:1": ("10.0.0.1", 1)} if workers is None else workers
        self.asked, self.scattered, self.gone, self.closed = 0, [], False, False

    def nthreads(self) -> dict:
        self.asked += 1
        if self.gone:
            raise OSError("the scheduler is gone")
        return {address: threads for address, (_, threads) in self.workers.items()}

    def scheduler_info(self, n_workers: int = 5) -> dict:
        # as the scheduler answers: -1 for all workers, else the first n (Dask's default: 5)
        workers = itertools.islice(self.workers.items(), None if n_workers == -1 else n_workers)
        return {"workers": {address: {"host": host, "nthreads": threads} for address, (host, threads) in workers}}

    def close(self) -> None:
        self.closed = True

    def scatter(self, data, broadcast=False, hash=True):
        self.scattered.append((data, broadcast, hash))
        return f"scattered {len(self.scattered)}"


def _dask(client: _Client | None = None, **kwargs):
    from dltrain.sweep.cluster import Dask

    backend = Dask(1, ADDRESS, **kwargs)
    backend.client = _Client() if client is None else client
    return backend


@pytest.mark.parametrize(
    "jobs, scheduler, timeout, message",
    [
        (1, None, 60.0, "--backend dask needs --scheduler tcp://HOST:PORT"),
        (2, ADDRESS, 60.0, "--jobs applies to --backend local"),
        (1, ADDRESS, 0, "--worker-timeout must be above 0 seconds, got 0"),
        (1, ADDRESS, -1.0, "--worker-timeout must be above 0 seconds, got -1.0"),
    ],
)
def test_a_dask_backend_refuses_options_it_cannot_use(jobs, scheduler, timeout, message):
    from dltrain.sweep.cluster import Dask

    with pytest.raises(ConfigError, match=re.escape(message)):
        Dask(jobs, scheduler, worker_timeout=timeout)
    assert Dask(1, ADDRESS, worker_timeout=0.5).worker_timeout == 0.5  # under a second is a timeout too


def test_a_dask_backend_trains_as_many_points_at_once_as_all_workers_have_threads(monkeypatch):
    """Host -> the threads of every worker there, all of them (Dask's scheduler_info lists 5 by default)."""
    workers = {f"tcp://10.0.0.{i % 2}:{i}": (f"10.0.0.{i % 2}", 1 + i) for i in range(7)}
    backend = _dask(_Client(workers))
    assert backend._threads_by_host() == {"10.0.0.0": 1 + 3 + 5 + 7, "10.0.0.1": 2 + 4 + 6}
    backend.distributed = types.SimpleNamespace(Client=lambda address, timeout: _Client(workers))
    with backend as entered:
        assert entered is backend and backend.slots == 28
    assert backend.client.closed
    with pytest.raises(TrainingFailed), backend:  # an error in the sweep goes on, the client closed
        raise TrainingFailed("no worker")
    backend.distributed = types.SimpleNamespace(Client=lambda address, timeout: _Client({}))
    with backend:
        assert backend.slots == 1  # no worker yet: one point at a time until some come


def test_an_unreachable_scheduler_is_a_config_error_naming_it():
    def refused(address, timeout):
        raise OSError("connection refused")

    backend = _dask()
    backend.distributed = types.SimpleNamespace(Client=refused)
    with pytest.raises(ConfigError, match=f"cannot reach the Dask scheduler at {ADDRESS}: connection refused"):
        backend.__enter__()


def test_no_worker_for_longer_than_the_timeout_stops_the_sweep_asking_the_scheduler_once_a_second(monkeypatch):
    from dltrain.sweep import cluster
    from dltrain.sweep.backends import NoWorkers

    clock = _Clock()
    monkeypatch.setattr(cluster, "time", clock)
    client = _Client()
    backend = _dask(client, worker_timeout=5)

    def check(at: float) -> None:
        clock.now = at
        backend._check_workers()

    check(100)  # a worker: fine
    client.workers = {}
    check(100.5)  # not asked: it was asked half a second ago
    assert client.asked == 1
    check(101)  # none from here
    check(104)
    client.workers = _Client().workers
    check(105)  # one came back: the wait starts again
    client.workers = {}
    check(106)
    check(111)  # 5 s without one: not more than the timeout
    check(111.5)  # more, but asked less than a second ago
    assert client.asked == 6
    with pytest.raises(NoWorkers, match=f"no Dask worker has been alive at {ADDRESS} for 5 s"):
        check(112)
    client.gone, backend._no_worker_since = True, None  # a scheduler that cannot be asked has no worker
    check(200)
    with pytest.raises(NoWorkers):
        check(205.5)


def _job(point: int, config: dict):
    from dltrain.config.loader import validate
    from dltrain.sweep.point import Job

    return Job(point, 0, validate(config).model_dump(mode="json"))


def test_a_dataset_is_sent_to_the_workers_once_and_one_that_cannot_load_fails_each_of_its_runs(tmp_path):
    from dltrain.runs.status import Status

    client = _Client()
    backend = _dask(client)
    first, second = (backend._scattered(_job(i, TINY), None) for i in (1, 2))
    assert first == second == "scattered 1" and len(client.scattered) == 1
    splits, broadcast, hashed = client.scattered[0]
    assert broadcast and not hashed  # every worker holds it; sent again after a loss, it is new data
    assert splits.train is not None
    other = {**TINY, "training": {**TINY["training"], "dtype": "float32"}}
    assert backend._scattered(_job(3, other), None) == "scattered 2"  # a dtype of its own: data of its own
    missing = {**TINY, "dataset": {"name": "file", "path": str(tmp_path / "nowhere.npz")}}
    a, b = (backend._scattered(_job(i, missing), None) for i in (4, 5))
    assert a.status == b.status == Status.FAILED and a is not b and "loading the data on this machine" in a.error
    assert len(client.scattered) == 2
    client.workers = {}
    other_split = {**TINY, "dataset": {**TINY["dataset"], "test_size": 0.3}}
    assert backend._scattered(_job(6, other_split), None) is None
    assert len(client.scattered) == 2  # no worker to send it to: the job waits


class _Task:
    """A Dask future, stood in for: finished with `value`, failed with it (an exception), cancelled, or pending."""

    def __init__(self, value=None, status="finished"):
        self.value, self.status = value, status

    def done(self) -> bool:
        return self.status != "pending"

    def result(self):
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


def test_a_task_cancelled_by_a_lost_worker_runs_again_with_its_data_sent_again():
    from concurrent.futures import CancelledError

    from dltrain.runs.status import Status
    from dltrain.sweep.cluster import _Done
    from dltrain.sweep.point import not_trained

    backend, job = _dask(), _job(1, TINY)
    backend._data["digits"] = "scattered 1"
    assert backend.outcome(_Task("record"), job) == "record"
    assert backend._data  # a run coming back keeps the data where it is
    failed = backend.outcome(_Task(ValueError("no module named dltrain")), job)
    assert failed.status == "failed" and failed.error == "the Dask task failed: ValueError: no module named dltrain"
    unloaded = not_trained(Status.FAILED, "loading the data on this machine: gone")
    assert backend.outcome(_Done(unloaded), job) is unloaded
    assert backend.outcome(_Task(CancelledError(), status="cancelled"), job) is None and not backend._data
    backend.stopping = True  # cancelled by this sweep as it stops: the run ended, not to run again
    assert backend.outcome(_Task(CancelledError(), status="cancelled"), job).status == "failed"


def _on_worker(monkeypatch, shares: dict, returned, threads: int = 2, cores: int = 8):
    """(what train_on_worker returns, the BLAS threads it gave the run) on a worker at 10.0.0.5 with `threads`."""
    from dltrain.sweep import cluster, pool

    worker = types.SimpleNamespace(address="tcp://10.0.0.5:4000", state=types.SimpleNamespace(nthreads=threads))
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    monkeypatch.setattr(pool, "cpu_count", lambda: cores)
    given = []

    def train_point(job, data, blas_threads, stop):
        given.append(blas_threads)
        return returned

    monkeypatch.setattr(cluster, "train_point", train_point)
    return cluster.train_on_worker(_job(1, TINY), None, shares, lambda: False), given[0]


def test_a_point_on_a_worker_gets_its_share_of_the_host_s_cores_and_a_failure_says_where(monkeypatch):
    from dltrain.runs.status import Status
    from dltrain.sweep.point import not_trained

    assert _on_worker(monkeypatch, {"10.0.0.5": 3, "10.0.0.6": 1}, "record") == ("record", 2)  # 8 cores // 3
    assert _on_worker(monkeypatch, {"10.0.0.6": 1}, "record", threads=4)[1] == 2  # a host it did not know: own threads
    assert _on_worker(monkeypatch, {"10.0.0.5": 16}, "record")[1] == 1  # more points than cores: one each
    assert _on_worker(monkeypatch, {"10.0.0.5": 0}, "record", threads=0)[1] == 8
    failed, _ = _on_worker(monkeypatch, {}, not_trained(Status.FAILED, "out of memory"))
    assert failed.error == "on Dask worker 10.0.0.5 (tcp://10.0.0.5:4000): out of memory"
    stopped, _ = _on_worker(monkeypatch, {}, not_trained(Status.INTERRUPTED, "the sweep was interrupted"))
    assert stopped.error == "the sweep was interrupted"


def test_the_stop_event_is_asked_at_most_once_a_second_and_is_sent_to_workers_without_its_event(monkeypatch):
    from dltrain.sweep import cluster
    from dltrain.sweep.cluster import ClusterStop

    clock, asked = _Clock(), []

    class Event:
        def __init__(self, name):
            asked.append(name)
            self.name = name

        def is_set(self):
            asked.append("is_set")
            return True

    monkeypatch.setattr(cluster, "time", clock)
    monkeypatch.setattr(distributed, "Event", Event)
    stop = ClusterStop("dltrain-sweep-stop-x")
    assert stop() and asked == ["dltrain-sweep-stop-x", "is_set"]  # the first look asks at once
    clock.now = 100.5
    assert not stop() and len(asked) == 2
    clock.now = 101
    assert stop() and asked == ["dltrain-sweep-stop-x", "is_set", "is_set"]  # the same event, asked again
    sent = pickle.loads(pickle.dumps(stop))
    assert (sent.name, sent._event, sent._asked) == ("dltrain-sweep-stop-x", None, 0.0)


class _Cluster(_Client):
    """A client that takes tasks: each finishes at once with 'trained N', or stays pending for a point in `hold`."""

    def __init__(self, hold=()):
        super().__init__()
        self.hold, self.submitted, self.cancelled, self.events = set(hold), [], [], []

    def submit(self, fn, *args, pure=True):
        self.submitted.append((fn, args, pure))
        job = args[0]
        return _Task(status="pending") if job.point in self.hold else _Task(f"trained {job.point}")

    def cancel(self, futures) -> None:
        self.cancelled.extend(futures)

    def event(self, name, client):
        assert client is self
        return types.SimpleNamespace(set=lambda: self.events.append(name))


def _run(backend, jobs, data_dir) -> dict:
    """What backend.run yields, as a dict, with no wait between its looks at the running tasks."""
    from conftest import time_limit

    from dltrain.sweep import backends

    with pytest.MonkeyPatch.context() as patch, time_limit(30):  # a sweep that never ends fails here
        patch.setattr(backends, "POLL", 0)
        return dict(backend.run(iter(jobs), 1 << 30, data_dir))


def test_a_dask_sweep_sends_each_run_with_the_data_sent_once_and_fails_a_run_whose_data_cannot_load(tmp_path):
    from dltrain.sweep.cluster import train_on_worker

    client = _Cluster()
    backend = _dask(client)
    missing = {**TINY, "dataset": {"name": "file", "path": str(tmp_path / "nowhere.npz")}}
    got = _run(backend, [_job(1, TINY), _job(2, missing), _job(3, TINY)], str(tmp_path))
    assert got[(1, 0)] == "trained 1" and got[(3, 0)] == "trained 3" and len(got) == 3
    assert got[(2, 0)].status == "failed" and "loading the data on this machine" in got[(2, 0)].error
    shares = {"10.0.0.1": 1}
    assert [(fn, args[1:], pure) for fn, args, pure in client.submitted] == [
        (train_on_worker, ("scattered 1", shares, backend.stop), False)  # not pure: each call trains anew
    ] * 2


def test_with_data_on_workers_a_dask_sweep_sends_each_run_the_data_folder_or_none(tmp_path):
    client = _Cluster()
    backend = _dask(client, worker_data=True)
    assert _run(backend, [_job(1, TINY)], str(tmp_path)) == {(1, 0): "trained 1"}
    assert _run(backend, [_job(2, TINY)], None) == {(2, 0): "trained 2"}  # each worker's own data folder
    assert [args[1] for _, args, _ in client.submitted] == [str(tmp_path), None] and not client.scattered


def test_a_dask_sweep_closed_early_stops_and_cancels_the_tasks_still_running():
    client = _Cluster(hold={2})
    backend = _dask(client)
    backend.distributed = types.SimpleNamespace(Event=client.event)
    results = backend.run(iter([_job(1, TINY), _job(2, TINY)]), 1 << 30, None)
    assert next(results) == ((1, 0), "trained 1")
    results.close()  # Ctrl-C
    assert client.events == [backend.stop.name] and [t.status for t in client.cancelled] == ["pending"]
