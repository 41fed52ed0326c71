"""Ctrl-C, SIGTERM, `timeout` and SIGKILL on real `dltrain sweep` processes, and `--resume` afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import process_env, time_limit
from sweeps import assert_same_results, results, start, sweep_json, tiny, wait_for, write_config

from dltrain.sweep import run_sweep, runner

TINY = tiny(plots=False)
ENDLESS = 100_000_000  # epochs of a point that only a signal stops
LONG = 800  # epochs of the point a SIGTERM stops and --resume finishes: 1.3 s on a quiet machine (250 took 0.4 s)


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


def outliving(pids: set[int], seconds: float = 10) -> list[int]:
    """Those of `pids` still alive after `seconds`; they are killed, so that a failing test leaves none behind."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def assert_consistent(sweep_dir: Path) -> dict:
    """sweep.json lists exactly the run folders on disk, each with the status its meta.json gives."""
    saved = sweep_json(sweep_dir)
    listed = {sweep_dir / p["run"] for p in saved["points"] if p["run"]}
    assert listed == {p for p in sweep_dir.iterdir() if p.is_dir()}
    for point in saved["points"]:
        if point["run"]:
            assert json.loads((sweep_dir / point["run"] / "meta.json").read_text())["status"] == point["status"]
    assert saved["status"] != "running" and saved["counts"]["pending"] == 0
    return saved


def test_sigterm_keeps_finished_points_stops_workers_and_resume_finishes_bit_for_bit(tmp_path, cli):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    runs = tmp_path / "runs"
    grid = f"training.epochs=2,{LONG}"  # point 1 finishes at once, point 2 trains for a second or more
    proc = start("sweep", config, "--grid", grid, "--jobs", 2, "--runs-dir", runs, "--json")
    wait_for("*/*-tiny-1_*/weights.npz", runs)
    time.sleep(0.3)  # into point 2, which started with point 1
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
    cut = sweep_dir / doc["points"][1]["run"]
    assert (cut / "checkpoint.npz").is_file()
    assert 0 < json.loads((cut / "meta.json").read_text())["epochs_done"] < LONG
    assert not outliving(workers)  # no worker outlives the sweep by more than a few seconds

    resumed = cli("sweep", "--resume", sweep_dir, "--jobs", "2", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.json["status"] == "completed" and len(resumed.json["resumed"]) == 1
    meta = json.loads((cut / "meta.json").read_text())
    assert meta["epochs_done"] == LONG and meta["resumed"][-1]["from_epoch"] > 0  # continued, not restarted
    whole = run_sweep(TINY, [grid], jobs=2, runs_dir=tmp_path / "whole")
    assert_same_results(results(sweep_dir), results(whole.path))


def test_sigterm_to_the_whole_process_group_stops_parallel_points_after_their_batch(tmp_path, cli):
    """`timeout`, Slurm and systemd send SIGTERM to the sweep's whole process group: the workers and
    the forkserver they are forked from get it too. The running points still stop after their
    batch and are saved with their checkpoint, and --resume continues them."""
    config = write_config(tmp_path / "tiny.yaml", TINY)
    runs = tmp_path / "runs"
    args = ["sweep", config, "--grid", f"training.epochs=2,{LONG}", "--jobs", 2, "--runs-dir", runs, "--json"]
    proc = start(*args, own_group=True)
    try:
        wait_for("*/*-tiny-1_*/weights.npz", runs)
        time.sleep(0.3)  # into point 2, which started with point 1
        workers = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:  # a failing test leaves nothing training: the sweep has a process group of its own
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "interrupted", err
    assert [p["status"] for p in doc["points"]] == ["completed", "interrupted"], err
    sweep_dir = Path(doc["sweep"])
    assert_consistent(sweep_dir)
    cut = sweep_dir / doc["points"][1]["run"]
    assert (cut / "checkpoint.npz").is_file()
    assert not outliving(workers)

    resumed = cli("sweep", "--resume", sweep_dir, "--jobs", "2", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    meta = json.loads((cut / "meta.json").read_text())
    assert meta["epochs_done"] == LONG and meta["resumed"][-1]["from_epoch"] > 0  # continued, not restarted


def test_timeout_on_a_serial_sweep_exits_130_with_a_consistent_folder(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    # `timeout` sends SIGTERM; --preserve-status passes on the sweep's own exit code.
    args = [sys.executable, "-m", "dltrain", "sweep", config, "--grid", f"training.epochs=2,{ENDLESS}",
            "--runs-dir", tmp_path / "runs", "--json"]  # fmt: skip
    done = subprocess.run(
        [
            "timeout",
            "--preserve-status",
            "4",
            *map(str, args),
        ],  # sweep.json is there 0.7 s after the start on 2 busy cores
        capture_output=True,
        text=True,
        env=process_env(),
    )
    assert done.returncode == 130, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == "interrupted" and doc["points"][1]["status"] == "interrupted"
    saved = assert_consistent(Path(doc["sweep"]))
    if saved["points"][1]["run"]:  # it had started: it stopped after a batch and kept its checkpoint
        assert (Path(doc["sweep"]) / saved["points"][1]["run"] / "checkpoint.npz").is_file()


def test_resume_refuses_a_live_sweep_takes_over_a_killed_one_and_ctrl_c_keeps_finished_points(
    tmp_path, cli, monkeypatch, request
):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    runs = tmp_path / "runs"
    grid = f"training.epochs=2,{ENDLESS},{ENDLESS}"  # points 2 and 3 are training when the sweep is killed
    first = start("sweep", config, "--grid", grid, "--jobs", 2, "--runs-dir", runs, "--json")
    request.addfinalizer(first.kill)  # a failing test leaves no endless points training (its workers end with it)
    sweep_dir = wait_for("*/*-tiny-1_*/metrics.json", runs).parent.parent
    workers = descendants(first.pid)

    def trains(*args):
        raise AssertionError("--resume went on to train a sweep still running in another process")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "execute", trains)  # a missed refusal fails here instead of training the endless point
        refused = cli("sweep", "--resume", sweep_dir, "--json")
    assert first.poll() is None  # the sweep was alive all along: the refusal is about a live process
    assert refused.exit_code == 2 and refused.json["status"] == "error"
    message = refused.json["error"]
    assert f"{sweep_dir} is in use: another dltrain process is training it" in message
    assert not sweep_json(sweep_dir)["resumed"]  # the refused resume changed nothing

    first.kill()  # SIGKILL: no handler runs, sweep.json stays `running` with a dead process
    first.wait(timeout=30)
    first.stdout.close(), first.stderr.close()
    assert not outliving(workers)  # its workers ended too, though it could not tell them
    assert sweep_json(sweep_dir)["status"] == "running" and sweep_json(sweep_dir)["pid"] == first.pid
    second = start("sweep", "--resume", sweep_dir, "--json")
    request.addfinalizer(second.kill)
    deadline = time.monotonic() + 90
    while sweep_json(sweep_dir)["pid"] != second.pid and second.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sweep_json(sweep_dir)["pid"] == second.pid, second.communicate()[1]  # taken over: it trains point 2
    with monkeypatch.context() as patch:
        patch.setattr(runner, "execute", trains)
        third = cli("sweep", "--resume", sweep_dir)  # the resume holds the sweep as the sweep did
    assert third.exit_code == 2 and f"{sweep_dir} is in use: another dltrain process is training it" in third.message
    time.sleep(0.3)  # into point 2
    second.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = second.communicate(timeout=60)
    assert second.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "interrupted" and len(doc["resumed"]) == 1
    assert [p["status"] for p in doc["points"]] == ["completed", "interrupted", "interrupted"]
    assert doc["points"][0]["metrics"]["test"]["accuracy"] > 0.2  # a real, finished run (about 0.6 after 2 epochs)
    saved = assert_consistent(sweep_dir)
    assert saved["counts"] == {"completed": 1, "failed": 0, "interrupted": 2, "pruned": 0, "pending": 0}


def test_a_sweep_started_with_sigint_ignored_leaves_it_ignored_in_its_workers(tmp_path):
    """A sweep run as a shell script's background job starts with SIGINT ignored: Ctrl-C (SIGINT
    to its whole process group) stops neither the sweep nor the points its workers train; SIGTERM
    still stops it, saved."""
    config = write_config(tmp_path / "tiny.yaml", TINY)
    runs = tmp_path / "runs"
    grid = f"training.epochs={ENDLESS},{ENDLESS + 1}"
    proc = start("sweep", config, "--grid", grid, "--jobs", 2, "--runs-dir", runs, "--json", sigint_ignored=True)
    try:
        sweep_dir = wait_for("*/sweep.json", runs).parent
        time.sleep(3)  # both workers are training (a point of the digits starts within a second)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(2)  # a worker that took it would hand its point back interrupted, and the sweep would end
        assert proc.poll() is None, proc.communicate()[1]
        assert {p["status"] for p in sweep_json(sweep_dir)["points"]} == {"pending"}  # none handed back
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert [p["status"] for p in json.loads(out)["points"]] == ["interrupted", "interrupted"]
    finally:  # a failing test leaves no endless points training: the sweep has a process group of its own
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_workers_made_from_python_start_the_forkserver_with_sigterm_blocked():
    """`dltrain sweep` starts the forkserver first thing; run_sweep(jobs=2) from Python gets it from Workers,
    with SIGTERM blocked as well, so that a process-group SIGTERM cannot end it under the stopping workers."""
    script = "\n".join(
        [
            "import sys",
            "from dltrain.sweep import pool",
            "workers = pool.Workers(1)",
            "print('up', flush=True)",
            "sys.stdin.read()  # until the test has looked at the forkserver",
            "workers.close()",
        ]
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=process_env(),
    )
    try:
        assert proc.stdout.readline() == "up\n"
        blocked = []
        for pid in descendants(proc.pid):
            try:
                if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    status = Path(f"/proc/{pid}/status").read_text()
                    blocked.append(int(status.split("SigBlk:")[1].split()[0], 16) >> (signal.SIGTERM - 1) & 1)
            except OSError:
                continue
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert blocked == [1]


def test_closing_the_workers_ends_one_in_the_middle_of_its_work():
    from dltrain.sweep import pool

    workers = pool.Workers(1)
    try:
        busy = workers.submit(time.sleep, 600)  # a point that would not end by itself
        deadline = time.monotonic() + 60
        while not (busy.running() and workers.pids()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = workers.pids()
        assert pids and all(alive(pid) for pid in pids)
    finally:
        with time_limit(20):  # not waiting for the run to end
            workers.close()
    assert outliving(pids, seconds=3) == []


def python_with_workers(*lines: str) -> list:
    """`python -c` running `lines` after `workers = pool.Workers(1)`, this checkout first on the path."""
    script = "\n".join(["import os, sys, time", "from dltrain.sweep import pool", "workers = pool.Workers(1)", *lines])
    return [sys.executable, "-c", script]


def test_workers_end_with_a_sweep_process_killed_outright():
    """SIGKILL (or the kernel, for memory) gives the sweep no chance to close its workers: each one sees
    the sweep's process gone and ends, in the middle of its run too."""
    command = python_with_workers(
        "busy = workers.submit(time.sleep, 600)",  # a point that would not end by itself
        "while not (busy.running() and workers.pids()):",
        "    time.sleep(0.05)",
        "print(*workers.pids(), flush=True)",
        "time.sleep(600)",
    )
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=process_env())
    try:
        pids = {int(pid) for pid in proc.stdout.readline().split()}
        assert pids and all(alive(pid) for pid in pids)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert outliving(pids) == []


def test_a_process_that_never_closes_its_workers_still_exits():
    """The thread reading what the workers tell does not keep the process alive."""
    command = python_with_workers("print('up')")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=process_env())
    assert (done.returncode, done.stdout) == (0, "up\n"), done.stderr


def test_the_workers_are_forked_with_the_training_modules_imported():
    """The process they are forked from imports them once (pool.PRELOAD): no worker pays for it again."""
    from sweeps import imported

    from dltrain.sweep import pool

    workers = pool.Workers(1)
    try:
        assert workers.submit(imported, "dltrain.sweep.worker").result(timeout=60)
    finally:
        workers.close()


def test_the_workers_answer_as_soon_as_their_messages_are_read_and_leave_no_thread_once_closed(monkeypatch):
    """Workers.death and close wait for the thread reading what the workers tell to catch up, not for a
    timeout; closed, they take no more runs and leave no thread behind (run_sweep again and again)."""
    from dltrain.sweep import pool

    monkeypatch.setattr(pool, "JOIN", 600)
    threads = set(threading.enumerate())
    workers = pool.Workers(1)
    try:
        pid = workers.submit(os.getpid, key=(1, 0)).result(timeout=60)
        with time_limit(20):
            assert [workers.death((1, 0)) for _ in range(3)] == [None] * 3  # its worker is alive
            assert pid in workers.pids()
    finally:
        with time_limit(20):
            workers.close()
    with pytest.raises(RuntimeError):
        workers.submit(os.getpid)
    for thread in set(threading.enumerate()) - threads:
        thread.join(timeout=10)
    assert set(threading.enumerate()) <= threads and outliving({pid}, seconds=3) == []


def test_new_workers_end_the_broken_ones_and_still_say_how_the_one_that_died_ended():
    """restart() ends every worker of the broken pool; a run whose worker died is still told by how it
    died, while one whose worker restart() ended is not (it did not kill it: it is run again)."""
    from concurrent.futures.process import BrokenProcessPool

    from dltrain.sweep import pool

    workers = pool.start(2)
    try:
        deadline = time.monotonic() + 60
        while len(workers.pids()) < 2 and time.monotonic() < deadline:  # both up: each run goes to one of them
            time.sleep(0.05)
        busy = workers.submit(time.sleep, 600, key=(1, 0))
        dies = workers.submit(signal.raise_signal, signal.SIGKILL, key=(2, 0))
        assert isinstance(dies.exception(timeout=60), BrokenProcessPool)
        assert isinstance(busy.exception(timeout=60), BrokenProcessPool)
        broken = workers.pids()
        workers.restart()
        assert outliving(broken, seconds=3) == []
        assert (workers.death((1, 0)), workers.death((2, 0))) == (None, "killed by SIGKILL")
        assert workers.submit(os.getpid).result(timeout=60) not in broken
    finally:
        workers.close()


def test_signalling_the_workers_reaches_no_other_process_this_one_started():
    """A stop sends SIGTERM to the sweep's workers alone: a process of the caller's own (run_sweep from a
    script that started others) is left alone."""
    import multiprocessing

    from dltrain.sweep import pool

    other = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(600,))
    workers = pool.Workers(1)
    try:
        pid = workers.submit(os.getpid).result(timeout=60)
        other.start()
        workers.signal()
        other.join(timeout=2)
        assert other.exitcode is None and alive(pid)  # a worker stops after its batch: it had none
    finally:
        workers.close()
        other.kill()
        other.join(timeout=30)


def test_a_sweep_whose_point_a_signal_to_its_worker_alone_stopped_ends_interrupted(tmp_path, monkeypatch):
    """SIGTERM to one worker (`kill PID`) stops its point after the batch; the other points train on,
    and the sweep ends interrupted, exit 130 and a resume to run, not completed with a point unfinished."""
    from dltrain.errors import Interrupted
    from dltrain.sweep import backends, point

    def stopped_first(job, data_dir, *blas):
        if job.point == 1:
            point.request_stop()  # what the worker's SIGTERM handler does
        try:
            return point.train_point(job, data_dir, *blas)
        finally:
            point.clear_stop()

    monkeypatch.setattr(backends, "train_point", stopped_first)
    with pytest.raises(Interrupted, match="after 1 of 2 points") as caught:
        run_sweep(TINY, ["training.optimizer.lr=0.01,0.001"], runs_dir=tmp_path)
    doc = sweep_json(caught.value.result.path)
    assert doc["status"] == "interrupted"
    assert [p["status"] for p in doc["points"]] == ["interrupted", "completed"]  # the first point was stopped
