"""`dltrain sweep`: grid points as ordinary run folders, in parallel processes and on a real Dask cluster."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dltrain import api
from dltrain.cli import app
from dltrain.errors import ConfigError, Interrupted
from dltrain.runs.folder import RunFolder
from dltrain.sweep import run_sweep
from dltrain.sweep.grid import expand, merge_grids, parse_values

REPO = Path(__file__).resolve().parents[1]

# Tiny but real: an MLP on the bundled 8x8 digits, a few epochs (~0.05 s a point).
TINY = {
    "name": "tiny",
    "seed": 3,
    "dataset": {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax", "stratify": True},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 4, "batch_size": 64},
}
GRID = ["training.optimizer.lr=0.01,0.001", "model.hidden=[8],[16, 4]"]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def point_results(sweep_dir: Path) -> dict[int, tuple[dict, dict]]:
    """Point index -> (weights arrays, metrics) read back from the run folders sweep.json lists."""
    doc = json.loads((sweep_dir / "sweep.json").read_text())
    out = {}
    for point in doc["points"]:
        folder = RunFolder(sweep_dir / point["run"])
        out[point["index"]] = (folder.read_npz("weights.npz"), folder.read_json("metrics.json"))
    return out


def assert_same_results(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for index in a:
        (wa, ma), (wb, mb) = a[index], b[index]
        assert wa.keys() == wb.keys(), index
        for name in wa:
            np.testing.assert_array_equal(wa[name], wb[name], err_msg=f"point {index} {name}")
        assert ma == mb, index


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> Path:
    """The 2x2 grid trained point after point in this process: the reference."""
    before = copy.deepcopy(TINY)
    path = run_sweep(TINY, GRID, runs_dir=tmp_path_factory.mktemp("serial")).path
    assert TINY == before  # the caller's config is left as it was
    return path


# --- grid --------------------------------------------------------------------------------


def test_grid_values_are_yaml_and_points_are_overrides():
    assert parse_values("0.1,1e-3,relu") == [0.1, 0.001, "relu"]  # 1e-3 is a number, not PyYAML's string
    assert parse_values("[64],[64, 32]") == [[64], [64, 32]]
    grid = merge_grids(
        {"training.epochs": [5, 6], "model.hidden": [[4]]}, ["training.epochs=7", "training.optimizer.lr=0.1,0.2"]
    )
    assert grid == {"training.epochs": [7], "model.hidden": [[4]], "training.optimizer.lr": [0.1, 0.2]}
    points = expand(grid, "tiny")
    assert [p.name for p in points] == ["tiny-1_epochs7_hidden4_lr0.1", "tiny-2_epochs7_hidden4_lr0.2"]
    assert points[1].overrides == ["training.epochs=7", "model.hidden=[4]", "training.optimizer.lr=0.2"]
    with pytest.raises(ConfigError, match="nothing to sweep"):
        merge_grids({}, [])
    with pytest.raises(ConfigError, match="--grid expects"):
        merge_grids({}, ["training.epochs"])
    with pytest.raises(ConfigError, match="given twice"):  # not silently the last one
        merge_grids({}, ["training.epochs=1", "training.epochs=2"])


# --- local backends ------------------------------------------------------------------------


def test_jobs_2_writes_four_run_folders_identical_to_serial(tmp_path, serial):
    result = cli(
        "sweep",
        write_config(tmp_path / "tiny.yaml", TINY),
        *sum((["--grid", g] for g in GRID), []),
        "--jobs",
        "2",
        "--runs-dir",
        tmp_path / "runs",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is exactly one JSON document
    sweep_dir = Path(doc["sweep"])
    assert doc["status"] == "completed" and doc["counts"]["completed"] == 4
    assert "2 parallel processes" in doc["backend"]
    assert "[4/4]" in result.stderr and "best: #" in result.stderr

    saved = json.loads((sweep_dir / "sweep.json").read_text())
    assert saved["status"] == "completed" and saved["sort_by"] == "val.accuracy"  # validation, not test
    assert [p["values"] for p in saved["points"]] == [
        {"training.optimizer.lr": lr, "model.hidden": h} for lr in (0.01, 0.001) for h in ([8], [16, 4])
    ]
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(runs) == 4 and sorted(sweep_dir / p["run"] for p in saved["points"]) == runs
    for point in saved["points"]:
        meta = json.loads((sweep_dir / point["run"] / "meta.json").read_text())
        assert meta["status"] == "completed" and meta["sweep"]["point"] == point["index"]
        assert point["metrics"] == json.loads((sweep_dir / point["run"] / "metrics.json").read_text())
        assert (sweep_dir / point["run"] / "cost.png").stat().st_size > 0
        assert meta["pid"] != os.getpid()  # trained in a worker process
    best = min(saved["points"], key=lambda p: -p["metrics"]["val"]["accuracy"])
    assert saved["best"] == best["index"]

    assert_same_results(point_results(sweep_dir), point_results(serial))


def test_a_sweep_point_is_an_ordinary_run(tmp_path, serial):
    point = json.loads((serial / "sweep.json").read_text())["points"][3]
    alone = api.run(copy.deepcopy(TINY), overrides=point["overrides"], runs_dir=tmp_path)
    folder = RunFolder(alone.path)
    same = {4: (folder.read_npz("weights.npz"), folder.read_json("metrics.json"))}
    assert_same_results(same, {4: point_results(serial)[4]})


def test_a_sweep_point_resumes_like_a_run(tmp_path, serial):
    """Each point folder keeps its checkpoint: `resume --epochs 6` on a 4-epoch point equals a 6-epoch run."""
    point = json.loads((serial / "sweep.json").read_text())["points"][1]
    copied = tmp_path / "point"
    shutil.copytree(serial / point["run"], copied)
    assert (copied / "checkpoint.npz").is_file()
    resumed = api.resume(copied, epochs=6)
    longer = api.run(
        copy.deepcopy(TINY),
        overrides=[*point["overrides"], "training.epochs=6"],
        runs_dir=tmp_path / "runs",
    )
    assert resumed.status == "completed" and resumed.epochs == 6
    assert json.loads((copied / "meta.json").read_text())["resumed"][-1]["from_epoch"] == 4  # continued, not restarted
    a, b = RunFolder(copied), RunFolder(longer.path)
    assert_same_results(
        {1: (a.read_npz("weights.npz"), a.read_json("metrics.json"))},
        {1: (b.read_npz("weights.npz"), b.read_json("metrics.json"))},
    )


# --- Dask ----------------------------------------------------------------------------------


def test_dask_cluster_trains_remotely_matches_local_and_stops_on_interrupt(tmp_path, serial):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        result = run_sweep(TINY, GRID, backend="dask", scheduler=address, runs_dir=tmp_path / "client-runs")
        assert result.status == "completed"
        assert result.backend == f"Dask cluster at {address}"
        pids = {json.loads((p.run / "meta.json").read_text())["pid"] for p in result.points}
        assert os.getpid() not in pids  # every point trained in a worker; only the client wrote folders
        assert_same_results(point_results(result.path), point_results(serial))

        # Ctrl-C (raised here once the quick point is stored) must also stop the endless point on its worker.
        def interrupt(sweep, state):
            raise KeyboardInterrupt

        with pytest.raises(Interrupted) as caught:
            run_sweep(
                TINY,
                ["training.epochs=2,100000000"],
                backend="dask",
                scheduler=address,
                runs_dir=tmp_path / "stopped",
                on_point=interrupt,
            )
        assert [p.status for p in caught.value.result.points] == ["completed", "interrupted"]
        with distributed.Client(address) as client:

            def busy():
                return sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values())

            deadline = time.monotonic() + 10
            while busy() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert busy() == 0  # the worker gave up the point (it checks the stop event once a second)


def test_dask_backend_without_dask_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import now raises ImportError
    result = cli(
        "sweep",
        write_config(tmp_path / "tiny.yaml", TINY),
        "--grid",
        GRID[0],
        "--backend",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert result.exit_code == 2
    assert "pip install 'dltrain[cluster]'" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


# --- failures, interrupts, config -------------------------------------------------------------


def test_a_diverging_point_fails_alone_and_the_exit_code_says_so(tmp_path):
    config = write_config(
        tmp_path / "reg.yaml",
        {
            "name": "reg",
            "dataset": {"name": "sqrt_mean", "n": 200, "dim": 4},
            "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
            "training": {"optimizer": {"name": "gd", "lr": 0.1}, "epochs": 50},
            "output": {"plots": False},
        },
    )
    # lr 1e6 really diverges: the loss reaches inf in epoch 25 (last finite loss 6.2e+301).
    result = cli(
        "sweep", config, "--grid", "training.optimizer.lr=0.1,1e6,0.05", "--runs-dir", tmp_path / "runs", "--json"
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and "1 of 3 sweep points failed" in doc["error"]
    assert [p["status"] for p in doc["points"]] == ["completed", "failed", "completed"]
    assert doc["sort_by"] == "test.loss" and doc["best"] in (1, 3)
    failed = doc["points"][1]
    assert "the loss became inf in epoch" in failed["error"]
    meta = json.loads((Path(failed["run"]) / "meta.json").read_text())
    assert meta["status"] == "failed" and "lower training.optimizer.lr" in meta["error"]
    assert json.loads((Path(doc["sweep"]) / "sweep.json").read_text())["status"] == "failed"


def test_ctrl_c_keeps_finished_points_and_marks_the_rest_interrupted(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    runs = tmp_path / "runs"
    # Point 2 would run for hours; point 1 finishes at once.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dltrain",
            "sweep",
            str(config),
            "--grid",
            "training.epochs=2,100000000,3",
            "--runs-dir",
            str(runs),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(runs.glob("*/*-tiny-1_*/metrics.json")):
        time.sleep(0.05)
    time.sleep(0.3)  # well into point 2
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "interrupted"
    assert [p["status"] for p in doc["points"]] == ["completed", "interrupted", "interrupted"]
    assert doc["points"][0]["metrics"]["test"]["accuracy"] > 0.2  # a real, finished run (about 0.6 after 2 epochs)
    saved = json.loads((Path(doc["sweep"]) / "sweep.json").read_text())
    assert saved["status"] == "interrupted" and saved["counts"] == {
        "completed": 1,
        "failed": 0,
        "interrupted": 2,
        "pruned": 0,
        "pending": 0,
    }


def test_sweep_section_in_the_config_file(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", {**TINY, "sweep": {"grid": {"training.optimizer.lr": [0.01, 0.02]}}})
    result = cli(
        "sweep", config, "--grid", "training.epochs=2", "--sort-by", "val.loss", "--runs-dir", tmp_path / "runs"
    )
    assert result.exit_code == 0, result.output
    assert "sorted by val.loss (validation split), lower is better" in result.stdout
    sweep_dir = next((tmp_path / "runs").iterdir())
    saved = json.loads((sweep_dir / "sweep.json").read_text())
    assert saved["grid"] == {"training.optimizer.lr": [0.01, 0.02], "training.epochs": [2]}
    assert yaml.safe_load((sweep_dir / "sweep.yaml").read_text())["sweep"]["grid"] == saved["grid"]  # re-runnable
    losses = [p["metrics"]["val"]["loss"] for p in saved["points"]]
    assert saved["best"] == 1 + losses.index(min(losses))

    # `dltrain run` trains the base config and leaves the grid out of the run's config.yaml.
    single = cli("run", config, "--set", "training.epochs=1", "--runs-dir", tmp_path / "single", "--json")
    assert single.exit_code == 0, single.output
    assert "sweep" not in yaml.safe_load((Path(json.loads(single.stdout)["run"]) / "config.yaml").read_text())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "training.optimzer.lr=0.1,0.2"], "sweep point 1 (lr=0.1): invalid config"),
        (["--grid", "training.epochs=1", "--sort-by", "test.acc"], "--sort-by 'test.acc'"),
        (["--grid", "training.epochs=1", "--jobs", "0"], "--jobs must be 1 or more"),
        (["--grid", "training.epochs=1", "--backend", "dask"], "--backend dask needs --scheduler"),
        (
            ["--grid", "training.epochs=1", "--scheduler", "tcp://127.0.0.1:1"],
            "--scheduler applies to --backend dask only",
        ),
    ],
)
def test_bad_sweep_options_are_usage_errors_before_anything_is_written(tmp_path, args, message):
    result = cli("sweep", write_config(tmp_path / "tiny.yaml", TINY), *args, "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 2
    assert message in result.stderr and json.loads(result.stdout)["status"] == "error"
    assert not (tmp_path / "runs").exists()


def test_runs_lists_the_points_inside_sweep_folders(serial):
    result = cli("runs", serial.parent, "--json")
    assert result.exit_code == 0, result.output
    listed = {r["name"] for r in json.loads(result.stdout)}
    points = {Path(p["run"]).name for p in json.loads((serial / "sweep.json").read_text())["points"]}
    assert len(points) == 4 and points <= listed


def test_a_point_draws_its_figures_where_it_trains():
    from dltrain.sweep.point import Job, train_point

    trained = train_point(Job(1, 0, copy.deepcopy(TINY)), None)
    assert trained.status == "completed"
    assert {"cost.png", "accuracy.png", "confusion_matrix.png"} <= set(trained.record.figures)
    assert trained.record.views is None  # drawn: the samples do not travel back with the record
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in trained.record.figures.values())
