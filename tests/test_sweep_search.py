"""Repeats, random and Optuna search, pruning, sweep.png."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sweeps import sweep_json, tiny, write_config

from dltrain.cli.sweep_table import progress_line
from dltrain.errors import ConfigError, Interrupted, TrainingFailed
from dltrain.runs.folder import RunFolder
from dltrain.sweep import resume_sweep, run_sweep
from dltrain.sweep.grid import yaml_inline


def config(validation: float = 0.2, **training) -> dict:
    return tiny(validation=validation, plots=False, **training)


SPACE = {
    "training.optimizer.lr": {"loguniform": [1.0e-3, 0.3]},
    "training.optimizer.beta1": {"uniform": [0.8, 0.95]},
    "training.epochs": {"int": [2, 4]},
    "model.hidden": {"choice": [[8], [12, 4]]},
}


def trials(folder) -> list:
    """The trials of the Optuna study a search sweep keeps in `folder`/optuna.db, in their order."""
    import optuna

    return optuna.load_study(study_name="sweep", storage=f"sqlite:///{folder / 'optuna.db'}").trials


def values(result) -> list[dict]:
    return [p.point.values for p in result.points]


def test_repeats_give_numpys_mean_and_std_over_the_repeat_folders_and_rank_by_the_mean(tmp_path):
    result = run_sweep(config(validation=0.0), ["training.optimizer.lr=0.01,0.002"], repeats=3, runs_dir=tmp_path)
    assert str(result.metric) == "test.accuracy"  # no validation split: test
    doc = sweep_json(result.path)
    assert doc["repeats"] == 3
    means = []
    for point in doc["points"]:
        folders = [RunFolder(result.path / r["run"]) for r in point["repeats"]]
        assert len(folders) == 3 and len({r["seed"] for r in point["repeats"]}) == 3
        assert point["repeats"][0]["seed"] == 3  # repeat 1 keeps the config's seed
        for number, (r, folder) in enumerate(zip(point["repeats"], folders), 1):
            assert folder.read_json("meta.json")["seed"] == r["seed"]
            assert folder.read_json("meta.json")["sweep"]["repeat"] == number
        for key in ("accuracy", "loss"):
            column = [f.read_json("metrics.json")["test"][key] for f in folders]
            assert point["metrics"]["test"][key] == float(np.mean(column))
            assert point["metrics_std"]["test"][key] == float(np.std(column))
        means.append(point["metrics"]["test"]["accuracy"])
    assert doc["best"] == 1 + int(np.argmax(means))
    assert (result.path / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_random_search_is_reproducible_from_the_seed_and_stays_in_its_space(tmp_path):
    cfg = {**config(), "sweep": {"space": SPACE}}
    a = run_sweep(cfg, search="random", trials=3, runs_dir=tmp_path / "a")
    b = run_sweep(cfg, search="random", trials=3, runs_dir=tmp_path / "b")
    other = run_sweep({**cfg, "seed": 4}, search="random", trials=3, runs_dir=tmp_path / "c")
    assert values(a) == values(b) and values(a) != values(other)
    for v in values(a):
        assert 1e-3 <= v["training.optimizer.lr"] <= 0.3 and 0.8 <= v["training.optimizer.beta1"] <= 0.95
        assert v["training.epochs"] in (2, 3, 4) and v["model.hidden"] in ([8], [12, 4])
    assert len({v["training.optimizer.lr"] for v in values(a)}) == 3
    doc = sweep_json(a.path)
    assert doc["search"] == "random" and doc["space"]["training.optimizer.lr"] == {"loguniform": [0.001, 0.3]}


def test_random_draws_reach_each_end_of_their_distribution_and_no_further():
    from dltrain.config.schema import Distribution
    from dltrain.sweep.search import draw

    rng = np.random.default_rng(0)

    def draws(dist: dict, n: int = 300) -> list:
        return [draw(Distribution.model_validate(dist), rng) for _ in range(n)]

    assert set(draws({"int": [2, 4]})) == {2, 3, 4}
    assert set(draws({"choice": ["a", "b", "c"]})) == {"a", "b", "c"}
    uniform = draws({"uniform": [0.8, 0.95]})
    assert 0.8 <= min(uniform) < 0.81 and 0.94 < max(uniform) <= 0.95
    log = draws({"loguniform": [1.0e-4, 1.0]})
    assert 1.0e-4 <= min(log) and max(log) <= 1.0
    assert 100 < sum(x < 1.0e-2 for x in log) < 200  # uniform in the exponent: half below the geometric mean


def test_the_edges_of_a_space_put_one_key_at_a_time_at_each_end():
    from dltrain.sweep.search import edge_points, search_space

    space = search_space(
        {"model.activation": ["relu", "tanh", "sigmoid"]},
        {"training.epochs": {"int": [2, 4]}, "training.optimizer.lr": {"uniform": [0.1, 0.5]}},
    )
    points = edge_points(space, "n")
    assert [list(p.values.values()) for p in points] == [
        ["relu", 2, 0.1],
        ["tanh", 2, 0.1],
        ["sigmoid", 2, 0.1],
        ["relu", 4, 0.1],
        ["relu", 2, 0.5],
    ]
    assert all(type(p.values["training.epochs"]) is int for p in points) and {p.index for p in points} == {0}


@pytest.mark.parametrize(
    "dist, reason",
    [
        ({"int": 3}, "int takes a list: {int: [low, high]}"),
        ({"uniform": [1, 2, 3]}, "uniform takes two bounds, [low, high], got [1, 2, 3]"),
        (
            {"low": 1, "high": 2},
            "a distribution is one of {uniform: [...]}, {loguniform: [...]}, {int: [...]}, {choice: [...]}",
        ),
        ({"choice": []}, "choice needs at least one value"),
        ({"uniform": [2, 1]}, "uniform needs low <= high, got [2.0, 1.0]"),
        ({"kind": "uniform", "low": 1}, "uniform needs low <= high, got [1.0, None]"),
        ({"uniform": [-1.0e308, 1.0e308]}, "uniform needs finite bounds, got [-1e+308, 1e+308]"),
        ({"int": [1, 2**53]}, "int needs bounds within ±2**53, got [1.0, 9007199254740992.0]"),
        ({"int": [-(2**53), 1]}, "int needs bounds within ±2**53, got [-9007199254740992.0, 1.0]"),
        ({"loguniform": [0, 1]}, "loguniform needs bounds above 0, got [0.0, 1.0]"),
        ({"loguniform": [-1, 1]}, "loguniform needs bounds above 0, got [-1.0, 1.0]"),
        ({"int": [1.5, 3]}, "int needs whole-number bounds, got [1.5, 3.0]"),
        ({"int": [1, 2.5]}, "int needs whole-number bounds, got [1.0, 2.5]"),
    ],
)
def test_a_space_key_that_is_not_a_sound_distribution_is_a_config_error_saying_why(dist, reason):
    from dltrain.api import resolve

    with pytest.raises(ConfigError) as refused:
        resolve({**config(), "sweep": {"space": {"training.epochs": dist}}})
    assert str(refused.value).splitlines()[-1].strip() == f"sweep.space: training.epochs: {reason}"


def test_a_space_that_is_not_a_mapping_is_a_config_error_naming_what_it_got():
    from dltrain.api import resolve

    with pytest.raises(ConfigError) as refused:
        resolve({**config(), "sweep": {"space": [{"int": [2, 4]}]}})
    assert "sweep.space: Input should be a valid dictionary (got [{'int': [2, 4]}])" in str(refused.value)


def test_a_config_with_only_a_space_swept_as_a_grid_is_told_to_search_it(tmp_path):
    """Not "nothing to sweep": the config's space is what there is to sweep, with another search."""
    with pytest.raises(ConfigError, match=r"^a `sweep: space:` is searched with --search random\|optuna"):
        run_sweep({**config(), "sweep": {"space": SPACE}}, [], runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_space_takes_bounds_up_to_its_limits_and_keeps_them_in_the_form_it_is_written_in():
    """Only each distribution's own shape is checked here; whether its values suit the key, when a sweep starts."""
    from dltrain.api import resolve

    space = {
        "training.epochs": {"int": [1.0, 2**53 - 1]},
        "seed": {"int": [-(2**53) + 1, 0]},
        "training.optimizer.lr": {"uniform": [0.1, 0.1]},
        "training.optimizer.beta1": {"loguniform": [1.0e-300, 0.9]},
        "model.hidden": {"choice": [[8], [12, 4]]},
        "training.optimizer.beta2": {"kind": "uniform", "low": 0.9, "high": 0.99},
    }
    cfg = resolve({**config(), "sweep": {"space": space}})
    assert cfg.sweep.space == {
        "training.epochs": {"int": [1, 2**53 - 1]},
        "seed": {"int": [-(2**53) + 1, 0]},
        "training.optimizer.lr": {"uniform": [0.1, 0.1]},
        "training.optimizer.beta1": {"loguniform": [1.0e-300, 0.9]},
        "model.hidden": {"choice": [[8], [12, 4]]},
        "training.optimizer.beta2": {"uniform": [0.9, 0.99]},
    }
    assert all(type(bound) is int for dist in ("training.epochs", "seed") for bound in cfg.sweep.space[dist]["int"])


def test_optuna_search_is_reproducible_and_resume_continues_its_study(tmp_path):
    pytest.importorskip("optuna")
    import optuna

    cfg = {**config(), "sweep": {"space": SPACE}}
    a = run_sweep(cfg, search="optuna", trials=4, runs_dir=tmp_path / "a")
    assert (a.path / "optuna.db").is_file() and [p.trial for p in a.points] == [0, 1, 2, 3]

    counted = []

    def stop_after_two(sweep, state):
        counted.append(progress_line(sweep, state).plain.split()[0])
        if sweep.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run_sweep(cfg, search="optuna", trials=4, runs_dir=tmp_path / "b", on_point=stop_after_two)
    path = caught.value.result.path
    assert values(caught.value.result)[:2] == values(a)[:2]  # same seed, same suggestions
    assert "after 2 of 4 points" in str(caught.value)  # an Optuna search's points come as it asks: 'of 3'
    resumed = resume_sweep(path, on_point=lambda sweep, state: counted.append(progress_line(sweep, state).plain[:5]))
    assert counted == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]  # '[1/1]', '[2/2]', then '[4/4]' twice
    assert resumed.status == "completed" and len(resumed.points) == 4
    # the resumed study goes on as the uninterrupted one did: a sampler seeded anew drew points 1-2 again
    assert values(resumed) == values(a)
    assert [p.metrics for p in resumed.points] == [p.metrics for p in a.points]
    complete = [t for t in trials(path) if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4 and {p.trial for p in resumed.points} <= {t.number for t in complete}


def test_a_parallel_optuna_search_asks_for_a_point_only_once_a_slot_is_free(tmp_path):
    """TPE suggests from the points finished so far: with 2 workers, the third point is asked for once one of
    the first two was told to the study, not up front."""
    pytest.importorskip("optuna")

    cfg = {**config(), "sweep": {"space": SPACE}}
    result = run_sweep(cfg, search="optuna", trials=3, jobs=2, runs_dir=tmp_path)
    assert result.status == "completed" and result.backend.startswith("2 parallel processes")  # one for each trial
    first, second, third = trials(result.path)
    assert third.datetime_start >= min(first.datetime_complete, second.datetime_complete)


def test_an_optuna_point_whose_run_killed_its_worker_is_a_failed_trial(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from sweeps import killing_point

    from dltrain.errors import TrainingFailed
    from dltrain.sweep import backends

    monkeypatch.setattr(backends, "train_point", killing_point)
    cfg = {**config(), "sweep": {"space": SPACE}}
    with pytest.raises(TrainingFailed, match="2 of 2 sweep points failed") as caught:
        run_sweep(cfg, search="optuna", trials=2, jobs=2, runs_dir=tmp_path)
    path = caught.value.result.path
    assert [t.state.name for t in trials(path)] == ["FAIL", "FAIL"]


def test_an_optuna_study_gets_scalar_choices_as_they_are_and_any_others_as_their_yaml_text(tmp_path):
    """Optuna's categorical choices are None, bool, int, float or str: lists go to it as one line of YAML,
    and so does every choice of a list that mixes the two, read back as the value it was."""
    optuna = pytest.importorskip("optuna")
    from dltrain.config.schema import Distribution
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.study import OptunaPlan, _distribution

    scalars = _distribution(optuna, Distribution.model_validate({"choice": [8, 16, None, True, 0.5, "relu"]}))
    assert list(scalars.choices) == [8, 16, None, True, 0.5, "relu"]
    assert [type(c) for c in scalars.choices[:2]] == [int, int]
    lists = _distribution(optuna, Distribution.model_validate({"choice": [[8], [12, 4]]}))
    assert list(lists.choices) == ["[8]", "[12, 4]"]
    mixed = {"model.hidden": Distribution.model_validate({"choice": [8, [12, 4]]})}
    plan = OptunaPlan(mixed, trials=2, seed=0, name="s", folder=tmp_path, metric=Metric("val", "accuracy"))
    assert list(plan.distributions["model.hidden"].choices) == ["8", "[12, 4]"]
    assert [plan._value("model.hidden", text) for text in ["8", "[12, 4]"]] == [8, [12, 4]]
    assert [plan._param("model.hidden", value) for value in [8, [12, 4]]] == ["8", "[12, 4]"]


def test_an_optuna_study_draws_loguniform_keys_on_a_log_scale_and_the_others_on_their_own():
    optuna = pytest.importorskip("optuna")
    from dltrain.config.schema import Distribution
    from dltrain.sweep.study import _distribution

    def made(dist: dict):
        return _distribution(optuna, Distribution.model_validate(dist))

    assert made({"loguniform": [1e-3, 0.3]}) == optuna.distributions.FloatDistribution(1e-3, 0.3, log=True)
    assert made({"uniform": [0.8, 0.95]}) == optuna.distributions.FloatDistribution(0.8, 0.95, log=False)
    assert made({"int": [2, 4]}) == optuna.distributions.IntDistribution(2, 4)


def test_a_cut_off_optuna_point_of_a_list_choice_is_asked_again_with_the_same_values(tmp_path):
    """A resume enqueues the cut-off point's values as the study knows them: a list as its YAML text."""
    pytest.importorskip("optuna")

    cfg = {**config(epochs=1), "sweep": {"space": {"model.hidden": {"choice": [[8], [12, 4]]}}}}
    sweep = run_sweep(cfg, search="optuna", trials=2, runs_dir=tmp_path)
    doc = sweep_json(sweep.path)
    doc["status"] = doc["points"][-1]["status"] = "interrupted"
    (sweep.path / "sweep.json").write_text(json.dumps(doc))
    resumed = resume_sweep(sweep.path)
    assert resumed.status == "completed" and values(resumed) == values(sweep)
    again = trials(sweep.path)[resumed.points[-1].trial]
    assert again.number == 2 and again.state.name == "COMPLETE"
    assert again.params["model.hidden"] == yaml_inline(values(sweep)[-1]["model.hidden"])


def test_an_optuna_search_without_a_validation_split_tells_its_points_their_test_metric(tmp_path):
    """Without a validation split the epochs have no metric to report: the trials get their test metric."""
    pytest.importorskip("optuna")

    cfg = {
        **config(validation=0.0, epochs=1),
        "sweep": {"space": {"training.optimizer.lr": {"loguniform": [1e-3, 0.1]}}},
    }
    result = run_sweep(cfg, search="optuna", trials=2, runs_dir=tmp_path)
    assert result.status == "completed" and str(result.metric) == "test.accuracy"
    study_trials = trials(result.path)
    assert [t.state.name for t in study_trials] == ["COMPLETE", "COMPLETE"]
    assert [t.value for t in study_trials] == [result.metric.value(p.metrics) for p in result.points]
    assert not any(t.intermediate_values for t in study_trials)


def test_an_optuna_search_reads_the_data_for_its_default_metric_from_the_data_folder_it_is_given(tmp_path, monkeypatch):
    """Without --sort-by the metric comes from the base config's splits, read where its points read them."""
    pytest.importorskip("optuna")
    import dltrain.sweep.runner as runner

    given = []
    real = runner.default_metric
    monkeypatch.setattr(runner, "default_metric", lambda base, data_dir: given.append(data_dir) or real(base, data_dir))
    cfg = {**config(), "sweep": {"space": SPACE}}
    result = run_sweep(cfg, search="optuna", trials=1, data_dir=tmp_path / "data", runs_dir=tmp_path / "runs")
    assert given == [str(tmp_path / "data")] and str(result.metric) == "val.accuracy"


def test_an_optuna_search_without_sort_by_optimises_a_classifiers_accuracy_and_a_regressions_loss():
    from dltrain.config.loader import resolve
    from dltrain.sweep.ranking import default_metric

    assert str(default_metric(resolve(config()), None)) == "val.accuracy"
    assert str(default_metric(resolve(config(validation=0.0)), None)) == "test.accuracy"
    regression = {
        "name": "r",
        "dataset": {"name": "sqrt_mean", "n": 50, "validation_split": 0.2},
        "model": {"type": "mlp"},
    }
    assert str(default_metric(resolve(regression), None)) == "val.loss"


def test_a_resumed_optuna_search_keeps_optimising_its_metric_and_checks_it_against_prune(tmp_path):
    pytest.importorskip("optuna")
    from dltrain.sweep.resume_checks import check_resume

    cfg = {**config(epochs=1), "sweep": {"space": {"training.optimizer.lr": {"loguniform": [1.0e-3, 0.1]}}}}
    sweep = run_sweep(cfg, search="optuna", trials=1, sort_by="train.loss", runs_dir=tmp_path)
    resumed, _ = check_resume(sweep.path, None, remote_data=False)
    assert str(resumed.metric) == "train.loss"
    sweep_yaml = sweep.path / "sweep.yaml"
    sweep_yaml.write_text(sweep_yaml.read_text().replace("prune: false", "prune: true"))
    with pytest.raises(ConfigError, match="--prune judges points by their per-epoch validation metric"):
        check_resume(sweep.path, None, remote_data=False)


def test_pruning_stops_a_clearly_bad_point_before_its_last_epoch(tmp_path):
    pytest.importorskip("optuna")
    result = run_sweep(
        # The divergence check would fail lr 1000 first; the pruner is what is tested here.
        config(epochs=10, divergence_factor=None),
        ["training.optimizer.lr=0.01,1000.0"],
        search="optuna",
        trials=6,
        prune=True,
        runs_dir=tmp_path,
    )
    pruned = [p for p in result.points if p.status == "pruned"]
    # With seed 3: two of them (the first two lr 1000 points are among the startup trials the median rule waits for).
    assert pruned and all(p.point.values["training.optimizer.lr"] == 1000.0 for p in pruned)
    for p in pruned:
        meta = RunFolder(p.run).read_json("meta.json")
        assert meta["status"] == "pruned" and meta["epochs_done"] < 10
    assert all(p.status == "completed" for p in result.points if p.point.values["training.optimizer.lr"] != 1000.0)


def test_sweep_png_draws_each_key_and_parallel_coordinates(tmp_path):
    result = run_sweep(config(), ["training.optimizer.lr=0.03,0.003,0.0003", "model.hidden=[8],[4]"], runs_dir=tmp_path)
    png = (result.path / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    from PIL import Image

    with Image.open(result.path / "sweep.png") as image:
        width, height = image.size
    assert height > 500 and not math.isclose(width, height)  # two key panels above a parallel-coordinates row


@pytest.mark.parametrize(
    "values, log",
    [
        ([0.01, 0.003, 0.001], True),  # the README's grid: a decade, in half-decade steps
        ([0.1, 0.01], True),
        ({"loguniform": [1e-4, 1e-1]}, True),
        ([1, 2, 4, 8], False),  # less than a decade: a linear axis reads better
        ([0.0, 0.01, 0.1], False),  # zero has no place on a log axis
        (["relu", "tanh"], False),
        ([1, 10**400], False),  # an int beyond float64
        ([0.001, 0.1, "x"], False),  # not every value a number
        ([0.001, float("inf")], False),
    ],
)
def test_sweep_png_takes_a_log_axis_for_values_spanning_a_decade(values, log):
    from dltrain.sweep.execute import _log_spaced

    assert _log_spaced(values) is log


@pytest.mark.parametrize(
    "key, dist, edge",
    [
        ("training.batch_size", {"int": [-3, 4]}, "batch_size=-3"),
        ("training.optimizer.beta1", {"uniform": [0.8, 1.5]}, "beta1=1.5"),
        ("model.activation", {"choice": ["relu", "bogus", "tanh"]}, "activation=bogus"),
    ],
)
def test_an_optuna_space_is_checked_at_its_edges_before_anything_trains(cli, tmp_path, key, dist, edge):
    """Optuna draws points as the sweep goes: a space reaching an invalid value is refused up front."""
    pytest.importorskip("optuna")
    cfg = {**config(), "sweep": {"search": "optuna", "trials": 4, "space": {**SPACE, key: dist}}}
    result = cli("sweep", write_config(tmp_path / "s.yaml", cfg), "--runs-dir", tmp_path / "runs", code=2)
    where, _, reason = result.message.partition("): invalid config")
    assert where.startswith("error: an edge of the sweep space (") and edge in where.split("(", 1)[1].split(" ")
    assert reason and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_invalid_optuna_draw_inside_sound_edges_stops_the_sweep_with_its_folder_complete(
    tmp_path, monkeypatch, jobs
):
    """Where a draw inside the space is invalid, the sweep stops as on Ctrl-C and fails (exit 1): sweep.json
    final, the draw's trial failed in the study and not a point; a point running beside it (jobs=2) comes
    back after its batch with its folder and checkpoint, as a stop leaves it (it was killed, folder-less)."""
    pytest.importorskip("optuna")

    import dltrain.sweep.runner as runner
    from dltrain.errors import TrainingFailed

    monkeypatch.setattr(runner, "edge_points", lambda space, name: [])  # as if the edges were sound
    cfg = {**config(epochs=40 * jobs), "seed": 10, "sweep": {"space": {"training.batch_size": {"int": [-40, 40]}}}}
    with pytest.raises(TrainingFailed, match=r"sweep point \d+ \(batch_size=-?\d+\): invalid config") as caught:
        run_sweep(cfg, search="optuna", trials=30, jobs=jobs, runs_dir=tmp_path)
    path = caught.value.result.path
    doc = sweep_json(path)
    assert doc["status"] == "failed" and {p["status"] for p in doc["points"]} <= {"completed", "interrupted"}
    assert len(doc["points"]) == 1  # seed 10 draws 18, then -11: one point trained before it, or beside it
    assert doc["points"][0]["status"] == ("completed" if jobs == 1 else "interrupted")
    assert all(p["values"]["training.batch_size"] >= 1 for p in doc["points"])
    for point in doc["points"]:  # each came back: a folder, and a checkpoint to resume from
        assert (path / point["run"] / "checkpoint.npz").is_file()
    failed = [t for t in trials(path) if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].params["training.batch_size"] < 1
    assert failed[0].number not in [p["trial"] for p in doc["points"]]
    if jobs == 1:  # a resume draws anew where the invalid draw was: it drew the same value, every time
        from dltrain.sweep import resume_sweep

        try:
            resume_sweep(path)
        except TrainingFailed:
            pass
        drawn = [t.params["training.batch_size"] for t in trials(path) if t.number > failed[0].number]
        assert drawn and drawn[0] != failed[0].params["training.batch_size"], drawn


def test_a_point_cut_off_in_an_earlier_session_has_not_ended(tmp_path):
    """A resume trains it again: counted as done, the progress read [8/8] from the resume's first line."""
    from dltrain.pipeline.session import RunResult
    from dltrain.sweep.grid import Point
    from dltrain.sweep.state import PointState, SweepResult

    states = [
        PointState(Point(i + 1, {}, f"p{i}"), [RunResult(None, status)])
        for i, status in enumerate(["completed", "failed", "pruned", "interrupted", "pending"])
    ]
    sweep = SweepResult(tmp_path, "s", {}, states, "in this process")
    assert sweep.done == 3
    with sweep.tracking():
        assert sweep.done == 3


LR = {"training.optimizer.lr": {"loguniform": [1.0e-3, 0.1]}}


def plan_of(folder, space=None, metric="val.accuracy", **options):
    """An Optuna search's plan over `space` (one loguniform key unless given), its study in `folder`."""
    from dltrain.config.schema import Distribution
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.study import OptunaPlan

    space = {key: Distribution.model_validate(dist) for key, dist in (space or LR).items()}
    options = {"trials": 3, "seed": 0, "name": "s", **options}
    return OptunaPlan(space, folder=folder, metric=Metric.parse(metric), **options)


def told(point, *statuses, metrics=None):
    """The point's state once its runs (one per status) ended, each with `metrics`."""
    from dltrain.pipeline.session import RunResult
    from dltrain.sweep.state import PointState

    return PointState(point, [RunResult(None, status, metrics or {}) for status in statuses])


def test_an_optuna_plan_asks_for_its_trials_points_one_by_one_then_none(tmp_path):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path, trials=3)
    points = [plan.ask() for _ in range(4)]
    assert [p.index for p in points[:3]] == [1, 2, 3] and points[3] is None
    assert [p.name.split("_")[0] for p in points[:3]] == ["s-1", "s-2", "s-3"]
    assert [plan.trial_number(p.index) for p in points[:3]] == [0, 1, 2] and plan.trial_number(4) is None
    assert all(1e-3 <= p.values["training.optimizer.lr"] <= 0.1 for p in points[:3])


def test_an_optuna_plan_tells_a_single_runs_finite_epoch_metrics_then_its_metric(tmp_path):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path)
    point = plan.ask()
    history = [
        {"epoch": 1, "val_accuracy": 0.5, "val_loss": 9.0},
        {"epoch": 2, "val_accuracy": math.nan},
        {"epoch": 3, "val_accuracy": None},
        {"epoch": 4, "val_accuracy": 0.75},
    ]
    plan.tell(told(point, "completed", metrics={"val": {"accuracy": 0.8}}), history)
    (trial,) = trials(tmp_path)
    assert plan.study.direction.name == "MAXIMIZE" and trial.state.name == "COMPLETE" and trial.value == 0.8
    assert trial.intermediate_values == {1: 0.5, 4: 0.75}
    assert plan.trial_number(point.index) is None


def test_an_optuna_plan_judged_by_loss_minimises_it_and_tells_the_validation_loss_by_epoch(tmp_path):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path, metric="val.loss")
    point = plan.ask()
    plan.tell(
        told(point, "completed", metrics={"val": {"loss": 0.3}}), [{"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.4}]
    )
    (trial,) = trials(tmp_path)
    assert plan.study.direction.name == "MINIMIZE" and trial.value == 0.3 and trial.intermediate_values == {1: 0.4}


def test_an_optuna_plan_tells_no_epoch_metrics_for_a_point_over_repeats(tmp_path):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path)
    point = plan.ask()
    metrics = {"val": {"accuracy": 0.6}}
    plan.tell(told(point, "completed", "completed", metrics=metrics), [{"epoch": 1, "val_accuracy": 0.5}])
    (trial,) = trials(tmp_path)
    assert trial.state.name == "COMPLETE" and trial.value == 0.6 and trial.intermediate_values == {}


@pytest.mark.parametrize(
    "statuses, metrics, state",
    [
        (["pruned"], {"val": {"accuracy": 0.6}}, "PRUNED"),
        (["failed"], {"val": {"accuracy": 0.6}}, "FAIL"),
        (["completed"], {"val": {"accuracy": math.nan}}, "FAIL"),
        (["completed"], {"test": {"accuracy": 0.6}}, "FAIL"),
        (["completed", "pruned"], {"val": {"accuracy": 0.6}}, "PRUNED"),
    ],
)
def test_an_optuna_plan_tells_a_point_without_its_metric_as_pruned_or_failed(tmp_path, statuses, metrics, state):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path)
    plan.tell(told(plan.ask(), *statuses, metrics=metrics), [])
    assert [t.state.name for t in trials(tmp_path)] == [state]


@pytest.mark.parametrize("status", ["interrupted", "pending"])
def test_an_optuna_plan_keeps_a_point_that_has_not_ended_open(tmp_path, status):
    pytest.importorskip("optuna")
    plan = plan_of(tmp_path)
    point = plan.ask()
    plan.tell(told(point, status, metrics={"val": {"accuracy": 0.6}}), [{"epoch": 1, "val_accuracy": 0.5}])
    (trial,) = trials(tmp_path)
    assert trial.state.name == "RUNNING" and trial.intermediate_values == {} and plan.trial_number(point.index) == 0
    plan.tell(told(point, "completed", metrics={"val": {"accuracy": 0.6}}), [])
    assert [t.state.name for t in trials(tmp_path)] == ["COMPLETE"]


def test_an_optuna_plan_without_prune_has_no_pruner(tmp_path):
    pytest.importorskip("optuna")
    assert plan_of(tmp_path).pruner() is None


def test_an_optuna_plans_pruner_judges_an_epoch_against_the_points_completed_when_it_started(tmp_path):
    """Optuna's median rule: from three completed points on, and from epoch 2 on, a point worse than their
    median at that epoch is pruned; the pruner goes to a worker whole, pickled."""
    pytest.importorskip("optuna")
    import pickle
    from types import SimpleNamespace

    def record(epoch, accuracy):
        return SimpleNamespace(epoch=epoch, val_accuracy=accuracy, val_loss=0.0)

    plan = plan_of(tmp_path, trials=5, prune=True)
    for accuracy in (0.6, 0.7, 0.8):
        assert not plan.pruner()(record(2, 0.1))  # fewer than three completed
        history = [{"epoch": e, "val_accuracy": accuracy} for e in (1, 2, 3)]
        plan.tell(told(plan.ask(), "completed", metrics={"val": {"accuracy": accuracy}}), history)
    early = plan.pruner()
    plan.tell(told(plan.ask(), "completed", metrics={"val": {"accuracy": 0.1}}), [{"epoch": 1, "val_accuracy": 0.1}])

    prune, other = pickle.loads(pickle.dumps(early)), pickle.loads(pickle.dumps(early))
    assert [bool(prune(record(1, 0.1))), bool(prune(record(2, None))), bool(prune(record(2, 0.65)))] == [0, 0, 1]
    assert not other(record(2, 0.75))
    assert len(plan.pruner().completed) == 4


def test_an_optuna_plan_judged_by_loss_prunes_a_point_whose_loss_is_above_the_median(tmp_path):
    pytest.importorskip("optuna")
    from types import SimpleNamespace

    plan = plan_of(tmp_path, trials=5, prune=True, metric="val.loss")
    for loss in (0.6, 0.7, 0.8):
        history = [{"epoch": e, "val_loss": loss} for e in (1, 2, 3)]
        plan.tell(told(plan.ask(), "completed", metrics={"val": {"loss": loss}}), history)
    assert not plan.pruner()(SimpleNamespace(epoch=2, val_loss=0.65, val_accuracy=0.0))
    assert plan.pruner()(SimpleNamespace(epoch=2, val_loss=0.75, val_accuracy=0.0))


def test_an_optuna_plan_draws_anew_where_it_dropped_a_point_with_an_invalid_config(tmp_path):
    """The dropped draw is a failed trial and no point: the next point takes its place and its number."""
    pytest.importorskip("optuna")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    plan, same = plan_of(tmp_path / "a", trials=2), plan_of(tmp_path / "b", trials=2)
    first = plan.ask()
    assert same.ask() == first
    plan.drop(first)
    again = plan.ask()
    assert again.index == 1 and again.values != first.values and plan.ask().index == 2 and plan.ask() is None
    assert [t.state.name for t in trials(tmp_path / "a")] == ["FAIL", "RUNNING", "RUNNING"]
    assert plan.trial_number(1) == 1


def test_a_resumed_optuna_plan_asks_a_cut_off_point_again_with_the_same_values(tmp_path):
    """Its open trial fails and a new one takes its values; a trial that already ended, or none, is left as it is."""
    pytest.importorskip("optuna")
    space = {**LR, "model.hidden": {"choice": [[8], [12, 4]]}}
    plan = plan_of(tmp_path, space, trials=3)
    cut_off, failed, unasked = plan.ask(), plan.ask(), plan.ask()
    plan.tell(told(failed, "failed"), [])
    resumed = plan_of(tmp_path, space, trials=3, existing=3)
    states = [told(point, "interrupted") for point in (cut_off, failed, unasked)]
    states[0].trial, states[1].trial = 0, 1
    assert [resumed.again(state) for state in states] == [3, 4, 5]
    assert [resumed.trial_number(point.index) for point in (cut_off, failed, unasked)] == [3, 4, 5]
    study = trials(tmp_path)
    assert [t.state.name for t in study] == ["FAIL", "FAIL", "RUNNING", "RUNNING", "RUNNING", "RUNNING"]
    for state, trial in zip(states, study[3:]):
        assert {key: resumed._value(key, value) for key, value in trial.params.items()} == state.point.values


def test_a_resumed_optuna_plan_asks_a_cut_off_point_of_scalar_choices_again_as_they_are(tmp_path):
    """Scalar choices go to the study as they are (a list choice as its YAML text), asked again as well."""
    pytest.importorskip("optuna")
    space = {"training.batch_size": {"choice": [16, 64, 128]}, "dataset.scaling": {"choice": ["minmax", "standard"]}}
    cut_off = plan_of(tmp_path, space, trials=1).ask()
    state = told(cut_off, "interrupted")
    state.trial = 0
    assert plan_of(tmp_path, space, trials=1, existing=1).again(state) == 1
    assert [trial.params for trial in trials(tmp_path)] == [cut_off.values] * 2


def test_an_optuna_search_without_optuna_installed_is_a_config_error_saying_how_to_get_it(monkeypatch):
    import sys

    from dltrain.sweep.study import import_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"--search optuna needs Optuna.*pip install 'dltrain\[search\]'"):
        import_optuna()


def test_an_optuna_search_keeps_optunas_log_to_warnings():
    """Optuna logs every trial it creates and finishes at INFO: a sweep's own progress says that already."""
    optuna = pytest.importorskip("optuna")
    from dltrain.sweep.study import import_optuna

    level = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        assert import_optuna() is optuna and optuna.logging.get_verbosity() == optuna.logging.WARNING
    finally:
        optuna.logging.set_verbosity(level)


def test_prune_is_accepted_with_a_validation_metric_and_refused_with_any_other():
    from dltrain.sweep.ranking import Metric
    from dltrain.sweep.study import check_prune

    check_prune(True, Metric("val", "loss"))
    check_prune(False, Metric("test", "accuracy"))
    for split in ("train", "test"):
        with pytest.raises(ConfigError, match="--prune judges points by their per-epoch validation metric"):
            check_prune(True, Metric(split, "accuracy"))


def drawn_sweep_plots(monkeypatch) -> list[tuple]:
    """The arguments of each sweep.png a sweep draws from here on (the image itself: b'png')."""
    import dltrain.plots.sweep as plots

    drawn = []
    monkeypatch.setattr(plots, "sweep_plot", lambda *args: drawn.append(args) or b"png")
    return drawn


def test_sweep_png_plots_each_point_s_mean_and_spread_against_its_keys_log_spaced_ones_on_a_log_axis(
    tmp_path, monkeypatch
):
    drawn = drawn_sweep_plots(monkeypatch)
    grid = ["training.optimizer.lr=0.01,0.001", "training.batch_size=32,64"]
    result = run_sweep(config(validation=0.0, epochs=2), grid, repeats=2, runs_dir=tmp_path)
    ((rows, keys, log_keys, metric, title, labels, lower_is_better),) = drawn
    assert keys == ["training.optimizer.lr", "training.batch_size"] and log_keys == {"training.optimizer.lr"}
    assert metric == "test.accuracy" and not lower_is_better
    assert title == "sweep tiny: test.accuracy, mean ± std of 2 repeats"
    assert labels == {"training.optimizer.lr": "lr", "training.batch_size": "batch_size"}
    assert rows == [
        (p.point.values, p.metrics["test"]["accuracy"], p.metrics_std["test"]["accuracy"]) for p in result.points
    ]
    assert len(rows) == 4 and (result.path / "sweep.png").read_bytes() == b"png"


def test_sweep_png_of_single_runs_has_no_spread_and_knows_a_loss_is_better_lower(tmp_path, monkeypatch):
    drawn = drawn_sweep_plots(monkeypatch)
    grid = ["training.optimizer.lr=0.01,0.002"]
    result = run_sweep(config(validation=0.0, epochs=2), grid, sort_by="test.loss", runs_dir=tmp_path)
    ((rows, keys, log_keys, metric, title, labels, lower_is_better),) = drawn
    assert keys == ["training.optimizer.lr"] and log_keys == set()  # less than a decade apart
    assert metric == "test.loss" and lower_is_better and title == "sweep tiny: test.loss"
    assert rows == [(p.point.values, p.metrics["test"]["loss"], None) for p in result.points]


DIVERGING = {  # lr 1e6 diverges in its second epoch
    "name": "reg",
    "dataset": {"name": "sqrt_mean", "n": 200, "dim": 4},
    "model": {"type": "mlp", "hidden": [8], "activation": "relu"},
    "training": {"optimizer": {"name": "gd", "lr": 0.1}, "epochs": 3},
    "output": {"plots": False},
}


def test_sweep_png_leaves_out_a_point_without_the_metric_and_is_not_drawn_when_no_point_has_it(tmp_path, monkeypatch):
    drawn = drawn_sweep_plots(monkeypatch)
    with pytest.raises(TrainingFailed) as failed:
        run_sweep(DIVERGING, ["training.optimizer.lr=1e6,0.1"], sort_by="test.loss", runs_dir=tmp_path / "one")
    ((rows, *_),) = drawn
    diverged, fine = failed.value.result.points
    assert diverged.status == "failed" and rows == [(fine.point.values, fine.metrics["test"]["loss"], None)]
    drawn.clear()
    for sort_by in ("test.loss", None):  # without a metric named, none is known before a point completed
        with pytest.raises(TrainingFailed) as failed:
            run_sweep(DIVERGING, ["training.optimizer.lr=1e6"], sort_by=sort_by, runs_dir=tmp_path / str(sort_by))
        assert not drawn and not (failed.value.result.path / "sweep.png").exists()


def test_an_optuna_point_whose_run_killed_its_worker_is_a_failed_trial_of_the_study(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from sweeps import killing_point

    from dltrain.sweep import backends

    monkeypatch.setattr(backends, "train_point", killing_point)
    cfg = {**config(), "sweep": {"space": {"training.optimizer.lr": {"loguniform": [1.0e-3, 0.3]}}}}
    with pytest.raises(TrainingFailed, match="2 of 2 sweep points failed") as failed:
        run_sweep(cfg, search="optuna", trials=2, jobs=2, runs_dir=tmp_path)
    assert [p.status for p in failed.value.result.points] == ["failed", "failed"]
    assert [t.state.name for t in trials(failed.value.result.path)] == ["FAIL", "FAIL"]
