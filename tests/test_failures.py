"""Whatever ends a training early, the run folder stays consistent and the exit code says why."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, spawn

from dltrain import api
from dltrain.errors import Interrupted

TINY = {
    "name": "tiny",
    "dataset": {"name": "digits", "test_size": 0.2, "scaling": "minmax"},
    "model": {"type": "mlp", "hidden": [8]},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 6, "batch_size": 64},
}


def test_an_unexpected_error_fails_the_run_cleanly(cli, runs_dir, monkeypatch):
    from dltrain.nn.fast import optimizers

    calls = {"n": 0}
    real_step = optimizers.AdamStep.step

    def step_then_break(self, grads):
        calls["n"] += 1
        if calls["n"] > 40:  # in the third epoch (23 batches each)
            raise RuntimeError("simulated bug")
        return real_step(self, grads)

    monkeypatch.setattr(optimizers.AdamStep, "step", step_then_break)
    config = runs_dir.parent / "tiny.yaml"
    config.write_text(json.dumps(TINY))
    result = cli("run", config, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and "internal error: RuntimeError: simulated bug" in doc["error"]
    run = Path(doc["run"])
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["epochs_done"] == 1
    assert len((run / "history.csv").read_text().splitlines()) == 2  # header + the one finished epoch
    assert np.load(run / "weights.npz", allow_pickle=False)["W0"].shape == (64, 8)
    assert not (run / "metrics.json").exists()


def test_training_goes_on_when_the_reader_of_stderr_goes_away(tmp_path):
    # `dltrain run ... 2>&1 >/dev/null | head -2`: the pipe closes after two progress lines.
    proc = spawn("run", CONFIGS / "quickstart.yaml", "--quiet", "--runs-dir", tmp_path, stdout=subprocess.DEVNULL)
    for _ in range(2):
        proc.stderr.readline()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "meta.json").read_text())["status"] == "completed"
    assert (run / "metrics.json").is_file() and (run / "weights.npz").is_file()


def test_a_resume_stopped_again_drops_the_older_final_results(tmp_path, monkeypatch):
    first = api.run(TINY, runs_dir=tmp_path)
    assert (first.path / "metrics.json").is_file() and (first.path / "cost.png").is_file()

    from dltrain.train import loop

    real_epoch = loop.Trainer._epoch

    def stop_in_epoch_nine(self):
        if self.epoch == 8:
            self.stop_requested = True
        return real_epoch(self)

    monkeypatch.setattr(loop.Trainer, "_epoch", stop_in_epoch_nine)
    with pytest.raises(Interrupted):
        api.resume(first.path, epochs=12)
    meta = json.loads((first.path / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["epochs_done"] == 8
    # metrics.json and the plots described the 6-epoch weights: gone, not left beside newer weights
    assert not (first.path / "metrics.json").exists() and not (first.path / "cost.png").exists()
    monkeypatch.undo()
    assert api.resume(first.path, epochs=12).status == "completed"
    assert (first.path / "metrics.json").is_file()


def test_a_model_larger_than_the_machines_memory_is_refused_before_anything_trains(cli, runs_dir):
    """hidden=[1e8] grew to 24 GB, took no notice of SIGTERM meanwhile, and the kernel killed it
    (exit 137, no message): each allocation succeeds until the memory it promised runs out."""
    result = cli("run", "mlp_tiny", "--set", "model.hidden=[10000000000]", "--runs-dir", runs_dir, code=2)
    assert "GiB of memory and this machine has" in result.message and "reduce model.hidden" in result.message
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("hidden, n, batch_size", [([512, 256], 2000, 500), ([2048], 500, 50), ([64], 20000, "full")])
def test_the_memory_estimate_bounds_what_training_takes(hidden, n, batch_size):
    """`training_bytes` is the bound the check above uses: it must not be below what training,
    checkpoints, early stopping and the final metrics allocate (traced), nor far above it."""
    import tracemalloc

    from dltrain.pipeline.experiment import Experiment, load_splits, training_bytes

    cfg = api.resolve(
        {
            "name": "m",
            "dataset": {"name": "sqrt_mean", "n": n, "dim": 200, "validation_split": 0.2},
            "model": {"type": "mlp", "hidden": hidden},
            "training": {
                "optimizer": {"name": "adam", "lr": 0.001},
                "epochs": 3,
                "batch_size": batch_size,
                "checkpoint_every": 1,
                "early_stopping": {"patience": 5},
            },
            "output": {"plots": False},
        }
    )
    splits = load_splits(cfg)
    tracemalloc.start()
    try:
        exp = Experiment(cfg, splits=splits)
        exp.train()
        exp.record("completed", None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= training_bytes(cfg, splits) <= 2 * peak
