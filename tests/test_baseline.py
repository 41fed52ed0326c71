"""`baseline: sklearn`: scikit-learn's counterpart fitted on exactly the run's split, recorded in metrics.json."""

from __future__ import annotations

import json
import signal
import time

import pytest
import yaml
from conftest import spawn
from sklearn.linear_model import LogisticRegression

from dltrain import api
from dltrain.baseline import INTERRUPTED, make_estimator
from dltrain.config.loader import validate
from dltrain.errors import ConfigError
from dltrain.pipeline.experiment import load_splits

# The logistic-regression tutorial's shape (seed 000) on the bundled digits 0 and 1.
LOGREG = {
    "name": "logreg-baseline",
    "seed": 42,
    "dataset": {"name": "digits", "classes": [0, 1], "test_size": 0.15, "split_seed": 42},
    "model": {"type": "logreg", "init": {"name": "constant", "value": 0.01}},
    "training": {"optimizer": {"name": "gd", "lr": 0.01}, "epochs": 150},
    "baseline": "sklearn",
}


def test_logreg_counterpart_is_the_tutorials():
    cfg = validate(LOGREG)
    assert cfg.baseline.name == "sklearn" and cfg.baseline.options == {}
    est = make_estimator(cfg, classify=True, n_train=100)
    assert est.get_params() == LogisticRegression(random_state=42, max_iter=150).get_params()


def test_baseline_is_fitted_on_the_same_split(tmp_path):
    result = api.run(LOGREG, runs_dir=tmp_path)
    recorded = json.loads((result.path / "metrics.json").read_text())["baseline"]
    assert recorded["model"] == "LogisticRegression(max_iter=150, random_state=42)"
    splits = load_splits(validate(LOGREG))
    reference = LogisticRegression(random_state=42, max_iter=150).fit(*splits.train)
    assert recorded["test"]["accuracy"] == reference.score(*splits.test)  # observed 1.0 on digits 0/1
    assert recorded["train"]["accuracy"] == reference.score(*splits.train)
    assert set(recorded) == {"model", "train", "test"}
    assert set(recorded["test"]) == {"accuracy", "log_loss"}


def test_mlp_hyperparameters_carry_over():
    cfg = validate(
        {
            "dataset": {"name": "digits"},
            "seed": 7,
            "model": {"type": "mlp", "hidden": [20, 10], "activation": "sigmoid"},
            "training": {
                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.001},
                "epochs": 12,
                "batch_size": 16,
                "shuffle": False,
            },
            "baseline": "sklearn",
        }
    )
    p = make_estimator(cfg, classify=True, n_train=1000).get_params()
    assert (p["hidden_layer_sizes"], p["activation"], p["solver"], p["learning_rate_init"]) == (
        (20, 10),
        "logistic",
        "sgd",
        0.05,
    )
    assert (
        p["momentum"],
        p["nesterovs_momentum"],
        p["batch_size"],
        p["max_iter"],
        p["shuffle"],
        p["random_state"],
    ) == (0.9, True, 16, 12, False, 7)
    assert p["alpha"] == pytest.approx(0.001 * 16)  # sklearn divides its L2 term by the batch size
    full = cfg.model_copy(update={"training": cfg.training.model_copy(update={"batch_size": "full"})})
    assert make_estimator(full, classify=False, n_train=300).get_params()["batch_size"] == 300
    assert type(make_estimator(full, classify=False, n_train=300)).__name__ == "MLPRegressor"


def test_perceptron_counterparts():
    base = {
        "dataset": {"name": "or_gate"},
        "training": {"optimizer": {"name": "gd", "lr": 0.1}, "epochs": 9},
        "baseline": "sklearn",
    }
    rosenblatt = make_estimator(validate({**base, "model": {"type": "perceptron", "bias": False}}), True, 4)
    assert type(rosenblatt).__name__ == "Perceptron"
    assert (rosenblatt.eta0, rosenblatt.max_iter, rosenblatt.tol, rosenblatt.fit_intercept) == (0.1, 9, None, False)
    gradient = make_estimator(
        validate({**base, "model": {"type": "perceptron", "rule": "gradient", "activation": "relu"}}), True, 4
    )
    assert (type(gradient).__name__, gradient.loss, gradient.learning_rate) == (
        "SGDClassifier",
        "squared_error",
        "constant",
    )


def test_options_replace_derived_parameters():
    cfg = validate({**LOGREG, "baseline": {"name": "sklearn", "options": {"C": 0.5, "max_iter": 40}}})
    est = make_estimator(cfg, True, 10)
    assert (est.C, est.max_iter, est.random_state) == (0.5, 40, 42)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"baseline": {"name": "sklearn", "options": {"max_iters": 3}}},
            "['max_iters'] are not parameters of LogisticRegression",
        ),
        ({"baseline": "keras"}, "baseline"),
        ({"model": {"type": "mlp", "activation": "leaky_relu"}}, "no 'leaky_relu' activation"),
    ],
)
def test_bad_baseline_configs(change, message):
    with pytest.raises(ConfigError) as err:
        validate({**LOGREG, **change})
    assert message in str(err.value)


def test_an_option_sklearn_refuses_is_recorded_not_fatal(tmp_path):
    cfg = {
        **LOGREG,
        "training": {**LOGREG["training"], "epochs": 3},
        "baseline": {"name": "sklearn", "options": {"max_iter": -1}},
    }
    result = api.run(cfg, runs_dir=tmp_path)
    assert result.status == "completed"
    assert "max_iter" in result.metrics["baseline"]["error"]


def test_a_baseline_that_fails_otherwise_is_recorded_not_fatal(tmp_path):
    """An OverflowError (max_iter past a C unsigned int) ended the run as an internal error after training."""
    cfg = {**LOGREG, "baseline": {"name": "sklearn", "options": {"max_iter": 10**11, "tol": None}}}
    result = api.run({**cfg, "model": {"type": "perceptron"}}, runs_dir=tmp_path)
    assert result.status == "completed"
    assert result.metrics["baseline"]["error"].startswith("OverflowError: ")


def test_what_a_verbose_baseline_prints_goes_to_stderr_leaving_json_alone(cli, tmp_path):
    """MLPClassifier(verbose=1) prints a line an iteration: they went to stdout, before --json's document."""
    mlp = {**LOGREG, "model": {"type": "mlp", "hidden": [8]}, "training": {**LOGREG["training"], "epochs": 3}}
    config = tmp_path / "mlp.yaml"
    config.write_text(yaml.safe_dump({**mlp, "baseline": {"name": "sklearn", "options": {"verbose": 1}}}))
    result = cli("run", config, "--runs-dir", tmp_path / "runs", "--json", process=True)
    assert result.exit_code == 0, result.output
    assert result.json["status"] == "completed" and "error" not in result.json["metrics"]["baseline"]
    assert "Iteration 1, loss = " in result.stderr  # kept, on stderr


def test_run_prints_the_baseline_beside_the_model(cli, tmp_path):
    config = tmp_path / "logreg.yaml"
    config.write_text(yaml.safe_dump({**LOGREG, "training": {**LOGREG["training"], "epochs": 20}}))
    result = cli("run", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # Rich wraps the caption
    assert "sklearn test" in text and "LogisticRegression(max_iter=20, random_state=42)" in text


def test_a_verbose_baseline_with_stderr_closed_prints_nothing_into_json(tmp_path):
    """With fd 2 closed, the saved copy of stdout took fd 2 and stdout was sent to itself."""
    import shlex
    import subprocess

    from conftest import DLTRAIN, process_env

    config = tmp_path / "lr.yaml"
    options = {"verbose": 1, "solver": "liblinear"}  # liblinear prints from C: "iter  1 act ..."
    config.write_text(yaml.safe_dump({**LOGREG, "baseline": {"name": "sklearn", "options": options}}))
    command = f"{shlex.join(DLTRAIN)} run {config} --runs-dir {tmp_path / 'runs'} --json 2>&-"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=process_env(), timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "completed", done.stdout[:300]


def test_only_the_main_thread_sends_stdout_to_stderr():
    """fd 1 is the whole process's: two threads' baselines overlapping left it on stderr for good."""
    import os
    import threading

    from dltrain.pipeline.experiment import _stdout_on_stderr

    def inode(fd: int) -> tuple:
        info = os.fstat(fd)
        return info.st_dev, info.st_ino

    before, seen = inode(1), []

    def baseline() -> None:
        with _stdout_on_stderr():
            seen.append(inode(1))

    threads = [threading.Thread(target=baseline) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [before, before] and inode(1) == before


ENDLESS = "{name: sklearn, options: {max_iter: 1000000000, tol: 0, n_iter_no_change: 1000000000}}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_baseline_that_would_run_for_hours_and_the_run_is_saved_without_it(tmp_path, signum):
    """The first signal only asked training, already over, to stop; the second one scikit-learn's MLP
    caught, and the run exited 0 with the metrics of a cut-short fit as its baseline."""
    runs = tmp_path / "runs"
    args = ["run", "quickstart", "--runs-dir", runs, "-q", "--set", "training.epochs=1"]
    proc = spawn(*args, "--set", "output.plots=false", "--set", f"baseline={ENDLESS}")
    try:
        for line in proc.stderr:  # trained: the baseline starts
            if "epoch 1/1" in line:
                break
        time.sleep(1)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()  # the baseline would run for hours
    assert proc.returncode == 130, err
    assert "interrupted while scikit-learn fitted the baseline" in err and "Traceback" not in err, err
    (folder,) = runs.iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["baseline"]["error"] == INTERRUPTED and "train" not in metrics["baseline"]
    assert metrics["test"]["accuracy"] > 0.5  # the run's own metrics are all there
    assert json.loads((folder / "meta.json").read_text())["status"] == "completed"
