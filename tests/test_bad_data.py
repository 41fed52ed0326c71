"""Bad data and failing writes: one clear paragraph naming the file or key, the documented
exit code, never a traceback, and a run folder that stays consistent."""

from __future__ import annotations

import errno
import io
import json
import os
import threading
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from dltrain import api
from dltrain.data import files
from dltrain.data.files import numbers, present, read_csv, read_member, read_npy, read_npz
from dltrain.data.user import File
from dltrain.errors import DataError
from dltrain.runs.folder import RunFolder

RNG = np.random.default_rng(0)
X = RNG.random((40, 3))
Y = (X[:, 0] > 0.5).astype(int)


def run_on(tmp_path: Path, dataset: dict, **training) -> list:
    """The arguments of `dltrain run` training a two-epoch logistic regression on `dataset`
    (its config written to tmp_path/config.yaml, its run folder to tmp_path/runs)."""
    cfg = {
        "name": "bad",
        "dataset": dataset,
        "model": {"type": "logreg"},
        "training": {"epochs": 2, **training},
        "output": {"plots": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return ["run", path, "--runs-dir", tmp_path / "runs", "--quiet"]


def assert_clear_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert ("\n" + result.output).count("\nerror:") == 1  # one message, after any progress lines
    for fragment in fragments:
        assert fragment in result.output, result.output


def npz(tmp_path: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **(arrays or {"X": X, "y": Y}))
    return path


def text(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def file_dataset(path: Path) -> dict:
    return {"name": "file", "path": str(path)}


# --- corrupt files ------------------------------------------------------------------------


def test_truncated_npz(cli, tmp_path):
    path = npz(tmp_path)
    path.write_bytes(path.read_bytes()[:300])
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), str(path), "not a .npz archive")


def test_corrupt_npz_member(cli, tmp_path):
    path = npz(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[200:260] = bytes(60)  # inside X.npy's data: the zip CRC no longer matches
    path.write_bytes(bytes(raw))
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), str(path), "not a readable .npz")


def test_random_bytes_named_npz(cli, tmp_path):
    path = text(tmp_path, "data.npz", bytes(RNG.integers(0, 256, 500, dtype=np.uint8)))
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), str(path), "not a .npz archive")


@pytest.mark.parametrize(
    "where, what", [("/dev/zero", "a character device"), (".", "a directory"), ("fifo.csv", "a FIFO")]
)
def test_a_dataset_file_that_is_not_a_regular_file_is_named_for_what_it_is(cli, tmp_path, where, what):
    path = tmp_path / where  # /dev/zero stays itself
    if what == "a FIFO":
        os.mkfifo(path)
    result = cli(*run_on(tmp_path, file_dataset(path)))
    assert_clear_error(result, f"dataset file {path} is {what}, not a regular file")


def test_a_missing_dataset_file_is_said_not_to_exist(cli, tmp_path):
    path = tmp_path / "nope.csv"
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), f"dataset file {path} does not exist")


def test_npz_with_pickled_objects_is_refused(cli, tmp_path):
    path = npz(tmp_path, X=np.array([1, "a", None], dtype=object), y=np.array([0, 1, 0]))
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), str(path), "allow_pickle=False")


def test_npz_without_the_arrays(cli, tmp_path):
    path = npz(tmp_path, features=X, y=Y)
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "must hold arrays 'X' and 'y'", "missing ['X']")


# --- archives that would inflate past their limits ----------------------------------------


def member(
    archive: zipfile.ZipFile, name: str, shape: tuple, data: bytes = b"", method: int = zipfile.ZIP_DEFLATED
) -> None:
    """A uint8 member `name`.npy whose header declares `shape`, followed by `data` (empty: none)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    archive.writestr(name + ".npy", header.getvalue() + data, compress_type=method)


def archive(path: Path, *members: tuple) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for args in members:
            member(z, *args)
    return path


def test_the_arrays_of_an_npz_share_one_limit(tmp_path):
    path = archive(tmp_path / "three.npz", *[(name, (1000,), bytes(1000)) for name in "abc"])
    assert sorted(read_npz(path, limit=3000)) == ["a", "b", "c"]
    with pytest.raises(
        DataError, match=r"too large: array 'c' claims \(1000,\) uint8 \(1,000 bytes\), more than the 500"
    ):
        read_npz(path, limit=2500)  # each array fits, the three together do not


def test_data_after_what_the_header_declares_is_refused(tmp_path):
    path = archive(tmp_path / "long.npz", ("X", (10,), bytes(11)))
    with pytest.raises(DataError, match="array 'X' has more data than the 10 bytes its header declares"):
        read_npz(path)
    np.save(tmp_path / "long.npy", np.zeros(10, dtype=np.uint8))
    with open(tmp_path / "long.npy", "ab") as f:
        f.write(b"\0")
    with pytest.raises(DataError, match="long.npy is damaged: has more data than the 10 bytes"):
        read_npy(tmp_path / "long.npy")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_members_np_savez_never_writes_are_refused(tmp_path, method):
    """One read of a bzip2 member can inflate a few KB into gigabytes: only stored and deflated ones are read."""
    path = archive(tmp_path / "odd.npz", ("X", (10,), bytes(10), method))
    with pytest.raises(DataError, match=f"array 'X' is compressed by zip method {method}, which np.savez never writes"):
        read_npz(path)


def test_a_zip_directory_too_large_for_any_npz_is_refused_before_zipfile_reads_it(tmp_path):
    """200,000 one-letter entries (9.4 MB), all directory: zipfile took a second and 90 MB to list them."""
    import struct

    n = 200_000
    entry = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"
    directory = entry * n
    zip64_end = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(directory), 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, len(directory), 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path = tmp_path / "listing.npz"
    path.write_bytes(directory + zip64_end + locator + end)
    with pytest.raises(DataError, match="listing.npz: its zip directory is 9,400,000 bytes; at most 1,048,576"):
        read_npz(path)


def test_a_zip_needing_a_newer_version_to_extract_is_not_a_readable_npz(tmp_path):
    """zipfile refuses "version needed to extract" above 6.3 with NotImplementedError (an internal error)."""
    path = archive(tmp_path / "v.npz", ("X", (10,), bytes(10)))
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"PK\x01\x02") + 6] = 64  # the central directory's version needed to extract: 6.4
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"v.npz is not a .npz archive .*zip file version 6.4"):
        read_npz(path)


# general-purpose flag bits: 0 encrypted, 5 compressed patched data, 6 strong encryption (zipfile reads none)
@pytest.mark.parametrize("flag, reason", [(0x1, "encrypted"), (0x20, "patched data"), (0x40, "encrypted")])
def test_an_encrypted_or_patched_member_is_refused(tmp_path, flag, reason):
    path = archive(tmp_path / "locked.npz", ("X", (10,), bytes(10)))
    raw = bytearray(path.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        raw[raw.index(signature) + flags_at] |= flag
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"array 'X' is {reason}, which np.savez never writes"):
        read_npz(path)
    with zipfile.ZipFile(path) as zf, pytest.raises(DataError, match=f"member 'X.npy' is {reason}; only stored"):
        read_member(zf, zf.getinfo("X.npy"), 100, path)  # a downloaded archive's member (sign_photos)


def test_a_member_is_read_without_a_second_copy(tmp_path):
    size = 32 << 20
    path = archive(tmp_path / "zeros.npz", ("X", (size,), bytes(size)))
    tracemalloc.start()
    try:
        assert read_npz(path)["X"].nbytes == size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * size


def test_a_member_of_exactly_the_limit_is_read_whole_and_one_byte_more_is_refused(tmp_path):
    data = bytes(range(100))
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("photo.jpg", data)
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        info = zf.getinfo("photo.jpg")
        assert read_member(zf, info, 100, tmp_path / "a.zip") == data
        assert read_member(zf, info, 1000, tmp_path / "a.zip") == data
        with pytest.raises(DataError, match=r"member 'photo.jpg' is too large: 100 bytes, at most 99 are read"):
            read_member(zf, info, 99, tmp_path / "a.zip")


def test_an_npz_member_that_is_no_npy_is_refused_by_its_name(tmp_path):
    path = archive(tmp_path / "odd.npz", ("X", (3,), bytes(3)))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("notes.txt", b"not an array")
    with pytest.raises(DataError, match=r"odd.npz: member 'notes.txt' is not an array \(<name>.npy\)"):
        read_npz(path)


def test_a_zip_directory_of_exactly_the_bound_is_read(tmp_path, monkeypatch):
    path = archive(tmp_path / "a.npz", ("X", (3,), bytes(3)))
    directory = int.from_bytes(path.read_bytes()[-22 + 12 : -22 + 16], "little")  # the end record's directory size
    monkeypatch.setattr(files, "MAX_NPZ_DIRECTORY", directory)
    assert read_npz(path)["X"].tolist() == [0, 0, 0]
    monkeypatch.setattr(files, "MAX_NPZ_DIRECTORY", directory - 1)
    with pytest.raises(DataError, match=f"its zip directory is {directory} bytes; at most {directory - 1} are read"):
        read_npz(path)


def test_an_npy_of_format_version_2_is_read(tmp_path):
    a = np.arange(6.0).reshape(2, 3)
    with open(tmp_path / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    np.testing.assert_array_equal(read_npy(tmp_path / "v2.npy"), a)


def test_an_npy_of_a_format_version_numpy_may_write_later_is_named(tmp_path):
    with open(tmp_path / "v3.npy", "wb") as f:
        np.lib.format.write_array(f, np.zeros(3), version=(3, 0))
    with pytest.raises(DataError, match=r"v3.npy is unreadable: has .npy format version \(3, 0\), not 1 or 2"):
        read_npy(tmp_path / "v3.npy")


def test_a_file_that_is_no_npy_is_a_data_error(tmp_path):
    (tmp_path / "x.npy").write_text("label,a\n1,2\n")
    with pytest.raises(DataError, match=r"x.npy is not a readable .npy file \("):
        read_npy(tmp_path / "x.npy")


@pytest.mark.parametrize("read", [read_npy, read_npz, read_csv])
def test_a_directory_where_an_array_file_should_be_is_a_data_error(tmp_path, read):
    with pytest.raises(DataError, match="is a directory, not a regular file"):
        read(tmp_path)


def test_a_csv_is_read_whole_without_its_byte_order_mark_and_blank_rows(tmp_path):
    path = text(tmp_path, "history.csv", "\ufeffepoch,loss\r\n1,0.5\r\n\r\n2,0.25\r\n")
    assert read_csv(path) == [["epoch", "loss"], ["1", "0.5"], ["2", "0.25"]]


def test_a_csv_field_past_the_csv_modules_limit_is_a_data_error(tmp_path):
    path = text(tmp_path, "wide.csv", "a\n" + "1" * 200_000 + "\n")
    with pytest.raises(DataError, match=r"wide.csv is not a readable CSV file \(field larger than field limit"):
        read_csv(path)


def test_present_adds_its_hint_only_to_something_that_is_there(tmp_path):
    assert present(tmp_path / "missing.npy", hint="Delete it.") is False
    with pytest.raises(DataError) as err:
        present(tmp_path, hint="Delete it.")
    assert str(err.value) == f"{tmp_path} is a directory, not a regular file. Delete it."
    with pytest.raises(DataError) as err:
        present(tmp_path)
    assert str(err.value) == f"{tmp_path} is a directory, not a regular file"  # no hint, nothing added
    too_long = tmp_path / ("x" * 300)  # no file can have this name: nothing there to delete
    with pytest.raises(DataError) as err:
        present(too_long, hint="Delete it.")
    assert "File name too long" in str(err.value) and "Delete it." not in str(err.value)


@pytest.mark.parametrize(
    "arrays, ndim, message",
    [
        ({"b": np.zeros(2)}, 2, r"w.npz is damaged: W is missing \(it holds \['b'\]\)"),
        ({"W": np.array([["a", "b"]])}, 2, "W holds <U1 values, not real numbers"),
        ({"W": np.zeros((2, 2), complex)}, 2, "W holds complex128 values, not real numbers"),
        ({"W": np.zeros(2)}, 2, r"W has shape \(2,\), not 2-dimensional"),
        ({"W": np.array([[0.0, np.nan]])}, 2, "W holds NaN or infinite values"),
        ({"W": np.array([[np.inf, np.inf]])}, None, "W holds NaN or infinite values"),
    ],
)
def test_a_run_folder_array_that_is_not_what_it_must_be_is_named(tmp_path, arrays, ndim, message):
    with pytest.raises(DataError, match=message):
        numbers(arrays, "W", ndim, tmp_path / "w.npz")


def test_numbers_takes_any_shape_when_told_and_non_finite_values_only_when_told(tmp_path):
    a = np.array([[[1.0, np.inf]]])
    assert numbers({"W": np.zeros((1, 2, 3))}, "W", None, tmp_path).shape == (1, 2, 3)
    assert numbers({"W": a}, "W", 3, tmp_path, finite=False) is a
    assert numbers({"W": np.array([1, 2])}, "W", 1, tmp_path).tolist() == [1, 2]  # integers are never NaN


def npy(path: Path, shape: tuple, data: bytes) -> Path:
    """A uint8 .npy file whose header declares `shape`, followed by `data`."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    path.write_bytes(header.getvalue() + data)
    return path


def test_an_npy_declaring_more_than_its_file_holds_is_refused_before_allocating(tmp_path):
    path = npy(tmp_path / "big.npy", (1 << 28,), bytes(10))  # 256 MiB declared, within the size limit
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"big.npy is damaged: claims \(268435456,\) uint8 .* in a file of"):
            read_npy(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_truncated_npy_is_named_not_read_forever(tmp_path):
    path = npy(tmp_path / "short.npy", (100,), bytes(90))
    errors = []

    def read():
        try:
            read_npy(path)
        except DataError as err:
            errors.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert len(errors) == 1 and "short.npy is truncated: has 90 of 100 bytes" in str(errors[0])


def test_fortran_ordered_arrays_are_read_back_as_saved(tmp_path):
    a = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    np.savez(tmp_path / "f.npz", X=np.asfortranarray(a))
    np.testing.assert_array_equal(read_npy(tmp_path / "f.npy"), a)
    np.testing.assert_array_equal(read_npz(tmp_path / "f.npz")["X"], a)


def test_a_structured_npy_with_an_object_field_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.zeros(2, dtype=[("a", "O")]), allow_pickle=True)
    with pytest.raises(DataError, match="o.npy is unreadable: holds Python objects"):
        read_npy(tmp_path / "o.npy")


def scaled_run(tmp_path: Path) -> tuple[Path, Path]:
    """(a run folder with weights.npz, checkpoint.npz and preprocess.npz, samples predict scales with the last)."""
    folder = api.run(
        {
            "name": "p",
            "dataset": {"name": "or_gate", "scaling": "minmax"},  # saves preprocess.npz too
            "training": {"epochs": 2},
            "output": {"plots": False},
        },
        runs_dir=tmp_path,
    ).path
    samples = tmp_path / "samples.npy"
    np.save(samples, np.zeros((1, 2)))
    return folder, samples


def test_predict_says_why_a_scaled_run_has_no_preprocess_npz(cli, tmp_path):
    folder, samples = scaled_run(tmp_path)
    (folder / "preprocess.npz").unlink()
    assert_clear_error(cli("predict", folder, samples), "no preprocess.npz (runs from before dltrain saved its scaler)")
    RunFolder(folder).update_meta(status="interrupted")  # preprocess.npz comes with the run's end
    assert_clear_error(
        cli("predict", folder, samples),
        "no preprocess.npz (it is written when the run ends, and this run is interrupted)",
    )


def test_run_folder_arrays_are_named_before_any_is_read(cli, tmp_path):
    """weights.npz, checkpoint.npz and preprocess.npz: a stray array is refused by its name,
    not after reading what it claims."""
    folder, samples = scaled_run(tmp_path)
    for name, command in (
        ("weights.npz", ["eval", folder]),
        ("checkpoint.npz", ["resume", folder, "--epochs", "3"]),
        ("preprocess.npz", ["predict", folder, samples]),
    ):
        arrays = RunFolder(folder).read_npz(name)
        np.savez(folder / name, **arrays)
        with zipfile.ZipFile(folder / name, "a") as z:
            member(z, "stray", (1 << 40,), method=zipfile.ZIP_STORED)  # a terabyte declared, none of it there
        assert_clear_error(cli(*command), name, "is damaged: unexpected array 'stray'")
        np.savez(folder / name, **arrays)  # as it was, for the next file's command


def test_truncated_csv(cli, tmp_path):
    path = text(tmp_path, "data.csv", "a,b,label\n1,2,0\n3,4,1\n5,")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), f"{path}, line 4", "2 fields, the header has 3")


def test_binary_csv(cli, tmp_path):
    path = text(tmp_path, "data.csv", b"\xd1\xff\x00garbage")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), str(path), "not a readable CSV")


def test_empty_csv(cli, tmp_path):
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(text(tmp_path, "data.csv", "")))), "is empty")


# --- wrong shapes and values --------------------------------------------------------------


def test_x_and_y_of_different_lengths(cli, tmp_path):
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(npz(tmp_path, X=X, y=Y[:30])))), "X has 40 rows but y has 30")


def test_scalar_arrays(cli, tmp_path):
    assert_clear_error(
        cli(*run_on(tmp_path, file_dataset(npz(tmp_path, X=np.array(3.0), y=np.array(1))))), "one row per sample"
    )


def test_two_dimensional_class_labels(cli, tmp_path):
    path = npz(tmp_path, X=X, y=np.stack([Y, Y], axis=1))
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "class labels must be one per sample", "(40, 2)")


def test_nan_class_labels(cli, tmp_path):
    path = npz(tmp_path, X=X, y=np.where(Y == 1, np.nan, 0.0))
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "class labels must not be NaN")


def test_non_finite_features(cli, tmp_path):
    assert_clear_error(
        cli(*run_on(tmp_path, file_dataset(text(tmp_path, "d.csv", "a,b,label\n1,inf,0\n3,4,1\n")))), "X must be finite"
    )


@pytest.mark.parametrize("cell", ["x", "1_000", "１０"])  # Python's float reads 1000 and 10: no CSV numbers
def test_non_numeric_csv_column(cli, tmp_path, cell):
    path = text(tmp_path, "data.csv", f"a,b,label\n1,2,0\n3,{cell},1\n")
    assert_clear_error(
        cli(*run_on(tmp_path, file_dataset(path))), f"{path}, line 3", f"column 'b' holds '{cell}', not a number"
    )


def test_csv_labels_that_python_reads_as_one_number_stay_two_classes(tmp_path):
    path = text(tmp_path, "data.csv", "a,label\n1,10\n2,1_0\n3, 10\n4,1_0\n5,１０\n")
    assert sorted(str(c) for c in File(path=str(path)).load(tmp_path).classes) == ["10", "1_0", "１０"]


def test_csv_without_the_label_column(cli, tmp_path):
    path = text(tmp_path, "data.csv", "a,b\n1,2\n")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "no label column 'label'", "['a', 'b']")


def test_a_csv_with_two_label_columns_is_refused(cli, tmp_path):
    # the first would hold the labels and the second be read as a feature, with exit 0
    path = text(tmp_path, "data.csv", "label,a,label\n0.5,1,0\n0.25,2,1\n")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "has 2 columns named 'label'")


def test_empty_label_in_csv(cli, tmp_path):
    path = text(tmp_path, "data.csv", "a,label\n1,0\n2,\n")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "line 3", "label column 'label' is empty")


def test_digits_outside_0_to_9(cli, tmp_path):
    # caught by the config, like MNIST's and sign digits' classes (dltrain.data.base.check_digits)
    assert_clear_error(
        cli(*run_on(tmp_path, {"name": "digits", "classes": [3, 12]})), "dataset.classes", "digits are 0..9, got [12]"
    )


def test_labels_outside_the_classes():
    from dltrain.data.builtin import select_classes
    from dltrain.errors import DataError

    with pytest.raises(DataError, match=r"classes \[12\] do not occur"):
        select_classes(np.zeros((3, 2)), np.array([3, 5, 3]), [3, 12])


def test_repeated_classes(cli, tmp_path):
    assert_clear_error(
        cli(*run_on(tmp_path, {"name": "digits", "classes": [3, 3]})), "dataset.classes", "each digit may appear once"
    )


def test_single_class(cli, tmp_path):
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(npz(tmp_path, X=X, y=np.zeros(40))))), "at least two classes")


@pytest.mark.parametrize(
    "features, labels, message",
    [
        (np.array(3.0), np.array([0, 1]), "X and y must be arrays with one row per sample"),
        (np.zeros((2, 1)), np.array(1), "X and y must be arrays with one row per sample"),
        (np.zeros((3, 0)), np.array([0, 1, 0]), r"the samples have no features \(X has shape \(3, 0\)\)"),
        (np.zeros((2, 1)), np.array([1j, 2j]), "labels must be numbers or text, got complex128"),
    ],
)
def test_arrays_that_are_no_samples_are_refused(features, labels, message):
    from dltrain.data.user import labelled

    with pytest.raises(DataError, match=message):
        labelled(features, labels, "classification", "data.npz")


def test_samples_of_as_many_dimensions_as_meta_json_records_are_taken():
    from dltrain.data.user import labelled

    data = labelled(np.zeros((2, *[1] * 7, 2)), np.array([0, 1]), "classification", "data.npz")  # 8 dimensions
    assert data.X.shape == (2, 1, 1, 1, 1, 1, 1, 1, 2)


def test_as_many_classes_and_as_long_a_label_as_a_run_folder_records_are_taken():
    from dltrain.data.user import labelled

    many = labelled(np.zeros((1000, 1)), np.arange(1000), "classification", "many.csv")
    assert len(many.classes) == 1000
    long = labelled(np.zeros((2, 1)), np.array(["x" * 1000, "b"]), "classification", "long.csv")
    assert long.classes == ["b", "x" * 1000] and long.y.tolist() == [1, 0]


def test_regression_targets_are_finite_numbers():
    from dltrain.data.user import labelled

    data = labelled(np.zeros((1, 2)), np.array([3]), "regression", "data.npz")  # one sample, an integer target
    assert data.y.dtype == np.float64 and data.y.tolist() == [3.0] and not data.is_classification
    wide = labelled(np.zeros((2, 2)), np.array([[1, 2], [3, 4]]), "regression", "data.npz")
    assert wide.y.shape == (2, 2)
    with pytest.raises(DataError, match="data.npz: regression targets must be numbers"):
        labelled(np.zeros((2, 2)), np.array(["a", "b"]), "regression", "data.npz")
    for bad in (np.nan, np.inf):
        with pytest.raises(DataError, match="data.npz: targets must be finite numbers"):
            labelled(np.zeros((2, 2)), np.array([1.0, bad]), "regression", "data.npz")


@pytest.mark.parametrize(
    "X, y, message",
    [
        ([[1.0, 2.0], [3.0]], [0, 1], r"every row of X needs the same length, got lengths \[1, 2\]"),
        ([[], []], [0, 1], "the rows of X need at least one feature"),
        ([[1.0], [2.0]], [0], "X has 2 rows but y has 1"),
        ([[1.0], [2.0]], [0, [1.0]], "y must hold one value per row, or lists of the same length"),
        ([[1.0], [2.0]], [[0.0], [1.0, 2.0]], "y must hold one value per row, or lists of the same length"),
    ],
)
def test_an_inline_dataset_that_is_no_table_is_refused(X, y, message):
    from pydantic import ValidationError

    from dltrain.data.user import Inline

    with pytest.raises(ValidationError, match=message):
        Inline(X=X, y=y)


def test_an_inline_dataset_loads_its_rows():
    from dltrain.data.user import Inline

    data = Inline(X=[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], y=[2, 0, 2]).load(Path("."))
    assert data.X.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]] and data.X.dtype == np.float64
    assert data.classes == [0, 2] and data.y.tolist() == [1, 0, 1]
    targets = Inline(X=[[1.0], [2.0]], y=[[0.5, 1.0], [1.5, 2.0]], task="regression").load(Path("."))
    assert targets.y.tolist() == [[0.5, 1.0], [1.5, 2.0]]


def test_a_label_column_anywhere_in_a_csv_leaves_the_other_columns_as_features(tmp_path):
    from dltrain.data.user import File

    path = text(tmp_path, "mid.csv", "a,kind,b\n1,cat,2\n3,dog,4\n5,cat,6\n")
    data = File(path=str(path), label="kind").load(tmp_path)
    assert data.X.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert data.classes == ["cat", "dog"] and data.y.tolist() == [0, 1, 0]


def test_a_non_numeric_field_after_the_label_column_is_named_by_its_own_column(tmp_path):
    from dltrain.data.user import File

    path = text(tmp_path, "late.csv", "label,a,b\n0,1,2\n1,3,x\n")
    with pytest.raises(DataError, match=r"late.csv, line 3: column 'b' holds 'x', not a number"):
        File(path=str(path)).load(tmp_path)


def test_a_dataset_file_of_another_format_is_refused_by_its_suffix(tmp_path):
    from dltrain.data.user import File

    path = text(tmp_path, "data.txt", "a,label\n1,0\n2,1\n")
    with pytest.raises(DataError, match=r"dataset file .*data.txt: expected a .npz or .csv file"):
        File(path=str(path)).load(tmp_path)
    upper = text(tmp_path, "DATA.CSV", "a,label\n1,0\n2,1\n")  # the suffix in any case
    assert File(path=str(upper)).load(tmp_path).X.tolist() == [[1.0], [2.0]]


# --- what a run folder could not hold: refused before training, or kept readable ------------


def test_samples_of_more_dimensions_than_meta_json_records_are_refused(cli, tmp_path):
    path = npz(tmp_path, X=np.zeros((40, *[1] * 8, 2)), y=Y)  # 9 dimensions a sample
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "X has 10 dimensions; a sample may have at most 8")


def test_more_distinct_labels_than_a_classifier_takes_are_refused(cli, tmp_path):
    """10,000 labels in a 118 KB CSV took 25 s and 7.9 GB before the run ended."""
    rows = "".join(f"{i},{i}\n" for i in range(1001))
    path = text(tmp_path, "many.csv", "a,label\n" + rows)
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "1,001 distinct labels", "task: regression")


def test_a_class_label_longer_than_a_run_folder_records_is_refused(cli, tmp_path):
    path = text(tmp_path, "long.csv", f"a,label\n1,{'x' * 1001}\n2,b\n")
    assert_clear_error(cli(*run_on(tmp_path, file_dataset(path))), "a class label of 1,001 characters; at most 1,000")


def test_true_and_false_labels_train_and_read_back(cli, tmp_path):
    """meta.json's classes [false, true] made the run's own folder unreadable (corrupt) to every reader."""
    result = cli(*run_on(tmp_path, file_dataset(npz(tmp_path, X=X, y=Y.astype(bool)))))
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert json.loads((folder / "meta.json").read_text())["classes"] == [False, True]
    assert cli("runs", tmp_path / "runs", "--json").json[0]["status"] == "completed"
    assert cli("eval", folder).exit_code == 0


def test_a_command_line_argument_of_any_length_is_recorded_readably(tmp_path):
    from dltrain import api
    from dltrain.inspection.listing import list_runs

    cfg = {"name": "long", "dataset": {"name": "or_gate"}, "model": {"type": "perceptron"}, "output": {"plots": False}}
    result = api.run(cfg, runs_dir=tmp_path, argv=["dltrain", "run", "x" * 100_001])
    assert json.loads((result.path / "meta.json").read_text())["argv"][2] == "x" * 100_001
    assert [row["status"] for row in list_runs(tmp_path)] == ["completed"]


def test_a_config_of_more_values_than_a_config_file_holds_is_refused():
    from dltrain.config.loader import validate
    from dltrain.errors import ConfigError

    with pytest.raises(ConfigError, match="the config holds more than 200,000 values"):
        validate({"name": "big", "dataset": {"name": "or_gate"}, "notes": list(range(200_001))})


def test_a_csv_is_converted_as_it_is_read_never_held_as_text(tmp_path):
    """Every field kept as a Python string took some twenty times the file's size (1 GiB of CSV: 20 GB)."""
    import tracemalloc

    from dltrain.data.user import File

    rows = (",".join(["0.5"] * 20) + ",0\n" + ",".join(["0.5"] * 20) + ",1\n") * 25_000
    path = text(tmp_path, "big.csv", ",".join(f"c{i}" for i in range(20)) + ",label\n" + rows)  # 4.2 MB
    tracemalloc.start()
    try:
        data = File(path=str(path)).load(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.X.shape == (50_000, 20) and (data.X == 0.5).all()
    assert peak < 24 << 20  # X alone is 8 MB; the text as strings came to about 70 MB


# --- empty data ---------------------------------------------------------------------------


def test_csv_with_a_header_only(cli, tmp_path):
    assert_clear_error(
        cli(*run_on(tmp_path, file_dataset(text(tmp_path, "data.csv", "a,b,label\n")))), "holds no samples"
    )


def test_nothing_left_for_training_after_the_splits(cli, tmp_path):
    dataset = {"name": "digits", "classes": [0, 1], "test_size": 0.5, "validation_split": 0.999}
    assert_clear_error(cli(*run_on(tmp_path, dataset)), "cannot carve a validation split", "train set will be empty")


def test_batch_size_larger_than_the_data_is_clamped_with_a_note(cli, tmp_path):
    """Clamped, not refused: a batch of 64 on 4 rows has one sensible meaning (one full batch)."""
    result = cli(*run_on(tmp_path, {"name": "or_gate"}, batch_size=64))
    assert result.exit_code == 0, result.output
    assert (
        "note: training.batch_size 64 is larger than the 4 training samples: each epoch is one full batch of 4"
        in result.output
    )
    (folder,) = (tmp_path / "runs").iterdir()
    assert json.loads((folder / "meta.json").read_text())["notes"] == [result.output.split("note: ")[1].splitlines()[0]]


# --- failing writes -----------------------------------------------------------------------


def test_runs_dir_that_cannot_be_created(cli, tmp_path):
    blocker = text(tmp_path, "blocker", "a file where the runs directory should be")
    result = cli("run", write_tiny(tmp_path), "--runs-dir", blocker / "runs", "--quiet")
    assert_clear_error(result, "cannot create the runs directory", str(blocker / "runs"))


def write_tiny(tmp_path: Path, **training) -> Path:
    cfg = {
        "name": "tiny",
        "dataset": {"name": "or_gate"},
        "model": {"type": "perceptron", "rule": "gradient"},
        "training": {"epochs": 4, **training},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def fail_writes_of(monkeypatch, filename: str, err: int, after: int = 0) -> None:
    """Make the (after+1)-th and later atomic writes of `filename` fail with OSError(err) at the rename."""
    real, seen = os.replace, [0]

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == filename:
            seen[0] += 1
            if seen[0] > after:
                raise OSError(err, os.strerror(err))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def assert_consistent(folder: Path) -> dict:
    assert not list(folder.glob(".*")), "temporary files left behind"
    for path in folder.glob("*.json"):
        json.loads(path.read_text())
    for path in folder.glob("*.npz"):
        with np.load(path, allow_pickle=False) as archive:
            [archive[k] for k in archive.files]
    return json.loads((folder / "meta.json").read_text())


def test_disk_full_when_saving_weights(cli, tmp_path, monkeypatch):
    fail_writes_of(monkeypatch, "weights.npz", errno.ENOSPC)
    result = cli("run", write_tiny(tmp_path), "--runs-dir", tmp_path / "runs", "--quiet")
    assert_clear_error(result, "weights.npz", "No space left on device", "status failed", code=1)
    (folder,) = (tmp_path / "runs").iterdir()
    meta = assert_consistent(folder)
    assert meta["status"] == "failed" and "No space left on device" in meta["error"]


def test_disk_full_for_the_whole_final_save(cli, tmp_path, monkeypatch):
    """The disk fills up during training: from the final save on no file can be replaced, meta.json
    included (an atomic write needs room for a second copy). meta.json still says failed, with
    the reason (rewritten in its own blocks), and the command fails with exit 1 and one message."""
    real, full = os.replace, []

    def replace(src, dst, *args, **kwargs):
        full.extend([True] if Path(dst).name == "checkpoint.npz" else [])  # the final save's first file
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    result = cli("run", write_tiny(tmp_path), "--runs-dir", tmp_path / "runs", "--quiet", "--json")
    assert_clear_error(result, "cannot write", "checkpoint.npz: No space left on device", "status failed", code=1)
    assert json.loads(result.stdout)["status"] == "failed"
    (folder,) = (tmp_path / "runs").iterdir()
    meta = assert_consistent(folder)
    assert meta["status"] == "failed" and "checkpoint.npz: No space left on device" in meta["error"]
    assert meta["epochs_done"] == 0 and meta["ended"]  # no checkpoint could be saved


def test_read_only_folder_during_a_checkpoint(cli, tmp_path, monkeypatch):
    fail_writes_of(monkeypatch, "checkpoint.npz", errno.EROFS, after=1)
    result = cli("run", write_tiny(tmp_path, checkpoint_every=1), "--runs-dir", tmp_path / "runs", "--quiet")
    assert_clear_error(result, "checkpoint.npz", "Read-only file system", code=1)
    (folder,) = (tmp_path / "runs").iterdir()
    meta = assert_consistent(folder)
    # training stops at the failed checkpoint (epoch 2); history and weights of epoch 2 could still be saved
    assert meta["status"] == "failed" and meta["epochs_done"] == 2 and "checkpoint.npz" in meta["error"]
    assert len((folder / "history.csv").read_text().splitlines()) == 1 + 2
    assert int(RunFolder(folder).read_npz("checkpoint.npz")["epoch"]) == 1  # the last one that was written


def test_unwritable_runs_dir_leaves_no_empty_folder(cli, tmp_path, monkeypatch):
    fail_writes_of(monkeypatch, "config.yaml", errno.EACCES)
    result = cli("run", write_tiny(tmp_path), "--runs-dir", tmp_path / "runs", "--quiet")
    assert_clear_error(result, "config.yaml", "Permission denied")
    assert list((tmp_path / "runs").iterdir()) == []


def test_run_folder_arrays_are_read_only_as_written_uncompressed(cli, tmp_path):
    """A run writes its arrays with np.savez, uncompressed: a deflated W0 in weights.npz (which could
    declare gigabytes of zeros in a few kilobytes) is refused before it is inflated, in every reader."""
    folder, samples = scaled_run(tmp_path)
    for name, key, command in (
        ("weights.npz", "W0", ["eval", folder]),
        ("checkpoint.npz", "format", ["resume", folder, "--epochs", "3"]),
        ("preprocess.npz", "scaler_shift", ["predict", folder, samples]),
    ):
        arrays = RunFolder(folder).read_npz(name)
        np.savez_compressed(folder / name, **arrays)
        assert_clear_error(cli(*command), name, f"array '{key}' is compressed")
        np.savez(folder / name, **arrays)
