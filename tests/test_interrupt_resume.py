"""Interrupts, checkpoints, resume and hard kills.

The promise under test: a run stopped at any moment (Ctrl-C, SIGTERM, SIGKILL) leaves
only complete files, and `dltrain resume` then ends with weights and metrics
bit-identical to the same run never interrupted.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import claimed_elsewhere, spawn, two_class_csv_config

from dltrain import api
from dltrain.errors import ConfigError, RunFolderError
from dltrain.pipeline.experiment import Experiment, weights_of
from dltrain.runs.claim import InUse, claimed, claimed_sweep_of
from dltrain.runs.folder import RunFolder
from dltrain.runs.status import run_status
from dltrain.train import checkpoint, signals
from dltrain.train.signals import ForcedExit, graceful_stop

# optimizer section, batch size: gd with momentum (velocity state, one batch per epoch),
# sgd with shuffled mini-batches (RNG state), adam (moments and step count)
OPTIMIZERS = {
    "gd": ({"name": "gd", "lr": 0.1, "momentum": 0.9}, "full"),
    "gd-nesterov": ({"name": "gd", "lr": 0.05, "momentum": 0.5, "nesterov": True}, 200),
    "sgd": ({"name": "sgd", "lr": 0.05}, 32),
    "adam": ({"name": "adam", "lr": 0.002}, 64),
}


# learning-rate schedule and early stopping, whose state the checkpoint must carry: a plateau
# schedule that cuts the rate often; early stopping whose best epoch stays the first (it never stops here)
CONTROL = {
    "plain": {},
    "schedule": {
        "schedule": {"name": "reduce_on_plateau", "factor": 0.5, "patience": 0, "threshold": 0.2, "warmup_epochs": 2}
    },
    "early-stopping": {"early_stopping": {"patience": 10**6, "min_delta": 1.5}},
}
CONTROL["both"] = {**CONTROL["schedule"], **CONTROL["early-stopping"]}


def config(kind: str, epochs: int, **training) -> dict:
    optimizer, batch_size = OPTIMIZERS[kind]
    return {
        "name": f"ir-{kind}",
        "seed": 3,
        "dataset": {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax"},
        "model": {"type": "mlp", "hidden": [16], "activation": "tanh"},
        "training": {"optimizer": optimizer, "epochs": epochs, "batch_size": batch_size, "log_every": 1, **training},
        "output": {"plots": False},
    }


def write_config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def only_run(runs_dir: Path) -> Path:
    (folder,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return folder


def assert_same_run(a: Path, b: Path) -> None:
    """Weights bit for bit, metrics exactly, history equal except the timings."""
    wa, wb = RunFolder(a).read_npz("weights.npz"), RunFolder(b).read_npz("weights.npz")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert np.array_equal(wa[key], wb[key]), key
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())

    def strip(path):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(path))]

    assert strip(a / "history.csv") == strip(b / "history.csv")


def reference(tmp_path: Path, kind: str, epochs: int, control: str = "plain") -> Path:
    """The same run, never interrupted."""
    return api.run(config(kind, epochs, **CONTROL[control]), runs_dir=tmp_path / "reference").path


def assert_complete_files(folder: Path) -> None:
    """Every JSON, CSV, YAML and NPZ in the folder parses in full."""
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue  # a temporary file a killed writer left behind; never read by dltrain
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".yaml":
            assert isinstance(yaml.safe_load(path.read_text()), dict)
        elif path.suffix == ".csv":
            rows = list(csv.reader(open(path)))
            assert all(len(r) == len(rows[0]) for r in rows), path
            [float(v) for r in rows[1:] for v in r if v]
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                [archive[k] for k in archive.files]


def wait_for_epoch(proc: subprocess.Popen, epoch: int) -> list[str]:
    """Read progress lines on stderr until `epoch` has been reported (log_every: 1)."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("epoch") and int(line.split()[1].split("/")[0]) >= epoch:
            return lines
    raise AssertionError(f"the run ended before epoch {epoch}:\n" + "".join(lines))


# --- real processes, real signals ---------------------------------------------------------


@pytest.mark.parametrize(
    "kind, sig, control",
    [
        ("gd", signal.SIGINT, "plain"),
        ("sgd", signal.SIGTERM, "plain"),
        ("adam", signal.SIGINT, "plain"),
        ("sgd", signal.SIGINT, "schedule"),
        ("adam", signal.SIGINT, "early-stopping"),
        ("gd-nesterov", signal.SIGTERM, "both"),
    ],
)
def test_signal_stops_saves_and_resume_is_bit_identical(cli, tmp_path, kind, sig, control):
    runs = tmp_path / "runs"
    proc = spawn("run", write_config(tmp_path, config(kind, 10**6, **CONTROL[control])), "--runs-dir", runs, "--quiet")
    wait_for_epoch(proc, 3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err

    folder = only_run(runs)
    meta = json.loads((folder / "meta.json").read_text())
    done = meta["epochs_done"]
    assert meta["status"] == "interrupted" and done >= 3
    assert f"resume with: dltrain resume {folder}" in err
    assert len(list(csv.DictReader(open(folder / "history.csv")))) == done
    assert int(RunFolder(folder).read_npz("checkpoint.npz")["epoch"]) == done
    assert not list(folder.glob(".*"))  # no temporary files

    result = cli("resume", folder, "--epochs", done + 3, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert_same_run(folder, reference(tmp_path, kind, done + 3, control))


def test_second_interrupt_exits_at_once_leaving_complete_files(cli, tmp_path):
    runs = tmp_path / "runs"
    proc = spawn("run", write_config(tmp_path, config("sgd", 10**6, checkpoint_every=2)), "--runs-dir", runs, "--quiet")
    wait_for_epoch(proc, 4)
    proc.send_signal(signal.SIGINT)
    for line in proc.stderr:  # the first was handled: saving has begun (or is already over)
        if line.startswith("stopping after"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    folder = only_run(runs)
    assert_complete_files(folder)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    # whichever checkpoint survived, resuming from it reproduces the uninterrupted run
    target = meta["epochs_done"] + 2
    assert cli("resume", folder, "--epochs", target, "--quiet").exit_code == 0
    assert_same_run(folder, reference(tmp_path, "sgd", target))


def test_a_run_started_with_sigint_ignored_leaves_it_ignored(tmp_path):
    """A shell script's background job (`dltrain run a.yaml &`) starts with SIGINT ignored, so that
    Ctrl-C meant for the script's foreground command passes it by: the run goes on; SIGTERM still
    stops it, saved."""
    runs = tmp_path / "runs"
    cfg = write_config(tmp_path, config("sgd", 10**6))
    proc = spawn(
        "run", cfg, "--runs-dir", runs, "--quiet", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    try:
        wait_for_epoch(proc, 2)
        proc.send_signal(signal.SIGINT)
        lines = wait_for_epoch(proc, 5)  # still training
        assert not any(line.startswith("stopping after") for line in lines)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:  # a failing test leaves no endless run behind
        proc.kill()
    assert proc.returncode == 130, err
    assert json.loads((only_run(runs) / "meta.json").read_text())["status"] == "interrupted"


def test_second_interrupt_during_the_save_leaves_at_once(tmp_path, monkeypatch):
    """Deterministic version of the race above: both signals arrive while the run is being saved."""
    from dltrain.errors import Interrupted
    from dltrain.pipeline import session

    monkeypatch.setattr(signals, "REPEAT_GAP", 0.0)  # the second is meant: a person's, not the first twice

    real_save = session.save_record

    def save_interrupted(folder, record, plots=True, report=False):
        folder.write_csv("history.csv", record.history)
        signal.raise_signal(signal.SIGINT)  # first: only asks to stop
        signal.raise_signal(signal.SIGINT)  # second: leaves now
        real_save(folder, record, plots, report)

    monkeypatch.setattr(session, "save_record", save_interrupted)
    with pytest.raises(Interrupted, match="stopped at once by a second interrupt") as caught:
        api.run(config("adam", 4, checkpoint_every=2), runs_dir=tmp_path, handle_signals=True)
    assert "resume with: dltrain resume" in str(caught.value)
    folder = only_run(tmp_path)
    assert_complete_files(folder)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["error"] == "stopped at once by a second interrupt"
    assert meta["epochs_done"] == int(RunFolder(folder).read_npz("checkpoint.npz")["epoch"]) == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigkill_at_random_moments_leaves_complete_files_and_a_crashed_status(cli, tmp_path):
    rng = random.Random(6)
    runs = tmp_path / "runs"
    cfg = config("adam", 10**6, checkpoint_every=1)
    proc = spawn("run", write_config(tmp_path, cfg), "--runs-dir", runs, "--quiet")
    folder = None
    for attempt in range(3):  # kill the run, then kill each resumed session
        wait_for_epoch(
            proc, (folder and json.loads((folder / "meta.json").read_text())["epochs_done"] or 0) + rng.randint(2, 8)
        )
        threading.Event().wait(rng.uniform(0, 0.02))  # land anywhere inside an epoch or a write
        proc.kill()
        proc.communicate(timeout=30)
        folder = only_run(runs)
        assert_complete_files(folder)
        meta = json.loads((folder / "meta.json").read_text())
        assert run_status(meta) == "crashed", meta
        if attempt < 2:
            proc = spawn("resume", folder, "--quiet")

    done = json.loads((folder / "meta.json").read_text())["epochs_done"]
    result = cli("resume", folder, "--epochs", done + 2, "--quiet")
    assert result.exit_code == 0, result.output
    assert not list(folder.glob(".*.tmp"))  # resume clears what killed writers left
    assert len(json.loads((folder / "meta.json").read_text())["resumed"]) == 3
    assert_same_run(folder, reference(tmp_path, "adam", done + 2))


# --- in process: rollback and restore at many stopping points -----------------------------


def stop_after_batches(exp: Experiment, n: int) -> None:
    """Request a stop during the n-th batch, as a signal handler would."""
    calls, forward = [0], exp.net.loss_and_grads

    def counting(x, y):
        calls[0] += 1
        if calls[0] == n:
            exp.trainer.stop_requested = True
        return forward(x, y)

    exp.net.loss_and_grads = counting


def resumed(first: Experiment, folder: Path) -> Experiment:
    """A new experiment of `first`'s config that continues it through a checkpoint in `folder`, trained to its end."""
    checkpoint.save(RunFolder(folder), checkpoint.capture(first.trainer, first.cfg))
    second = Experiment(first.cfg)
    checkpoint.load_into(RunFolder(folder), second.trainer, second.cfg)
    second.train()
    return second


def assert_trains_as_uninterrupted(exp: Experiment) -> Experiment:
    """`exp` ended with the weights of its config trained in one go; that run is returned."""
    uninterrupted = Experiment(exp.cfg)
    uninterrupted.train()
    for key, w in weights_of(uninterrupted.net).items():
        assert np.array_equal(weights_of(exp.net)[key], w), key
    return uninterrupted


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
@pytest.mark.parametrize("stop_at", [1, 9, 30])
def test_stop_mid_epoch_rolls_back_and_resumes_bit_identical(tmp_path, kind, stop_at):
    cfg = api.resolve(config(kind, 6))
    first = Experiment(cfg)
    stop_after_batches(first, stop_at)
    first.train()
    per_epoch = -(-len(first.splits.train[1]) // first.trainer.batch_size)
    # the epoch of the stopping batch is rolled back, unless that batch was its last
    assert first.trainer.epoch == min(stop_at // per_epoch, 6)
    assert len(first.trainer.history) == first.trainer.epoch

    second = resumed(first, tmp_path)
    uninterrupted = assert_trains_as_uninterrupted(second)
    assert [r.train_loss for r in second.trainer.history] == [r.train_loss for r in uninterrupted.trainer.history]


def test_an_exception_mid_epoch_rolls_back_so_training_again_matches_the_uninterrupted_run():
    cfg = api.resolve(config("sgd", 3))
    exp = Experiment(cfg)
    calls, forward = [0], exp.net.loss_and_grads

    def interrupted(x, y):  # Ctrl-C in the Python API, where no handler turns it into a stop
        calls[0] += 1
        if calls[0] == 50:  # in epoch 2
            raise KeyboardInterrupt
        return forward(x, y)

    exp.net.loss_and_grads = interrupted
    with pytest.raises(KeyboardInterrupt):
        exp.train()
    assert exp.trainer.epoch == len(exp.trainer.history) == 1
    exp.train()
    assert_trains_as_uninterrupted(exp)


def test_a_stop_in_the_first_epoch_resumes_with_its_schedule_and_early_stopping(tmp_path):
    # the checkpoint of epoch 0: no bad epochs, best epoch 0, nothing waited yet
    cfg = api.resolve(config("sgd", 3, **CONTROL["both"]))
    first = Experiment(cfg)
    stop_after_batches(first, 1)
    first.train()
    assert first.trainer.epoch == 0
    assert_trains_as_uninterrupted(resumed(first, tmp_path))


def test_a_checkpoint_keeps_the_first_loss_divergence_is_measured_against(tmp_path):
    cfg = api.resolve(config("sgd", 2))
    first = Experiment(cfg)
    first.train()
    assert first.trainer.initial_loss is not None
    folder = RunFolder(tmp_path)
    checkpoint.save(folder, checkpoint.capture(first.trainer, first.cfg))
    second = Experiment(cfg)
    checkpoint.load_into(folder, second.trainer, second.cfg)
    assert second.trainer.initial_loss == first.trainer.initial_loss


def test_restore_refuses_weights_of_another_shape_even_where_they_would_broadcast():
    narrow, wide = config("sgd", 1), config("sgd", 1)
    narrow["model"]["hidden"], wide["model"]["hidden"] = [1], [16]  # (64, 1) would broadcast into (64, 16)
    exp = Experiment(api.resolve(narrow))
    state = checkpoint.capture(exp.trainer, exp.cfg)
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(64, 1\), the network expects \(64, 16\)"):
        checkpoint.restore(Experiment(api.resolve(wide)).trainer, state)


def test_restore_names_an_optimizer_state_of_another_shape_or_missing():
    cfg = api.resolve(config("adam", 1))
    state = checkpoint.capture(Experiment(cfg).trainer, cfg)
    state["opt.m_0"] = state["opt.m_0"][:1]  # (1, 16) would broadcast into (64, 16)
    with pytest.raises(ValueError, match=r"optimizer state m_0 should have shape \(64, 16\), found \(1, 16\)"):
        checkpoint.restore(Experiment(cfg).trainer, state)
    del state["opt.m_0"]
    with pytest.raises(ValueError, match=r"optimizer state m_0 should have shape \(64, 16\), found nothing"):
        checkpoint.restore(Experiment(cfg).trainer, state)


def test_a_checkpoint_taken_before_any_batch_loads_with_the_first_loss_unknown(tmp_path):
    cfg = api.resolve(config("sgd", 2))
    folder = RunFolder(tmp_path)
    checkpoint.save(folder, checkpoint.capture(Experiment(cfg).trainer, cfg))  # initial_loss: NaN
    resumed = Experiment(cfg)
    checkpoint.load_into(folder, resumed.trainer, cfg)
    assert resumed.trainer.initial_loss is None


def test_a_checkpoint_of_another_format_is_refused(tmp_path):
    folder = RunFolder(tmp_path)
    exp = Experiment(api.resolve(config("sgd", 1)))
    state = checkpoint.capture(exp.trainer, exp.cfg)
    checkpoint.save(folder, {**state, "format": np.array(2)})
    with pytest.raises(RunFolderError, match=r"checkpoint.npz is not a dltrain checkpoint \(format 1\)"):
        checkpoint.load(folder)


@pytest.mark.parametrize("name", ["epoch", "rng"])
def test_a_checkpoint_without_its_epoch_or_rng_is_damaged(tmp_path, name):
    folder = RunFolder(tmp_path)
    exp = Experiment(api.resolve(config("sgd", 1)))
    state = checkpoint.capture(exp.trainer, exp.cfg)
    del state[name]
    checkpoint.save(folder, state)
    with pytest.raises(RunFolderError, match=f"checkpoint.npz is damaged: {name} is missing"):
        checkpoint.load(folder)


def test_a_checkpoint_whose_history_has_no_validation_values_loads(tmp_path):
    cfg = config("sgd", 2)
    del cfg["dataset"]["validation_split"]
    exp = Experiment(api.resolve(cfg))
    exp.train()
    folder = RunFolder(tmp_path)
    checkpoint.save(folder, checkpoint.capture(exp.trainer, exp.cfg))
    rows = json.loads(str(checkpoint.load(folder)["history"]))
    assert [(r["epoch"], r["val_loss"], r["val_accuracy"]) for r in rows] == [(1, None, None), (2, None, None)]


@pytest.mark.parametrize("kind, first_epochs", [("sgd", 1), ("adam", 4), ("gd", 2)])
def test_api_resume_continues_a_finished_run(tmp_path, kind, first_epochs):
    short = api.run(config(kind, first_epochs), runs_dir=tmp_path / "runs")
    resumed = api.resume(short.path, epochs=7)
    assert resumed.status == "completed" and resumed.epochs == 7
    assert yaml.safe_load((short.path / "config.yaml").read_text())["training"]["epochs"] == 7
    assert_same_run(short.path, reference(tmp_path, kind, 7))


def test_checkpoint_every_saves_at_multiples_and_at_the_end(tmp_path, monkeypatch):
    saved = []
    real_save = checkpoint.save
    monkeypatch.setattr(
        checkpoint, "save", lambda folder, state: (saved.append(int(state["epoch"])), real_save(folder, state))
    )
    api.run(config("sgd", 5, checkpoint_every=2), runs_dir=tmp_path)
    assert saved == [2, 4, 5]


def test_resume_latest_continues_the_newest_run_in_runs_dir(cli, tmp_path):
    older = api.run(config("adam", 2), runs_dir=tmp_path / "runs").path
    newer = api.run(config("sgd", 2), runs_dir=tmp_path / "runs").path
    result = cli("resume", "latest", "--runs-dir", tmp_path / "runs", "--epochs", "3", "--json", code=0)
    assert result.json["run"] == str(newer) and result.json["epochs"] == 3
    assert json.loads((older / "meta.json").read_text())["epochs_done"] == 2
    assert "no run folder at latest" not in cli("resume", "latest", "--runs-dir", tmp_path / "none", code=2).stderr


def test_resume_of_a_completed_run_has_nothing_to_do(cli, tmp_path):
    folder = api.run(config("sgd", 3), runs_dir=tmp_path / "runs").path
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    for args in ([], ["--epochs", "3"], ["--json"]):
        result = cli("resume", folder, *args)
        assert result.exit_code == 0, result.output
        assert "nothing to do" in result.output and "--epochs M" in result.output
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == files  # meta.json too, byte for byte
    assert json.loads(result.stdout)["note"].startswith("nothing to do")
    more = cli("resume", folder, "--epochs", "5", "--json")
    assert more.exit_code == 0, more.output
    assert json.loads(more.stdout)["epochs"] == 5 and "note" not in json.loads(more.stdout)
    assert_same_run(folder, reference(tmp_path, "sgd", 5))


def test_resume_finishes_a_run_interrupted_after_its_last_epoch(tmp_path):
    # every epoch trained, but stopped before the run was finished: resume finishes it, not "nothing to do"
    path = api.run(config("adam", 2), runs_dir=tmp_path / "runs").path
    RunFolder(path).update_meta(status="interrupted")
    result = api.resume(path)
    assert result.status == "completed" and result.note is None and result.epochs == 2
    assert run_status(json.loads((path / "meta.json").read_text())) == "completed"
    assert_same_run(path, reference(tmp_path, "adam", 2))


def test_resume_without_checkpoint_starts_over(tmp_path):
    path = api.run(config("adam", 3), runs_dir=tmp_path / "runs").path
    (path / "checkpoint.npz").unlink()
    RunFolder(path).update_meta(status="running", pid=2**22 + 1)  # a crash before the first checkpoint
    api.resume(path)
    assert_same_run(path, reference(tmp_path, "adam", 3))


def test_resume_refuses_a_run_that_is_still_running(cli, tmp_path):
    path = api.run(config("adam", 1), runs_dir=tmp_path).path
    RunFolder(path).update_meta(status="running", pid=os.getpid())
    result = cli("resume", path)
    assert result.exit_code == 2 and "still running" in result.output


def test_resume_refuses_a_run_another_process_is_resuming(cli, tmp_path):
    path = api.run(config("adam", 2), runs_dir=tmp_path / "runs").path
    RunFolder(path).update_meta(status="interrupted")
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    with claimed_elsewhere(path):
        refused = cli("resume", path)
    assert refused.exit_code == 2, refused.output
    assert f"{path} is in use: another dltrain process is training it; wait for it to end" in refused.output
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files
    assert cli("resume", path).exit_code == 0  # the other process gone, its claim went with it
    assert_same_run(path, reference(tmp_path, "adam", 2))


def test_a_resume_holds_its_claim_until_it_ends(tmp_path):
    path = api.run(config("adam", 1), runs_dir=tmp_path / "runs").path
    proc = spawn("resume", path, "--epochs", 10**6, "--quiet")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        wait_for_epoch(proc, 3)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # gone with the process
    finally:
        proc.kill()
        proc.communicate()
        os.close(fd)


def test_a_claim_is_exclusive_unless_both_holders_share_it(tmp_path):
    with claimed(tmp_path, "first"):
        with pytest.raises(InUse, match="is in use: first"):
            with claimed(tmp_path, "first"):
                pass
    with claimed(tmp_path, "a sweep's run", shared=True):
        with claimed(tmp_path, "another of its runs", shared=True):
            with pytest.raises(InUse, match="is in use: the sweep"):
                with claimed(tmp_path, "the sweep"):
                    pass


def test_a_path_that_is_no_folder_is_not_claimed(tmp_path):
    ran = []
    with claimed(tmp_path / "missing", "nothing"):
        ran.append(True)
    assert ran == [True]


def test_two_runs_of_one_sweep_can_be_resumed_together(tmp_path):
    (tmp_path / "sweep.json").write_text("{}")
    (tmp_path / "run-a").mkdir()
    (tmp_path / "run-b").mkdir()
    with claimed_sweep_of(tmp_path / "run-a"), claimed_sweep_of(tmp_path / "run-b"):
        with pytest.raises(InUse, match="is in use: the sweep itself"):  # the sweep still cannot start
            with claimed(tmp_path, "the sweep itself"):
                pass


def test_resume_with_fewer_epochs_than_done_is_an_error(tmp_path):
    path = api.run(config("adam", 3), runs_dir=tmp_path).path
    with pytest.raises(ConfigError, match="already trained 3 epochs"):
        api.resume(path, epochs=2)


def edit_config(path: Path, change) -> None:
    cfg = yaml.safe_load((path / "config.yaml").read_text())
    change(cfg)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_resume_refuses_a_checkpoint_that_does_not_match_the_config(cli, tmp_path):
    path = api.run(config("adam", 2), runs_dir=tmp_path).path
    edit_config(path, lambda cfg: cfg["model"].update(hidden=[8]))
    result = cli("resume", path, "--epochs", "3", code=2)
    assert "was trained with model.hidden: [16], not [8] as in the run's config.yaml" in result.message
    state = dict(checkpoint.load(RunFolder(path)))
    del state["settings"]  # a checkpoint that does not say what it was trained with
    checkpoint.save(RunFolder(path), state)
    result = cli("resume", path, "--epochs", "3", code=2)
    assert "checkpoint.npz does not fit the run's config.yaml (parameter 0 has shape" in result.message


# edits of a run's config.yaml after which its checkpoint still fits, but would train on otherwise:
# (the key the refusal names, its value in the checkpoint, in the edited config, how to edit)
NUMBERS_EDITS = {
    "loss": ("training.loss", '"cross_entropy"', '"mse"', lambda c: c["training"].update(loss="mse")),
    "dtype": ("training.dtype", '"float64"', '"float32"', lambda c: c["training"].update(dtype="float32")),
    "lr": ("training.optimizer.lr", "0.002", "0.003", lambda c: c["training"]["optimizer"].update(lr=0.003)),
    "scaling": ("dataset.scaling", '"minmax"', '"standard"', lambda c: c["dataset"].update(scaling="standard")),
    "seed": ("seed", "3", "4", lambda c: c.update(seed=4)),
    "stopping": (
        "training.early_stopping",
        "null",
        '{"min_delta": 0.0',
        lambda c: c["training"].update(early_stopping={}),
    ),
}


@pytest.mark.parametrize("edit", list(NUMBERS_EDITS))
def test_resume_refuses_a_config_edited_since_its_checkpoint_in_what_decides_the_numbers(cli, tmp_path, edit):
    key, then, now, change = NUMBERS_EDITS[edit]
    path = api.run(config("adam", 2), runs_dir=tmp_path).path
    edit_config(path, change)
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    result = cli("resume", path, "--epochs", "3", code=2)
    assert f"checkpoint.npz was trained with {key}: {then}, not {now}" in result.message
    assert "put the setting back as it was, or train the edited config as a new run" in result.message
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files  # nothing written


def test_resume_takes_a_config_edited_in_what_does_not_change_the_numbers(cli, tmp_path):
    path = api.run(config("adam", 2), runs_dir=tmp_path / "runs").path

    def harmless(cfg):
        cfg.update(name="renamed", output={"plots": True})
        cfg["training"].update(log_every=5, checkpoint_every=1)

    edit_config(path, harmless)
    cli("resume", path, "--epochs", "7", code=0)
    assert_same_run(path, reference(tmp_path, "adam", 7))
    assert (path / "cost.png").is_file()


def test_checkpoint_settings_nested_at_any_depth_are_damaged_not_an_internal_error(tmp_path):
    # Python's recursion limit is met at a depth that depends on the stack below: json.loads may
    # parse what a later comparison cannot encode. Every depth between must be refused as damaged.
    exp = Experiment(api.resolve(config("sgd", 1)))
    state, path = checkpoint.capture(exp.trainer, exp.cfg), tmp_path / checkpoint.FILENAME
    for depth in range(33, 1100):
        model = "[" * depth + "]" * depth
        np.savez(
            path,
            **{**state, "settings": np.array(f'{{"seed": 3, "dataset": {{}}, "training": {{}}, "model": {model}}}')},
        )
        with pytest.raises(RunFolderError, match="checkpoint.npz is damaged: settings"):
            checkpoint.load_into(RunFolder(tmp_path), exp.trainer, exp.cfg)


def test_resume_refuses_a_data_file_grown_since_the_run_trained(cli, tmp_path):
    # its test rows would be trained on from here: the split moves with the row count
    config = two_class_csv_config(tmp_path, "grown", "big", "small", epochs=2)
    path = Path(cli("run", config, "--runs-dir", tmp_path / "runs", "--json", code=0).json["run"])
    data = tmp_path / "grown.csv"
    data.write_text(data.read_text() + "".join(data.read_text().splitlines(keepends=True)[1:21]))
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    message = cli("resume", path, "--epochs", "3", code=2).message
    assert "trained on has changed: its splits now hold train 60, test 20 samples, when it trained train 45" in message
    assert "a resume continues the training on the data it began with" in message
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files
    rows = data.read_text().splitlines(keepends=True)[:61]
    data.write_text("".join(rows[:1] + [rows[1].replace("0.", "1.", 1)] + rows[2:]))  # one value, in place
    assert "its file has been edited" in cli("resume", path, "--epochs", "3", code=2).message


def test_resume_takes_a_checkpoint_from_before_a_setting_was_added(tmp_path):
    path = api.run(config("adam", 2), runs_dir=tmp_path / "runs").path
    state = dict(checkpoint.load(RunFolder(path)))
    settings = json.loads(str(state["settings"]))
    assert settings["training"]["divergence_factor"] is not None  # the setting, as a later dltrain would add it
    del settings["training"]["divergence_factor"]
    checkpoint.save(RunFolder(path), {**state, "settings": np.array(json.dumps(settings))})
    api.resume(path, epochs=7)
    assert_same_run(path, reference(tmp_path, "adam", 7))


def _deep(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# what a damaged checkpoint holds: (array, value) replaced, as text for rng and history
# array (or its first history row's field: "row:field=JSON", "row:-field" to drop it) -> damaged value;
# the run has a plateau schedule and early stopping, so their counters and best weights are there to damage
DAMAGED_CHECKPOINTS = {
    "history-deep": ("history", _deep()),
    "rng-deep": ("rng", _deep()),
    "rng-not-a-state": ("rng", "[1, 2]"),
    "settings-deep": ("settings", _deep()),
    "settings-not-a-config": ("settings", "[1, 2]"),
    "settings-a-number": ("settings", np.array(5.0)),
    "settings-empty": ("settings", "{}"),
    "settings-without-the-model": ("settings", '{"seed": 3, "dataset": {}, "training": {}}'),
    "settings-longer-than-a-config": (
        "settings",
        '{"seed": 3, "dataset": {}, "training": {}, "model": "' + "x" * (4 << 20) + '"}',
    ),
    "history-not-a-list": ("history", '{"epoch": 1}'),
    "history-a-number": ("history", "5"),
    "history-text-loss": ("history", 'row:train_loss="abc"'),
    "history-null-loss": ("history", "row:train_loss=null"),
    "history-boolean-loss": ("history", "row:train_loss=true"),
    "history-boolean-epoch": ("history", "row:epoch=true"),
    "history-float-epoch": ("history", "row:epoch=1.0"),
    "history-epochs-skip": ("history", "row:epoch=2"),
    "history-extra-field": ("history", "row:colour=1"),
    "history-missing-field": ("history", "row:-val_loss"),
    "step-count-negative": ("opt.t", np.array(-1)),
    "step-count-float": ("opt.t", np.array(1.5)),
    "step-count-array": ("opt.t", np.array([1, 2])),
    "epoch-negative": ("epoch", np.array(-1)),
    "epoch-too-large": ("epoch", np.array(2**53)),
    "schedule-bad-epochs-negative": ("sched.bad_epochs", np.array(-1)),
    "early-stopping-wait-negative": ("es.wait", np.array(-1)),
    "early-stopping-stopped-epoch-below-not-stopped": ("es.stopped_epoch", np.array(-2)),
    "first-loss-text": ("initial_loss", "abc"),
    "early-stopping-best-epoch-float": ("es.best_epoch", np.array(1.5)),
    "early-stopping-best-weights-nan": ("es.best_param_0", "nan"),
}


@pytest.mark.parametrize("case", DAMAGED_CHECKPOINTS)
def test_resume_refuses_a_damaged_checkpoint_before_writing_anything(cli, tmp_path, case):
    path = api.run(config("adam", 2, **CONTROL["both"]), runs_dir=tmp_path).path
    state = dict(np.load(path / "checkpoint.npz"))
    key, value = DAMAGED_CHECKPOINTS[case]
    if isinstance(value, str) and value.startswith("row:"):  # one field of the first history row
        rows = json.loads(str(state["history"]))
        if value.startswith("row:-"):
            del rows[0][value[5:]]
        else:
            field, text = value[4:].split("=")
            rows[0][field] = json.loads(text)
        value = json.dumps(rows)
    elif isinstance(value, str) and value == "nan":  # one weight of an array of weights
        value = state[key].copy()
        value.flat[0] = np.nan
    state[key] = np.array(value)
    np.savez(path / "checkpoint.npz", **state)
    before = {f.name: f.read_bytes() for f in path.iterdir()}
    result = cli("resume", path, "--epochs", "3")
    assert result.exit_code == 2, result.output
    assert "checkpoint.npz is damaged" in result.output and "internal error" not in result.output
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before


@pytest.mark.parametrize("field", ["stopped_epoch", "best_epoch", "epochs"])
@pytest.mark.parametrize("value", [False, -1, "9", 1.5])
def test_resume_refuses_a_meta_json_whose_epoch_field_is_not_an_epoch(cli, tmp_path, field, value):
    path = api.run(config("adam", 2), runs_dir=tmp_path).path
    RunFolder(path).update_meta(**{field: value})
    before = {f.name: f.read_bytes() for f in path.iterdir()}
    result = cli("resume", path)
    assert result.exit_code == 2 and "meta.json" in result.stderr and field in result.stderr, result.output
    assert {f.name: f.read_bytes() for f in path.iterdir()} == before


@pytest.mark.parametrize("name", ["cost.png", "history.csv", "report.html", "error.log"])
def test_resume_refuses_a_folder_where_the_run_writes_a_file(cli, tmp_path, name):
    path = api.run(config("adam", 2), runs_dir=tmp_path).path
    planted = path / name
    if planted.exists():
        planted.unlink()
    planted.mkdir()
    (planted / "keep.txt").write_text("mine")
    before = {f.name: f.stat().st_mtime_ns for f in path.iterdir()}
    result = cli("resume", path, "--epochs", "3")
    assert result.exit_code == 2, result.output
    assert f"{planted} is a folder, where the run writes its file {name}" in result.stderr
    assert {f.name: f.stat().st_mtime_ns for f in path.iterdir()} == before  # nothing trained or written
    assert (planted / "keep.txt").read_text() == "mine"


def test_resume_of_something_that_is_not_a_run_folder(cli, tmp_path):
    result = cli("resume", tmp_path)
    assert result.exit_code == 2 and "not a complete run folder" in result.output


# --- divergence ---------------------------------------------------------------------------


def test_divergence_fails_with_epoch_last_loss_and_hint_keeping_history(cli, tmp_path):
    cfg = {
        "name": "diverge",
        "dataset": {"name": "sqrt_mean", "n": 100, "dim": 4},
        "model": {"type": "mlp", "hidden": [8]},
        "training": {"optimizer": {"name": "gd", "lr": 5.0}, "epochs": 500},
    }
    result = cli("run", write_config(tmp_path, cfg), "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "RuntimeWarning" not in result.output
    folder = only_run(tmp_path / "runs")
    meta = json.loads((folder / "meta.json").read_text())
    done = meta["epochs_done"]
    assert meta["status"] == "failed" and 0 < done < 500
    assert (
        f"in epoch {done + 1}" in meta["error"]
        and "last finite epoch loss" in meta["error"]
        and "lower training.optimizer.lr" in meta["error"]
    )
    history = list(csv.DictReader(open(folder / "history.csv")))
    assert len(history) == done and np.isfinite(float(history[-1]["train_loss"]))
    weights = RunFolder(folder).read_npz("weights.npz")  # rolled back to the last finite epoch
    assert all(np.isfinite(w).all() for w in weights.values())


def test_a_model_whose_outputs_overflow_completes_and_is_evaluated_without_warnings(cli, tmp_path):
    # Rosenblatt's rule at lr 1e308: weights of +-1e308, whose products overflow to inf; a step of
    # inf is still 1, so the run completes with every OR row right, and nothing else is printed.
    cfg = {
        "name": "huge",
        "dataset": {"name": "or_gate"},
        "model": {"type": "perceptron", "rule": "rosenblatt", "init": {"name": "zeros"}},
        "training": {"optimizer": {"name": "gd", "lr": 1e308}, "epochs": 3, "batch_size": 1, "shuffle": False},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("run", write_config(tmp_path, cfg), "--runs-dir", tmp_path / "runs", "--quiet", "--json")
        assert result.exit_code == 0, result.output
        assert result.json["metrics"]["train"]["accuracy"] == 1.0
        assert cli("eval", only_run(tmp_path / "runs"), "--json").exit_code == 0
    assert [str(w.message) for w in caught] == []


# --- run_status and the signal handlers -----------------------------------------------------


def test_run_status_reports_crashed_only_for_dead_local_processes():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = {"status": "running", "host": socket.gethostname()}
    assert run_status({**here, "pid": dead.pid}) == "crashed"
    assert run_status({**here, "pid": os.getpid()}) == "running"
    assert (
        run_status({**here, "pid": os.getpid(), "process_started": "2000-01-01T00:00:00+00:00"}) == "crashed"
    )  # pid reused
    assert run_status({**here}) == "crashed"
    assert run_status({"status": "running", "host": "elsewhere", "pid": dead.pid}) == "running"
    assert run_status({"status": "completed", "pid": dead.pid}) == "completed"
    assert run_status({}) == "unknown"


def test_run_status_counts_pid_0_and_pids_out_of_range_as_no_process():
    here = {"status": "running", "host": socket.gethostname()}
    assert run_status({**here, "pid": 0}) == "crashed"  # kill(0, 0) would find this process group alive
    assert run_status({**here, "pid": 2**40}) == "crashed"  # no pid_t holds it
    assert run_status({**here, "pid": 1}) == "running"  # init is alive, whoever owns it


def test_run_status_only_asks_whether_the_process_exists_and_sends_it_no_signal():
    child = subprocess.Popen(  # hangups at their default, even under nohup: one would end it
        [sys.executable, "-c", "import time; time.sleep(60)"],
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    try:
        assert run_status({"status": "running", "host": socket.gethostname(), "pid": child.pid}) == "running"
    finally:
        child.terminate()
        child.wait()
    assert child.returncode == -signal.SIGTERM  # a signal from run_status (delivered first) would show here


def test_run_status_takes_a_pid_that_began_over_two_seconds_after_the_run_for_reused():
    with open(f"/proc/{os.getpid()}/stat") as f:  # this process's start, as /proc gives it
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    began = boot + ticks / os.sysconf("SC_CLK_TCK")

    def running_since(offset: float, key: str = "process_started") -> dict:
        started = datetime.fromtimestamp(began + offset).astimezone().isoformat()
        return {"status": "running", "host": socket.gethostname(), "pid": os.getpid(), key: started}

    assert run_status(running_since(-3)) == "crashed"  # the process began 3 s after the run: another one
    assert run_status(running_since(-3, "started")) == "crashed"  # older runs give only `started`
    assert run_status(running_since(-1)) == "running"  # within btime's whole seconds
    assert run_status(running_since(0)) == "running"
    assert run_status(running_since(60)) == "running"
    assert run_status({**running_since(0), "process_started": "not a time"}) == "running"  # unknown: not reused


class _Flag:
    stop_requested = False
    finished = False  # epochs left to train


@pytest.mark.parametrize("finished", [False, True])
def test_the_first_signal_says_whether_a_batch_will_end_or_the_completed_run_is_being_saved(capfd, finished):
    """Ctrl-C while the figures of a finished run were drawn promised a stop that never came
    (the run was complete, and saved so, with exit 0)."""
    trainer = _Flag()
    trainer.finished = finished
    with graceful_stop(trainer):
        signal.raise_signal(signal.SIGINT)
    said = capfd.readouterr().err
    assert ("training is over: saving the completed run" in said) == finished
    assert ("stopping after the current batch" in said) == (not finished)


def test_first_signal_requests_a_stop_second_exits_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    trainer = _Flag()
    with pytest.raises(ForcedExit):
        with graceful_stop(trainer):
            signal.raise_signal(signal.SIGTERM)
            assert trainer.stop_requested
            time.sleep(signals.REPEAT_GAP)
            signal.raise_signal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_one_signal_delivered_twice_at_once_is_one_interrupt():
    """`timeout` sends SIGTERM to the command and again to its process group: the run must still
    stop after its batch and save, and a sweep still collect its running points."""
    trainer = _Flag()
    with graceful_stop(trainer):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
    assert trainer.stop_requested
    asked = []
    with signals.stop_signals(lambda: asked.append(1)):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)
        assert asked == [1]
        time.sleep(signals.REPEAT_GAP)
        with pytest.raises(KeyboardInterrupt):  # a second one, meant
            signal.raise_signal(signal.SIGINT)


def test_graceful_stop_is_a_no_op_outside_the_main_thread():
    errors = []

    def work():
        try:
            with graceful_stop(_Flag()):
                pass
        except Exception as err:  # signal.signal raises ValueError off the main thread
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
