"""The data pipeline of dltrain.data.split: which rows land in which split, and how they are scaled.

Rows carry their own index in column 0 (`ID`), so a test can tell exactly where each
sample went, whatever scaling did to the other columns.
"""

from __future__ import annotations

import ast
import inspect
import typing

import numpy as np
import pytest

from dltrain.data import split as split_module
from dltrain.data.base import Dataset, DatasetConfig, RandomTestSplit
from dltrain.data.split import Scaler, Splits, _split, make_splits
from dltrain.errors import DataError

N = 200
ID = 0  # column holding each row's index; left unscaled ("none") to read it back


def dataset(n: int = N, test=None) -> Dataset:
    """n rows of 4 features: the row index, two skewed features and one spanning less than 1;
    labels 70% class 0, 30% class 1."""
    rng = np.random.default_rng(7)
    X = np.column_stack(
        [
            np.arange(n, dtype=np.float64),
            rng.exponential(3.0, n) + 5.0,
            rng.normal(-2.0, 4.0, n),
            rng.uniform(0.1, 0.4, n),
        ]
    )
    y = (np.arange(n) % 10 >= 7).astype(np.int64)
    return Dataset(X=X, y=y, classes=[0, 1], test=test)


def config(**options) -> RandomTestSplit:
    return RandomTestSplit(name="table", **options)


def ids(pair) -> np.ndarray:
    return pair[0][:, ID].astype(int)


def raw_split(ds: Dataset, **options) -> Splits:
    """The same partition as `options` give, unscaled: the rows as they were loaded."""
    return make_splits(ds, config(**{**options, "scaling": "none"}), np.float64)


# --- scaling: fitted on the training split alone ---------------------------------------


def test_minmax_maps_the_training_min_and_max_to_0_and_1_and_the_rest_with_them():
    ds, options = dataset(), {"test_size": 0.25, "validation_split": 0.2, "scaling": "minmax"}
    raw, scaled = raw_split(ds, **options), make_splits(ds, config(**options), np.float64)
    train = scaled.train[0]
    np.testing.assert_array_equal(train.min(axis=0), 0.0)
    np.testing.assert_allclose(train.max(axis=0), 1.0, rtol=0, atol=1e-15)
    low, high = raw.train[0].min(axis=0), raw.train[0].max(axis=0)
    for name in ("val", "test"):  # the other splits use train's min and max, not their own
        np.testing.assert_allclose(getattr(scaled, name)[0], (getattr(raw, name)[0] - low) / (high - low), rtol=1e-15)
        assert not np.allclose(getattr(scaled, name)[0].min(axis=0), 0.0)
    np.testing.assert_array_equal(scaled.scaler.shift, low)


def test_standard_gives_the_training_split_mean_0_and_std_1_and_test_differs():
    ds, options = dataset(), {"test_size": 0.25, "validation_split": 0.2, "scaling": "standard"}
    raw, scaled = raw_split(ds, **options), make_splits(ds, config(**options), np.float64)
    np.testing.assert_allclose(scaled.train[0].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.train[0].std(axis=0), 1.0, rtol=1e-12)
    mean, std = raw.train[0].mean(axis=0), raw.train[0].std(axis=0)
    for name in ("val", "test"):
        X = getattr(scaled, name)[0]
        np.testing.assert_allclose(X, (getattr(raw, name)[0] - mean) / std, rtol=1e-12)
        assert np.all(np.abs(X.mean(axis=0)) > 1e-3) and np.all(np.abs(X.std(axis=0) - 1.0) > 1e-3)


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_the_scaler_ignores_a_predefined_test_set(kind):
    # MNIST-style: the test set comes with the data; a far wider one must not move train's scaling.
    wide = np.random.default_rng(1).normal(50.0, 30.0, (40, 4))
    ds, narrow = dataset(test=(wide, np.zeros(40, dtype=np.int64))), dataset()
    with_test = make_splits(ds, config(test_size=0.0, scaling=kind), np.float64)
    alone = make_splits(narrow, config(test_size=0.0, scaling=kind), np.float64)
    np.testing.assert_array_equal(with_test.train[0], alone.train[0])
    np.testing.assert_array_equal(with_test.test[0], alone.scaler(wide))


def test_none_leaves_the_features_as_loaded():
    ds = dataset()
    splits = make_splits(ds, config(test_size=0.25, scaling="none"), np.float64)
    for _, pair in splits.items():
        np.testing.assert_array_equal(pair[0], ds.X[ids(pair)])
    assert splits.scaler.arrays() == {}


def test_a_feature_constant_in_train_is_only_shifted():
    # Its span is 0: dividing by it would give inf or NaN, so it keeps scale 1 and new values stay finite.
    test_X = np.full((5, 4), 7.0)
    ds = dataset(test=(test_X, np.zeros(5, dtype=np.int64)))
    ds.X[:, 1] = 3.0
    for kind in ("minmax", "standard"):
        splits = make_splits(ds, config(scaling=kind), np.float64)
        np.testing.assert_array_equal(splits.train[0][:, 1], 0.0)
        np.testing.assert_array_equal(splits.test[0][:, 1], 4.0)  # 7 - 3, divided by 1
        assert splits.scaler.arrays()["scaler_scale"][1] == 1.0


def test_samples_are_flattened_to_rows_and_cast_to_the_run_dtype():
    images = np.arange(N * 6, dtype=np.uint8).reshape(N, 2, 3)
    ds = Dataset(X=images, y=dataset().y, classes=[0, 1])
    splits = make_splits(ds, config(test_size=0.25), np.float32)
    assert splits.train[0].shape == (150, 6) and splits.train[0].dtype == np.float32
    assert splits.sample_shape == (2, 3) and splits.train[0].flags.c_contiguous


# --- splits: sizes, order of carving, stratification, seed -----------------------------


def test_the_splits_are_named_in_order_and_keep_the_classes():
    splits = raw_split(dataset(), test_size=0.25, validation_split=0.2)
    assert [name for name, _ in splits.items()] == ["train", "val", "test"]
    assert splits.classes == [0, 1] and splits.n_classes == 2
    assert [name for name, _ in raw_split(dataset(), test_size=0.25).items()] == ["train", "test"]


def test_a_dataset_without_test_size_keeps_every_row_for_training():
    # The OR gate's options have no test_size: nothing is held out.
    splits = make_splits(dataset(), DatasetConfig(name="gate", scaling="none"), np.float64)
    assert splits.test is None and splits.val is None and len(splits.train[0]) == N


def test_no_training_rows_is_a_data_error():
    test = (np.zeros((3, 4)), np.zeros(3, dtype=np.int64))
    ds = Dataset(X=np.zeros((0, 4)), y=np.zeros(0, dtype=np.int64), classes=[0, 1], test=test)
    with pytest.raises(DataError, match="^the training split is empty$"):
        raw_split(ds)


def test_test_size_and_validation_split_are_the_fractions_held_out():
    splits = raw_split(dataset(), test_size=0.25, validation_split=0.2)
    assert len(splits.test[0]) == 50  # 25% of 200
    assert len(splits.val[0]) == 30  # 20% of the 150 left after the test split
    assert len(splits.train[0]) == 120
    every = np.concatenate([ids(pair) for _, pair in splits.items()])
    np.testing.assert_array_equal(np.sort(every), np.arange(N))  # each row in exactly one split
    none = raw_split(dataset(), test_size=0.0, validation_split=0.0)
    assert none.val is none.test is None and len(none.train[0]) == N


def test_validation_is_carved_from_train_after_the_test_split():
    without = raw_split(dataset(), test_size=0.25, split_seed=3)
    with_val = raw_split(dataset(), test_size=0.25, validation_split=0.2, split_seed=3)
    np.testing.assert_array_equal(ids(with_val.test), ids(without.test))  # the test split does not move
    carved = np.concatenate([ids(with_val.train), ids(with_val.val)])
    assert set(carved) == set(ids(without.train))


def test_validation_of_a_dataset_with_its_own_test_set_comes_from_its_training_rows():
    test = (np.full((10, 3), -1.0), np.zeros(10, dtype=np.int64))
    splits = raw_split(dataset(test=test), validation_split=0.25)
    np.testing.assert_array_equal(splits.test[0], test[0])
    assert len(splits.val[0]) == 50 and set(ids(splits.train)) | set(ids(splits.val)) == set(range(N))


def class_shares(splits: Splits) -> dict[str, float]:
    return {name: float(np.mean(pair[1])) for name, pair in splits.items()}


def test_stratified_splits_keep_the_class_proportions():
    options = {"test_size": 0.25, "validation_split": 0.2, "split_seed": 5}
    stratified = raw_split(dataset(), stratify=True, **options)
    for name, pair in stratified.items():
        expected = 0.3 * len(pair[1])  # 30% of every split is class 1, to within a row
        assert abs(np.sum(pair[1]) - expected) <= 1, name
    # The same seed without stratification drifts off the proportions (else this test proves nothing).
    drift = class_shares(raw_split(dataset(), **options))
    assert max(abs(share - 0.3) for share in drift.values()) > 0.03


def test_stratify_is_ignored_for_regression_targets():
    ds = dataset()
    ds.y, ds.classes = np.linspace(0.0, 1.0, N), None  # every target distinct: stratifying would fail
    stratified = make_splits(ds, config(test_size=0.25, validation_split=0.2, stratify=True), np.float64)
    plain = make_splits(ds, config(test_size=0.25, validation_split=0.2), np.float64)
    for (_, a), (_, b) in zip(stratified.items(), plain.items()):
        np.testing.assert_array_equal(a[0], b[0])


def test_split_seed_gives_the_same_splits_and_another_seed_others():
    options = {"test_size": 0.25, "validation_split": 0.2, "stratify": True}
    first, again = raw_split(dataset(), split_seed=11, **options), raw_split(dataset(), split_seed=11, **options)
    for (_, a), (_, b) in zip(first.items(), again.items()):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    other = raw_split(dataset(), split_seed=12, **options)
    assert not np.array_equal(ids(other.test), ids(first.test))
    assert not np.array_equal(ids(other.val), ids(first.val))


def test_a_split_too_small_to_carve_is_a_data_error():
    with pytest.raises(DataError, match="cannot carve a test split"):
        raw_split(dataset(n=10), test_size=0.1, stratify=True)  # one row cannot hold both classes
    with pytest.raises(DataError, match="cannot carve a validation split"):
        raw_split(dataset(n=10), validation_split=0.1, stratify=True)
    with pytest.raises(DataError, match="one class label per sample"):  # not rows of labels taken for indices
        _split(np.zeros((10, 3)), np.eye(2)[np.arange(10) % 2], 0.2, 0, True, "test")


def test_unstratified_splits_are_scikit_learns_row_for_row():
    """The NumPy shuffle split picks exactly the rows, in the order, of scikit-learn's train_test_split."""
    from sklearn.model_selection import train_test_split

    for n, fraction, seed in [
        (200, 0.25, 0),
        (10, 0.1, 42),
        (7, 0.5, 3),
        (1000, 0.2, 2**32 - 1),
        (5, 0.2, 9),
        (3, 0.6, 1),
    ]:
        ds = dataset(n)
        mine = raw_split(ds, test_size=fraction, split_seed=seed)
        Xa, Xb, ya, yb = train_test_split(ds.X, ds.y, test_size=fraction, random_state=seed)
        for (X, y), (X_ref, y_ref) in ((mine.train, (Xa, ya)), (mine.test, (Xb, yb))):
            np.testing.assert_array_equal(X, X_ref)
            np.testing.assert_array_equal(y, y_ref)
    with pytest.raises(DataError, match="cannot carve a test split.*train set will be empty"):
        raw_split(dataset(n=1), test_size=0.5)


def test_stratified_splits_are_scikit_learns_row_for_row():
    """The NumPy stratified splits pick exactly the rows, in the order, of scikit-learn's
    train_test_split(stratify=y): the test split, then the validation split from what remains;
    and refuse exactly the splits it refuses. Balanced and skewed classes, ties among the
    remainders (broken by the seeded generator), classes too small to split."""
    from sklearn.model_selection import train_test_split

    def sklearn_splits(X, y, test_size, validation_split, seed):
        X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
        if not validation_split:
            return (X_rest, y_rest), None, (X_test, y_test)
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=validation_split, random_state=seed, stratify=y_rest
        )
        return (X_train, y_train), (X_val, y_val), (X_test, y_test)

    rng = np.random.default_rng(0)
    cases = [(np.repeat(np.arange(3), 4), 0.25, 0.0, 0), (np.array([0, 0, 1, 1, 2]), 0.4, 0.0, 1)]
    cases.append((np.arange(10) % 2, 0.1, 0.0, 5))
    for _ in range(300):
        counts = rng.integers(1, 40, size=rng.integers(2, 7))
        labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
        test_size = float(rng.choice([0.1, 0.2, 0.25, 1 / 3, 0.5, rng.uniform(0.01, 0.99)]))
        validation_split = float(rng.choice([0.0, 0.1, 0.2, rng.uniform(0.01, 0.5)]))
        cases.append((labels, test_size, validation_split, int(rng.integers(2**32))))
    refused = 0
    for y, test_size, validation_split, seed in cases:
        ds = dataset(len(y))
        ds.y = y
        options = {"test_size": test_size, "validation_split": validation_split, "split_seed": seed, "stratify": True}
        try:
            expected = sklearn_splits(ds.X, ds.y, test_size, validation_split, seed)
        except ValueError:
            refused += 1
            with pytest.raises(DataError, match="cannot carve a (test|validation) split"):
                raw_split(ds, **options)
            continue
        mine = raw_split(ds, **options)
        for got, want in zip((mine.train, mine.val, mine.test), expected):
            assert (got is None) == (want is None)
            for a, b in zip(got or (), want or ()):
                np.testing.assert_array_equal(a, b)
    assert 10 < refused < len(cases) - 100  # both kinds of case are exercised


# --- the guard: no scaling or split option without a test ------------------------------

# Each option of the split pipeline -> the tests that pin it down. Adding an option to the
# schema (or reading a new one in dltrain/data/split.py) fails the guard below until it is listed here.
TESTED = {
    "split_seed": [
        test_split_seed_gives_the_same_splits_and_another_seed_others,
        test_unstratified_splits_are_scikit_learns_row_for_row,
    ],
    "validation_split": [
        test_test_size_and_validation_split_are_the_fractions_held_out,
        test_validation_is_carved_from_train_after_the_test_split,
        test_validation_of_a_dataset_with_its_own_test_set_comes_from_its_training_rows,
    ],
    "test_size": [
        test_test_size_and_validation_split_are_the_fractions_held_out,
        test_unstratified_splits_are_scikit_learns_row_for_row,
        test_a_dataset_without_test_size_keeps_every_row_for_training,
    ],
    "stratify": [
        test_stratified_splits_keep_the_class_proportions,
        test_stratify_is_ignored_for_regression_targets,
        test_stratified_splits_are_scikit_learns_row_for_row,
    ],
    "scaling=none": [test_none_leaves_the_features_as_loaded],
    "scaling=minmax": [
        test_minmax_maps_the_training_min_and_max_to_0_and_1_and_the_rest_with_them,
        test_a_feature_constant_in_train_is_only_shifted,
    ],
    "scaling=standard": [
        test_standard_gives_the_training_split_mean_0_and_std_1_and_test_differs,
        test_a_feature_constant_in_train_is_only_shifted,
    ],
}


def split_options() -> set[str]:
    """Every scaling or split option: the shared dataset fields, each scaling kind, and whatever
    `dltrain.data.split` reads from the dataset config."""
    fields = set(DatasetConfig.model_fields) | set(RandomTestSplit.model_fields)
    kinds = typing.get_args(DatasetConfig.model_fields["scaling"].annotation)
    read = set()
    for node in ast.walk(ast.parse(inspect.getsource(split_module))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cfg":
            read.add(node.attr)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2:
            if getattr(node.args[0], "id", None) == "cfg" and isinstance(node.args[1], ast.Constant):
                read.add(node.args[1].value)
    return (fields | read) - {"name", "scaling"} | {f"scaling={kind}" for kind in kinds}


def test_every_scaling_and_split_option_has_a_test():
    options = split_options()
    assert options == set(TESTED), f"untested: {sorted(options - set(TESTED))}; gone: {sorted(set(TESTED) - options)}"
    module = globals()
    for option, tests in TESTED.items():
        assert tests and all(module.get(t.__name__) is t for t in tests), option


# --- Splits and Scaler helpers --------------------------------------------------------


def splits(classes):
    X, y = np.zeros((4, 2)), np.array([0, 1, 2, 0])
    return Splits((X, y), None, None, classes, (2,))


def test_n_classes_counts_classes_and_is_none_for_regression():
    assert splits([3, 5, 8]).n_classes == 3
    assert splits(None).n_classes is None


def test_scaler_from_saved_arrays_scales_like_the_fitted_one():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(20, 4))
    for kind in ("minmax", "standard", "none"):
        fitted = Scaler(kind, X)
        saved = Scaler.from_arrays(fitted.arrays())
        np.testing.assert_array_equal(saved(X[:5]), fitted(X[:5]))
        assert saved.arrays().keys() == fitted.arrays().keys()


def test_statistics_over_a_split_read_a_few_rows_at_a_time_give_the_whole_arrays_numbers():
    from dltrain.data.split import input_stats
    from dltrain.pipeline.views import _spread

    X = np.random.default_rng(0).normal(size=(5000, 300))  # 12 MB: three blocks of rows
    X[:, 7] = 2.5  # a constant column
    row_means = X.mean(axis=1, dtype=np.float64)
    assert input_stats(X) == {"mean": float(row_means.mean()), "spread": float(row_means.std())}
    np.testing.assert_array_equal(_spread(X), np.ptp(X, axis=0))


@pytest.mark.parametrize("scale", [1e200, 1e-310])
def test_input_statistics_of_inputs_far_from_one_are_finite_and_scale_with_them(scale):
    """The spread's squares once overflowed (1e200 gave an infinite spread, which meta.json's reader rejects)."""
    from dltrain.data.split import input_stats

    X = np.random.default_rng(0).normal(size=(50, 4))
    unit = input_stats(X)
    stats = input_stats(X * scale)
    assert stats["mean"] == pytest.approx(unit["mean"] * scale, rel=1e-6, abs=0)
    assert stats["spread"] == pytest.approx(unit["spread"] * scale, rel=1e-6, abs=0) and stats["spread"] > 0


def test_inputs_whose_mean_lies_beyond_float64_have_no_statistics():
    from dltrain.data.split import input_stats

    assert input_stats(np.array([[1e308, 1e308], [0.0, 1.0]])) is None


@pytest.mark.parametrize(
    "X, shift, scale",
    [
        (np.array([[True], [False], [True]]), [0.0], [1.0]),  # a user file's bool column
        (np.array([[-40000], [40000]], np.float16), [-40000.0], [80000.0]),  # the span overflows float16
        (np.array([[1], [3]], np.int8), [1.0], [2.0]),
    ],
)
def test_the_scaler_fits_in_float64_whatever_the_inputs_dtype(X, shift, scale):
    scaler = Scaler("minmax", X)
    assert scaler.shift.dtype == scaler.scale.dtype == np.float64
    assert scaler.shift.tolist() == shift and scaler.scale.tolist() == scale
    assert scaler(X).ravel().tolist() == [(float(x) - shift[0]) / scale[0] for x in X.ravel()]


# ---------------------------------------------------------------- 8-bit pixels read as floats


def pixels(scaling: str = "none", dtype=np.float32):
    """A Pixels over 5 rows of 3 bytes, with its codes and scaler."""
    from dltrain.data.pixels import Pixels

    codes = np.arange(15, dtype=np.uint8).reshape(5, 3) * 17
    scaler = Scaler(scaling, codes / np.float32(255))
    return Pixels(codes, scaler, dtype), codes, scaler


def test_pixels_look_like_the_float_array_they_stand_for():
    X, codes, _ = pixels()
    whole = codes.astype(np.float32) / np.float32(255)
    assert (X.ndim, X.shape, X.dtype, X.itemsize, len(X)) == (2, (5, 3), np.float32, 4, 5)
    np.testing.assert_array_equal(np.asarray(X), whole)
    assert np.asarray(X, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(X[1:3], whole[1:3])
    np.testing.assert_array_equal(X[4], whole[4])
    np.testing.assert_array_equal(X[[3, 0]], whole[[3, 0]])
    np.testing.assert_array_equal(X[1:4, 2], whole[1:4, 2])  # rows read whole, then the column taken


def test_taking_pixel_rows_reads_them_into_the_buffer_given_and_only_whole_rows():
    X, codes, scaler = pixels("minmax", np.float64)
    expected = scaler(codes.astype(np.float32) / np.float32(255)).astype(np.float64)
    np.testing.assert_array_equal(X.take([4, 1]), expected[[4, 1]])  # axis 0 unless told
    buffer = np.empty((2, 3))
    assert np.take(X, [2, 0], axis=0, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected[[2, 0]])
    with pytest.raises(ValueError, match="axis must be 0"):
        X.take([0], axis=1)


@pytest.mark.parametrize(
    "nbytes, lengths",
    [(100, [3, 3, 3, 1]), (10, [1] * 10), (1 << 20, [10])],  # rows of 32 bytes: three, one (at least), all
)
def test_row_blocks_hold_as_many_whole_rows_as_fit_in_their_bytes(nbytes, lengths):
    from dltrain.data.pixels import row_blocks

    X = np.arange(40.0).reshape(10, 4)
    blocks = list(row_blocks(X, nbytes))
    assert [len(b) for b in blocks] == lengths
    np.testing.assert_array_equal(np.concatenate(blocks), X)


def test_row_blocks_read_pixels_as_floats():
    from dltrain.data.pixels import row_blocks

    X, codes, _ = pixels()
    blocks = list(row_blocks(X, nbytes=24))  # rows of 12 bytes: two a block
    assert [len(b) for b in blocks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(blocks), codes.astype(np.float32) / np.float32(255))
