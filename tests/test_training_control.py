"""Learning-rate schedules, early stopping, divergence, live history and progress output.

Schedules are checked against rates worked out by hand; early stopping against an
uninterrupted run without it; the live bar by rendering it at 80 columns.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import CONFIGS, spawn
from rich.console import Console

from dltrain import api
from dltrain.cli.progress import Progress
from dltrain.config.schema import Training
from dltrain.errors import ConfigError, TrainingFailed
from dltrain.pipeline.experiment import Experiment, weights_of
from dltrain.runs.folder import RunFolder
from dltrain.train import loop, schedules
from dltrain.train.monitor import EpochRecord


def rates(schedule: dict, epochs: int, lr: float = 1.0, losses=(), field: str = "val_loss") -> list[float]:
    """The rate of each epoch; `losses`: the value of `field` each epoch reports (for reduce_on_plateau)."""
    rates_ = schedules.build(Training(schedule=schedule, epochs=epochs).schedule, lr, epochs)
    out = []
    for epoch in range(epochs):
        out.append(rates_.lr(epoch))
        if losses:
            rates_.observe(SimpleNamespace(epoch=epoch + 1, **{field: losses[epoch]}))
    return out


HAND = {
    "constant": ({"name": "constant"}, 0.3, [0.3] * 10),
    "step": (
        {"name": "step", "step_size": 3, "gamma": 0.5},
        0.1,
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125],
    ),
    "exponential": (
        {"name": "exponential", "gamma": 0.5},
        1.0,
        [1, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125, 0.0009765625],
    ),
    # (1 + cos(pi k / 12)) / 2 for k = 0..11
    "cosine": (
        {"name": "cosine"},
        1.0,
        [1, 0.9829629, 0.9330127, 0.8535534, 0.75, 0.6294095, 0.5, 0.3705905, 0.25, 0.1464466, 0.0669873, 0.0170371],
    ),
    # warmup: 1.1 * 1/3, 1.1 * 2/3; then T_max = 12 - 2 = 10: 0.1 + (1 + cos(pi k / 10)) / 2
    "cosine-warmup": (
        {"name": "cosine", "min_lr": 0.1, "warmup_epochs": 2},
        1.1,
        [0.3666667, 0.7333333, 1.1, 1.0755283, 1.0045085, 0.8938926, 0.7545085, 0.6, 0.4454915, 0.3061074]
        + [0.1954915, 0.1244717],
    ),
    # warmup 1, 2, 3 x 0.25 of 0.4; then steps of 2 epochs halving
    "step-warmup": (
        {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 3},
        0.4,
        [0.1, 0.2, 0.3, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05],
    ),
}


@pytest.mark.parametrize("case", list(HAND))
def test_schedule_rates_match_hand_computed_values(case):
    schedule, lr, expected = HAND[case]
    assert rates(schedule, len(expected), lr) == pytest.approx(expected, abs=1e-7)


def test_reduce_on_plateau_rates_match_hand_computed_values():
    # losses 5, 4, then a plateau at 4: more than 2 epochs without improvement halve the rate
    # after epochs 5, 9 and 12 (the last clamped to min_lr 0.2)
    losses = [5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    schedule = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 2, "min_lr": 0.2}
    assert rates(schedule, len(losses), 1.0, losses) == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]


def test_reduce_on_plateau_on_an_accuracy_waits_for_it_to_stop_rising():
    # rising accuracies improve (higher is better); the rate halves once 0.8 has held for 2 epochs
    accuracies = [0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8]
    schedule = {"name": "reduce_on_plateau", "monitor": "val.accuracy", "factor": 0.5, "patience": 1}
    assert rates(schedule, 7, 1.0, accuracies, "val_accuracy") == [1, 1, 1, 1, 1, 1, 0.5]
    flat = {**schedule, "threshold": 0}  # an equal accuracy is no improvement either
    assert rates(flat, 5, 1.0, [0.5, 0.8, 0.8, 0.8, 0.8], "val_accuracy") == [1, 1, 1, 1, 0.5]


def test_reduce_on_plateau_with_threshold_0_counts_an_equal_value_as_no_improvement():
    schedule = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 1, "threshold": 0}
    assert rates(schedule, 6, 1.0, [5, 4, 4, 4, 4, 4]) == [1, 1, 1, 1, 0.5, 0.5]


def test_reduce_on_plateau_watches_from_the_first_epoch_after_the_warmup():
    # warmup 1/3, 2/3 of the rate; epoch 3 sets the best, each flat epoch after it halves the rate
    schedule = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 0, "warmup_epochs": 2}
    assert rates(schedule, 6, 1.0, [1.0] * 6) == pytest.approx([1 / 3, 2 / 3, 1, 1, 0.5, 0.25])


def test_reduce_on_plateau_ignores_changes_below_pytorchs_eps():
    schedule = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 0}
    assert rates(schedule, 4, 1e-8, [1.0] * 4) == [1e-8] * 4  # halving 1e-8 changes it by 5e-9 < 1e-8
    assert rates(schedule, 4, 3e-8, [1.0] * 4) == [3e-8, 3e-8, 1.5e-8, 1.5e-8]


def stopper(params=(), **cfg):
    from dltrain.config.control import EarlyStopping
    from dltrain.train.early_stopping import Stopper

    return Stopper(EarlyStopping(**cfg), list(params))


def observed(stop, values: list[float], field: str = "val_loss", params=()) -> list[bool]:
    return [stop.observe(SimpleNamespace(epoch=e, **{field: v}), list(params)) for e, v in enumerate(values, 1)]


def test_early_stopping_on_an_accuracy_waits_for_it_to_stop_rising():
    stop = stopper(monitor="val.accuracy", patience=2)
    assert observed(stop, [0.5, 0.6, 0.7, 0.7, 0.65], "val_accuracy") == [False, False, False, False, True]
    assert (stop.best_epoch, stop.stopped_epoch) == (3, 5)


def test_early_stopping_counts_an_equal_or_too_small_change_as_no_improvement():
    ties = stopper(patience=2)
    assert observed(ties, [1.0, 1.0, 1.0]) == [False, False, True]
    assert (ties.best_epoch, ties.stopped_epoch) == (1, 3)
    small = stopper(patience=1, min_delta=0.1)
    assert observed(small, [1.0, 0.95]) == [False, True]  # 0.05 better: less than min_delta
    assert (small.best_epoch, small.stopped_epoch) == (1, 2)
    enough = stopper(patience=1, min_delta=0.1)
    assert observed(enough, [1.0, 0.85]) == [False, False] and enough.best_epoch == 2


@pytest.mark.parametrize(
    "monitor, mode, values, stops",
    [
        ("val.accuracy", "min", [0.9, 0.8, 0.7], [False, False, False]),  # mode: min makes a falling accuracy better
        ("val.loss", "max", [1.0, 2.0, 3.0], [False, False, False]),
        ("val.loss", "min", [1.0, 2.0, 3.0], [False, False, True]),
    ],
)
def test_an_explicit_mode_decides_which_way_is_better(monitor, mode, values, stops):
    stop = stopper(monitor=monitor, mode=mode, patience=2)
    assert observed(stop, values, monitor.replace(".", "_")) == stops


def test_monitors_a_run_can_give_are_accepted_and_the_others_refused_with_the_fix():
    from dltrain.train.monitor import check_monitor

    key = "training.early_stopping.monitor"
    for monitor, has_val, classifies in [
        ("val.accuracy", True, True),
        ("val.loss", True, False),
        ("val.accuracy", True, None),  # --dry-run: the data, and whether it classifies, not yet known
        ("train.accuracy", False, True),
    ]:
        check_monitor(key, monitor, has_val, classifies)
    with pytest.raises(ConfigError, match="regression run has no accuracy; monitor val.loss"):
        check_monitor(key, "val.accuracy", True, False)
    with pytest.raises(ConfigError, match="no validation split; set dataset.validation_split .* or monitor train.loss"):
        check_monitor(key, "val.loss", False, True)


def test_best_weights_holds_the_first_epochs_weights_when_it_was_best_then_gives_the_last_back():
    params = [np.array([1.0, 2.0]), np.array([3.0])]
    stop = stopper(params, patience=5)
    observed(stop, [1.0], params=params)  # epoch 1, the best
    for p in params:
        p += 10.0
    stop.observe(SimpleNamespace(epoch=2, val_loss=2.0), params)
    stop.observe(SimpleNamespace(epoch=3, val_loss=3.0), params)
    with stop.best_weights(params):
        assert [p.tolist() for p in params] == [[1.0, 2.0], [3.0]]
    assert [p.tolist() for p in params] == [[11.0, 12.0], [13.0]]


def digits(epochs: int, **training) -> dict:
    return {
        "name": "control",
        "seed": 1,
        "dataset": {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax"},
        "model": {"type": "mlp", "hidden": [32]},
        "training": {"optimizer": {"name": "adam", "lr": 0.003}, "epochs": epochs, "batch_size": 32, **training},
        "output": {"plots": False},
    }


def test_each_epoch_steps_at_the_scheduled_rate_and_history_records_it():
    cfg = digits(4, schedule={"name": "step", "step_size": 1, "gamma": 0.5})
    cfg["training"].update(optimizer={"name": "gd", "lr": 0.2}, batch_size="full")
    exp = Experiment(api.resolve(cfg))
    exp.train()
    assert [r.lr for r in exp.trainer.history] == [0.2, 0.1, 0.05, 0.025]
    by_hand = Experiment(api.resolve(cfg))  # w -= lr g at those rates, written out
    for lr in (0.2, 0.1, 0.05, 0.025):
        by_hand.net.loss_and_grads(by_hand.trainer.X, by_hand.trainer.Y)
        for p, g in zip(by_hand.net.params, by_hand.net.grads):
            p -= lr * g
    for mine, theirs in zip(by_hand.net.params, exp.net.params):
        assert np.array_equal(mine, theirs)


def test_reduce_on_plateau_in_training_cuts_the_rate_at_the_epochs_its_val_loss_stalls():
    schedule = {"name": "reduce_on_plateau", "factor": 0.5, "patience": 0, "threshold": 0.5}
    exp = Experiment(api.resolve(digits(5, schedule=schedule)))
    exp.train()
    history = exp.trainer.history
    assert [r.lr for r in history] == rates(schedule, 5, 0.003, losses=[r.val_loss for r in history])
    assert history[-1].lr < history[0].lr  # the rate was cut


def test_on_batch_gets_the_epochs_done_so_far_after_every_batch_of_a_multi_batch_epoch():
    exp = Experiment(api.resolve(digits(2)))
    seen = []
    exp.train(on_batch=seen.append)
    n = len(exp.trainer.X)
    assert seen == [epoch + min(hi, n) / n for epoch in range(2) for hi in range(32, n + 32, 32)]
    full = digits(2)
    full["training"]["batch_size"] = "full"
    one_batch = Experiment(api.resolve(full))
    one_batch.train(on_batch=seen.append)
    assert len(seen) == 2 * -(-n // 32)  # nothing more: a one-batch epoch has no batch to report


def test_history_records_the_seconds_of_each_epoch(monkeypatch):
    clock = iter([0.0, 1.5, 10.0, 12.25])  # each epoch reads the clock as it starts and as it ends
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    exp = Experiment(api.resolve(digits(2)))
    exp.train()
    assert [r.seconds for r in exp.trainer.history] == [1.5, 2.25]


# --- early stopping -------------------------------------------------------------------------

# digits with a wide layer, half the data held out and a high rate overfits within a second:
# val.loss is lowest at epoch BEST, and no better in the PATIENCE epochs after it
STOP, BEST, PATIENCE = 10, 6, 4


def overfitting(epochs: int, **training) -> dict:
    cfg = digits(epochs, **training)
    cfg["dataset"]["validation_split"] = 0.5
    cfg["model"]["hidden"] = [128]
    cfg["training"]["optimizer"]["lr"] = 0.01
    return cfg


def test_early_stopping_stops_and_keeps_the_best_epochs_weights(tmp_path):
    # the uninterrupted run without early stopping, its weights after every epoch
    plain = Experiment(api.resolve(overfitting(STOP + 3)))
    snapshots = {}
    plain.train(on_epoch=lambda r: snapshots.__setitem__(r.epoch, [p.copy() for p in plain.net.params]))
    val = [r.val_loss for r in plain.trainer.history]
    best = min(range(STOP), key=lambda e: val[e]) + 1
    assert best == BEST and min(val[BEST:STOP]) >= val[BEST - 1]  # no improvement in the PATIENCE epochs after

    result = api.run(overfitting(100, early_stopping={"patience": PATIENCE}), runs_dir=tmp_path)
    assert (result.status, result.epochs, result.stopped_epoch, result.best_epoch) == ("completed", STOP, STOP, BEST)
    meta = json.loads((result.path / "meta.json").read_text())
    assert (meta["stopped_epoch"], meta["best_epoch"], meta["epochs_done"]) == (STOP, BEST, STOP)
    history = list(csv.DictReader(open(result.path / "history.csv")))
    assert [float(r["val_loss"]) for r in history] == val[:STOP]  # every epoch, not only up to the best
    saved = RunFolder(result.path).read_npz("weights.npz")
    for p, best in zip(plain.net.params, snapshots[BEST]):
        p[...] = best
    for key, w in weights_of(plain.net).items():
        assert np.array_equal(saved[key], w), key
    assert result.metrics["val"]["loss"] == val[BEST - 1]


def test_resume_of_a_run_that_stopped_early_has_nothing_to_do(tmp_path, cli):
    """It is finished: no training, and the folder byte for byte as it was, whatever --epochs asks."""
    path = api.run(overfitting(100, early_stopping={"patience": PATIENCE}), runs_dir=tmp_path).path
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    for args in ([], ["--epochs", "200"]):
        result = cli("resume", path, *args)
        assert result.exit_code == 0, result.output
        assert f"nothing to do: {path} stopped early at epoch {STOP}" in " ".join(result.output.split())
        assert {p.name: p.read_bytes() for p in path.iterdir()} == files


def test_runs_shows_a_running_runs_epoch_and_latest_metric(tmp_path, cli):
    import os

    path = api.run(digits(3), runs_dir=tmp_path).path
    (path / "metrics.json").unlink()  # as while it trains: live history and epochs_done, no metrics yet
    RunFolder(path).update_meta(status="running", pid=os.getpid(), ended=None, seconds=None)
    last = list(csv.DictReader(open(path / "history.csv")))[-1]
    listing = cli("runs", tmp_path)
    assert listing.exit_code == 0
    assert "running epoch 3/3" in listing.stdout
    assert "val.accuracy" in listing.stdout and f"{float(last['val_accuracy']):.4f}" in listing.stdout


def test_without_restore_best_the_last_epoch_is_kept(tmp_path):
    result = api.run(overfitting(100, early_stopping={"patience": PATIENCE, "restore_best": False}), runs_dir=tmp_path)
    assert result.stopped_epoch == STOP
    history = list(csv.DictReader(open(result.path / "history.csv")))
    assert result.metrics["val"]["loss"] == float(history[-1]["val_loss"])


def test_the_summary_says_where_training_stopped(tmp_path, cli):
    path = tmp_path / "es.yaml"
    import yaml

    path.write_text(yaml.safe_dump(overfitting(100, early_stopping={"patience": PATIENCE}, log_every=4)))
    result = cli("run", path, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    assert f"stopped early at epoch {STOP}, best epoch {BEST}" in result.stdout
    printed = [int(line.split()[1].split("/")[0]) for line in result.stderr.splitlines() if line.startswith("epoch")]
    assert printed == [1, 5, 9, STOP]  # epoch 1, every 4th from it, and the last, where it stopped


@pytest.mark.parametrize(
    "training, key",
    [
        ({"early_stopping": {"monitor": "val.accuracy"}}, "training.early_stopping.monitor"),
        ({"schedule": {"name": "reduce_on_plateau"}}, "training.schedule.monitor"),
    ],
)
def test_monitoring_a_validation_metric_without_a_validation_split_is_a_config_error(tmp_path, cli, training, key):
    cfg = digits(5, **training)
    cfg["dataset"]["validation_split"] = 0.0
    with pytest.raises(ConfigError, match=f"{key} is val.* no validation split.*dataset.validation_split"):
        api.run(cfg, runs_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    path = tmp_path / "no-val.yaml"
    path.write_text(json.dumps(cfg))
    dry = cli("run", path, "--dry-run")  # found without loading the data too
    assert dry.exit_code == 2 and f"{key} is val." in dry.stderr and not dry.stdout


# --- divergence -----------------------------------------------------------------------------


def test_the_lr_1000_quickstart_fails_as_diverged(tmp_path, cli):
    args = ["run", str(CONFIGS / "quickstart.yaml"), "--runs-dir", str(tmp_path), "--quiet"]
    args += ["--set", "training.optimizer.name=sgd", "--set", "training.optimizer.lr=1000"]
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert "divergence_factor" in result.stderr and "lower training.optimizer.lr" in result.stderr
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "meta.json").read_text())["status"] == "failed"
    # no epoch ended: its history is the header alone, which any CSV reader takes
    assert (folder / "history.csv").read_text() == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds\n"

    off = cli(*args, "--set", "training.divergence_factor=null", "--set", "training.epochs=3")
    assert off.exit_code == 0, off.output


def spied_batches(exp: Experiment, replace=None) -> list[tuple[float, int, int]]:
    """Every batch as the trainer computes it: (loss, rows, rows whose predicted class is right).
    `replace(i, loss)`, when given, is the loss batch i (from 0, over all epochs) reports instead."""
    seen, inner = [], exp.net.loss_and_grads

    def spied(x, y):
        loss, out = inner(x, y)
        if replace is not None:
            loss = replace(len(seen), loss)
        seen.append((loss, len(x), int(np.count_nonzero(out.argmax(axis=1) == y.argmax(axis=1)))))
        return loss, out

    exp.net.loss_and_grads = spied
    return seen


def test_history_accuracies_are_the_batches_as_they_were_seen_and_the_validation_split_after():
    exp = Experiment(api.resolve(digits(2)))
    seen = spied_batches(exp)
    exp.train()
    n = len(exp.trainer.X)
    per_epoch = len(seen) // 2
    assert [r.train_accuracy for r in exp.trainer.history] == [
        sum(right for _, _, right in seen[e * per_epoch : (e + 1) * per_epoch]) / n for e in range(2)
    ]
    assert 0.5 < exp.trainer.history[1].train_accuracy < 1
    assert exp.trainer.history[-1].val_accuracy == exp.metrics()["val"]["accuracy"]  # the weights it ended with


@pytest.mark.parametrize("loss", ["cross_entropy", "sse"])
def test_divergence_is_measured_against_the_first_batch_loss_summed_losses_scaled_to_an_epoch(loss):
    exp = Experiment(api.resolve(digits(1, loss=loss)))
    seen = spied_batches(exp)
    exp.train()
    (first, rows, _), n = seen[0], len(exp.trainer.X)
    assert rows < n  # a multi-batch epoch: a summed loss of one batch is not yet an epoch's
    want = first * (n / rows) if loss == "sse" else first
    assert exp.trainer.initial_loss == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("later, fails", [(20.0, False), (20.5, True)])
def test_an_epoch_loss_over_divergence_factor_times_the_first_fails_the_run(later, fails):
    """The first batch reports 10: an epoch loss of 20 is at 2 times it, over 20 is over."""
    exp = Experiment(api.resolve(digits(2, divergence_factor=2.0)))
    per_epoch = -(-len(exp.trainer.X) // 32)
    spied_batches(exp, replace=lambda i, loss: 10.0 if i < per_epoch else later)
    if not fails:
        exp.train()
        assert [r.train_loss for r in exp.trainer.history] == [10.0, 20.0]
        return
    why = r"in epoch 2, over training.divergence_factor \(2\) times the first loss 10 \(last finite epoch loss: 10\)"
    with pytest.raises(TrainingFailed, match=why):
        exp.train()
    assert [r.train_loss for r in exp.trainer.history] == [10.0]


@pytest.mark.parametrize("schedule", [None, {"name": "step", "step_size": 1, "gamma": 10.0}])
def test_the_divergence_hint_names_the_rate_the_epoch_ran_at(schedule):
    exp = Experiment(api.resolve(digits(2, divergence_factor=2.0, **({"schedule": schedule} if schedule else {}))))
    per_epoch = -(-len(exp.trainer.X) // 32)
    spied_batches(exp, replace=lambda i, loss: 10.0 if i < per_epoch else 25.0)
    with pytest.raises(TrainingFailed) as failed:
        exp.train()
    hint = str(failed.value).split("Hint: ")[1]
    made = "; training.schedule made it 0.03 in this epoch" if schedule else ""
    assert hint == f"lower training.optimizer.lr (now 0.003{made}) or scale the inputs."


def test_a_non_finite_batch_loss_fails_the_run_in_that_batch():
    """Not at the epoch's end, where a NaN loss would pass as the epoch's loss (NaN > x is False)."""
    exp = Experiment(api.resolve(digits(2)))
    seen = spied_batches(exp, replace=lambda i, loss: math.nan if i == 2 else loss)
    with pytest.raises(TrainingFailed, match=r"^the loss became nan in epoch 1 \(last finite epoch loss: none yet\)"):
        exp.train()
    assert len(seen) == 3 and exp.trainer.history == []


def test_weights_made_non_finite_by_an_epochs_last_step_fail_the_run():
    """The loss of a batch is taken before its step: only the check after the epoch sees them."""
    exp = Experiment(api.resolve(digits(1, batch_size="full")))
    inner = exp.trainer.optimizer.step

    def step(grads):
        inner(grads)
        exp.net.params[0].flat[0] = np.inf

    exp.trainer.optimizer.step = step
    with pytest.raises(TrainingFailed, match=r"^the weights became NaN or infinite in epoch 1 "):
        exp.train()


def test_the_trainer_refuses_an_accuracy_monitor_for_a_regression_run_only():
    """The data decides: the config check before it is loaded leaves the question open."""
    Experiment(api.resolve(digits(1, early_stopping={"monitor": "val.accuracy"})))  # digits classifies
    regression = {
        "name": "regression",
        "seed": 4,
        "dataset": {"name": "sqrt_mean", "n": 50, "dim": 3, "seed": 4, "validation_split": 0.2},
        "model": {"type": "mlp", "hidden": [4]},
        "training": {"epochs": 1, "early_stopping": {"monitor": "val.accuracy"}},
        "output": {"plots": False},
    }
    with pytest.raises(ConfigError, match="regression run has no accuracy; monitor val.loss"):
        Experiment(api.resolve(regression))


# --- live history ----------------------------------------------------------------------------


def test_sigkill_loses_no_history_row_older_than_about_a_second(tmp_path):
    import yaml
    from test_interrupt_resume import assert_complete_files

    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(digits(10**6, log_every=1)))
    proc = spawn("run", path, "--runs-dir", tmp_path / "runs", "--quiet", stdout=None)
    seen = []  # (epoch, when its line arrived)
    for line in proc.stderr:
        if line.startswith("epoch"):
            seen.append((int(line.split()[1].split("/")[0]), time.monotonic()))
            if seen[-1][1] - seen[0][1] > 3.0:
                break
    proc.kill()
    killed = time.monotonic()
    proc.communicate(timeout=30)
    (folder,) = (tmp_path / "runs").iterdir()
    assert_complete_files(folder)
    rows = list(csv.DictReader(open(folder / "history.csv")))
    older = [epoch for epoch, when in seen if killed - when > 1.25]  # a second, and the epoch that writes them
    assert older and len(rows) >= older[-1]
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    assert json.loads((folder / "meta.json").read_text())["epochs_done"] == len(rows)


# --- progress ---------------------------------------------------------------------------------


def record(epoch: int) -> EpochRecord:
    return EpochRecord(epoch, 0.123456789, 0.98765, 0.0812345678, 0.97654321, 0.001, 0.5)


def test_the_live_bar_keeps_epoch_counter_elapsed_and_eta_at_80_columns():
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None, legacy_windows=False)
    clock = [0.0]
    with Progress(150, 10, live=True, console=console, get_time=lambda: clock[0]) as progress:
        for epoch in range(12):  # 2-second epochs, followed batch by batch
            for step in range(1, 21):
                clock[0] += 0.1
                progress.batch(epoch + step / 20)
            progress(record(epoch + 1))
        clock[0] += 0.05
        progress.batch(12.025)
        shown = Console(file=io.StringIO(), width=80, color_system=None)  # the bar's table as the terminal gets it
        shown.print(progress._bar.make_tasks_table(progress._bar.tasks))
    (last,) = shown.file.getvalue().rstrip("\n").splitlines()
    assert len(last) <= 80 and "…" not in last, last
    assert "epoch  12/150" in last or "epoch 12/150" in last, last
    assert "0:00:24" in last  # elapsed
    assert "0:04:3" in last  # 138 epochs of 2 s to go
    assert "loss 0.123457" in last  # the most important metric stays


def test_plain_log_prints_epoch_1_every_log_every_th_from_it_and_the_last():
    out = io.StringIO()
    with Progress(25, 10, live=False, console=Console(file=out, width=200)) as progress:
        assert progress.batch is None  # no per-batch calls without a live bar
        for epoch in range(1, 18):  # stopped early at 17
            progress(record(epoch))
    assert [int(line.split()[1].split("/")[0]) for line in out.getvalue().splitlines()] == [1, 11, 17]


def test_a_long_epoch_moves_the_bar_between_epochs_at_most_ten_times_a_second():
    class Counting(Progress):
        updates = 0

        def __enter__(self):
            super().__enter__()
            real = self._bar.update

            def update(*args, **kw):
                Counting.updates += 1
                real(*args, **kw)

            self._bar.update = update
            return self

    clock = [0.0]
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    with Counting(3, 1, live=True, console=console, get_time=lambda: clock[0]) as progress:
        for step in range(1, 1001):  # 1000 batches in 2 seconds
            clock[0] += 0.002
            progress.batch(step / 1000)
    assert 15 <= Counting.updates <= 21
    assert math.isclose(clock[0], 2.0)
