"""The one reader of each file format dltrain takes arrays from: .npz, .npy and .csv.

    arrays = read_npz(path)          # {'X': ..., 'y': ...}: every member checked before it is allocated
    X = read_npy(path)
    rows = read_csv(path)            # [['label', 'a', 'b'], ['1', '0.5', '2'], ...]

Datasets (`dataset: {name: file}`, sign_digits' X.npy), `dltrain predict` inputs and
run folders (weights.npz, preprocess.npz, checkpoint.npz) all read through here, so
each file is a regular file (never a FIFO or /dev/zero), under a size limit, never
unpickled, and an array header that claims more data than its file holds is refused
before anything is allocated. Problems raise `error` (DataError unless the caller
says otherwise) naming the file.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path
from typing import IO, Any, Optional

import numpy as np

from dltrain.errors import DataError, DltrainError, shorten
from dltrain.files import UnreadableFile, open_regular

MAX_BYTES = 4 << 30  # the largest array file read (MNIST as float64 is 0.4 GB)
MAX_CSV_BYTES = 1 << 30


def read_npz(path: Path, limit: int = MAX_BYTES, error: type[DltrainError] = DataError) -> dict[str, np.ndarray]:
    """Every array of the .npz archive at `path`, by name."""
    with _opened(path, limit, error) as f:
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
            raise error(f"{path} is not a .npz archive (not a zip file: truncated, or another format; {err})") from None
        try:
            with archive:
                arrays = {}
                for info in archive.infolist():
                    name = info.filename.removesuffix(".npy")
                    if name == info.filename or info.file_size > limit:
                        raise error(f"{path}: member {info.filename!r} is not an array of at most {limit:,} bytes")
                    with archive.open(info) as member:
                        arrays[name] = _array(member, info.file_size, path, error, f"array {name!r} ")
                return arrays
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
            raise error(f"{path} is not a readable .npz file ({err})") from None


def read_npy(path: Path, limit: int = MAX_BYTES, error: type[DltrainError] = DataError) -> np.ndarray:
    """The array in the .npy file at `path`."""
    with _opened(path, limit, error) as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        try:
            return _array(f, size, path, error)
        except (EOFError, OSError, ValueError) as err:
            raise error(f"{path} is not a readable .npy file ({err})") from None


def read_csv(path: Path, limit: int = MAX_CSV_BYTES, error: type[DltrainError] = DataError) -> list[list[str]]:
    """The rows of the UTF-8 CSV file at `path` (a leading byte-order mark is dropped); blank rows skipped."""
    with _opened(path, limit, error) as f:
        try:
            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            return [row for row in csv.reader(text) if row]
        except UnicodeDecodeError as err:
            raise error(
                f"{path} is not a readable CSV file (not UTF-8 text: {err.reason} at byte {err.start} of a line)"
            ) from None
        except (OSError, csv.Error) as err:
            raise error(f"{path} is not a readable CSV file ({err})") from None


def _opened(path: Path, limit: int, error: type[DltrainError]) -> IO[bytes]:
    try:
        return open_regular(path, limit)
    except UnreadableFile as err:
        raise error(str(err)) from None


def _array(f: Any, size: int, path: Path, error: type[DltrainError], member: str = "") -> np.ndarray:
    """One .npy stream of `size` bytes: its header checked against `size`, then read (never unpickled)."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if read_header is None:
        raise error(f"{path} is unreadable: {member}has .npy format version {version}, not 1 or 2")
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject:
        raise error(
            f"{path} is unreadable: {member}holds Python objects (not a readable .npy array), "
            "which are never loaded (allow_pickle=False)"
        )
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > size:
        raise error(
            f"{path} is damaged: {member}claims {shape} {dtype} ({claimed:,} bytes) in a file of {size:,} bytes"
        )
    flat = np.empty(math.prod(shape), dtype=dtype)  # claimed <= size: bounded by the file
    buffer, filled = flat.view(np.uint8).data, 0
    while filled < claimed:
        got = f.readinto(buffer[filled:])
        if not got:
            raise error(f"{path} is truncated: {member}has {filled:,} of {claimed:,} bytes of array data")
        filled += got
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def numbers(
    arrays: dict[str, np.ndarray],
    key: str,
    ndim: Optional[int],
    path: Path,
    error: type[DltrainError] = DataError,
    finite: bool = True,
) -> np.ndarray:
    """arrays[key] checked to be there, real numbers, of `ndim` dimensions (any when None), finite unless told."""
    if key not in arrays:
        raise error(f"{path} is damaged: {key} is missing (it holds {shorten(sorted(arrays), 200)})")
    a = arrays[key]
    if a.dtype.kind not in "biuf":
        raise error(f"{path} is damaged: {key} holds {a.dtype} values, not real numbers")
    if ndim is not None and a.ndim != ndim:
        raise error(f"{path} is damaged: {key} has shape {a.shape}, not {ndim}-dimensional")
    if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise error(f"{path} is damaged: {key} holds NaN or infinite values")
    return a
