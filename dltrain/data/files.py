"""The one reader of each file format dltrain takes arrays from: .npz, .npy and .csv (and zip members).

    arrays = read_npz(path)          # {'X': ..., 'y': ...}: every member checked before it is allocated
    weights = read_npz(path, names=lambda name: name in ("W0", "b0"))   # any other name refused first
    X = read_npy(path)
    photo = read_member(archive, info, limit, path)   # one zip member's bytes, at most `limit`
    rows = read_csv(path)            # [['label', 'a', 'b'], ['1', '0.5', '2'], ...]; csv_rows(path) as read
    present(path)                    # False if missing; DataError if a directory, a FIFO, a device
    sha256_of(path)                  # the file's content, as hex (meta.json's data_sha256)

Datasets (`dataset: {name: file}`, sign_digits' X.npy), `dltrain predict` inputs and
run folders (weights.npz, preprocess.npz, checkpoint.npz) all read through here, so
each file is a regular file (never a FIFO or /dev/zero), under a size limit, never
unpickled, and an array header that claims more data than its file holds is refused
before anything is allocated. A .npz's arrays together stay under the size limit its
file has (MAX_BYTES unless the caller sets another): however well a member compresses,
no more is inflated than its header declares, and no header is taken that declares more
than the limit leaves. A run folder's arrays, written uncompressed, are read only so
(`stored=True`), which bounds them by the file's own size. Any other zip member (the
sign-digit photos) is read by `read_member` under the same rules, bounded by its caller.
Problems raise `error` (DataError unless the caller says otherwise) naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Optional

import numpy as np

from dltrain.errors import DataError, DltrainError, shorten
from dltrain.files import UnreadableFile, open_regular, regular_file_at

MAX_BYTES = 4 << 30  # the largest array file read, and a .npz's arrays together (MNIST as float64 is 0.4 GB)
MAX_CSV_BYTES = 1 << 30
MAX_NPZ_DIRECTORY = 1 << 20  # bytes of a .npz's zip directory (np.savez writes about 100 an array)
_CHUNK = 1 << 22  # bytes read into an array at a time
# A zip member's general-purpose flag bits that zipfile cannot read: 0 and 6 (encryption), 5 (patched data)
_ENCRYPTED, _PATCHED = 0x1 | 0x40, 0x20


def read_npz(
    path: Path,
    limit: int = MAX_BYTES,
    error: type[DltrainError] = DataError,
    names: Optional[Callable[[str], bool]] = None,
    stored: bool = False,
) -> dict[str, np.ndarray]:
    """Every array of the .npz archive at `path`, by name.

    limit: the most bytes the file may have, and its arrays all together: each array's
        header is checked against what is left before its data is read.
    names: whether the caller takes an array of that name; any other is refused before
        a single array is read (all are taken when None).
    stored: take only uncompressed members, as np.savez writes them (a run folder's
        arrays): then the arrays never take more memory than the file's own size.
    """
    with _opened(path, limit, error) as f:
        try:
            archive = open_zip(f, path, MAX_NPZ_DIRECTORY, error)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:  # zip 6.4
            raise error(f"{path} is not a .npz archive (not a zip file: truncated, or another format; {err})") from None
        try:
            with archive:
                arrays: dict[str, np.ndarray] = {}
                left = limit
                for name, info in _members(archive, path, error, names, stored):
                    with archive.open(info) as member:
                        arrays[name] = _array(member, info.file_size, path, error, f"array {name!r} ", left)
                    left -= arrays[name].nbytes
                return arrays
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
            raise error(f"{path} is not a readable .npz file ({err})") from None


def open_zip(f: IO[bytes], path: Path, max_directory: int, error: type[DltrainError] = DataError) -> zipfile.ZipFile:
    """zipfile.ZipFile(f) once the archive's directory is known to be at most `max_directory` bytes:
    zipfile reads all of it, an object for every entry, before any entry can be checked (47 MB of
    one-letter entries took 5 s and 440 MB). zipfile's own errors for what is not a zip archive."""
    try:
        end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # the end-of-directory record, zip64 read
    except OSError:
        end = None  # not a zip archive: zipfile says so
    size = end[zipfile._ECD_SIZE] if end else 0  # type: ignore[attr-defined]
    if size > max_directory:
        raise error(f"{path}: its zip directory is {size:,} bytes; at most {max_directory:,} are read")
    return zipfile.ZipFile(f)


def _members(
    archive: zipfile.ZipFile,
    path: Path,
    error: type[DltrainError],
    names: Optional[Callable[[str], bool]],
    stored: bool,
) -> list[tuple[str, zipfile.ZipInfo]]:
    """(array name, member) of each member, all checked from the archive's directory before any is read.

    Only members np.savez can write are taken: `<name>.npy`, stored or deflated (bzip2 and
    LZMA are refused: one read of theirs may inflate a few KB into gigabytes), unencrypted;
    stored ones alone when `stored`.
    """
    members = []
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename:
            raise error(f"{path}: member {shorten(info.filename, 60)} is not an array (<name>.npy)")
        if reason := _unbounded(info):
            raise error(
                f"{path}: array {shorten(name, 60)} is {reason}, which np.savez never writes; "
                "only stored and deflated arrays are read"
            )
        if names is not None and not names(name):
            raise error(f"{path} is damaged: unexpected array {shorten(name, 60)}")
        if stored and info.compress_type != zipfile.ZIP_STORED:
            raise error(f"{path} is damaged: array {shorten(name, 60)} is compressed; dltrain writes it uncompressed")
        members.append((name, info))
    return members


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    """The bytes of the member `info` of the zip `archive` (the file at `path`), at most `limit`.

    `check_member` first, then never inflated past `limit` and one byte, whatever the
    member declares. Raises DataError naming the member.
    """
    check_member(info, limit, path)
    with archive.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{_member(info, path)} is too large: more than {limit:,} bytes")
    return data


def check_member(info: zipfile.ZipInfo, limit: int, path: Path) -> None:
    """DataError naming the member `info` of the zip at `path` unless its entry in the archive's
    directory promises a bounded read: stored or deflated, unencrypted, at most `limit` bytes."""
    if reason := _unbounded(info):
        raise DataError(f"{_member(info, path)} is {reason}; only stored and deflated members are read")
    if info.file_size > limit:
        raise DataError(f"{_member(info, path)} is too large: {info.file_size:,} bytes, at most {limit:,} are read")


def _member(info: zipfile.ZipInfo, path: Path) -> str:
    return f"{path}: member {shorten(info.filename, 200)}"


def _unbounded(info: zipfile.ZipInfo) -> Optional[str]:
    """Why one read of the zip member `info` may not inflate a bounded amount (None: stored or deflated,
    unencrypted and unpatched). bzip2 and LZMA are refused: one read may turn a few KB into gigabytes."""
    if info.flag_bits & _ENCRYPTED:
        return "encrypted"
    if info.flag_bits & _PATCHED:
        return "patched data"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"compressed by zip method {info.compress_type}"
    return None


def read_npy(path: Path, limit: int = MAX_BYTES, error: type[DltrainError] = DataError) -> np.ndarray:
    """The array in the .npy file at `path`."""
    with _opened(path, limit, error) as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        try:
            return _array(f, size, path, error, "", limit)
        except (EOFError, OSError, ValueError) as err:
            raise error(f"{path} is not a readable .npy file ({err})") from None


@contextlib.contextmanager
def csv_rows(
    path: Path, limit: int = MAX_CSV_BYTES, error: type[DltrainError] = DataError
) -> Iterator[Iterator[list[str]]]:
    """The rows of the UTF-8 CSV file at `path` as they are read (a leading byte-order mark dropped,
    blank rows skipped), so that a caller keeps what it makes of them: the text of every field
    at once takes some twenty times the file's size in memory."""
    with _opened(path, limit, error) as f:
        try:
            yield (row for row in csv.reader(io.TextIOWrapper(f, encoding="utf-8-sig", newline="")) if row)
        except UnicodeDecodeError as err:
            raise error(
                f"{path} is not a readable CSV file (not UTF-8 text: {err.reason} at byte {err.start} of a line)"
            ) from None
        except (OSError, csv.Error) as err:
            raise error(f"{path} is not a readable CSV file ({err})") from None


def csv_number(text: str) -> float:
    """The number a CSV cell holds, as Python's float reads it but for what is no number in a CSV
    file: digits grouped with `_` ("1_000") or other than ASCII ("１０"); ValueError naming the
    cell when it holds none."""
    if not plain_number_text(text):
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text)


def plain_number_text(text: str) -> bool:
    """False for text that Python reads as a number but a CSV file does not hold as one: with `_`
    between digits, or with digits other than ASCII's (which int and float read too)."""
    return text.isascii() and "_" not in text


def read_csv(path: Path, limit: int = MAX_CSV_BYTES, error: type[DltrainError] = DataError) -> list[list[str]]:
    """Every row of a small CSV file (history.csv) at once, as csv_rows reads them."""
    with csv_rows(path, limit, error) as rows:
        return list(rows)


def present(path: Path, error: type[DltrainError] = DataError, hint: str = "") -> bool:
    """Whether the regular file at `path` is there: False when nothing is, `error` (followed by
    `hint`, what to do about it) when something else is (a directory, a FIFO, a device: neither
    usable nor missing, and never opened)."""
    try:
        return regular_file_at(path)
    except UnreadableFile as err:  # the hint is for what is there: a name no file can have is only named
        raise error(f"{err}. {hint}" if hint and os.path.lexists(path) else str(err)) from None


def sha256_of(path: Path, limit: int = MAX_BYTES) -> str:
    """The SHA-256 of the regular file at `path` (at most `limit` bytes) as hex, read a MiB at a time."""
    import hashlib

    digest = hashlib.sha256()
    with _opened(path, limit, DataError) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _opened(path: Path, limit: int, error: type[DltrainError]) -> IO[bytes]:
    try:
        return open_regular(path, limit)
    except UnreadableFile as err:
        raise error(str(err)) from None


def _array(f: Any, size: int, path: Path, error: type[DltrainError], member: str, budget: int) -> np.ndarray:
    """One .npy stream of `size` bytes: its header checked against `size` and `budget`, then read.

    Never unpickled, and never read past the data its header declares but for one byte,
    which must not be there: a stream cannot make the reader inflate more than it declares.
    """
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
    if claimed > budget:
        raise error(
            f"{path} is too large: {member}claims {shape} {dtype} ({claimed:,} bytes), "
            f"more than the {budget:,} bytes left to its arrays"
        )
    if claimed > size:
        raise error(
            f"{path} is damaged: {member}claims {shape} {dtype} ({claimed:,} bytes) in a file of {size:,} bytes"
        )
    flat = np.empty(math.prod(shape), dtype=dtype)  # claimed <= size and budget: bounded by both
    _fill(f, flat.view(np.uint8).data, path, error, member)
    if f.read(1):
        raise error(f"{path} is damaged: {member}has more data than the {claimed:,} bytes its header declares")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _fill(f: Any, buffer: memoryview, path: Path, error: type[DltrainError], member: str) -> None:
    """`buffer` filled from `f`, a chunk at a time (a zip member's readinto reads into a new bytes
    object as large as what it is asked for, then copies: asked for all, it would take twice the array)."""
    filled = 0
    while filled < len(buffer):
        got = f.readinto(buffer[filled : filled + _CHUNK])
        if not got:
            raise error(f"{path} is truncated: {member}has {filled:,} of {len(buffer):,} bytes of array data")
        filled += got


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
