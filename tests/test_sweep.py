"""`dltrain sweep`: grid points as ordinary run folders, serially and in parallel processes."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
import signal
import sys
import time
import types
from pathlib import Path

import pytest
import yaml
from sweeps import assert_same_results, grid_args, results, start, sweep_json, tiny, write_config

from dltrain import api
from dltrain.errors import ConfigError
from dltrain.runs.folder import RunFolder
from dltrain.sweep import run_sweep
from dltrain.sweep.grid import expand, merge_grids, parse_values

TINY = tiny(plots=False)  # figures take most of a tiny run's time: drawn only where a test looks at them
GRID = ["training.optimizer.lr=0.01,0.001", "model.hidden=[8],[16, 4]"]


def folder_results(path: Path) -> tuple[dict, dict]:
    folder = RunFolder(path)
    return folder.read_npz("weights.npz"), folder.read_json("metrics.json")


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


def test_point_names_read_like_numbers():
    names = [p.name for p in expand({"training.optimizer.lr": [1e6, 0.001, 1e-5]}, "x")]
    assert names == ["x-1_lr1e6", "x-2_lr0.001", "x-3_lr1e-5"]


def test_a_grid_over_a_whole_section_names_points_by_the_section_name_and_its_keys():
    grid = {"dataset": [{"name": "or_gate"}, {"n": 50, "name": "sqrt_mean", "noise": 0.1}], "model.hidden": [[4, 2]]}
    assert [p.name for p in expand(grid, "x")] == ["x-1_or_gate_hidden4x2", "x-2_sqrt_mean-n50-noise0.1_hidden4x2"]


def test_grid_values_that_are_not_yaml_name_the_parser_s_complaint():
    with pytest.raises(ConfigError, match=r"not a comma-separated list of YAML values \(expected ',' or '\]'"):
        parse_values("1, [2")


@pytest.mark.parametrize("option", ["=0.1,0.2", "training.optimizer.lr=", "training.optimizer.lr= "])
def test_a_grid_option_without_a_key_or_values_is_refused(option):
    with pytest.raises(ConfigError, match="--grid expects key.path=value1,value2"):
        merge_grids({}, [option])


def test_a_grid_key_with_no_values_is_refused_not_dropped():
    with pytest.raises(ConfigError, match="sweep grid: training.epochs has no values"):
        merge_grids({"training.epochs": [], "model.hidden": [[4]]}, [])


def test_a_grid_of_max_runs_points_is_expanded_and_a_larger_one_refused():
    from dltrain.config.schema import MAX_RUNS

    assert len(expand({"a": [float(i) for i in range(MAX_RUNS // 2)], "b": [0.1, 0.2]}, "x")) == MAX_RUNS
    with pytest.raises(ConfigError, match="the sweep grid has 3 x 5000 = 15,000 points"):
        expand({"c": [1, 2, 3], "a": [float(i) for i in range(MAX_RUNS // 2)]}, "x")


def test_spaces_around_a_grid_key_are_not_part_of_it():
    assert merge_grids({}, [" training.epochs =1,2"]) == {"training.epochs": [1, 2]}


def test_a_long_point_name_is_cut_to_the_80_characters_of_a_run_name():
    (point,) = expand({"model.activation": ["a" * 100]}, "x")
    assert point.name == "x-1_" + "a" * 76


def test_a_long_grid_value_stays_on_one_line():
    hidden = list(range(100, 140))
    (point,) = expand({"model.hidden": [hidden]}, "x")
    assert point.overrides == [f"model.hidden={hidden}"]


# --- local backends ------------------------------------------------------------------------


def test_jobs_2_writes_four_run_folders_identical_to_serial(tmp_path, serial, cli):
    config = write_config(tmp_path / "tiny.yaml", TINY)
    result = cli("sweep", config, *grid_args(GRID), "--jobs", "2", "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    doc = result.json  # stdout is exactly one JSON document
    sweep_dir = Path(doc["sweep"])
    assert doc["status"] == "completed" and doc["counts"]["completed"] == 4
    assert "2 parallel processes" in doc["backend"]
    assert "[4/4]" in result.stderr and "best: #" in result.stderr

    saved = sweep_json(sweep_dir)
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
        assert meta["pid"] != os.getpid()  # trained in a worker process
    best = min(saved["points"], key=lambda p: -p["metrics"]["val"]["accuracy"])
    assert saved["best"] == best["index"]

    assert_same_results(results(sweep_dir), results(serial))


def test_a_sweep_point_is_an_ordinary_run(tmp_path, serial):
    point = sweep_json(serial)["points"][3]
    alone = api.run(copy.deepcopy(TINY), overrides=point["overrides"], runs_dir=tmp_path)
    assert_same_results({4: folder_results(alone.path)}, {4: results(serial)[4]})


def test_a_completed_point_s_meta_names_no_error(serial):
    for point in sweep_json(serial)["points"]:
        assert json.loads((serial / point["run"] / "meta.json").read_text())["error"] is None


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_point_that_stops_early_is_complete_like_the_same_run(tmp_path, jobs):
    """Early stopping ended a point 'interrupted' (in a sweep that said completed): no metrics,
    and the last epoch's weights instead of the best epoch's."""
    cfg = tiny(plots=False, epochs=200, early_stopping={"patience": 2, "restore_best": True})
    sweep = run_sweep(cfg, ["training.optimizer.lr=0.05,0.01"], runs_dir=tmp_path / "sweep", jobs=jobs)
    assert sweep.status == "completed"
    for point in sweep_json(sweep.path)["points"]:
        meta = json.loads((sweep.path / point["run"] / "meta.json").read_text())
        assert point["status"] == meta["status"] == "completed", meta["error"]
        assert meta["stopped_epoch"] < 200 and meta["best_epoch"] < meta["stopped_epoch"]
        alone = api.run(copy.deepcopy(cfg), overrides=point["overrides"], runs_dir=tmp_path / "runs")
        assert alone.epochs == meta["stopped_epoch"]
        assert_same_results({0: folder_results(sweep.path / point["run"])}, {0: folder_results(alone.path)})


def test_a_grid_over_kinds_gives_each_point_the_defaults_of_its_kind_as_run_does(tmp_path, cli):
    """The points came from the base config with every default filled in: sgd inherited Adam's
    beta1 (an unknown key for sgd) and the sweep refused to start; `run --set` took it."""
    grid = ["training.optimizer.name=adam,sgd", "training.schedule.name=constant,cosine"]
    sweep = run_sweep(copy.deepcopy(TINY), grid, runs_dir=tmp_path / "sweep")
    points = sweep_json(sweep.path)["points"]
    assert sweep.status == "completed" and len(points) == 4
    for point in points:
        alone = api.run(copy.deepcopy(TINY), overrides=point["overrides"], runs_dir=tmp_path / "runs")
        configs = [
            yaml.safe_load((path / "config.yaml").read_text()) for path in (sweep.path / point["run"], alone.path)
        ]
        assert [{**c, "name": None} for c in configs[:1]] == [{**c, "name": None} for c in configs[1:]]
        assert_same_results({0: folder_results(sweep.path / point["run"])}, {0: folder_results(alone.path)})
    doc = sweep_json(sweep.path)  # the last point cut off: --resume rebuilds it
    doc["status"], doc["points"][-1]["status"] = "interrupted", "interrupted"
    (sweep.path / "sweep.json").write_text(json.dumps(doc))
    result = cli("sweep", "--resume", sweep.path, "--json", code=0)
    assert result.json["status"] == "completed"


def test_an_override_inside_a_section_left_to_its_default_keeps_its_kind(tmp_path):
    """`training.optimizer.lr=0.1` on a config without an optimizer: 'optimizer.name: required key
    is missing'. Naming another kind still starts from that kind's defaults (mlp's init, not logreg's)."""
    cfg = {"name": "k", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}}
    from dltrain.config.loader import resolve

    optimizer = resolve(cfg, ["training.optimizer.lr=0.1"]).training.optimizer
    assert (optimizer.name, optimizer.lr) == ("gd", 0.1)
    assert resolve(cfg, ["model.type=mlp"]).model.init.name == "he"
    assert resolve(cfg, ["model.type=mlp", "model.init.name=xavier"]).model.init.name == "xavier"


def test_a_config_built_in_python_sweeps_and_resumes(tmp_path, cli):
    """Section objects put into a Config (GD(...), LogReg()) have their kind as a class default:
    dumped with only the given values, the kind was missing and the config refused."""
    from dltrain.config.loader import resolve
    from dltrain.nn.optimizers import GD

    cfg = resolve(copy.deepcopy(TINY))
    cfg.training.optimizer = GD(lr=0.05, momentum=0.9)
    assert api.run(cfg, overrides=iter(["training.epochs=2"]), runs_dir=tmp_path / "runs").epochs == 2
    sweep = run_sweep(cfg, ["seed=1,2"], runs_dir=tmp_path / "sweep")
    assert yaml.safe_load((sweep.path / "sweep.yaml").read_text())["training"]["optimizer"]["name"] == "gd"
    doc = sweep_json(sweep.path)
    doc["status"], doc["points"][-1]["status"] = "interrupted", "interrupted"
    (sweep.path / "sweep.json").write_text(json.dumps(doc))
    assert cli("sweep", "--resume", sweep.path, "--json", code=0).json["status"] == "completed"


@pytest.mark.parametrize(
    "grid",
    [
        ["dataset={name: sqrt_mean, n: 50},{name: sqrt_mean, n: 60}", "training.epochs=2"],  # and another key
        ["training.epochs=2", "dataset.name=sqrt_mean", "dataset.n=50"],
    ],
    ids=["the dataset section", "keys inside it"],
)
def test_sort_by_is_not_checked_against_the_base_data_when_the_sweep_varies_the_data(tmp_path, grid):
    """A grid over the whole dataset section (quickstart's digits -> sqrt_mean) was refused:
    'mse is not one of a classifier's metrics', though every point is a regression."""
    sweep = run_sweep("quickstart", grid, overrides=["training.epochs=2", "output.plots=false"], sort_by="test.mse",
                      runs_dir=tmp_path)  # fmt: skip
    assert sweep.status == "completed" and sweep.best() is not None and str(sweep.metric) == "test.mse"


def test_a_resume_counts_the_points_it_trains_again_when_they_come_back(tmp_path):
    """Failed points (trained again by a resume) counted as done: every progress line read [3/3];
    with repeats, a point whose other repeat was still cut off was told as interrupted."""
    from dltrain.cli.sweep_table import progress_line
    from dltrain.sweep import resume_sweep

    sweep = run_sweep(copy.deepcopy(TINY), ["training.optimizer.lr=0.01,0.02,0.03"], repeats=2, runs_dir=tmp_path)
    doc = sweep_json(sweep.path)
    doc["status"] = "failed"
    for point in doc["points"]:
        point["status"] = "failed"
        point["repeats"][0].update(status="failed", error="a full disk")
        point["repeats"][1].update(status="interrupted")
    (sweep.path / "sweep.json").write_text(json.dumps(doc))
    said = []
    resumed = resume_sweep(sweep.path, on_point=lambda s, p: said.append(progress_line(s, p).plain.split()[:3]))
    assert resumed.status == "completed"
    assert [line[0] for line in said] == ["[1/3]", "[2/3]", "[3/3]"] and {line[2] for line in said} == {"completed"}


def test_a_resume_continues_a_cut_off_point_from_its_checkpoint_and_counts_its_earlier_seconds(tmp_path):
    """Only the point cut off trains again, in its own folder from the checkpoint there: sweep.json says it is
    pending from the start, and its seconds and the sweep's are added to those of the session before."""
    from dltrain.sweep import resume_sweep

    sweep = run_sweep(copy.deepcopy(TINY), ["training.optimizer.lr=0.01,0.02"], runs_dir=tmp_path)
    doc = sweep_json(sweep.path)
    assert doc["seconds"] > 0 and doc["backend"] == "in this process"  # the API's default: one run at a time
    assert "dtype" not in yaml.safe_load((sweep.path / "sweep.yaml").read_text())["training"]  # the config as given
    done, cut = doc["points"]
    doc.update(status="interrupted", seconds=500.0)
    cut.update(status="interrupted", seconds=1000.0)
    (sweep.path / "sweep.json").write_text(json.dumps(doc))
    partial = sweep.path / cut["run"] / ".weights.npz.k2v_9x0a.tmp"  # what the session cut off was writing
    partial.write_bytes(b"PK")
    handler, at_start = signal.getsignal(signal.SIGINT), []
    resumed = resume_sweep(
        sweep.path,
        on_start=lambda s: at_start.append((sweep_json(s.path), signal.getsignal(signal.SIGINT))),
    )
    ((started, handler_then),) = at_start
    assert [p["status"] for p in started["points"]] == ["completed", "pending"] and started["status"] == "running"
    assert handler_then is handler  # the API leaves Ctrl-C to its caller unless asked (handle_signals)
    meta = json.loads((sweep.path / cut["run"] / "meta.json").read_text())
    assert resumed.status == "completed" and meta["resumed"][-1]["from_epoch"] == 4  # continued, not restarted
    assert len(resumed.resumed) == 1 and len(sweep_json(sweep.path)["resumed"]) == 1
    assert meta["seconds"] >= 1000.0 and resumed.points[1].seconds >= 1000.0 and resumed.seconds > 500.0
    assert "resumed" not in json.loads((sweep.path / done["run"] / "meta.json").read_text())  # not trained again
    assert meta["sweep"] == {"folder": "tiny", "point": 2, "values": cut["values"]}  # no repeat number
    assert not partial.exists()


def test_a_point_resumed_twice_keeps_when_from_which_epoch_and_by_what_command_each_session_resumed_it(tmp_path):
    from dltrain.sweep import resume_sweep

    sweep = run_sweep(copy.deepcopy(TINY), ["training.optimizer.lr=0.01"], runs_dir=tmp_path)
    for argv in (["dltrain", "sweep", "--resume", "first"], ["dltrain", "sweep", "--resume", "second"]):
        doc = sweep_json(sweep.path)
        doc["status"] = doc["points"][0]["status"] = "interrupted"
        (sweep.path / "sweep.json").write_text(json.dumps(doc))
        resume_sweep(sweep.path, argv=argv)
    (point,) = sweep_json(sweep.path)["points"]
    resumed = json.loads((sweep.path / point["run"] / "meta.json").read_text())["resumed"]
    assert [(r["from_epoch"], r["argv"][-1]) for r in resumed] == [(4, "first"), (4, "second")]
    assert all(sorted(r) == ["argv", "at", "from_epoch"] and r["at"] for r in resumed)
    sessions = sweep_json(sweep.path)["resumed"]  # and the sweep's own account of its sessions
    assert [(sorted(s), s["argv"][-1]) for s in sessions] == [(["argv", "at"], "first"), (["argv", "at"], "second")]


def test_a_sweep_point_resumes_like_a_run(tmp_path, serial):
    """Each point folder keeps its checkpoint: `resume --epochs 6` on a 4-epoch point equals a 6-epoch run."""
    point = sweep_json(serial)["points"][1]
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
    assert_same_results({1: folder_results(copied)}, {1: folder_results(longer.path)})


def test_dask_backend_without_dask_is_a_clear_usage_error(tmp_path, monkeypatch, cli):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import now raises ImportError
    result = cli(
        "sweep",
        write_config(tmp_path / "tiny.yaml", TINY),
        *grid_args(GRID[:1]),
        "--backend",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert result.exit_code == 2
    assert "pip install 'dltrain[cluster]'" in result.stderr
    assert not (tmp_path / "runs").exists()


# --- failures, config -----------------------------------------------------------------------


def test_a_point_ended_by_a_bug_names_the_traceback_its_folder_keeps(tmp_path, monkeypatch):
    from dltrain.errors import TrainingFailed
    from dltrain.pipeline.experiment import Experiment

    def broken(self, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Experiment, "train", broken)
    with pytest.raises(TrainingFailed, match="1 of 1 sweep points failed") as caught:
        run_sweep(TINY, ["training.optimizer.lr=0.01"], runs_dir=tmp_path)
    (point,) = caught.value.result.points
    log = point.runs[0].path / "error.log"
    assert "ZeroDivisionError: a bug" in log.read_text()
    assert json.loads((log.parent / "meta.json").read_text())["error"].endswith(f"(the traceback is in {log})")


def test_a_diverging_point_fails_alone_and_the_exit_code_says_so(tmp_path, cli):
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
    # lr 1e6 really diverges: epoch 2's loss (3.6e24) is far past training.divergence_factor times the first.
    result = cli(
        "sweep", config, "--grid", "training.optimizer.lr=0.1,1e6,0.05", "--runs-dir", tmp_path / "runs", "--json"
    )
    assert result.exit_code == 1
    doc = result.json
    assert doc["status"] == "failed" and "1 of 3 sweep points failed" in doc["error"]
    assert [p["status"] for p in doc["points"]] == ["completed", "failed", "completed"]
    assert doc["sort_by"] == "test.loss" and doc["best"] in (1, 3)
    failed = doc["points"][1]
    assert "in epoch 2, over training.divergence_factor (10000) times the first loss" in failed["error"]
    meta = json.loads((Path(failed["run"]) / "meta.json").read_text())
    assert meta["status"] == "failed" and "lower training.optimizer.lr" in meta["error"]
    assert sweep_json(Path(doc["sweep"]))["status"] == "failed"


def test_sweep_section_in_the_config_file(tmp_path, cli):
    config = write_config(tmp_path / "tiny.yaml", {**TINY, "sweep": {"grid": {"training.optimizer.lr": [0.01, 0.02]}}})
    result = cli(
        "sweep", config, "--grid", "training.epochs=2", "--sort-by", "val.loss", "--runs-dir", tmp_path / "runs"
    )
    assert result.exit_code == 0, result.output
    assert "sorted by val.loss (validation split), lower is better" in result.stdout
    sweep_dir = next((tmp_path / "runs").iterdir())
    saved = sweep_json(sweep_dir)
    assert saved["grid"] == {"training.optimizer.lr": [0.01, 0.02], "training.epochs": [2]}
    assert yaml.safe_load((sweep_dir / "sweep.yaml").read_text())["sweep"]["grid"] == saved["grid"]  # re-runnable
    losses = [p["metrics"]["val"]["loss"] for p in saved["points"]]
    assert saved["best"] == 1 + losses.index(min(losses))

    # `dltrain run` trains the base config and leaves the grid out of the run's config.yaml.
    single = cli("run", config, "--set", "training.epochs=1", "--runs-dir", tmp_path / "single", "--json")
    assert single.exit_code == 0, single.output
    assert "sweep" not in yaml.safe_load((Path(single.json["run"]) / "config.yaml").read_text())


SPACE = {"training.optimizer.lr": {"loguniform": [0.001, 0.1]}}


def never_started(result):
    """on_start for a sweep that must be refused first: fail at once rather than train what it should not."""
    raise AssertionError(f"{result.path} started training")


def test_an_optuna_search_of_max_runs_trials_is_not_refused_for_its_size(tmp_path):
    from dltrain.config.schema import MAX_RUNS

    cfg = {**copy.deepcopy(TINY), "sweep": {"space": SPACE}}
    with pytest.raises(ConfigError, match="r2 is not one of a classifier's metrics"):  # the check after the size's
        # a sort-by left unchecked would train 10,000 trials: never_started fails at once instead
        run_sweep(cfg, search="optuna", trials=MAX_RUNS, sort_by="test.r2", runs_dir=tmp_path, on_start=never_started)


def test_prune_in_the_config_file_is_checked_as_the_option_is_and_never_judges_repeats(tmp_path):
    cfg = {**copy.deepcopy(TINY), "sweep": {"grid": {"training.epochs": [1]}, "prune": True}}
    with pytest.raises(ConfigError, match="--prune applies to --search optuna"):
        run_sweep(cfg, runs_dir=tmp_path)
    with pytest.raises(ConfigError, match="--prune judges single runs: use it without --repeats"):
        run_sweep(
            {**cfg, "sweep": {"space": SPACE}}, search="optuna", trials=2, prune=True, repeats=2, runs_dir=tmp_path
        )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "sweep, kwargs, message",
    [
        ({"grid": {"training.epochs": [1]}}, {"repeats": 0}, "--repeats must be 1 or more, got 0"),
        ({"space": SPACE}, {"search": "random", "trials": 0}, "--trials must be 1 or more, got 0"),
        (
            {"grid": {"training.epochs": [1]}},
            {"repeats": 10_001},
            "--repeats 10,001: a sweep trains at most 10,000 runs",
        ),
        (
            {"space": SPACE},
            {"search": "random", "trials": 10_001},
            "--trials 10,001: a sweep trains at most 10,000 runs",
        ),
        (
            {"grid": {"training.epochs": [1, 2, 3]}},
            {"repeats": 3_334},
            "3 points x 3,334 repeats: a sweep trains at most 10,000 runs",
        ),
        (
            {"space": SPACE},
            {"search": "optuna", "trials": 5_001, "repeats": 2},
            "5,001 points x 2 repeats: a sweep trains at most 10,000 runs",
        ),
        ({"grid": {"training.epochs": [1]}}, {"prune": True}, "--prune applies to --search optuna"),
        (
            {"space": SPACE},
            {"search": "optuna", "trials": 2, "prune": True, "repeats": 2},
            "--prune judges single runs: use it without --repeats",
        ),
        (
            {"grid": {"seed": [1, 2]}},
            {"repeats": 2},
            "--repeats gives each repeat a seed of its own: sweep over `seed` or repeat, not both",
        ),
        (
            {"space": {**SPACE, "seed": {"int": [1, 9]}}},
            {"search": "random", "trials": 2, "repeats": 2},
            "--repeats gives each repeat a seed of its own: sweep over `seed` or repeat, not both",
        ),
    ],
    ids=[
        "repeats 0",
        "trials 0",
        "repeats",
        "trials",
        "points x repeats",
        "optuna trials x repeats",
        "prune on a grid",
        "prune with repeats",
        "seed grid with repeats",
        "seed space with repeats",
    ],
)
def test_run_sweep_refuses_what_it_cannot_train_in_full_before_anything_is_written(tmp_path, sweep, kwargs, message):
    """The whole message: an Optuna search counts its trials as its points (not the edges of its space), and
    `seed` in a random search's space cannot be repeated any more than a grid over it."""
    with pytest.raises(ConfigError) as refused:
        run_sweep({**copy.deepcopy(TINY), "sweep": sweep}, runs_dir=tmp_path, on_start=never_started, **kwargs)
    assert str(refused.value) == message
    assert not any(tmp_path.iterdir())


def test_a_grid_search_of_a_config_whose_sweep_section_is_a_search_trains_its_grid(tmp_path):
    """--search grid on a config whose `sweep:` is a random search of `trials` points: its trials are the
    search's, not the grid's (which refused them: '--trials applies to --search random|optuna')."""
    cfg = {**copy.deepcopy(TINY), "sweep": {"search": "random", "trials": 5, "grid": {"training.epochs": [1, 2]}}}
    sweep = run_sweep(cfg, search="grid", runs_dir=tmp_path)
    assert sweep.status == "completed" and sweep.search == "grid" and sweep.planned == 2
    assert [p.point.values for p in sweep.points] == [{"training.epochs": 1}, {"training.epochs": 2}]
    sweep_yaml = (sweep.path / "sweep.yaml").read_text()  # re-runnable as it stands: a grid of every point
    assert sweep_yaml.endswith(
        "sweep:\n  search: grid\n  repeats: 1\n  grid:\n    training.epochs:\n    - 1\n    - 2\n"
    )


def test_run_sweep_and_resume_sweep_default_as_dltrain_sweep_does_but_leave_ctrl_c_to_their_caller():
    """The API trains as the command does when given no options: on this machine, one run at a time, the data
    read here, Dask's workers waited for as long, into ./runs; only signals are the caller's to handle."""
    import inspect

    from dltrain.cli.sweep import sweep as command
    from dltrain.sweep.runner import Options

    flags = {name: param.default.default for name, param in inspect.signature(command).parameters.items()}
    api = inspect.signature(run_sweep).parameters
    for name in ("backend", "jobs", "scheduler", "data_dir", "data_on_workers", "worker_timeout"):
        assert getattr(Options(), name) == flags[name], name
    assert Path(api["runs_dir"].default) == flags["runs_dir"] and api["prune"].default is flags["prune"] is False
    assert Options().handle_signals is False and Options().argv == []


def test_run_sweep_and_resume_sweep_name_the_options_they_do_not_know(tmp_path):
    from dltrain.sweep import resume_sweep

    with pytest.raises(TypeError) as unknown:
        run_sweep(TINY, ["training.epochs=1"], runs_dir=tmp_path, job=2, backends="dask")
    assert str(unknown.value) == "unknown sweep options: backends, job"
    with pytest.raises(TypeError, match="^unknown sweep options: on_end$"):
        resume_sweep(tmp_path, on_end=print)
    assert not any(tmp_path.iterdir())


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
        (["--grid", "training.epochs=1", "--search", "random"], "--search random needs --trials N"),
        (["--grid", "training.epochs=1", "--prune"], "--prune applies to --search optuna"),
        (
            [
                "--grid",
                "training.epochs=1",
                "--backend",
                "dask",
                "--scheduler",
                "tcp://127.0.0.1:1",
                "--data-on-workers",
                "--data-dir",
                "rel",
            ],
            "relative",
        ),  # fmt: skip
        (["--grid", "training.epochs=1", "--repeats", "0"], "--repeats must be 1 or more"),
        (["--grid", "training.optimizer.lr=0.1", "--search", "random", "--trials", "0"], "--trials must be 1 or more"),
        (["--resume", "nowhere", "--sort-by", "test.loss"], "leave out --sort-by"),
        (["--grid", "training.optimizer.lr=0.1", "--sort-by", "test.r2"], "r2 is not one of a classifier's metrics"),
        (
            ["--grid", "training.optimizer.lr=0.1", "--set", "dataset.validation_split=0", "--sort-by", "val.loss"],
            "the runs have no val split (they have train, test)",
        ),  # fmt: skip
        (["--resume", "nowhere", "--trials", "0"], "leave out --trials"),
        (["--resume", "nowhere", "--repeats", "0"], "leave out --repeats"),
        (["--resume", "nowhere"], "no sweep.json there"),
        (["--grid", "training.epochs=1", "--resume", "nowhere"], "--resume continues the sweep as it was defined"),
    ],
)
def test_bad_sweep_options_are_usage_errors_before_anything_is_written(tmp_path, args, message, cli):
    config = [] if args[0] == "--resume" else [write_config(tmp_path / "tiny.yaml", TINY)]
    result = cli("sweep", *config, *args, "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 2
    assert message in result.stderr and result.json["status"] == "error"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["{config}", "--grid", "model.hiden=[1],[2]"], "unknown key (did you mean 'hidden'?)"),
        (["--resume", "{tmp}"], "no sweep.json there"),
        (
            ["{config}", "--grid", "model.hidden=[1],[2]", "--runs-dir", "{config}/runs"],
            "cannot create the runs directory",
        ),
    ],
)
def test_a_parallel_sweep_that_cannot_start_ends_with_its_error_alone(tmp_path, args, message):
    """Exit 2 with the error and nothing after it, whether the sweep stopped before its worker
    processes started or while they were starting: none is left to fail later, when this process
    has gone, with a traceback of its own."""
    config = write_config(tmp_path / "tiny.yaml", TINY)
    proc = start("sweep", *[a.format(config=config, tmp=tmp_path) for a in args], "--jobs", 2, own_group=True)
    try:
        _, err = proc.communicate(timeout=60)  # stderr ends when every process writing to it has ended
    finally:  # a failing test leaves no process behind: the sweep has a process group of its own
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 2, err
    assert err.startswith("error: ") and message in err and "Traceback" not in err, err


def test_a_usage_error_with_json_still_prints_one_json_document(cli):
    result = cli("sweep", "x.yaml", "--jsn", "--json", process=True)
    assert result.exit_code == 2
    assert result.json["status"] == "error" and "--jsn" in result.json["error"]  # exactly one JSON document


def test_runs_lists_the_points_inside_sweep_folders(serial, cli):
    result = cli("runs", serial.parent, "--json")
    assert result.exit_code == 0, result.output
    listed = {r["name"] for r in result.json}
    points = {Path(p["run"]).name for p in sweep_json(serial)["points"]}
    assert len(points) == 4 and points <= listed


@pytest.mark.parametrize("judged_at, status", [(4, "completed"), (3, "pruned")])
def test_a_point_judged_worse_at_its_last_epoch_is_complete_not_pruned(judged_at, status):
    """The pruner's 'stop' after the last epoch stopped nothing, yet the point lost its metrics as pruned."""
    from dltrain.sweep.point import Job, train_point

    record = train_point(Job(1, 0, tiny(plots=False), prune=lambda r: r.epoch == judged_at), None)
    assert record.meta["status"] == status and record.meta["epochs_done"] == judged_at
    assert bool(record.metrics) == (status == "completed")


def test_a_point_draws_its_figures_where_it_trains():
    from dltrain.pipeline.experiment import RunRecord
    from dltrain.sweep.point import Job, train_point

    record = train_point(Job(1, 0, tiny()), None)
    assert isinstance(record, RunRecord) and record.meta["status"] == "completed"
    assert {"cost.png", "accuracy.png", "confusion_matrix.png"} <= set(record.figures)
    assert record.views is None  # drawn: the samples do not travel back with the record
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in record.figures.values())


@pytest.mark.parametrize("point", [1, 2])  # the first result, or one after a point that was written
def test_a_run_whose_folder_cannot_be_written_fails_and_a_resume_writes_that_folder_again(tmp_path, monkeypatch, point):
    import dltrain.sweep.execute as execute
    from dltrain.errors import RunFolderError
    from dltrain.sweep import resume_sweep

    save_record = execute.save_record

    def full_disk_for_the_point(target, record, **kw):
        if record.meta["sweep"]["point"] == point:
            target.write_text("metrics.json", "{")  # what was written before the disk filled
            raise RunFolderError(f"cannot write {target.path / 'weights.npz'}: No space left on device")
        save_record(target, record, **kw)

    monkeypatch.setattr(execute, "save_record", full_disk_for_the_point)
    with pytest.raises(Exception, match="1 of 2 sweep points failed"):
        run_sweep(TINY, ["training.optimizer.lr=0.01,0.001"], runs_dir=tmp_path)
    (sweep_dir,) = tmp_path.iterdir()
    doc = sweep_json(sweep_dir)
    failed = doc["points"][point - 1]
    assert failed["status"] == "failed" and "No space left on device" in failed["error"]
    folders = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(folders) == 2 and (sweep_dir / failed["run"]).resolve() == folders[point - 1].resolve()

    monkeypatch.setattr(execute, "save_record", save_record)
    resumed = resume_sweep(sweep_dir)
    assert (
        resumed.status == "completed"
        and resumed.points[point - 1].runs[0].path.resolve() == folders[point - 1].resolve()
    )
    assert sorted(p for p in sweep_dir.iterdir() if p.is_dir()) == folders  # no second folder for the point
    assert json.loads((folders[point - 1] / "meta.json").read_text())["resumed"][-1]["from_epoch"] == 0  # no checkpoint
    assert json.loads((folders[point - 1] / "metrics.json").read_text())["test"]


# --- sweep.json while the sweep trains ----------------------------------------------------------


def _fresh(sweep) -> bytes:
    """sweep.json as the whole sweep, each point serialized now, gives it (no tracking)."""
    return (json.dumps(dataclasses.replace(sweep).as_dict(relative=True), indent=2, allow_nan=True) + "\n").encode()


def test_each_rewrite_of_sweep_json_is_the_whole_sweep_and_only_the_first_and_last_are_flushed(tmp_path, monkeypatch):
    """Repeats, a point whose folder cannot be written, the best changing, Ctrl-C leaving a point unfinished:
    every sweep.json is the sweep as it stands, though only changed points are serialized again; the disk
    sees it at the start and the end."""
    import dltrain.runs.folder as folder
    import dltrain.sweep.execute as execute
    from dltrain.errors import Interrupted, RunFolderError

    written, sweeps = [], []
    write_atomically, save_record = folder.write_atomically, execute.save_record

    def recorded(target, data, sync=True):
        if target.name == "sweep.json":
            written.append((sync, data == _fresh(sweeps[0]) if sweeps else True))
        return write_atomically(target, data, sync)

    def full_disk_for_point_2(target, record, **kw):
        if (record.meta["sweep"]["point"], record.meta["sweep"]["repeat"]) == (2, 2):
            raise RunFolderError(f"cannot write {target.path / 'weights.npz'}: No space left on device")
        save_record(target, record, **kw)

    def ctrl_c_after_point_3(sweep, state):
        if state.point.index == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(folder, "write_atomically", recorded)
    monkeypatch.setattr(execute, "save_record", full_disk_for_point_2)
    monkeypatch.setattr(execute, "SYNC_SECONDS", 3600.0)
    grid = ["training.optimizer.lr=0.001,0.01,0.03,0.1"]
    with pytest.raises(Interrupted, match="after 2 of 4 points"):
        run_sweep(TINY, grid, repeats=2, runs_dir=tmp_path, on_start=sweeps.append, on_point=ctrl_c_after_point_3)
    (sweep,) = sweeps
    assert [p.status for p in sweep.points] == ["completed", "failed", "completed", "interrupted"]
    assert len(written) == 1 + 6 + 1 and all(same for _, same in written)
    assert [sync for sync, _ in written] == [True] + [False] * 6 + [True]
    assert (sweep.path / "sweep.json").read_bytes() == _fresh(sweep)


def test_a_tracked_sweep_counts_ranks_and_writes_its_points_as_an_untracked_one_does(tmp_path):
    """Points changed at random, the best among them made worse too: counts, best and json_text agree."""
    import random

    from dltrain.pipeline.session import RunResult
    from dltrain.sweep.grid import Point
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.state import PointState, SweepResult

    rng = random.Random(5)
    points = [PointState(Point(i, {"lr": i / 10}, f"p-{i}"), [RunResult(None, "pending")]) for i in range(1, 9)]
    sweep = SweepResult(tmp_path, "s", {"lr": [0.1, 1e-3, float("nan")]}, points, "in this process")
    with sweep.tracking():
        for step in range(200):
            if step == 5:
                sweep.metric = Metric("test", "loss")
            if step == 7:
                sweep.resumed.append({"at": "now", "argv": ["dltrain"]})  # a field that does not change, changed
            state = rng.choice(sweep.points) if step % 3 else sweep.best() or sweep.points[0]
            status = rng.choice(["completed"] * 4 + ["failed", "interrupted", "pending", "pruned"])
            loss = rng.choice([0.5, 1.0, 2.0, float("nan")]) if status == "completed" else None
            state.runs[0] = RunResult(tmp_path / state.point.name, status, {"test": {"loss": loss}} if loss else {})
            sweep.changed(state)
            if step % 40 == 0:
                sweep.points.append(
                    PointState(Point(len(sweep.points) + 1, {"lr": 1}, "new"), [RunResult(None, "pending")])
                )
            untracked = dataclasses.replace(sweep)
            assert sweep.best() is untracked.best() and sweep.done == untracked.done
            assert [sweep.count(s) for s in ("completed", "failed", "pending")] == [
                untracked.count(s) for s in ("completed", "failed", "pending")
            ]
            assert sweep.json_text().encode() == _fresh(sweep)


def test_a_sweep_tracked_from_points_with_results_knows_its_best_point_at_once(tmp_path):
    """As a resume starts: the points that trained before are ranked as tracking takes them in."""
    from dltrain.pipeline.session import RunResult
    from dltrain.sweep.grid import Point
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.state import PointState, SweepResult

    points = [
        PointState(
            Point(i, {"lr": i}, f"p-{i}"), [RunResult(tmp_path / f"p-{i}", "completed", {"test": {"loss": loss}})]
        )
        for i, loss in ((1, 1.0), (2, 2.0), (3, 0.5))
    ]
    sweep = SweepResult(tmp_path, "s", {"lr": [1, 2, 3]}, points, "in this process", Metric("test", "loss"))
    with sweep.tracking():
        assert sweep.best() is points[2]
        points[1].runs[0] = RunResult(tmp_path / "p-2", "completed", {"test": {"loss": 1.5}})
        sweep.changed(points[1])
        assert sweep.best() is points[2]


def _point_state(*runs, trial=None):
    from dltrain.sweep.grid import Point
    from dltrain.sweep.state import PointState

    return PointState(Point(1, {"lr": 0.1}, "p-1"), list(runs), trial)


def test_a_point_of_one_run_is_that_run_its_folder_epochs_seed_and_metrics_as_they_are(tmp_path):
    from dltrain.pipeline.session import RunResult

    run = RunResult(tmp_path / "p-1", "completed", {"test": {"loss": 1, "note": "kept"}}, 1.23456, 5, seed=7)
    state = _point_state(run)
    assert state.metrics is run.metrics and state.metrics_std == {}
    assert state.run == tmp_path / "p-1" and state.epochs == 5 and state.seconds == 1.235
    doc = state.as_dict(tmp_path)
    assert doc["run"] == "p-1" and doc["seed"] == 7 and doc["epochs"] == 5
    assert "repeats" not in doc and "metrics_std" not in doc and "trial" not in doc
    failed = RunResult(tmp_path / "p-1", "failed", {"test": {"loss": 9.0}}, error="diverged")
    assert _point_state(failed).metrics == {"test": {"loss": 9.0}}  # what it had before it failed
    assert _point_state(failed, trial=3).as_dict()["trial"] == 3


def test_a_point_of_repeats_has_the_mean_and_spread_of_the_metrics_every_repeat_has(tmp_path):
    from dltrain.pipeline.session import RunResult

    runs = [
        RunResult(tmp_path / "a", "completed", {"test": {"loss": 1.0, "acc": 0.5}}, 1.23456, 4, seed=1),
        RunResult(tmp_path / "b", "completed", {"test": {"loss": 3.0, "acc": None}}, 2.0, 4, seed=2),
    ]
    state = _point_state(*runs)
    assert state.metrics == {"test": {"loss": 2.0}} and state.metrics_std == {"test": {"loss": 1.0}}
    assert state.run is None and state.epochs is None and state.seconds == 3.235
    doc = state.as_dict(tmp_path)
    assert doc["run"] is None and "seed" not in doc and doc["metrics_std"] == {"test": {"loss": 1.0}}
    assert [(r["run"], r["seed"]) for r in doc["repeats"]] == [("a", 1), ("b", 2)]
    runs[1] = RunResult(tmp_path / "b", "failed", {}, None, error="diverged")
    state = _point_state(*runs)
    assert state.metrics == {} and state.metrics_std == {} and state.error == "diverged" and state.seconds == 1.235
    assert _point_state(RunResult(None, "pending"), RunResult(None, "pending")).seconds is None


def test_a_sweep_without_a_metric_ranks_its_points_in_their_order_and_its_grid_is_its_space(tmp_path):
    from dltrain.pipeline.session import RunResult
    from dltrain.sweep.grid import Point
    from dltrain.sweep.state import PointState, SweepResult

    points = [PointState(Point(i, {"lr": i}, f"p-{i}"), [RunResult(None, "pending")]) for i in (1, 2)]
    sweep = SweepResult(tmp_path, "s", {"lr": [1, 2]}, points, "in this process")
    assert sweep.ranked() == points and sweep.ranked() is not sweep.points and sweep.best() is None
    assert sweep.grid == {"lr": [1, 2]}


def test_a_run_of_a_point_is_named_after_it_and_a_repeat_adds_its_number_and_seed():
    from dltrain.config.loader import validate
    from dltrain.sweep.grid import Point
    from dltrain.sweep.run_configs import run_config

    base = validate(TINY)
    point = Point(2, {"training.optimizer.lr": 0.5}, "lr-0.5")
    alone = run_config(base, point, base.seed, 1)
    assert alone.name == "lr-0.5" and alone.seed == base.seed and alone.training.optimizer.lr == 0.5
    repeat = run_config(base, point, 99, 3, 1)
    assert repeat.name == "lr-0.5_r2" and repeat.seed == 99 and repeat.training.optimizer.lr == 0.5
    long = Point(2, {"training.optimizer.lr": 0.5}, "x" * 80)
    first = run_config(base, long, 99, 2, 0)
    assert first.name == "x" * 76 + "_r1" and first.seed == 99


@pytest.mark.parametrize("index, where", [(3, "sweep point 3 (lr=-1)"), (0, "an edge of the sweep space (lr=-1)")])
def test_a_point_whose_config_is_invalid_is_named_in_the_error(index, where):
    from dltrain.config.loader import validate
    from dltrain.sweep.grid import Point
    from dltrain.sweep.run_configs import run_config

    with pytest.raises(ConfigError) as err:
        run_config(validate(TINY), Point(index, {"training.optimizer.lr": -1}, "p"), 3, 1)
    assert str(err.value).startswith(f"{where}: ")


def test_a_run_queued_after_a_stop_was_asked_for_comes_back_interrupted_without_training():
    from dltrain.sweep import point
    from dltrain.sweep.point import Job, train_point

    point.request_stop()
    try:
        asked_here = train_point(Job(1, 0, tiny(plots=False)), None)
    finally:
        point.clear_stop()
    asked_by_the_sweep = train_point(Job(1, 0, tiny(plots=False)), None, stop=lambda: True)
    for returned in (asked_here, asked_by_the_sweep):
        assert (returned.path, returned.status) == (None, "interrupted")
        assert returned.error == "the sweep was interrupted before this run started"


def test_a_run_whose_config_is_invalid_comes_back_failed_without_training():
    from dltrain.sweep.point import Job, train_point

    returned = train_point(Job(1, 0, {**tiny(plots=False), "model": {"type": "nope"}}), None)
    assert (returned.path, returned.status) == (None, "failed") and "nope" in returned.error


def test_a_bug_that_ends_a_run_comes_back_with_its_traceback_and_no_checkpoint_or_figures(monkeypatch):
    from dltrain.pipeline.experiment import Experiment
    from dltrain.sweep.point import Job, train_point

    def broken(self, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Experiment, "train", broken)
    record = train_point(Job(1, 0, tiny()), None)
    assert record.meta["status"] == "failed" and "ZeroDivisionError: a bug" in record.error_log
    assert not record.checkpoint and not record.figures  # figures are drawn for a completed run only


def test_a_run_given_a_checkpoint_that_does_not_fit_its_config_fails_without_training():
    """The checkpoint of a run cut off earlier is restored before training, and checked against the config."""
    from dltrain.sweep.point import Job, train_point

    cut_off = train_point(Job(1, 0, tiny(plots=False), prune=lambda r: r.epoch == 2), None)
    assert cut_off.meta["status"] == "pruned" and cut_off.checkpoint
    wider = {**tiny(plots=False), "model": {"type": "mlp", "hidden": [16], "activation": "relu"}}
    returned = train_point(Job(1, 0, wider, resume=cut_off.checkpoint), None)
    assert (returned.path, returned.status) == (None, "failed") and "checkpoint.npz" in returned.error


def _scripted(monkeypatch, tmp_path, acts: dict[int, str], points: int = 4, workers: int = 2) -> dict:
    """What the local pool backend returns for points 1..`points` running `scripted_point`."""
    from sweeps import scripted_point

    from dltrain.sweep import backends
    from dltrain.sweep.point import Job

    monkeypatch.setattr(backends, "train_point", scripted_point)
    jobs = [Job(i, 0, {"marks": str(tmp_path), "act": acts.get(i)}) for i in range(1, points + 1)]
    with backends.Pool(workers) as backend:
        return {key[0]: returned for key, returned in backend.run(iter(jobs), 1 << 30, None)}


def test_a_worker_killed_fails_its_own_run_and_the_others_run_again_on_new_workers(tmp_path, monkeypatch):
    """Killed for memory, a worker used to take every run of the pool with it, those not started too."""
    got = _scripted(monkeypatch, tmp_path, {1: "die", 2: "slow"})
    assert got[1].status == "failed" and got[1].error == "the worker process died (killed by SIGKILL: out of memory?)"
    assert [got[i].status for i in (2, 3, 4)] == ["completed"] * 3
    assert (tmp_path / "2").read_text() == "started\n" * 2  # running beside it: cut off, then run again
    assert (tmp_path / "1").read_text() == "started\n"  # the run that killed its worker is not tried again


def test_a_run_that_kills_its_worker_fails_even_when_its_start_is_read_late(tmp_path, monkeypatch):
    """The run's start, told by its worker just before it died, could still be unread when the pool
    broke: the run was then taken for one that never started, and tried again."""
    from multiprocessing.connection import Connection

    def slow(recv):
        def read(self):
            message = recv(self)
            if isinstance(message, tuple) and None not in message:  # a run's start: handled half a second late
                time.sleep(0.5)
            return message

        return read

    monkeypatch.setattr(Connection, "recv", slow(Connection.recv))
    got = _scripted(monkeypatch, tmp_path, {1: "die"}, points=2)
    assert got[1].status == "failed" and "killed by SIGKILL" in got[1].error
    assert (tmp_path / "1").read_text() == "started\n"
    # a run cut off by another's death, then killing its own worker when tried again: its last start counts
    (tmp_path / "again").mkdir()
    got = _scripted(monkeypatch, tmp_path / "again", {1: "die-when-retried", 2: "die"}, points=2)
    assert [got[k].status for k in (1, 2)] == ["failed", "failed"] and "killed by SIGKILL" in got[1].error
    assert (tmp_path / "again" / "1").read_text() == "started\n" * 2


def test_workers_that_keep_breaking_with_no_run_coming_back_end_the_sweep(tmp_path, monkeypatch):
    from dltrain.sweep.backends import MAX_RESTARTS, NoWorkers

    with pytest.raises(NoWorkers, match=f"the worker processes broke {MAX_RESTARTS + 1} times in a row with no run"):
        _scripted(monkeypatch, tmp_path, {1: "exit", 2: "exit", 3: "exit", 4: "exit"})


def test_a_pool_gives_up_once_max_restarts_new_workers_broke_as_well(tmp_path, monkeypatch):
    from dltrain.sweep.backends import MAX_RESTARTS, NoWorkers

    with pytest.raises(NoWorkers, match=f"broke {MAX_RESTARTS + 1} times"):
        _scripted(monkeypatch, tmp_path, {1: "exit"}, points=1, workers=1)
    assert (tmp_path / "1").read_text() == "started\n" * (MAX_RESTARTS + 1)  # on the first worker and each new one


def test_breaks_with_a_run_coming_back_between_them_do_not_add_up(tmp_path, monkeypatch):
    """Each point breaks its worker MAX_RESTARTS times before it completes: allowed, since the first one's
    completion starts the count again."""
    from dltrain.sweep.backends import MAX_RESTARTS

    act = f"exit {MAX_RESTARTS} times"
    got = _scripted(monkeypatch, tmp_path, {1: act, 2: act}, points=2, workers=1)
    assert [got[k].status for k in (1, 2)] == ["completed"] * 2
    assert [(tmp_path / k).read_text() for k in "12"] == ["started\n" * (MAX_RESTARTS + 1)] * 2


def test_a_run_whose_result_cannot_come_back_from_its_worker_fails_alone(tmp_path, monkeypatch):
    got = _scripted(monkeypatch, tmp_path, {1: "unpicklable"}, points=2, workers=1)
    assert got[1].status == "failed" and got[1].error.startswith("the worker process failed: ")
    assert got[2].status == "completed"


def test_every_run_that_kills_its_worker_fails_alone_however_many_do(tmp_path, monkeypatch):
    """One worker, six runs each killing it: six new workers, each death a run that came back (failed)."""
    (tmp_path / "2").touch()  # a run that dies waits for point 2 to start: here it need not
    got = _scripted(monkeypatch, tmp_path, dict.fromkeys(range(1, 7), "die"), points=6, workers=1)
    assert all(r.status == "failed" and "killed by SIGKILL" in r.error for r in got.values()) and len(got) == 6
    assert all((tmp_path / str(i)).read_text() == "started\n" for i in (1, 3, 4, 5, 6))


def test_thousands_of_runs_in_the_pool_each_tell_where_they_ran_without_filling_a_pipe(tmp_path, monkeypatch):
    """Each run tells its worker's PID as it starts: unread, those messages filled their pipe after about
    2,000 runs, and every worker then waited forever to tell the next one."""
    from conftest import time_limit

    with time_limit(120):
        got = _scripted(monkeypatch, tmp_path, {}, points=3000)
    assert len(got) == 3000 and all(r.status == "completed" for r in got.values())


def test_a_sweep_point_whose_run_killed_its_worker_fails_and_is_told_like_any_point(tmp_path, monkeypatch):
    """It came back without training: failed with how its worker ended, not cut off, and on_point hears of it."""
    from sweeps import killing_point

    from dltrain.errors import TrainingFailed
    from dltrain.sweep import backends

    monkeypatch.setattr(backends, "train_point", killing_point)
    told = []
    with pytest.raises(TrainingFailed, match="2 of 2 sweep points failed") as caught:
        run_sweep(TINY, GRID[:1], jobs=3, runs_dir=tmp_path, on_point=lambda sweep, p: told.append(p.status))
    assert caught.value.result.backend.startswith("2 parallel processes")  # no more processes than runs
    points = caught.value.result.points
    assert [p.status for p in points] == ["failed", "failed"] and told == ["failed", "failed"]
    assert all("killed by SIGKILL" in p.error for p in points)


def test_a_sweep_whose_workers_keep_breaking_fails_with_its_folder_complete(tmp_path, monkeypatch):
    from sweeps import exiting_point

    from dltrain.errors import TrainingFailed
    from dltrain.sweep import backends

    monkeypatch.setattr(backends, "train_point", exiting_point)
    with pytest.raises(TrainingFailed, match="broke 4 times in a row with no run coming back; 0 finished") as caught:
        run_sweep(TINY, GRID[:1], jobs=2, runs_dir=tmp_path)
    doc = sweep_json(caught.value.result.path)
    assert doc["status"] == "failed" and [p["status"] for p in doc["points"]] == ["interrupted", "interrupted"]


def test_each_pool_process_gets_its_share_of_the_cores_blas_threads_and_none_outlives_the_sweep(monkeypatch):
    from dltrain.sweep import backends, pool

    closed = []
    monkeypatch.setattr(pool, "start", lambda jobs: types.SimpleNamespace(close=lambda: closed.append(jobs)))
    monkeypatch.setattr(pool, "cpu_count", lambda: 8)
    assert backends.Pool(3).describe() == "3 parallel processes, 2 BLAS thread(s) each"
    assert backends.Pool(16).blas_threads() == 1  # more processes than cores: one thread each
    with backends.Pool(2) as backend:
        assert backend.blas_threads() == 4
    assert closed == [2]


# --- drain: the loop every backend but the serial one runs ---------------------------------------


class _Future:
    """A backend's future, stood in for: done once `polls` looks at it have passed (None: never)."""

    def __init__(self, polls=0):
        self.polls = polls

    def done(self) -> bool:
        if self.polls is None:
            return False
        self.polls -= 1
        return self.polls < 0


class _Backend:
    """What drain asks of a backend: whether it is stopping, and what a finished job returned (None: run it again)."""

    stopping = False

    def __init__(self, again=()):
        self.again = set(again)

    def outcome(self, future, job):
        if job.point in self.again:
            self.again.discard(job.point)
            return None
        return f"point {job.point}"


def _drain(jobs, lookahead, submit, backend, **kwargs):
    from dltrain.sweep.backends import drain

    return drain(jobs, lookahead, submit, backend, **{"on_stop": lambda: None, "abandon": lambda f: None, **kwargs})


@pytest.fixture
def quick_drain(monkeypatch):
    """drain without its 0.1 s between looks, and a test whose drain never ends failing after 30 s."""
    from conftest import time_limit

    from dltrain.sweep import backends

    monkeypatch.setattr(backends, "POLL", 0)
    with time_limit(30):
        yield


def test_drain_keeps_lookahead_jobs_in_flight_and_takes_the_next_only_once_a_slot_is_free(quick_drain):
    from dltrain.sweep.point import Job

    taken, running, most = [], set(), []

    def jobs():
        for i in range(1, 6):
            taken.append(i)
            yield Job(i, 0, {})

    def submit(job):
        running.add(job.point)
        most.append(len(running))
        return _Future(polls=job.point)

    class Backend(_Backend):
        def outcome(self, future, job):
            running.discard(job.point)
            return super().outcome(future, job)

    got = []
    for key, _ in _drain(jobs(), 2, submit, Backend()):
        if not got:
            assert taken == [1, 2]  # the third job is asked for once a run came back, not before
        got.append(key)
    assert sorted(got) == [(i, 0) for i in range(1, 6)] and max(most) == 2


def test_drain_runs_again_a_job_no_worker_took_and_one_that_came_back_to_run_again(quick_drain):
    """submit gives None when nothing can take the job now (no Dask worker): it is the next one tried;
    outcome gives None for a job to run again (its data was lost with a worker): it goes to the back."""
    from dltrain.sweep.point import Job

    refused, submitted = {2}, []

    def submit(job):
        if job.point in refused:
            refused.discard(job.point)
            return None
        submitted.append(job.point)
        return _Future()

    jobs = iter([Job(i, 0, {}) for i in range(1, 5)])
    got = list(_drain(jobs, 1 << 30, submit, _Backend(again={3})))
    assert got == [((1, 0), "point 1"), ((2, 0), "point 2"), ((4, 0), "point 4"), ((3, 0), "point 3")]
    assert submitted == [1, 2, 3, 4, 3]


def test_a_stopping_drain_starts_no_job_and_waits_for_the_running_ones_to_come_back(quick_drain):
    from dltrain.sweep.point import Job

    backend, submitted, stops, abandoned = _Backend(), [], [], []

    def submit(job):
        submitted.append(job.point)
        return _Future(polls=0 if job.point == 1 else 20)

    jobs = iter([Job(i, 0, {}) for i in range(1, 5)])
    got = []
    for key, _ in _drain(jobs, 2, submit, backend, on_stop=lambda: stops.append(1), abandon=abandoned.append):
        got.append(key)
        backend.stopping = True  # as request_stop() does
    assert got == [(1, 0), (2, 0)] and submitted == [1, 2]
    assert stops == [1] and abandoned == []  # the running jobs asked to stop once, none left behind


def test_a_stopping_drain_abandons_what_has_not_come_back_within_its_grace(quick_drain, monkeypatch):
    from dltrain.sweep import backends
    from dltrain.sweep.point import Job

    monkeypatch.setattr(backends, "GRACE", 0.2)
    backend, stuck, abandoned, checks = _Backend(), _Future(polls=None), [], []
    futures = iter([_Future(), stuck])
    jobs = iter([Job(1, 0, {}), Job(2, 0, {})])
    got = []
    drained = _drain(
        jobs, 2, lambda job: next(futures), backend, abandon=abandoned.append, check=lambda: checks.append(1)
    )
    for key, _ in drained:
        got.append(key)
        backend.stopping = True
    assert got == [(1, 0)] and abandoned == [[stuck]] and checks  # the workers are checked while it waits


def test_a_drain_closed_early_abandons_the_jobs_still_in_flight(quick_drain):
    from dltrain.sweep.point import Job

    running, abandoned = [_Future(), _Future(polls=None), _Future(polls=None)], []
    futures = iter(running)
    drained = _drain(
        iter([Job(i, 0, {}) for i in (1, 2, 3)]),
        1 << 30,
        lambda job: next(futures),
        _Backend(),
        abandon=abandoned.append,
    )
    assert next(drained) == ((1, 0), "point 1")
    drained.close()  # Ctrl-C in the sweep's loop
    assert abandoned == [running[1:]]


def test_make_backend_checks_each_option_against_the_backend_it_applies_to():
    from dltrain.sweep.backends import Serial, make_backend

    assert isinstance(make_backend("local"), Serial) and isinstance(make_backend("local", 1), Serial)
    for kwargs, message in [
        ({"name": "nope"}, "unknown backend 'nope'; allowed: local, dask"),
        ({"name": "local", "jobs": 0}, "--jobs must be 1 or more, got 0"),
        ({"name": "local", "scheduler": "tcp://127.0.0.1:1"}, "--scheduler applies to --backend dask only"),
        ({"name": "local", "worker_data": True}, "--data-on-workers applies to --backend dask only"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            make_backend(**kwargs)


def test_only_workers_reading_their_own_data_are_refused_a_relative_data_dir():
    """With --data-on-workers each worker reads the folder from its own working directory; without, this process does."""
    pytest.importorskip("dask.distributed")
    from dltrain.sweep.backends import make_backend

    dask = {"name": "dask", "scheduler": "tcp://127.0.0.1:1"}  # not reached until the sweep enters it
    assert make_backend(**dask, data_dir="data").describe() == "Dask cluster at tcp://127.0.0.1:1"
    for data_dir in (None, "/data", "~/data"):
        assert make_backend(**dask, worker_data=True, data_dir=data_dir).worker_data
    with pytest.raises(ConfigError, match="--data-dir data is relative"):
        make_backend(**dask, worker_data=True, data_dir="data")


@pytest.mark.parametrize(
    "code, said", [(-9, "killed by SIGKILL"), (-40, "killed by signal 40"), (1, "exit code 1"), (3, "exit code 3")]
)
def test_how_a_worker_ended_is_said_for_any_exit_code(code, said):
    from dltrain.sweep.pool import ending

    assert ending(code) == said


@pytest.mark.parametrize("stop", ["ctrl_c", "sigint_handled"])
def test_a_stop_after_the_last_point_ended_leaves_a_completed_sweep(tmp_path, stop):
    """Ctrl-C as the last point ends (a second one, or the first with the sweep's handler) cuts
    nothing off: the sweep is completed, exit 0, not 'interrupted after 2 of 2 points'."""

    def stop_after_last(sweep, state):
        if state.point.index == 2:
            if stop == "ctrl_c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)  # the sweep's handler asks the backend to stop

    sweep = run_sweep(
        TINY,
        ["training.optimizer.lr=0.01,0.1"],
        runs_dir=tmp_path,
        on_point=stop_after_last,
        handle_signals=stop == "sigint_handled",
    )
    assert sweep.status == "completed" and [p.status for p in sweep.points] == ["completed", "completed"]
    assert sweep_json(sweep.path)["status"] == "completed"


def test_a_serial_sweep_stopped_by_its_handler_leaves_no_stop_behind_for_runs_trained_after_it(tmp_path):
    from dltrain.errors import Interrupted
    from dltrain.sweep.point import Job, train_point

    def stop_after_first(sweep, state):
        os.kill(os.getpid(), signal.SIGINT)  # the sweep's handler asks the backend to stop

    with pytest.raises(Interrupted):
        run_sweep(
            TINY, ["training.optimizer.lr=0.01,0.1"], runs_dir=tmp_path, on_point=stop_after_first, handle_signals=True
        )
    assert train_point(Job(1, 0, TINY), None).meta["status"] == "completed"  # not "interrupted before it started"


def test_a_point_trains_on_the_splits_it_is_sent_and_reads_the_data_folder_it_is_given(tmp_path, monkeypatch):
    """A Dask worker gets the splits loaded once by the client; a local worker gets a data folder."""
    import socket

    from dltrain.config.loader import validate
    from dltrain.data import mnist as mnist_files
    from dltrain.pipeline.experiment import load_splits
    from dltrain.sweep.point import Job, train_point

    with socket.socket() as closed:  # a mirror nothing listens on: offline at once, nothing downloaded
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv(mnist_files.MIRRORS_ENV, f"http://127.0.0.1:{closed.getsockname()[1]}/")

    mnist = {**TINY, "dataset": {"name": "mnist", "n_train": 20, "n_test": 10}}
    splits = load_splits(validate(TINY))
    sent = train_point(Job(1, 0, TINY), splits)
    assert sent.meta["status"] == "completed"
    missing = train_point(Job(1, 0, mnist), str(tmp_path / "no-data"))
    assert (missing.path, missing.status) == (None, "failed") and "no-data" in missing.error


@pytest.mark.parametrize("search, in_flight", [(None, 3), ("optuna", 2)])
def test_a_grid_hands_the_workers_every_run_at_once_and_an_optuna_search_one_per_worker(
    tmp_path, monkeypatch, search, in_flight
):
    """A grid's points are known up front, so both workers stay busy; Optuna's next point waits on the last ones."""
    if search:
        pytest.importorskip("optuna")
    from dltrain.sweep import backends

    lookaheads = []
    real_run = backends.Pool.run

    def run(self, jobs, lookahead, data_dir):
        lookaheads.append(lookahead)
        return real_run(self, jobs, lookahead, data_dir)

    monkeypatch.setattr(backends.Pool, "run", run)
    cfg = tiny(validation=0.1, plots=False, epochs=1)
    if search:
        cfg["sweep"] = {"space": {"training.optimizer.lr": {"loguniform": [1.0e-3, 0.1]}}}
    sweep = run_sweep(
        cfg, [] if search else ["seed=1,2,3"], search=search, trials=3 if search else None, runs_dir=tmp_path, jobs=2
    )
    assert len(sweep.points) == 3 and len(lookaheads) == 1
    assert min(lookaheads[0], 3) == in_flight  # a grid: all three runs or more; Optuna: one per worker


def test_a_run_a_broken_pool_will_never_complete_is_failed_to_run_again():
    """CPython's executor marks itself broken without the lock its submit takes: a run submitted as a
    worker died could be missed by both, and the sweep waited for it forever."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool
    from types import SimpleNamespace

    from dltrain.sweep.pool import Workers

    workers = Workers.__new__(Workers)  # no processes: executors as the pool sees them
    broken = SimpleNamespace(_broken="a worker died", _executor_manager_thread=None)
    failing = SimpleNamespace(_broken="a worker died", _executor_manager_thread=SimpleNamespace(is_alive=lambda: True))
    working = SimpleNamespace(_broken=False, _executor_manager_thread=None)
    orphan, being_failed, running, done = Future(), Future(), Future(), Future()
    done.set_result(1)
    workers._submitted = [(broken, orphan), (failing, being_failed), (working, running), (broken, done)]
    workers.fail_orphans()
    assert isinstance(orphan.exception(timeout=0), BrokenProcessPool)
    assert not being_failed.done() and not running.done() and done.result() == 1  # its thread fails it
    assert workers._submitted == [(failing, being_failed), (working, running)]
