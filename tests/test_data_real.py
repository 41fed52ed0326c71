"""The real MNIST and Sign Language Digits files, and how corrupt ones are reported.

The real data is looked up in $DLTRAIN_DATA_DIR, else in ../shared/data next to the
repository; tests needing a dataset skip, saying so, only when its files are absent.
No test downloads: every mirror points at a closed loopback port.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import struct
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dltrain.data import mnist, sign_digits
from dltrain.data.mnist import Mnist
from dltrain.data.sign_digits import SignDigits
from dltrain.errors import DataError

REPO = Path(__file__).resolve().parents[1]

# MNIST's published per-digit counts and the first training labels.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_FIRST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
# The shared data manifest's table: Y column -> (digit, first row, end row).
SIGN_BLOCKS = [
    (0, 9, 0, 204),
    (1, 0, 204, 409),
    (2, 7, 409, 615),
    (3, 6, 615, 822),
    (4, 1, 822, 1028),
    (5, 8, 1028, 1236),
    (6, 4, 1236, 1443),
    (7, 3, 1443, 1649),
    (8, 2, 1649, 1855),
    (9, 5, 1855, 2062),
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any download attempt hits a closed loopback port instead of the internet."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setenv(mnist.MIRRORS_ENV, dead)
    monkeypatch.setenv(sign_digits.ARCHIVE_URL_ENV, dead + "archive.zip")


@pytest.fixture(scope="module")
def real_data_dir() -> Path:
    """$DLTRAIN_DATA_DIR, else ../shared/data beside the repository."""
    if os.environ.get("DLTRAIN_DATA_DIR"):
        return Path(os.environ["DLTRAIN_DATA_DIR"]).expanduser()
    return REPO.parent / "shared" / "data"


def _require(folder: Path, names) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        pytest.skip(f"real data not installed: {', '.join(missing)} missing from {folder} (set DLTRAIN_DATA_DIR)")


@pytest.fixture(scope="module")
def mnist_dir(real_data_dir) -> Path:
    _require(real_data_dir / "mnist", mnist.FILES)
    return real_data_dir


@pytest.fixture(scope="module")
def sign_dir(real_data_dir) -> Path:
    _require(real_data_dir / "sign_digits", ["X.npy", "Y.npy"])
    return real_data_dir


@pytest.fixture(scope="module")
def mnist_full(mnist_dir):
    return Mnist().load(mnist_dir)


@pytest.fixture(scope="module")
def kaggle_arrays(sign_dir) -> tuple[np.ndarray, np.ndarray]:
    folder = sign_dir / "sign_digits"
    return np.load(folder / "X.npy"), np.load(folder / "Y.npy")


# ---------------------------------------------------------------- MNIST


def test_mnist_files_match_the_published_checksums(mnist_dir):
    for name, sha256 in mnist.FILES.items():
        assert hashlib.sha256((mnist_dir / "mnist" / name).read_bytes()).hexdigest() == sha256, name


def test_mnist_shapes_dtypes_and_labels(mnist_full):
    data = mnist_full
    X_test, y_test = data.test
    assert data.X.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert data.X.dtype == X_test.dtype == np.uint8 and data.pixels  # bytes standing for pixels / 255
    assert data.sample_shape == (28, 28) and data.classes == list(range(10))
    assert 0 == data.X.min() and data.X.max() == 255
    assert np.issubdtype(data.y.dtype, np.integer) and data.y.min() == 0 and data.y.max() == 9
    assert np.bincount(data.y).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert data.y[:10].tolist() == MNIST_FIRST_LABELS


def test_mnist_unscaled_is_raw_bytes(mnist_dir, mnist_full):
    raw = Mnist(scale=False, n_test=10).load(mnist_dir)
    assert raw.X.dtype == np.uint8 and raw.X.max() == 255 and not raw.pixels  # the values 0..255 themselves
    np.testing.assert_array_equal(raw.X, mnist_full.X)


def test_mnist_splits_read_the_bytes_as_the_floats_converting_everything_would_give():
    """Every split of MNIST keeps its bytes (a quarter of float32) and reads rows as the floats
    of converting the whole array, pixels / 255, the scaling and the run's dtype, bit for bit."""
    from dltrain.data.pixels import Pixels
    from dltrain.data.split import make_splits

    for scaling, dtype in (("none", np.float32), ("standard", np.float32), ("minmax", np.float64)):
        cfg = Mnist(n_train=3000, n_test=500, validation_split=0.2, stratify=True, scaling=scaling)
        ds = cfg.load(os.environ["DLTRAIN_DATA_DIR"])
        splits = make_splits(ds, cfg, dtype)
        as_floats = make_splits(
            replace(ds, X=ds.X / np.float32(255), pixels=False, test=(ds.test[0] / np.float32(255), ds.test[1])),
            cfg,
            dtype,
        )
        for (name, (X, y)), (_, (X_ref, y_ref)) in zip(splits.items(), as_floats.items()):
            assert isinstance(X, Pixels) and X.codes.dtype == np.uint8 and X.shape == X_ref.shape, name
            np.testing.assert_array_equal(y, y_ref)
            rows = np.random.default_rng(0).permutation(len(X))[:700]
            for got, want in ((X[:], X_ref), (X[5:9], X_ref[5:9]), (X[rows], X_ref[rows]), (np.asarray(X), X_ref)):
                assert got.dtype == want.dtype == dtype and got.flags.c_contiguous
                np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(X[rows, 100:300:7], X_ref[rows, 100:300:7])  # columns of scaled rows
            buffer = np.empty((len(rows), X.shape[1]), dtype)
            assert np.take(X, rows, axis=0, out=buffer) is buffer  # the trainer gathers into its own buffer
            np.testing.assert_array_equal(buffer, X_ref[rows])
        np.testing.assert_array_equal(
            splits.scaler.arrays().get("scaler_shift"), as_floats.scaler.arrays().get("scaler_shift")
        )


def test_mnist_class_subset_and_seeded_sample(mnist_dir, mnist_full):
    sub = Mnist(classes=[7, 3], n_train=500, n_test=100, split_seed=1).load(mnist_dir)
    assert sub.classes == [7, 3] and sub.X.shape == (500, 28, 28) and sub.test[0].shape == (100, 28, 28)
    assert set(np.unique(sub.y)) == {0, 1} and set(np.unique(sub.test[1])) == {0, 1}
    same = Mnist(classes=[7, 3], n_train=500, n_test=100, split_seed=1).load(mnist_dir)
    other = Mnist(classes=[7, 3], n_train=500, n_test=100, split_seed=2).load(mnist_dir)
    np.testing.assert_array_equal(sub.X, same.X)
    assert not np.array_equal(sub.X, other.X)
    # Index 0 means digit 7: every such row is a 7 in the full set.
    digits = mnist_full.y[np.isin(mnist_full.y, [7, 3])]
    assert np.isin(np.where(sub.y == 0, 7, 3), digits).all()
    all_of_them = Mnist(classes=[7, 3]).load(mnist_dir)
    assert len(all_of_them.X) == MNIST_TRAIN_COUNTS[7] + MNIST_TRAIN_COUNTS[3]


def test_mnist_asking_for_more_than_there_is(mnist_dir):
    with pytest.raises(DataError, match="dataset.n_train"):
        Mnist(classes=[0, 1], n_train=20000).load(mnist_dir)


# ---------------------------------------------------------------- corrupt MNIST files


@pytest.fixture
def mnist_copy(mnist_dir, tmp_path) -> Path:
    """A private copy of the real files to damage."""
    shutil.copytree(mnist_dir / "mnist", tmp_path / "mnist")
    for f in (tmp_path / "mnist").iterdir():
        f.chmod(0o644)
    return tmp_path


def test_truncated_gzip_names_the_file(mnist_copy):
    path = mnist_copy / "mnist" / mnist.TRAIN_LABELS
    path.write_bytes(path.read_bytes()[:10000])
    with pytest.raises(DataError) as err:
        Mnist().load(mnist_copy)
    assert str(path) in str(err.value) and "Delete it" in str(err.value)
    assert path.exists()  # a file the user put there is reported, not deleted


def test_payload_shorter_than_the_header_says(mnist_copy):
    path = mnist_copy / "mnist" / mnist.TEST_IMAGES
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-784], compresslevel=1))
    with pytest.raises(DataError, match=r"declares image dimensions \(10000, 28, 28\)"):
        Mnist().load(mnist_copy)


def test_wrong_magic_number(mnist_copy):
    folder = mnist_copy / "mnist"
    shutil.copy(folder / mnist.TEST_LABELS, folder / mnist.TEST_IMAGES)
    with pytest.raises(DataError, match="magic number 2049, not 2051"):
        Mnist().load(mnist_copy)


def test_not_gzip_at_all(mnist_copy):
    (mnist_copy / "mnist" / mnist.TRAIN_IMAGES).write_text("<html>404 Not Found</html>")
    with pytest.raises(DataError, match="not a complete gzip file"):
        Mnist().load(mnist_copy)


def test_labels_and_images_disagree(mnist_copy):
    folder = mnist_copy / "mnist"
    header = struct.pack(">II", mnist.LABEL_MAGIC, 5)
    (folder / mnist.TEST_LABELS).write_bytes(gzip.compress(header + bytes(5)))
    with pytest.raises(DataError, match="10000 images but .* 5 labels"):
        Mnist().load(mnist_copy)


# ---------------------------------------------------------------- Sign Language Digits


def test_sign_digits_class_blocks_match_the_manifest(kaggle_arrays):
    X, Y = kaggle_arrays
    assert X.shape == (2062, 64, 64) and X.dtype == np.float32 and Y.shape == (2062, 10)
    columns = Y.argmax(axis=1)
    for column, digit, start, end in SIGN_BLOCKS:
        assert sign_digits.KAGGLE_COLUMNS[column] == digit
        assert (columns[start:end] == column).all() and (columns == column).sum() == end - start
        assert sign_digits.EXPECTED_COUNTS[digit] == end - start


def test_sign_digits_tutorial_rows(sign_dir, kaggle_arrays):
    X, _ = kaggle_arrays
    data = SignDigits(classes=[0, 1], per_class=205).load(sign_dir)
    np.testing.assert_array_equal(data.X, np.concatenate([X[204:409], X[822:1027]]))
    assert data.y.tolist() == [0] * 205 + [1] * 205
    assert data.classes == [0, 1] and data.sample_shape == (64, 64) and data.test is None


def test_sign_digits_all_classes_in_digit_order(sign_dir, kaggle_arrays):
    X, _ = kaggle_arrays
    data = SignDigits().load(sign_dir)
    assert data.X.shape == (2062, 64, 64) and data.X.dtype == np.float32
    assert np.bincount(data.y).tolist() == [sign_digits.EXPECTED_COUNTS[d] for d in range(10)]
    block = {digit: (start, end) for _, digit, start, end in SIGN_BLOCKS}
    np.testing.assert_array_equal(data.X, np.concatenate([X[slice(*block[d])] for d in range(10)]))
    assert SignDigits().test_size == 0.15


def test_sign_digits_values_are_inverted_grey_levels(kaggle_arrays):
    X, _ = kaggle_arrays
    levels = np.unique(X[::50])
    assert levels.min() >= 0.0 and levels.max() <= 1.0
    np.testing.assert_allclose((1 - levels) * 255, np.round((1 - levels) * 255), atol=1e-4)


def test_sign_digits_per_class_too_large(sign_dir):
    with pytest.raises(DataError, match="digit 9 has only 204"):
        SignDigits(classes=[0, 9], per_class=205).load(sign_dir)


def test_sign_digits_config_rejects_bad_classes():
    from pydantic import ValidationError

    for bad in ([3], [1, 1], [0, 10]):
        with pytest.raises(ValidationError):
            SignDigits(classes=bad)


def test_digit_classes_from_0_to_9_are_taken_as_given():
    from dltrain.data.builtin import Digits

    for config in (Mnist, SignDigits, Digits):
        assert config(classes=[9, 0]).classes == [9, 0], config


def test_a_dataset_of_no_images_says_so_when_given_one():
    from PIL import Image

    from dltrain.data.synthetic import OrGate

    with pytest.raises(DataError, match="dataset 'or_gate' does not say how an image becomes a sample"):
        OrGate().image_to_sample(Image.new("L", (2, 2)), (2, 2))


def test_the_or_gate_is_its_truth_table_with_an_optional_constant_input():
    from dltrain.data.synthetic import OrGate

    data = OrGate().load(None)
    assert data.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and data.y.tolist() == [0, 1, 1, 1]
    assert data.classes == [0, 1]
    assert OrGate(bias_input=True).load(None).X.tolist() == [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]


def test_sqrt_mean_is_the_square_root_of_the_mean_of_its_seeded_inputs():
    from dltrain.data.synthetic import SqrtMean

    data = SqrtMean(n=5, dim=3, seed=7).load(None)
    X = np.random.default_rng(7).random((5, 3))
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_allclose(data.y, np.sqrt(X.mean(axis=1)))
    with pytest.raises(
        DataError, match="sqrt_mean with n=1000000000000 and dim=1000000000000 is too large to generate"
    ):
        SqrtMean(n=10**12, dim=10**12).load(None)


# ---------------------------------------------------------------- damaged sign-digit caches (synthetic)


def _write(folder: Path, X: np.ndarray, Y: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "X.npy", X)
    np.save(folder / "Y.npy", Y)


@pytest.fixture
def small_counts(monkeypatch) -> dict[int, int]:
    counts = {d: 2 for d in range(10)}
    monkeypatch.setattr(sign_digits, "EXPECTED_COUNTS", counts)
    return counts


def _kaggle_like(counts) -> tuple[np.ndarray, np.ndarray]:
    columns = np.repeat(np.arange(10), [counts[d] for d in sign_digits.KAGGLE_COLUMNS])
    return np.zeros((len(columns), 64, 64), np.float32), np.eye(10)[columns]


def test_cache_that_is_not_one_hot(tmp_path, small_counts):
    X, Y = _kaggle_like(small_counts)
    Y[0] = 0.5
    _write(tmp_path / "sign_digits", X, Y)
    with pytest.raises(DataError, match="not one-hot"):
        SignDigits().load(tmp_path)


@pytest.mark.parametrize("row", [[0.5, 0.5] + [0] * 8, [1, 1] + [0] * 8], ids=["halves summing to one", "two ones"])
def test_cache_with_one_row_that_is_not_one_hot(tmp_path, small_counts, row):
    X, Y = _kaggle_like(small_counts)
    Y[0] = row
    _write(tmp_path / "sign_digits", X, Y)
    with pytest.raises(DataError, match=r"Y.npy is not one-hot \(each row one 1 and nine 0s\)"):
        SignDigits().load(tmp_path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_cache_with_one_pixel_that_is_not_finite(tmp_path, small_counts, bad):
    X, Y = _kaggle_like(small_counts)
    X[3, 10, 20] = bad
    _write(tmp_path / "sign_digits", X, Y)
    with pytest.raises(DataError, match="X.npy holds NaN or infinite pixels"):
        SignDigits().load(tmp_path)


def test_cache_with_wrong_shapes(tmp_path, small_counts):
    X, Y = _kaggle_like(small_counts)
    _write(tmp_path / "sign_digits", X[:, :32], Y)
    with pytest.raises(DataError, match=r"not \(n, 64, 64\)"):
        SignDigits().load(tmp_path)
    _write(tmp_path / "sign_digits", X, Y[:-1])
    with pytest.raises(DataError, match="must be"):
        SignDigits().load(tmp_path)


def test_cache_with_wrong_class_counts(tmp_path, small_counts):
    X, Y = _kaggle_like({**small_counts, 4: 3})
    _write(tmp_path / "sign_digits", X, Y)
    with pytest.raises(DataError, match="images per digit"):
        SignDigits().load(tmp_path)


def test_cache_with_only_one_of_the_two_files(tmp_path, small_counts):
    X, _ = _kaggle_like(small_counts)
    (tmp_path / "sign_digits").mkdir()
    np.save(tmp_path / "sign_digits" / "X.npy", X)
    with pytest.raises(DataError, match="holds X.npy but not Y.npy"):
        SignDigits().load(tmp_path)


def test_cache_that_needs_pickle_is_refused(tmp_path, small_counts):
    X, Y = _kaggle_like(small_counts)
    _write(tmp_path / "sign_digits", X, Y)
    np.save(tmp_path / "sign_digits" / "Y.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a readable .npy"):
        SignDigits().load(tmp_path)


# --- scikit-learn's digits, read without scikit-learn -------------------------------------------


def test_digits_are_scikit_learns_load_digits_array_for_array():
    from sklearn.datasets import load_digits as sklearn_digits

    from dltrain.data.builtin import load_digits

    images, target = load_digits()
    reference = sklearn_digits()
    for mine, theirs in ((images, reference.images), (target, reference.target)):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)


def test_a_damaged_digits_file_is_a_data_error_naming_it(tmp_path, monkeypatch):
    from dltrain.data import builtin

    package = tmp_path / "sklearn"
    (package / "datasets" / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sklearn", raising=False)  # found on the path, not the one imported
    target = package.joinpath(*builtin.DIGITS_FILE)
    damaged = (
        b"not gzip",
        gzip.compress(b"0," * 64 + b"1\n")[:-12],  # truncated
        gzip.compress(b""),
        gzip.compress(b"1,2,3\n"),
        gzip.compress(b"0," * 64 + b"11\n"),  # label 11
        gzip.compress(b"0," * 64 + b"1\n" + b"0," * 64 + b"10\n"),  # label 10, after a well-formed row
        gzip.compress(b"17," + b"0," * 63 + b"1\n"),  # pixel 17
    )
    for content in damaged:
        target.write_bytes(content)
        with pytest.raises(DataError, match="digits"):
            builtin.load_digits()
    target.write_bytes(gzip.compress((b"16," * 64 + b"9\n") * 2))  # two well-formed rows: read as they are
    images, labels = builtin.load_digits()
    assert images.shape == (2, 8, 8) and images.max() == 16 and labels.tolist() == [9, 9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and nothing printed on the way
        target.write_bytes(gzip.compress(b""))
        with pytest.raises(DataError, match="does not hold"):
            builtin.load_digits()
    monkeypatch.setattr(builtin.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="scikit-learn, which is not installed"):
        builtin.load_digits()


def test_selected_classes_keep_their_rows_in_order_labelled_by_their_place_in_the_list():
    from dltrain.data.builtin import select_classes

    X = np.arange(12).reshape(6, 2)
    X_kept, y = select_classes(X, np.array([3, 5, 3, 7, 5, 9]), [5, 3])
    assert X_kept.tolist() == [[0, 1], [2, 3], [4, 5], [8, 9]]
    assert y.tolist() == [1, 0, 1, 0] and y.dtype == np.int64


def test_digits_of_chosen_classes_are_the_8x8_images_of_those_digits():
    from dltrain.data.builtin import Digits, load_digits

    images, target = load_digits()
    data = Digits(classes=[9, 0]).load(None)
    np.testing.assert_array_equal(data.X, images[(target == 9) | (target == 0)])
    np.testing.assert_array_equal(data.y, (target[(target == 9) | (target == 0)] == 0).astype(int))
    assert data.classes == [9, 0] and data.sample_shape == (8, 8)
    every = Digits().load(None)
    assert every.classes == list(range(10)) and len(every.X) == 1797 and every.y.tolist() == target.tolist()


def test_a_photo_becomes_a_digits_sample_of_gray_levels_0_to_16():
    from PIL import Image

    from dltrain.data.builtin import Digits

    image = Image.new("L", (16, 16), 0)
    image.paste(255, (0, 0, 8, 16))  # the left half white
    sample = Digits().image_to_sample(image, (8, 8))
    assert sample[:, :4].tolist() == [[16.0] * 4] * 8 and sample[:, 4:].tolist() == [[0.0] * 4] * 8
    assert Digits().image_to_sample(image, (8, 8), invert=True)[:, :4].max() == 0.0
