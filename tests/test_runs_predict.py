"""`dltrain runs` (a dead run shows as crashed) and `dltrain predict` (samples and images, like training)."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from dltrain import api
from dltrain.inspection.listing import list_runs
from dltrain.runs.locate import run_folders

DIGITS = {
    "name": "digits-mlp",
    "seed": 2,
    "dataset": {"name": "digits", "test_size": 0.2, "scaling": "minmax", "stratify": True},
    "model": {"type": "mlp", "hidden": [32]},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 15, "batch_size": 64},
}
OR_GATE = {
    "name": "or",
    "dataset": {"name": "or_gate"},
    "model": {"type": "perceptron", "rule": "rosenblatt"},
    "training": {"optimizer": {"name": "gd", "lr": 0.1}, "epochs": 10},
}
SQRT_MEAN = {
    "name": "sqrt",
    "dataset": {"name": "sqrt_mean", "n": 100, "dim": 3, "scaling": "standard"},
    "model": {"type": "mlp", "hidden": [8], "activation": "tanh"},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 40, "batch_size": 10},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {cfg["name"]: api.run(cfg, runs_dir=root).path for cfg in (DIGITS, OR_GATE, SQRT_MEAN)}


# --- dltrain runs --------------------------------------------------------------------------


def test_runs_lists_every_run(cli, runs):
    rows = json.loads(cli("runs", runs["or"].parent, "--json", code=0).stdout)
    assert [r["name"] for r in rows] == [p.name for p in runs.values()]  # oldest first
    digits = rows[0]
    assert (digits["status"], digits["dataset"], digits["model"], digits["metric"]) == (
        "completed",
        "digits",
        "mlp 32",
        "test.accuracy",
    )
    # regression: test.loss, the main metric a sweep also ranks by (dltrain.train.metrics.main_metric)
    assert rows[2]["metric"] == "test.loss" and rows[2]["seconds"] > 0
    assert "digits-mlp" in cli("runs", runs["or"].parent, code=0).stdout


def test_a_running_run_whose_process_died_is_crashed(cli, runs, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for name, pid in (("dead", int(dead.stdout)), ("alive", subprocess.os.getppid())):
        copy = shutil.copytree(runs["or"], tmp_path / name)
        meta = json.loads((copy / "meta.json").read_text())
        meta.update(status="running", pid=pid, host=socket.gethostname(), seconds=None)
        (copy / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.yaml").write_text("name: half\n")
    rows = {r["name"]: r["status"] for r in json.loads(cli("runs", tmp_path, "--json", code=0).stdout)}
    assert rows == {"dead": "crashed", "alive": "running", "half": "incomplete"}


def test_runs_lists_a_folder_with_a_broken_config(cli, runs, tmp_path):
    """The dataset and model come from meta.json; a run from before meta.json held them is read
    from its config, and shown as corrupt, with the reason, when that config is broken."""
    for name in ("broken", "old-and-broken"):
        copy = shutil.copytree(runs["digits-mlp"], tmp_path / name)
        (copy / "config.yaml").write_text("model: {type: mlp, hidden: [32\n")  # unterminated: not YAML
    meta = json.loads((tmp_path / "old-and-broken" / "meta.json").read_text())
    del meta["dataset"], meta["model"]
    (tmp_path / "old-and-broken" / "meta.json").write_text(json.dumps(meta))
    old = shutil.copytree(tmp_path / "old-and-broken", tmp_path / "old")
    shutil.copy(runs["digits-mlp"] / "config.yaml", old / "config.yaml")
    shutil.copytree(runs["digits-mlp"], tmp_path / "fine")
    rows = {r["name"]: r for r in json.loads(cli("runs", tmp_path, "--json", code=0).stdout)}
    shown = {name: (row["status"], row["dataset"], row["model"]) for name, row in rows.items()}
    assert shown == {
        "fine": ("completed", "digits", "mlp 32"),
        "broken": ("completed", "digits", "mlp 32"),
        "old": ("completed", "digits", "mlp 32"),
        "old-and-broken": ("corrupt", None, None),
    }
    assert "config.yaml is not a valid dltrain config" in rows["old-and-broken"]["problem"]
    assert rows["fine"]["problem"] is None
    (tmp_path / "old-and-broken").rename(tmp_path / "old-and\nbroken")
    told = [line for line in cli("runs", tmp_path, code=0).stdout.splitlines() if "is corrupt" in line]
    assert len(told) == 1 and told[0].startswith("old-and\\nbroken is corrupt: ") and "old-and\\nbroken/" in told[0]


def test_runs_in_a_missing_folder(cli, tmp_path):
    assert "no runs directory" in cli("runs", tmp_path / "nope", code=2).stderr


# --- dltrain predict -----------------------------------------------------------------------


def _png(path, pixels, scale=1):
    image = Image.fromarray(pixels.astype(np.uint8), "L")
    image.resize((8 * scale, 8 * scale), Image.Resampling.NEAREST).save(path)
    return path


def test_predict_digit_images_written_as_png(cli, runs, tmp_path):
    digits = load_digits()
    picks = [int(np.flatnonzero(digits.target == d)[-1]) for d in range(10)]  # one image of each digit
    paths = []
    for d, i in enumerate(picks):
        pixels = np.round(digits.images[i] * 255 / 16)  # light ink on dark, like the dataset
        paths.append(_png(tmp_path / f"digit{d}.png", pixels))
        paths.append(_png(tmp_path / f"digit{d}_big.png", pixels, scale=4))  # 32x32, shrunk back by averaging
        _png(tmp_path / f"digit{d}_inverted.png", 255 - pixels, scale=4)
    rows = cli("predict", runs["digits-mlp"], *paths, "--json", code=0).json["predictions"]
    assert [r["input"] for r in rows] == list(map(str, paths))
    small, big = [r["class"] for r in rows[::2]], [r["class"] for r in rows[1::2]]
    assert small == big  # a 4x-enlarged image converts back to the same 8x8 sample
    assert sum(c == d for d, c in enumerate(small)) >= 9  # observed 10/10
    assert all(
        abs(sum(r["probabilities"].values()) - 1) < 1e-9 and r["probability"] == max(r["probabilities"].values())
        for r in rows
    )
    dark_on_light = sorted(tmp_path.glob("digit*_inverted.png"))
    inverted = cli("predict", runs["digits-mlp"], "--invert", "yes", *dark_on_light, "--json", code=0).json[
        "predictions"
    ]
    assert [r["class"] for r in inverted] == big
    auto = cli("predict", runs["digits-mlp"], "--invert", "auto", *dark_on_light, "--json", code=0).json["predictions"]
    assert [r["class"] for r in auto] == big
    assert all(r["input"].endswith(" (inverted)") for r in auto)


def test_predict_samples_apply_the_training_scaler(cli, runs, tmp_path):
    """Raw test samples through predict give exactly the outputs training's own pipeline gives."""
    from dltrain.pipeline.experiment import load_splits
    from dltrain.runs.reader import read_run

    run = read_run(runs["digits-mlp"])
    unscaled = run.config.model_copy(update={"dataset": run.config.dataset.model_copy(update={"scaling": "none"})})
    raw_X, y = load_splits(unscaled).test  # same split seeds: the same rows, before scaling
    expected = run.network().predict(load_splits(run.config).test[0])
    np.save(tmp_path / "test.npy", raw_X.reshape(-1, 8, 8))
    rows = cli("predict", run.path, tmp_path / "test.npy", "--json", code=0).json["predictions"]
    got = np.array([list(r["probabilities"].values()) for r in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.mean([r["class"] for r in rows] == y) >= 0.95  # observed 0.961
    np.savetxt(
        tmp_path / "five.csv", raw_X[:5], delimiter=",", header=",".join(f"p{i}" for i in range(64)), comments=""
    )
    from_csv = cli("predict", run.path, tmp_path / "five.csv", "--json", code=0).json["predictions"]
    assert [r["class"] for r in from_csv] == [r["class"] for r in rows[:5]]
    assert [r["input"] for r in from_csv] == [f"{tmp_path / 'five.csv'}[{i}]" for i in range(5)]


def test_predict_regression_values(cli, runs, tmp_path):
    X = np.random.default_rng(0).random((4, 3))
    np.savez(tmp_path / "x.npz", X=X)
    rows = cli("predict", runs["sqrt"], tmp_path / "x.npz", "--json", code=0).json["predictions"]
    values = np.array([r["value"] for r in rows])
    assert np.all(np.abs(values - np.sqrt(X.mean(axis=1))) < 0.15)  # observed max error 0.070
    assert "value" in cli("predict", runs["sqrt"], tmp_path / "x.npz", code=0).stdout


def test_predict_or_gate_rows(cli, runs, tmp_path):
    np.save(tmp_path / "rows.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]]))
    assert [
        r["class"] for r in cli("predict", runs["or"], tmp_path / "rows.npy", "--json", code=0).json["predictions"]
    ] == [0, 1, 1, 1]


def test_predict_shows_a_run_and_an_input_named_with_line_breaks_on_one_line(cli, runs, tmp_path):
    odd = shutil.copytree(runs["or"], tmp_path / "or\ngate")
    np.save(tmp_path / "ro\nws.npy", np.array([[0, 1]]))
    out = cli("predict", odd.name, "ro\nws.npy", cwd=tmp_path, code=0).stdout
    assert "predictions of or\\ngate" in out and "ro\\nws.npy" in out
    assert "or\ngate" not in out and "ro\nws" not in out


def test_predict_on_the_training_csv_drops_the_configured_label_column(cli, tmp_path):
    # bug B4: only columns named label/y/target were dropped, so a run trained with
    # `label: digit` took 'digit' for a feature of its own CSV and refused it
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    y = (X.sum(axis=1) > 1).astype(int)
    path = tmp_path / "train.csv"
    path.write_text("a,digit,b\n" + "".join(f"{a},{c},{b}\n" for (a, b), c in zip(X, y)))
    cfg = {
        "name": "csv-label",
        "seed": 0,
        "dataset": {"name": "file", "path": str(path), "label": "digit", "test_size": 0.0},
        "model": {"type": "logreg"},
        "training": {"optimizer": {"name": "gd", "lr": 1.0}, "epochs": 30},
        "output": {"plots": False},
    }
    run = api.run(cfg, runs_dir=tmp_path / "runs").path
    rows = cli("predict", run, path, "--json", code=0).json["predictions"]
    assert len(rows) == 40
    assert np.mean([r["class"] for r in rows] == y) >= 0.8  # observed 0.875


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: np.save(d / "x.npy", np.zeros((3, 7))), "does not fit this run"),
        (lambda d: np.save(d / "x.npy", np.zeros((3, 63))), "does not fit this run"),  # no constant input to add
        (lambda d: np.save(d / "x.npy", np.zeros((2, 8, 9))), "does not fit this run"),
        (lambda d: (d / "x.npy").write_bytes(b"not numpy"), "not a readable .npy"),
        (lambda d: (d / "x.png").write_bytes(b"not an image"), "not a readable image (not a format Pillow knows"),
        (lambda d: (d / "x.csv").write_text("a,b,c\n"), "holds no rows of numbers, only a header: a,b,c"),
        (lambda d: (d / "x.txt").write_text("1,2"), "unknown input type .txt"),
        (lambda d: None, "does not exist"),
    ],
)
def test_predict_bad_inputs_are_clear_errors(cli, runs, tmp_path, make, message):
    make(tmp_path)
    target = next(iter(sorted(tmp_path.glob("x.*"))), tmp_path / "x.npy")
    result = cli("predict", runs["digits-mlp"], target, code=2)
    assert message in " ".join(result.stderr.split())


def test_a_wrong_width_for_a_run_with_a_constant_input_names_both_widths(cli, runs, tmp_path):
    """The OR gate takes 2 values (the constant 1 is appended) or 3: the message said only 3."""
    run = api.run("perceptron_or", overrides=["training.epochs=2", "output.plots=false"], runs_dir=tmp_path).path
    np.save(tmp_path / "x.npy", np.zeros((2, 1)))
    message = cli("predict", run, tmp_path / "x.npy", code=2).message
    assert "takes samples of 3 values (2 without the constant 1 input its dataset appends)" in message


def test_predict_names_what_an_input_that_is_no_file_is(cli, runs, tmp_path):
    for target, message in [(tmp_path, "is a directory"), ("/dev/zero", "is a character device")]:
        result = cli("predict", runs["or"], target, code=2)
        assert f"input {target} {message}, not a regular file" in result.message, result.message


def test_weights_that_do_not_fit_the_runs_samples_are_a_damaged_run(cli, runs, tmp_path):
    """Found by the run-folder fuzz: a W0 of shape (1, 32) where the digits take 64 values was
    used to reshape the samples (a ValueError, reported as an internal error)."""
    folder = Path(shutil.copytree(runs["digits-mlp"], tmp_path / "run"))
    with np.load(folder / "weights.npz") as saved:
        weights = {key: saved[key] for key in saved.files}
    np.savez(folder / "weights.npz", **{**weights, "W0": np.zeros((1, weights["W0"].shape[1]))})
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8)))  # three samples of the sample shape
    result = cli("predict", folder, tmp_path / "x.npy", code=2)
    assert "meta.json's sample_shape [8, 8] does not fit weights.npz, whose W0 has shape (1, 32)" in result.stderr


@pytest.mark.parametrize("given", ["x.npy", "x.png"])
@pytest.mark.parametrize("damage", ["tiny-scale", "huge-weights"])
def test_outputs_that_overflow_are_a_damaged_run_not_nan_predictions(cli, runs, tmp_path, damage, given):
    """A scale of 1e-320 in preprocess.npz, or weights of 1e308: NaN or infinite outputs are
    refused (exit 2) without a NumPy warning, never printed as probabilities (an image's
    polarity check scaled it first, and printed the overflow's RuntimeWarning)."""
    folder = Path(shutil.copytree(runs["digits-mlp"], tmp_path / "run"))
    name, key, value = {
        "tiny-scale": ("preprocess.npz", "scaler_scale", 1e-320),
        "huge-weights": ("weights.npz", "W1", 1e308),
    }[damage]
    with np.load(folder / name) as saved:
        arrays = {k: saved[k] for k in saved.files}
    arrays[key] = np.full_like(arrays[key], value)
    np.savez(folder / name, **arrays)
    np.save(tmp_path / "x.npy", np.ones((3, 8, 8)))
    _png(tmp_path / "x.png", np.full((8, 8), 200))
    with warnings.catch_warnings(record=True) as caught:  # in this process, pytest would catch them from stderr
        warnings.simplefilter("always")
        result = cli("predict", folder, tmp_path / given, code=2)
    assert "output for" in result.stderr and "is not finite" in result.stderr
    assert not caught and "Warning" not in result.stderr and not result.stdout


def test_an_infinite_output_is_refused_naming_the_input_that_overflowed(cli, runs, tmp_path):
    """A regression whose output overflows to +inf (never NaN) for the second input only: the
    one hidden unit used is tanh(100 * x0) and the output 1e308 * h0 + 1e308, infinite where h0 > 0.8."""
    folder = Path(shutil.copytree(runs["sqrt"], tmp_path / "run"))
    with np.load(folder / "weights.npz") as saved:
        weights = {k: saved[k] for k in saved.files}
    weights["W0"], weights["b0"] = np.zeros_like(weights["W0"]), np.zeros_like(weights["b0"])
    weights["W0"][0, 0] = 100.0
    weights["W1"], weights["b1"] = np.zeros_like(weights["W1"]), np.full_like(weights["b1"], 1e308)
    weights["W1"][0, 0] = 1e308
    np.savez(folder / "weights.npz", **weights)
    np.save(tmp_path / "x.npy", np.array([[0.0, 0.5, 0.5], [1.0, 0.5, 0.5]]))  # x0 scaled: -1.8, +1.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("predict", folder, tmp_path / "x.npy", code=2)
    assert f"output for {tmp_path / 'x.npy'}[1] is not finite" in result.stderr, result.stderr
    assert not caught and "Warning" not in result.stderr and not result.stdout


def _png_header(width: int, height: int) -> bytes:
    """A PNG of `width` x `height` pixels in 57 bytes: its header and an empty IDAT chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.mark.parametrize("side, size", [(15000, "more pixels than Pillow's own bound"), (10000, "10000x10000 pixels")])
def test_an_image_too_large_is_named_before_it_is_decoded(cli, runs, tmp_path, side, size):
    """15000x15000 was Pillow's DecompressionBombError (an internal error); 10000x10000 printed
    Pillow's DecompressionBombWarning, then was decoded (100 MB) and predicted."""
    (tmp_path / "big.png").write_bytes(_png_header(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli("predict", runs["digits-mlp"], tmp_path / "big.png", code=2)
    assert f"big.png is too large an image ({size}): dltrain decodes at most 50,000,000 pixels" in result.message
    assert not caught and "Warning" not in result.stderr and not result.stdout


@pytest.mark.parametrize("stats", [{"mean": "x"}, {"mean": 0.5}, {"mean": 0.5, "spread": -1.0}, [0.5, 1.0]])
def test_a_damaged_input_stats_is_a_damaged_run(cli, runs, tmp_path, stats):
    """meta.json's input_stats, which predict compares images with, is checked as it is read."""
    from dltrain.runs.folder import RunFolder

    folder = Path(shutil.copytree(runs["digits-mlp"], tmp_path / "run"))
    RunFolder(folder).update_meta(input_stats=stats)
    path = _png(tmp_path / "x.png", np.zeros((8, 8)))
    result = cli("predict", folder, path, code=2)
    assert "meta.json" in result.stderr and "input_stats" in result.stderr


def test_images_need_an_image_trained_run(cli, runs, tmp_path):
    path = _png(tmp_path / "x.png", np.zeros((8, 8)))
    result = cli("predict", runs["or"], path, code=2)
    assert "not trained on images" in " ".join(result.stderr.split())


def test_runs_sort_by_start_time_then_numeric_suffix(tmp_path):
    """Folders started in the same second get -2, -3, ... -10: listed in that order, by both readers."""
    for name, started in (
        ("b", "2026-01-02T00:00:00"),
        ("a-10", "2026-01-01T00:00:00"),
        ("a-2", "2026-01-01T00:00:00"),
        ("a", "2026-01-01T00:00:00"),
        ("c", None),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({"status": "completed", "started": started}))
    expected = ["c", "a", "a-2", "a-10", "b"]  # no start time sorts first
    assert [p.name for p in run_folders(tmp_path)] == expected
    assert [row["name"] for row in list_runs(tmp_path)] == expected


# --- honest predictions ----------------------------------------------------------------------


def test_a_step_output_is_called_output_not_probability(cli, runs, tmp_path):
    np.save(tmp_path / "rows.npy", np.array([[0, 0], [1, 1]]))
    rows = cli("predict", runs["or"], tmp_path / "rows.npy", "--json", code=0).json["predictions"]
    assert [set(r) for r in rows] == [{"input", "class", "output"}] * 2
    assert [r["output"] for r in rows] == [0.0, 1.0]  # the step's raw value
    table = cli("predict", runs["or"], tmp_path / "rows.npy", code=0).stdout
    assert "output" in table and "probability" not in table


def test_a_bias_input_run_adds_its_constant_column(cli, tmp_path):
    run = api.run("perceptron_or", runs_dir=tmp_path / "runs").path  # rows [x1, x2, 1], a ReLU unit, no bias
    gate = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    np.save(tmp_path / "two.npy", gate)
    np.save(tmp_path / "three.npy", np.hstack([gate, np.ones((4, 1))]))
    two = cli("predict", run, tmp_path / "two.npy", "--json", code=0).json["predictions"]
    three = cli("predict", run, tmp_path / "three.npy", "--json", code=0).json["predictions"]
    assert [r["output"] for r in two] == [r["output"] for r in three]  # a ReLU output: raw, no probability
    assert [r["class"] for r in two] == [0, 1, 1, 1]
    np.save(tmp_path / "one.npy", gate[3])  # one sample, a flat array of two values
    one = cli("predict", run, tmp_path / "one.npy", "--json", code=0).json["predictions"]
    assert [(r["input"], r["output"]) for r in one] == [(str(tmp_path / "one.npy"), three[3]["output"])]


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    from conftest import real_data_dir

    if real_data_dir() is None:
        pytest.skip("real data directory (DLTRAIN_DATA_DIR or ../shared/data) not found")
    cfg = {
        "name": "mnist-small",
        "dataset": {"name": "mnist", "n_train": 3000, "n_test": 10},
        "model": {"type": "logreg"},
        "training": {"optimizer": {"name": "sgd", "lr": 0.5}, "epochs": 3, "batch_size": 100, "dtype": "float32"},
        "output": {"plots": False},
    }
    return api.run(cfg, runs_dir=tmp_path_factory.mktemp("mnist") / "runs", data_dir=real_data_dir()).path


def test_predict_warns_on_an_inverted_mnist_digit(cli, mnist_run, tmp_path):
    """A dark-on-light digit against MNIST's light-on-dark: a confident wrong answer unless caught."""
    from conftest import real_data_dir

    from dltrain.runs.reader import read_run

    stats = json.loads((mnist_run / "meta.json").read_text())["input_stats"]
    assert 0.1 < stats["mean"] < 0.2 and 0 < stats["spread"] < 0.1  # MNIST: mostly dark pixels
    X, y = read_run(mnist_run).config.dataset.load(real_data_dir()).test
    digit = np.round(X[0] * 255).astype(np.uint8)  # light ink on dark, as MNIST
    Image.fromarray(digit, "L").save(tmp_path / "digit.png")
    Image.fromarray(255 - digit, "L").save(tmp_path / "inverted.png")

    plain = cli("predict", mnist_run, tmp_path / "digit.png", "--json", code=0)
    assert "warning" not in plain.stderr
    inverted = cli("predict", mnist_run, tmp_path / "inverted.png", "--json", code=0)
    assert "inverted.png looks inverted" in inverted.stderr and "--invert auto" in inverted.stderr
    auto = json.loads(cli("predict", mnist_run, tmp_path / "inverted.png", "--invert", "auto", "--json", code=0).stdout)
    expected = json.loads(plain.stdout)["predictions"][0]
    assert auto["predictions"][0]["class"] == expected["class"] == int(y[0])  # observed 7 (class index = digit)
    assert auto["predictions"][0]["input"].endswith("inverted.png (inverted)")


def test_a_run_on_inputs_of_1e200_reads_back_and_one_without_input_stats_refuses_invert_auto(cli, tmp_path):
    """Unscaled inputs of 1e200 train a perceptron; their statistics once made meta.json unreadable."""
    from dltrain.runs.folder import RunFolder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)) * 1e200
    np.savez(tmp_path / "big.npz", X=X, y=(X[:, 0] > 0).astype(int))
    cfg = {**OR_GATE, "name": "big", "dataset": {"name": "file", "path": str(tmp_path / "big.npz")}}
    path = api.run({**cfg, "output": {"plots": False}}, runs_dir=tmp_path / "runs").path
    assert json.loads((path / "meta.json").read_text())["input_stats"]["spread"] > 1e199
    assert cli("runs", path.parent, "--json", code=0).json[0]["status"] == "completed"
    cli("eval", path, code=0)

    RunFolder(path).update_meta(input_stats=None)  # what a run on inputs beyond float64's range records
    np.save(tmp_path / "x.npy", X[:2])
    assert len(cli("predict", path, tmp_path / "x.npy", "--json", code=0).json["predictions"]) == 2  # no --invert auto
    result = cli("predict", path, tmp_path / "x.npy", "--invert", "auto", code=2)
    assert "records no statistics of its training inputs" in result.message


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_an_input_of_no_samples_is_named_not_an_internal_error(cli, runs, tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    (np.save if suffix == ".npy" else lambda p, a: np.savez(p, X=a))(path, np.zeros((0, 2)))
    result = cli("predict", runs["or"], path, code=2)
    assert f"empty{suffix} holds no samples" in result.message


@pytest.mark.parametrize(
    "samples, message",
    [
        (np.array([[0.0, np.nan]]), "samples must be finite numbers"),
        (np.array([[0.0, np.inf], [1.0, 1.0]]), "samples must be finite numbers"),
        (np.array([["0", "1"]]), "samples must be numbers, got <U1"),
    ],
)
def test_samples_that_are_not_finite_numbers_are_refused(cli, runs, tmp_path, samples, message):
    np.save(tmp_path / "x.npy", samples)
    assert message in cli("predict", runs["or"], tmp_path / "x.npy", code=2).message


def test_one_sample_is_named_by_its_file_and_several_by_their_rows(cli, runs, tmp_path):
    pixels = np.arange(64.0).reshape(8, 8) % 16
    for name, samples in [("shaped.npy", pixels), ("flat.npy", pixels.ravel()), ("row.npy", pixels.reshape(1, 64))]:
        np.save(tmp_path / name, samples)
    np.save(tmp_path / "two.npy", np.stack([pixels, pixels]))
    files = [tmp_path / name for name in ("shaped.npy", "flat.npy", "row.npy", "two.npy")]
    rows = cli("predict", runs["digits-mlp"], *files, "--json", code=0).json["predictions"]
    assert [r["input"] for r in rows] == [str(p) for p in files[:3]] + [f"{files[3]}[{i}]" for i in range(2)]
    assert len({r["class"] for r in rows}) == 1  # one sample, however it is shaped


def test_a_npz_of_one_array_holds_the_samples_whatever_its_name(cli, runs, tmp_path):
    gate = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    np.savez(tmp_path / "one.npz", rows=gate)
    rows = cli("predict", runs["or"], tmp_path / "one.npz", "--json", code=0).json["predictions"]
    assert [r["class"] for r in rows] == [0, 1, 1, 1]
    np.savez(tmp_path / "x.npz", X=gate, other=np.zeros((4, 5)))  # X is the samples, beside any other array
    rows = cli("predict", runs["or"], tmp_path / "x.npz", "--json", code=0).json["predictions"]
    assert [r["class"] for r in rows] == [0, 1, 1, 1]
    np.savez(tmp_path / "two.npz", a=gate, b=gate)
    message = cli("predict", runs["or"], tmp_path / "two.npz", code=2).message
    assert "holds an array 'X' (or exactly one array); it has ['a', 'b']" in message


def csv_run(tmp_path: Path, columns: list[str], X: np.ndarray, y: np.ndarray, **dataset) -> tuple[Path, Path]:
    """(a logistic regression's run folder, its training CSV tmp_path/train.csv: `columns`, then label)."""
    path = tmp_path / "train.csv"
    path.write_text(
        ",".join([*columns, "label"]) + "\n" + "".join(",".join(map(str, [*x, k])) + "\n" for x, k in zip(X, y))
    )
    cfg = {
        "name": "csv",
        "dataset": {"name": "file", "path": str(path), **dataset},
        "model": {"type": "logreg"},
        "training": {"optimizer": {"name": "gd", "lr": 1.0}, "epochs": 50},
        "output": {"plots": False},
    }
    return api.run(cfg, runs_dir=tmp_path / "runs").path, path


def test_a_run_trained_on_a_csv_drops_only_its_own_label_column(cli, tmp_path):
    # columns named y or target are features of such a run: it predicts on its own training CSV
    rng = np.random.default_rng(1)
    X = rng.random((40, 2))
    run, path = csv_run(tmp_path, ["x", "y"], X, (X[:, 0] > X[:, 1]).astype(int), test_size=0.0)
    np.save(tmp_path / "x.npy", X)
    from_csv = cli("predict", run, path, "--json", code=0).json["predictions"]
    from_array = cli("predict", run, tmp_path / "x.npy", "--json", code=0).json["predictions"]
    assert [r["probability"] for r in from_csv] == [r["probability"] for r in from_array]
    assert len(from_csv) == 40 and len({r["class"] for r in from_csv}) == 2


def test_a_csv_without_a_header_keeps_its_first_row_and_drops_a_label_column(cli, runs, tmp_path):
    (tmp_path / "bare.csv").write_text("0,0\n0,1\n1,1\n")
    rows = cli("predict", runs["or"], tmp_path / "bare.csv", "--json", code=0).json["predictions"]
    assert [r["class"] for r in rows] == [0, 1, 1]
    (tmp_path / "labelled.csv").write_text("x1, Target ,x2\n0,1,0\n1,0,0\n")
    rows = cli("predict", runs["or"], tmp_path / "labelled.csv", "--json", code=0).json["predictions"]
    assert [r["class"] for r in rows] == [0, 1]
    (tmp_path / "numbered.csv").write_text("0,1,label\n1,0,1\n")  # columns named by numbers: still a header
    rows = cli("predict", runs["or"], tmp_path / "numbered.csv", "--json", code=0).json["predictions"]
    assert [r["class"] for r in rows] == [1]


@pytest.mark.parametrize("text", ["0,0\n0,1,1\n", "0,0\n0,x\n", "0,0\n0,1_0\n", "1_0,0\n0,1\n"])
def test_a_csv_of_ragged_rows_or_text_cells_is_refused(cli, runs, tmp_path, text):
    (tmp_path / "x.csv").write_text(text)
    message = cli("predict", runs["or"], tmp_path / "x.csv", code=2).message
    assert "every cell must be a number, in rows of one length" in message


def test_an_image_is_predicted_by_a_run_that_records_no_input_stats(cli, runs, tmp_path):
    """An older run has no input_stats in meta.json: its images are predicted, not checked for polarity."""
    from dltrain.runs.folder import RunFolder

    folder = Path(shutil.copytree(runs["digits-mlp"], tmp_path / "run"))
    RunFolder(folder).update_meta(input_stats=None)
    path = _png(tmp_path / "x.png", np.full((8, 8), 255))
    result = cli("predict", folder, path, "--json", code=0)
    assert [r["input"] for r in result.json["predictions"]] == [str(path)] and "looks inverted" not in result.stderr


@pytest.mark.parametrize(("spreads", "warned"), [(3.9, False), (4.1, True)])
def test_an_image_is_called_inverted_only_past_four_spreads(runs, tmp_path, spreads, warned):
    """The training inputs' mean is set where the inverted image's mean lies, and their spread
    so that the image itself lies 3.9 or 4.1 spreads away: only the second is suspect (FAR)."""
    from dltrain.inspection.predict import prepare, read_inputs
    from dltrain.runs.folder import RunFolder
    from dltrain.runs.reader import read_run

    folder = Path(shutil.copytree(runs["digits-mlp"], tmp_path / "run"))
    _png(tmp_path / "x.png", np.tile(np.linspace(0, 160, 8), (8, 1)))
    run = read_run(folder)
    mean, inverted = (
        prepare(run, read_inputs([tmp_path / "x.png"], run, invert)[1]).mean() for invert in ("no", "yes")
    )
    RunFolder(folder).update_meta(input_stats={"mean": float(inverted), "spread": abs(mean - inverted) / spreads})
    warnings = read_inputs([tmp_path / "x.png"], read_run(folder), "no")[2]
    assert len(warnings) == warned and all(f"lies {spreads:.1f} spreads" in w for w in warnings)


def test_one_infinite_output_of_a_two_target_regression_is_refused(cli, tmp_path):
    """Every output of a sample must be finite: a regression's second target overflowing to
    +inf (its weights 1e308) while the first stays finite is a damaged run, not a prediction."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    np.savez(tmp_path / "two.npz", X=X, y=np.stack([X.sum(axis=1), X[:, 0]], axis=1))
    cfg = {
        **SQRT_MEAN,
        "name": "two",
        "dataset": {"name": "file", "path": str(tmp_path / "two.npz"), "task": "regression"},
    }
    folder = api.run({**cfg, "output": {"plots": False}}, runs_dir=tmp_path / "runs").path
    np.save(tmp_path / "x.npy", X[:2])
    assert len(cli("predict", folder, tmp_path / "x.npy", "--json", code=0).json["predictions"]) == 2
    with np.load(folder / "weights.npz") as saved:
        weights = {k: saved[k] for k in saved.files}
    weights["W0"][:, 0], weights["b0"][0] = 0.0, 0.0
    weights["W0"][0, 0] = 100.0  # the first hidden unit: tanh(100 * x0), 1.0 for x0 = 3 (scaled: far above the mean)
    weights["W1"][:, 1], weights["b1"][1] = 0.0, 1e308
    weights["W1"][0, 1] = 1e308  # the second target: 1e308 * 1.0 + 1e308 = inf; the first stays finite
    np.savez(folder / "weights.npz", **weights)
    np.save(tmp_path / "x.npy", np.array([[3.0, 0.0, 0.0]]))
    result = cli("predict", folder, tmp_path / "x.npy", code=2)
    assert "is not finite" in result.stderr and not result.stdout


def test_predict_answers_at_most_max_samples_at_a_time(cli, runs, tmp_path, monkeypatch):
    from dltrain.inspection import predict

    monkeypatch.setattr(predict, "MAX_SAMPLES", 5)
    (tmp_path / "five.csv").write_text("0,0\n" * 5)
    (tmp_path / "six.csv").write_text("0,0\n" * 6)
    np.save(tmp_path / "two.npy", np.zeros((2, 2)))
    assert len(cli("predict", runs["or"], tmp_path / "five.csv", "--json", code=0).json["predictions"]) == 5
    for files in (["six.csv"], ["five.csv", "two.npy"], ["two.npy", "two.npy", "two.npy"]):
        message = cli("predict", runs["or"], *(tmp_path / f for f in files), code=2).message
        assert "more than 5 samples in all; predict answers at most 5 at a time" in message


def test_a_run_trained_on_a_csv_takes_its_columns_by_name(cli, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.random((60, 3))
    y = (X[:, 0] > X[:, 2]).astype(int)
    run, path = csv_run(tmp_path, ["a", "b", "c"], X, y, test_size=0.25, scaling="standard")
    assert json.loads((run / "meta.json").read_text())["features"] == ["a", "b", "c"]
    (tmp_path / "new.csv").write_text("a,b,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in X[:8]))
    (tmp_path / "moved.csv").write_text("c,id,a,b\n" + "".join(f"{c},7,{a},{b}\n" for a, b, c in X[:8]))
    (tmp_path / "bare.csv").write_text("".join(f"{a},{b},{c}\n" for a, b, c in X[:8]))  # no header: in order
    got = {
        name: cli("predict", run, tmp_path / name, "--json", code=0).json["predictions"]
        for name in ("new.csv", "moved.csv", "bare.csv")
    }
    probabilities = [[r["probability"] for r in rows] for rows in got.values()]
    assert probabilities[0] == probabilities[1] == probabilities[2]
    (tmp_path / "other.csv").write_text("a,b,d\n1,2,3\n")
    message = cli("predict", run, tmp_path / "other.csv", code=2).message
    assert "other.csv has no column 'c'; 20" in message and "was trained on the columns a, b, c" in message
    (tmp_path / "twice.csv").write_text("a,b,c,c\n1,2,3,4\n")
    assert "twice.csv has more than one column 'c'" in cli("predict", run, tmp_path / "twice.csv", code=2).message
    # eval on another file and resume on the same one: the columns are those it trained on, in order
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("c,b,a,label\n" + "".join(f"{c},{b},{a},{k}\n" for (a, b, c), k in zip(X, y)))
    message = cli("eval", run, "--set", f"dataset.path={reordered}", code=2).message
    assert (
        "does not have the columns" in message
        and "its feature columns are c, b, a; the run was trained on a, b, c" in message
    )
    path.write_text(reordered.read_text())
    message = cli("resume", run, "--epochs", "60", code=2).message
    assert "its feature columns are c, b, a; the run was trained on a, b, c" in message
