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
from dltrain.pipeline.save import RUN_FILES
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
    openblas = [b for b in meta["blas"] if b["library"] == "openblas"]
    assert all(isinstance(b["architecture"], str) and b["architecture"] for b in openblas), meta["blas"]  # its kernel

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


class _Frozen:
    """A clock stopped at 2026-11-21 20:41:05, for the timestamp a run folder's name starts with."""

    @staticmethod
    def now():
        from datetime import datetime

        return datetime(2026, 11, 21, 20, 41, 5)


def test_a_run_folder_is_named_by_its_start_then_numbered_when_the_name_is_taken(tmp_path, monkeypatch):
    """The runs directory is made (parents too) from a path given as text; the first folder of a
    second has the bare name, the next ones -2, -3; a name too long for the file system is named."""
    from dltrain.errors import RunFolderError
    from dltrain.runs import folder

    monkeypatch.setattr(folder, "datetime", _Frozen)
    runs_dir = tmp_path / "new" / "runs"
    made = [RunFolder.create(str(runs_dir), "logreg").path for _ in range(3)]
    stem = runs_dir / "20261121-204105-logreg"
    assert made == [stem, stem.with_name(f"{stem.name}-2"), stem.with_name(f"{stem.name}-3")]
    assert all(path.is_dir() for path in made)
    with pytest.raises(RunFolderError) as err:
        RunFolder.create(runs_dir, "x" * 300)
    assert str(err.value) == f"cannot create a run folder in {runs_dir}: File name too long"


def test_a_run_folder_is_not_made_when_every_numbered_name_is_taken(tmp_path, monkeypatch):
    import errno

    from dltrain.errors import RunFolderError
    from dltrain.runs import folder

    monkeypatch.setattr(folder, "datetime", _Frozen)
    mkdir = Path.mkdir

    def taken(path, *args, **kwargs):  # the runs directory is there; every run folder name in it is taken
        if kwargs.get("exist_ok"):
            return mkdir(path, *args, **kwargs)
        raise FileExistsError(errno.EEXIST, "File exists", str(path))

    monkeypatch.setattr(Path, "mkdir", taken)
    with pytest.raises(RunFolderError) as err:
        RunFolder.create(tmp_path, "full")
    assert str(err.value) == f"no free run folder name for 20261121-204105-full in {tmp_path}"


def test_json_is_written_with_nan_and_read_back_and_an_archive_only_as_written(tmp_path):
    """A diverged run's NaN loss is written and read back; a file that is not JSON is named
    with the reason; a compressed archive is refused as no run writes one."""
    from dltrain.errors import RunFolderError

    folder = RunFolder.create(tmp_path, "io")
    folder.write_json("metrics.json", {"train": {"loss": float("nan"), "accuracy": 0.5}})
    metrics = folder.read_json("metrics.json")
    assert np.isnan(metrics["train"]["loss"]) and metrics["train"]["accuracy"] == 0.5
    folder.write_text("meta.json", '{"status": "runn')
    with pytest.raises(RunFolderError, match=r"meta.json is unreadable: not JSON \(Unterminated string"):
        folder.read_json("meta.json")
    arrays = {"W0": np.arange(6.0).reshape(2, 3), "b0": np.ones(3)}
    folder.write_npz("weights.npz", arrays)
    assert {k: v.tolist() for k, v in folder.read_npz("weights.npz").items()} == {
        k: v.tolist() for k, v in arrays.items()
    }
    np.savez_compressed(folder.path / "weights.npz", **arrays)
    with pytest.raises(RunFolderError, match="array 'W0' is compressed"):
        folder.read_npz("weights.npz")


def test_a_json_file_over_64_mib_is_refused_unread(tmp_path):
    from dltrain.errors import RunFolderError

    folder = RunFolder.create(tmp_path, "big")
    with open(folder.path / "meta.json", "wb") as f:
        f.truncate((64 << 20) + 1)  # sparse: no disk space taken
    with pytest.raises(RunFolderError, match="meta.json is too large: 67,108,865 bytes, at most 67,108,864"):
        folder.read_json("meta.json")


def test_update_meta_merges_into_meta_json_and_refuses_one_that_is_not_an_object(tmp_path):
    from dltrain.errors import RunFolderError

    folder = RunFolder.create(tmp_path, "meta")
    assert folder.update_meta(status="running", seed=3) == {"status": "running", "seed": 3}
    assert folder.update_meta(status="completed") == {"status": "completed", "seed": 3}
    assert json.loads((folder.path / "meta.json").read_text()) == {"status": "completed", "seed": 3}
    (folder.path / "meta.json").write_text("[1]")
    for update in (folder.update_meta, folder.update_meta_in_place):
        with pytest.raises(RunFolderError, match=r"meta.json is damaged: not a JSON object$"):
            update(status="failed")
    assert (folder.path / "meta.json").read_text() == "[1]"


def test_meta_json_is_rewritten_in_place_up_to_one_page(tmp_path):
    """The fallback for a full disk: meta.json is rewritten in the blocks it has (shorter than the
    indented file, the rest cut off; a NaN kept), never past one page of 4096 bytes, nor through
    a symlink; it leaves no file descriptor open."""
    import os

    from dltrain.errors import RunFolderError

    folder = RunFolder.create(tmp_path, "full")
    path = folder.path / "meta.json"
    folder.write_json("meta.json", {"status": "running", "sizes": [0] * 700, "loss": float("nan")})
    assert path.stat().st_size > 4096 + 512  # written indented: over a page; compact, it fits in one

    def pad(total: int) -> str:  # a note that makes the compact meta.json `total` bytes long
        meta = {**json.loads(path.read_text()), "status": "failed", "error": ""}
        return "e" * (total - len(json.dumps(meta)) - 1)

    before = path.read_bytes()
    with pytest.raises(RunFolderError) as err:
        folder.update_meta_in_place(status="failed", error=pad(4097))
    assert str(err.value) == f"cannot write {path}: no room for 4097 bytes in place"
    assert path.read_bytes() == before
    open_before = len(os.listdir("/proc/self/fd"))
    merged = folder.update_meta_in_place(status="failed", error=pad(4096))
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert merged["status"] == "failed" and path.stat().st_size == 4096
    reread = json.loads(path.read_text())
    assert reread["status"] == "failed" and reread["error"] == pad(4096) and np.isnan(reread["loss"])

    outside = tmp_path / "outside.json"
    outside.write_text('{"status": "running"}')
    path.unlink()
    path.symlink_to(outside)
    with pytest.raises(RunFolderError) as err:
        folder.update_meta_in_place(status="failed")
    assert str(err.value) == f"cannot write {path}: Too many levels of symbolic links"
    assert outside.read_text() == '{"status": "running"}'


def test_a_folder_where_a_run_writes_a_file_is_named_before_anything_is_written(tmp_path):
    from dltrain.errors import RunFolderError

    folder = RunFolder.create(tmp_path, "planted")
    (folder.path / "meta.json").write_text("{}")
    folder.check_replaceable(["meta.json", "weights.npz"])  # a file, and nothing: both can be written
    (folder.path / "weights.npz").mkdir()
    with pytest.raises(RunFolderError, match=r"weights.npz is a folder, where the run writes its file weights.npz"):
        folder.check_replaceable(["meta.json", "weights.npz"])


def test_a_file_that_cannot_be_deleted_is_named(tmp_path):
    from dltrain.errors import RunFolderError

    folder = RunFolder(tmp_path / "was-a-folder")
    folder.path.write_text("a file where the run folder was")
    with pytest.raises(RunFolderError) as err:
        folder.remove("cost.png")
    assert str(err.value) == f"cannot delete {folder.path / 'cost.png'}: Not a directory"


def test_only_a_run_folder_is_deleted_and_never_through_a_symlink(tmp_path):
    """A folder with a config.yaml (a run that wrote no meta.json yet) is a run folder; a folder
    with neither file is left as it is, and so is the folder a symlink leads to."""
    from dltrain.errors import RunFolderError

    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.png").write_text("mine")
    with pytest.raises(RunFolderError) as err:
        RunFolder(other).delete(RUN_FILES)
    assert str(err.value) == f"{other} is not a run folder; nothing was deleted"
    assert (other / "a.png").read_text() == "mine"
    started = RunFolder.create(tmp_path / "runs", "started")
    (started.path / "config.yaml").write_text("name: started\n")
    link = tmp_path / "link"
    link.symlink_to(started.path)
    with pytest.raises(RunFolderError) as err:
        RunFolder(link).delete(RUN_FILES)
    assert str(err.value) == f"cannot delete {link}: Cannot call rmtree on a symbolic link"
    assert (started.path / "config.yaml").is_file()
    (started.path / ".history.csv.0a1b2c3d.tmp").write_text("cut off")  # what a killed write leaves
    started.delete(RUN_FILES)
    assert not started.path.exists()


@pytest.mark.parametrize(
    "other", ["src/main.py", "thesis.tex", "cost.png/kept.txt", ".notes.tmp"]
)  # a project with a config.yaml, a file beside a run's, a folder named as a run's file, a user's temporary
def test_a_folder_holding_what_no_run_writes_is_not_deleted(tmp_path, other):
    from dltrain.errors import RunFolderError

    folder = tmp_path / "project"
    (folder / other).parent.mkdir(parents=True, exist_ok=True)
    (folder / other).write_text("mine")
    (folder / "config.yaml").write_text("database: {host: x}\n")
    with pytest.raises(RunFolderError) as err:
        RunFolder(folder).delete(RUN_FILES)
    assert str(err.value).startswith(
        f"{folder} holds {other.split('/')[0]!r}, which no run writes; nothing was deleted"
    )
    assert (folder / other).read_text() == "mine" and (folder / "config.yaml").is_file()


def test_a_folder_left_with_only_partial_files_is_removed_and_one_with_a_users_file_is_kept(tmp_path):
    emptied = RunFolder.create(tmp_path, "cut")
    (emptied.path / ".meta.json.k2v_9x0a.tmp").write_text("cut off")
    emptied.remove_if_empty()
    assert not emptied.path.exists()
    kept = RunFolder.create(tmp_path, "kept")
    (kept.path / ".notes.tmp").write_text("a user's")
    kept.remove_if_empty()
    assert (kept.path / ".notes.tmp").read_text() == "a user's"


def test_elapsed_seconds_are_rounded_to_the_millisecond(monkeypatch):
    from dltrain.runs import folder

    monkeypatch.setattr(folder.time, "perf_counter", lambda: 12.3456789)
    assert folder.elapsed(10.0) == 2.346


# --- what meta.json, metrics.json, weights.npz and preprocess.npz must hold ------------------

META = Path("run/meta.json")
STARTED = "2026-11-21T20:41:05.123+01:00"
ACCEPTED_META = [
    {"seed": 0, "epochs_done": 0, "epochs": 2**53 - 1, "stopped_epoch": 0, "best_epoch": 0},
    {"pid": 1, "n_features": 1, "sample_shape": [1] * 8},
    {"pid": 2**31 - 1, "n_features": 2**31 - 1, "sample_shape": [2**31 - 1]},
    {"classes": ["cat"], "notes": ["x" * 100_000], "seconds": 0.0, "split_sizes": {"train": 0}},
    {"classes": [True, 0, 1.5, "x"], "seconds": 0.5, "model": {"type": "mlp"}, "argv": ["run", "a.yaml"]},
    {"status": None, "started": None, "process_started": None, "ended": None, "resumed": []},
    {"status": "completed", "started": STARTED, "process_started": STARTED, "ended": STARTED},
    {"resumed": [{"at": STARTED, "from_epoch": 3}], "blas": [{"threads": 1}]},  # argv: older resumes lack it
    {"input_stats": {"mean": -1.5, "spread": 0.0}},
    {"input_stats": {"mean": 0.0, "spread": 0.5}},
]


def test_meta_json_fields_at_the_ends_of_their_ranges_are_read():
    from dltrain.runs.schema import check_meta

    for doc in ACCEPTED_META:
        assert check_meta(doc, META) is doc


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", 5),
        ("seed", -1),
        ("seed", 2**53),
        ("seed", "1"),  # no number is read from a string
        ("pid", 0),
        ("pid", 2**31),
        ("host", 5),
        ("classes", []),
        ("classes", "ab"),
        ("sample_shape", []),
        ("sample_shape", [1] * 9),
        ("sample_shape", [0]),
        ("sample_shape", [2**31]),
        ("n_features", 0),
        ("n_features", 2**31),
        ("split_sizes", {"train": -1}),
        ("loss", 5),
        ("dataset", 5),
        ("model", "mlp"),
        ("notes", "a note"),
        ("notes", ["x" * 100_001]),
        ("argv", "dltrain run a.yaml"),
        ("status", "done"),
        ("started", "yesterday"),
        ("process_started", "yesterday"),
        ("ended", "yesterday"),
        ("epochs_done", -1),
        ("epochs", -1),
        ("stopped_epoch", -1),
        ("best_epoch", -1),
        ("error", 5),
        ("seconds", -1.0),
        ("seconds", float("inf")),
        ("resumed", None),
        ("resumed", [{"at": "yesterday", "from_epoch": 3}]),
        ("resumed", [{"at": STARTED, "from_epoch": -1}]),
        ("resumed", [{"at": STARTED, "from_epoch": 3, "argv": "resume run"}]),
        ("input_stats", {"mean": float("inf"), "spread": 1.0}),
        ("input_stats", {"mean": 0.0, "spread": -0.5}),
        ("input_stats", {"mean": 0.0, "spread": float("inf")}),
    ],
)
def test_a_meta_json_field_out_of_its_range_or_of_another_type_is_named(field, value):
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_meta

    with pytest.raises(RunFolderError, match=rf"^run/meta.json is damaged: {field}\b"):
        check_meta({"seed": 1, field: value}, META)


def test_a_status_meta_json_cannot_hold_is_named_with_those_it_can():
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_meta
    from dltrain.runs.status import Status

    statuses = ", ".join(s.value for s in Status)
    with pytest.raises(RunFolderError) as err:
        check_meta({"status": "done"}, META)
    assert str(err.value) == f"run/meta.json is damaged: status: Value error, not a status ({statuses}) (got 'done')"
    for status in Status:
        check_meta({"status": status.value}, META)


def test_a_damaged_json_file_names_its_first_three_problems_and_counts_the_others():
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_meta, check_metrics

    problems = {"seed": -1, "pid": 0, "host": 5, "epochs": "2", "best_epoch": -1}
    said = [
        "seed: Input should be greater than or equal to 0 (got -1)",
        "pid: Input should be greater than 0 (got 0)",
        "host: Input should be a valid string (got 5)",
    ]
    for count, more in ((1, ""), (3, ""), (4, " (and 1 more)"), (5, " (and 2 more)")):
        with pytest.raises(RunFolderError) as err:
            check_meta(dict(list(problems.items())[:count]), META)
        assert str(err.value) == f"run/meta.json is damaged: {'; '.join(said[:count])}{more}"
    with pytest.raises(RunFolderError) as err:
        check_meta({"seed": "x" * 1000}, META)
    assert "(got 'xxxxxxxxxx" in str(err.value) and len(str(err.value)) < 200  # the value quoted, cut short
    with pytest.raises(
        RunFolderError, match=r"^run/metrics.json is damaged: test.loss: Input should be a valid number"
    ):
        check_metrics({"test": {"loss": "x"}}, Path("run/metrics.json"))
    for check, name in ((check_meta, "meta.json"), (check_metrics, "metrics.json")):
        with pytest.raises(RunFolderError, match=f"^run/{name}: {name} must hold a JSON object, not list$"):
            check([1], Path(f"run/{name}"))


def test_metrics_json_is_numbers_by_split_and_a_baseline_of_known_fields():
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_metrics

    path = Path("run/metrics.json")
    scores = {"accuracy": 0.5, "loss": float("nan")}  # a diverged run's NaN stays
    sound = {
        "train": scores,
        "val": {"loss": 1},
        "baseline": {"model": "majority", "error": None, "train": scores, "val": scores, "test": scores},
    }
    assert check_metrics(sound, path) is sound
    assert check_metrics({"test": scores, "baseline": {"error": "scikit-learn is not installed"}}, path)
    refused = [
        ({"train": [0.5]}, "train: Input should be a valid dictionary"),
        ({"train": {"loss": "0.5"}}, "train.loss: Input should be a valid number"),
        ({"baseline": {"model": 5}}, "baseline.model: Input should be a valid string"),
        ({"baseline": {"error": 5}}, "baseline.error: Input should be a valid string"),
        ({"baseline": {"train": {"loss": "0.5"}}}, "baseline.train.loss: Input should be a valid number"),
        ({"baseline": {"val": {"loss": "0.5"}}}, "baseline.val.loss: Input should be a valid number"),
        ({"baseline": {"test": [1]}}, "baseline.test: Input should be a valid dictionary"),
        ({"baseline": {"seconds": 1.0}}, "baseline.seconds: Extra inputs are not permitted"),
    ]
    for doc, problem in refused:
        with pytest.raises(RunFolderError) as err:
            check_metrics(doc, path)
        assert str(err.value).startswith(f"run/metrics.json is damaged: {problem}"), doc


def test_weights_npz_is_a_chain_of_matrices_each_with_its_optional_bias():
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_weights

    path = Path("run/weights.npz")
    two = {"W0": np.ones((3, 5)), "b0": np.zeros(5), "W1": np.ones((5, 2)), "b1": np.zeros(2)}
    assert check_weights(two, path) is two
    unbiased = {"W0": np.ones((3, 2))}
    assert check_weights(unbiased, path) is unbiased
    refused = [
        ({}, "holds no weight matrices (W0, W1, ...)"),
        ({"b0": np.zeros(2)}, "holds no weight matrices (W0, W1, ...)"),
        (
            {"W1": np.ones((3, 2)), "b1": np.zeros(2)},
            "is damaged: its arrays are not W0..W0 and b0..b0; missing ['W0']; unexpected ['W1', 'b1']",
        ),
        (
            {"W0": np.ones((3, 2)), "b1": np.zeros(2)},
            "is damaged: its arrays are not W0..W0 and b0..b0; unexpected ['b1']",
        ),
        (
            {"W0": np.ones((3, 2)), "W2": np.ones((2, 2))},
            "is damaged: its arrays are not W0..W1 and b0..b1; missing ['W1']; unexpected ['W2']",
        ),
        ({"W0": np.ones(3)}, "is damaged: W0 has shape (3,), not 2-dimensional"),
        ({"W0": np.ones((0, 3))}, "is damaged: W0 has shape (0, 3)"),
        ({**two, "W1": np.ones((4, 2))}, "is damaged: W1 has shape (4, 2) after W0 (3, 5)"),
        ({**two, "b0": np.zeros(4)}, "is damaged: b0 has shape (4,), not (5,)"),
        ({**two, "b1": np.zeros(5)}, "is damaged: b1 has shape (5,), not (2,)"),
        ({**two, "b1": np.zeros((1, 2))}, "is damaged: b1 has shape (1, 2), not 1-dimensional"),
    ]
    for arrays, problem in refused:
        with pytest.raises(RunFolderError) as err:
            check_weights(arrays, path)
        assert str(err.value) == f"{path} {problem}", sorted(arrays)


def test_preprocess_npz_is_a_shift_and_a_non_zero_scale_for_each_feature():
    from dltrain.errors import RunFolderError
    from dltrain.runs.schema import check_preprocess

    path = Path("run/preprocess.npz")
    sound = {"scaler_shift": np.zeros(3), "scaler_scale": np.full(3, 0.5)}
    assert check_preprocess(sound, 3, path) is sound
    refused = [
        ({**sound, "scaler_shift": np.zeros(4)}, "scaler_shift has shape (4,); the network takes 3 features"),
        ({**sound, "scaler_scale": np.ones(2)}, "scaler_scale has shape (2,); the network takes 3 features"),
        ({**sound, "scaler_scale": np.array([0.5, 0.0, 0.5])}, "scaler_scale holds zeros"),
        ({**sound, "junk": np.ones(3)}, "unexpected arrays ['junk', 'scaler_scale', 'scaler_shift']"),
        ({"scaler_shift": np.zeros(3)}, "scaler_scale is missing (it holds ['scaler_shift'])"),
    ]
    for arrays, problem in refused:
        with pytest.raises(RunFolderError) as err:
            check_preprocess(arrays, 3, path)
        assert str(err.value) == f"{path} is damaged: {problem}", sorted(arrays)
