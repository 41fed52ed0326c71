"""The run folder: every file present, parseable, and identical across reruns."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CONFIGS
from PIL import Image

from dltrain.atomic import write_atomically
from dltrain.config.loader import validate
from dltrain.runs.folder import RunFolder

QUICK = ["--set", "training.epochs=5"]


def test_folder_contents(run_json):
    code, doc = run_json(CONFIGS / "quickstart.yaml", *QUICK)
    assert code == 0
    from pathlib import Path

    run = Path(doc["run"])
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [
            "config.yaml",
            "meta.json",
            "history.csv",
            "metrics.json",
            "weights.npz",
            "checkpoint.npz",
            "cost.png",
            "accuracy.png",
            "confusion_matrix.png",
            "weights.png",  # 8x8 digit images: the first layer's weights as images
            "errors.png",  # some test digit is misclassified after 5 epochs
            "preprocess.npz",
        ]  # the minmax scaler fitted on train, for `dltrain predict`
    )
    cfg = validate(yaml.safe_load((run / "config.yaml").read_text()))  # the resolved config validates
    assert cfg.training.epochs == 5 and cfg.model.hidden == [64]

    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["epochs_done"] == 5 and meta["seed"] == 0
    assert {"dltrain_version", "python_version", "numpy_version", "argv", "started", "ended", "seconds"} <= set(meta)
    assert meta["blas"] and all(b["threads"] >= 1 for b in meta["blas"])  # what bit-identical reruns depend on

    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert all(float(r["val_loss"]) > 0 and 0 <= float(r["train_accuracy"]) <= 1 for r in rows)

    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"train", "val", "test"} and set(metrics["test"]) == {"loss", "accuracy"}

    with np.load(run / "weights.npz", allow_pickle=False) as w:
        assert {k: w[k].shape for k in w.files} == {"W0": (64, 64), "b0": (64,), "W1": (64, 10), "b1": (10,)}

    for png in ("cost.png", "accuracy.png"):
        with Image.open(run / png) as img:
            assert img.format == "PNG" and img.size == (640, 420)
            # a drawn figure, not a blank canvas: many distinct colours
            assert len(img.convert("RGB").getcolors(maxcolors=100_000)) > 50


def test_regression_run_draws_predictions(run_json):
    code, doc = run_json(CONFIGS / "sqrt_mean.yaml", "--set", "training.epochs=2")
    from pathlib import Path

    names = {p.name for p in Path(doc["run"]).iterdir()}
    assert "predictions.png" in names and "accuracy.png" not in names
    assert set(doc["metrics"]["test"]) == {"loss", "mse", "mae", "r2"}


def test_same_config_and_seed_is_bit_identical(run_json):
    docs = [run_json(CONFIGS / "quickstart.yaml", *QUICK)[1] for _ in range(2)]
    assert docs[0]["run"] != docs[1]["run"]
    weights = [np.load(f"{d['run']}/weights.npz", allow_pickle=False) for d in docs]
    assert weights[0].files == weights[1].files
    for key in weights[0].files:
        assert weights[0][key].tobytes() == weights[1][key].tobytes()
    metrics = [json.loads(open(f"{d['run']}/metrics.json").read()) for d in docs]
    assert metrics[0] == metrics[1]


def test_another_seed_changes_the_weights(run_json):
    a = run_json(CONFIGS / "quickstart.yaml", *QUICK)[1]
    b = run_json(CONFIGS / "quickstart.yaml", *QUICK, "--seed", "1")[1]
    assert not np.array_equal(np.load(f"{a['run']}/weights.npz")["W0"], np.load(f"{b['run']}/weights.npz")["W0"])


def test_run_names_never_collide(tmp_path):
    made, threads = [], []
    for _ in range(40):
        t = threading.Thread(target=lambda: made.append(RunFolder.create(tmp_path, "same").path.name))
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 40


def test_dry_run_prints_resolved_config(cli):
    result = cli("run", CONFIGS / "quickstart.yaml", "--dry-run", "--set", "model.hidden=[64,32]")
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.stdout)
    assert resolved["model"]["hidden"] == [64, 32]
    assert resolved["training"]["shuffle"] is True  # a default filled in


def test_saved_config_is_block_style_and_names_the_chosen_loss(run_json, cli):
    """No flow mappings ({name: adam, lr: 0.003}) that wrap mid-line; `loss: auto` resolved."""
    code, doc = run_json(CONFIGS / "quickstart.yaml", "--set", "training.epochs=1")
    assert code == 0
    saved = (Path(doc["run"]) / "config.yaml").read_text()
    dry = cli("run", CONFIGS / "quickstart.yaml", "--dry-run").stdout
    for text in (saved, dry):
        assert "{" not in text and "optimizer:\n    " in text and "hidden: [64]" in text
    assert yaml.safe_load(saved)["training"]["loss"] == "cross_entropy"  # quickstart says nothing: auto
    assert yaml.safe_load(dry)["training"]["loss"] == "auto"  # no data loaded yet: not known
    assert validate(yaml.safe_load(saved)).training.loss == "cross_entropy"
    inline = cli("run", CONFIGS / "mlp_tiny.yaml", "--dry-run").stdout
    assert "X:\n  - [1.0, 0.0, 1.0, 0.0]\n" in inline  # a matrix: one row per line


def test_a_rosenblatt_run_saves_its_loss_as_perceptron(run_json):
    code, doc = run_json(CONFIGS / "perceptron_rosenblatt.yaml")
    assert code == 0
    saved = yaml.safe_load((Path(doc["run"]) / "config.yaml").read_text())
    assert saved["training"]["loss"] == "perceptron" and validate(saved).training.loss == "perceptron"


def test_adjustments_are_noted_in_every_record():
    from dltrain.pipeline.experiment import Experiment

    cfg = validate(
        {"dataset": {"name": "or_gate"}, "model": {"type": "perceptron"}, "training": {"batch_size": 64, "epochs": 1}}
    )
    exp = Experiment(cfg)
    assert exp.notes == [
        "training.batch_size 64 is larger than the 4 training samples: each epoch is one full batch of 4"
    ]
    exp.train()
    assert exp.record("completed").meta["notes"] == exp.notes  # what sweep points and resumes save too


def test_a_run_saved_without_results_removes_only_dltrains_own_files(tmp_path):
    """Stale results go when a run ends without any; a folder planted under such a name stays (it
    made an interrupted resume an internal error), and a temporary file is removed only when it is
    one of dltrain's own."""
    from dltrain.pipeline.experiment import Experiment
    from dltrain.pipeline.save import save_record
    from dltrain.runs.status import Status

    exp = Experiment(validate(yaml.safe_load((CONFIGS / "perceptron_or.yaml").read_text())))
    folder = RunFolder.create(tmp_path, "or")
    (folder.path / "report.html").mkdir()
    (folder.path / "error.log").mkdir()
    (folder.path / "cost.png").write_text("stale")
    outside = tmp_path / "outside.png"
    outside.write_text("keep")
    (folder.path / "boundary.png").symlink_to(outside)
    mine, theirs = folder.path / ".meta.json.k2v_9x0a.tmp", folder.path / ".notes.tmp"
    mine.write_text("cut off")
    theirs.write_text("a user's")
    save_record(folder, exp.record(Status.INTERRUPTED))
    assert (folder.path / "report.html").is_dir() and (folder.path / "error.log").is_dir()
    assert not (folder.path / "cost.png").exists() and not (folder.path / "boundary.png").is_symlink()
    assert outside.read_text() == "keep"
    assert folder.remove_partial_files() == [mine] and not mine.exists() and theirs.read_text() == "a user's"


def test_a_runs_dir_that_is_not_a_directory_is_named_so(cli, tmp_path):
    """It was "cannot create the runs directory afile: File exists"."""
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for runs_dir in (tmp_path / "afile", tmp_path / "dangling"):
        result = cli("run", CONFIGS / "perceptron_or.yaml", "--runs-dir", runs_dir)
        assert (
            result.exit_code == 2 and f"the runs directory {runs_dir} is there but is not a directory" in result.message
        )
    assert (tmp_path / "afile").read_text() == "mine" and not (tmp_path / "nowhere").exists()


def test_an_interrupt_while_an_archive_is_built_waits_for_it(tmp_path, monkeypatch):
    """A second Ctrl-C inside np.savez, as the zip closed an array's entry, left the archive open for
    writing: closing it failed (ValueError), and so did its __del__ later, with a traceback on stderr."""
    import gc
    import os
    import signal
    import sys
    import zipfile

    close = zipfile._ZipWriteFile.close

    def interrupted(self):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as an array's entry is closed
        return close(self)

    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted)
    folder = RunFolder.create(tmp_path, "npz")
    stopped = False
    try:
        folder.write_npz("weights.npz", {"W0": np.arange(6.0).reshape(2, 3), "b0": np.ones(3)})
    except KeyboardInterrupt:  # not kept: its traceback would keep what np.savez left alive
        stopped = True
    gc.collect()
    assert stopped and unraisable == []


def test_importing_dltrain_leaves_the_umask_as_it_was():
    """dltrain.atomic reads the umask by setting it: it sets it back, whatever it was, and
    the files it writes get the mode open() would give them."""
    code = (
        "import os\n"
        "os.umask(0o002)\n"
        "from dltrain.atomic import SHARED_MODE\n"
        "print(oct(os.umask(0o002)), oct(SHARED_MODE))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["0o2", "0o664"], result.stderr


def test_an_atomic_write_that_fails_raises_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "meta.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_atomically(target, b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"] and target.is_dir()
    assert write_atomically(tmp_path / "metrics.json", b"{}") == tmp_path / "metrics.json"
    assert (tmp_path / "metrics.json").read_bytes() == b"{}"


def test_history_csv_is_read_as_a_table_of_positive_whole_epochs(tmp_path):
    """Blank values are None and a diverged run's NaN stays; a ragged or epoch-less table, an
    epoch that is not a positive integer (an 18-digit one still is, a 19-digit one is read as a
    float) or a value that is not a number is damage, named."""
    from dltrain.errors import RunFolderError
    from dltrain.runs.reader import read_history

    path = tmp_path / "history.csv"
    assert read_history(path) == []  # not written yet
    read = {
        "": [],
        "epoch,train_loss\n": [],
        "epoch,train_loss\n1,0.5\n2,\n3,nan\n": [
            {"epoch": 1, "train_loss": 0.5},
            {"epoch": 2, "train_loss": None},
            {"epoch": 3, "train_loss": float("nan")},
        ],
        "epoch,train_loss\n999999999999999999,0.5\n": [{"epoch": 999999999999999999, "train_loss": 0.5}],
    }
    for text, rows in read.items():
        path.write_text(text)
        assert str(read_history(path)) == str(rows), text
    damaged = {
        "epoch,train_loss\n1,0.5\n2\n": "not a table of epochs",
        "epoch,train_loss\n1,0.5,7\n": "not a table of epochs",
        "epoch,train_loss\n1\n2\n": "not a table of epochs",
        "train_loss,x\n0.5,1\n": "not a table of epochs",
        "epoch,train_loss\n1,abc\n": "could not convert",
        "epoch,train_loss\n1,0.5\n0,0.4\n": "epoch 0 is not a positive integer",
        "epoch,train_loss\n1.0,0.5\n": "epoch 1.0 is not a positive integer",
        "epoch,train_loss\n9999999999999999999,0.5\n": "epoch 1e[+]19 is not a positive integer",
    }
    for text, reason in damaged.items():
        path.write_text(text)
        with pytest.raises(RunFolderError, match=f"history.csv is damaged: .*{reason}"):
            read_history(path)


def test_a_folder_without_meta_json_or_with_a_dangling_metrics_json_is_named(tmp_path):
    """No meta.json: not a complete run folder, said so. A metrics.json that is a dangling
    symlink is not a run that has none (not completed): it is there, and unreadable."""
    from dltrain import api
    from dltrain.errors import RunFolderError
    from dltrain.runs.reader import read_run

    cfg = {"name": "m", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}}
    path = api.run(cfg, runs_dir=tmp_path).path
    (path / "metrics.json").unlink()
    assert read_run(path).metrics == {}
    (path / "metrics.json").symlink_to(tmp_path / "nowhere")
    with pytest.raises(RunFolderError, match="metrics.json does not exist"):
        read_run(path)
    (path / "meta.json").unlink()
    with pytest.raises(RunFolderError, match="has no meta.json: is it a complete run folder"):
        read_run(path)


def test_weights_that_do_not_fit_the_saved_config_are_named_not_loaded(tmp_path):
    """weights.npz may chain and still not be the config's model: one layer more, or an output
    of another width, is a RunFolderError naming the difference, never a NumPy error or a
    network that silently leaves layers out; so is a config that builds no model with the
    classes meta.json gives."""
    from dltrain import api
    from dltrain.errors import RunFolderError
    from dltrain.runs.reader import read_run

    cfg = {"name": "w", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}}
    path = api.run(cfg, runs_dir=tmp_path).path
    weights = dict(np.load(path / "weights.npz"))
    (n_in, n_out) = weights["W0"].shape
    assert read_run(path).network().layers[0].W.shape == (n_in, n_out)
    np.savez(path / "weights.npz", **weights, W1=np.ones((n_out, 3)), b1=np.zeros(3))
    with pytest.raises(RunFolderError, match="weights.npz has 2 layers but the config's model has 1"):
        read_run(path).network()
    np.savez(path / "weights.npz", W0=np.ones((n_in, n_out + 1)), b0=np.zeros(n_out + 1))
    with pytest.raises(RunFolderError, match=rf"W0 should be \({n_in}, {n_out}\), found \({n_in}, {n_out + 1}\)"):
        read_run(path).network()
    meta = json.loads((path / "meta.json").read_text())
    del meta["classes"]  # a logreg of no classes: the config no longer builds
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match="the saved config does not build a model: logreg is a classifier"):
        read_run(path).network()


def test_a_run_is_read_back_with_its_history_and_its_scaler(tmp_path):
    """A scaled run's preprocess.npz is its scaler: without it new samples cannot be scaled the
    same way, which is an error, not an unscaled prediction. An unscaled run has none to read."""
    from dltrain import api
    from dltrain.errors import RunFolderError
    from dltrain.runs.reader import read_run

    for scaling in ("none", "standard"):
        cfg = {
            "name": scaling,
            "dataset": {"name": "or_gate", "scaling": scaling},
            "model": {"type": "logreg"},
            "training": {"epochs": 3},
            "output": {"plots": False},
        }
        path = api.run(cfg, runs_dir=tmp_path).path
        run = read_run(path)
        assert [row["epoch"] for row in run.history] == [1, 2, 3]
        assert sorted(run.preprocess) == ([] if scaling == "none" else ["scaler_scale", "scaler_shift"])
    (path / "preprocess.npz").unlink()
    with pytest.raises(RunFolderError, match="was trained with scaling 'standard' but has no preprocess.npz"):
        assert read_run(path).preprocess == {}  # never reached: reading it raises
