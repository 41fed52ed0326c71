"""Sign Language Digits arrays from the original photographs: an archive or folder of JPGs -> X, Y.

Reads the GitHub archive of ardamavi/Sign-Language-Digits-Dataset at commit `COMMIT` (or
the folder it unpacks to), checks its content (2062 JPGs, `EXPECTED_COUNTS` per digit;
GitHub's zip bytes are not stable, so there is no checksum), preprocesses each photo as the
Kaggle author's get_dataset.py did, and returns X / Y in the Kaggle layout (`build_arrays`)
or saves them as X.npy / Y.npy into `<data_dir>/sign_digits/` (`build_cache`).
"""

from __future__ import annotations

import functools
import io
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Optional, TypeVar

import numpy as np

from dltrain.atomic import write_atomically
from dltrain.data.files import check_member, open_zip, read_member
from dltrain.data.images import open_image
from dltrain.errors import DataError
from dltrain.files import UnreadableFile, open_regular, read_regular

T = TypeVar("T")

SUBDIR = "sign_digits"
X_FILE, Y_FILE = "X.npy", "Y.npy"
# Y.npy column c holds the photos of digit KAGGLE_COLUMNS[c] (the Kaggle author's folder order).
KAGGLE_COLUMNS: tuple[int, ...] = (9, 0, 7, 6, 1, 8, 4, 3, 2, 5)
# Photos per digit in the pinned commit (and rows per class in Kaggle's arrays).
EXPECTED_COUNTS: dict[int, int] = {0: 205, 1: 206, 2: 206, 3: 206, 4: 207, 5: 207, 6: 207, 7: 206, 8: 208, 9: 204}
IMAGE_SIZE = 64
COMMIT = "4b09433ef9d5c60602e8805bb54b8aa2428527f8"
ARCHIVE_URL = f"https://github.com/ardamavi/Sign-Language-Digits-Dataset/archive/{COMMIT}.zip"
ARCHIVE_NAME = f"Sign-Language-Digits-Dataset-{COMMIT}.zip"
# A photo inside the archive or folder: .../<digit>/<name>.jpg (the repo's Dataset/0 .. Dataset/9).
PHOTO_PATH = re.compile(r"(?:^|/)([0-9])/([^/]+\.jpe?g)$", re.IGNORECASE)
# The most bytes read from the archive, and from one photo: the pinned archive's 2062 photos
# are 100x100 JPGs of a few KB each (tens of MB in all), so both leave ample room.
MAX_ARCHIVE_BYTES = 256 << 20
MAX_PHOTO_BYTES = 8 << 20
MAX_DIRECTORY_BYTES = 8 << 20  # the archive's zip directory: about 0.3 MB for its 2,062 photos and the rest
# The unpacked archive: about 2,100 files and folders, 4 levels deep.
MAX_FOLDER_ENTRIES = 100_000
MAX_FOLDER_DEPTH = 16
_NOT_THE_PHOTOS = f"pass the downloaded {ARCHIVE_NAME} or the folder it unpacks to."


def preprocess(image) -> np.ndarray:
    """One photo (a PIL image, any mode and size) -> (64, 64) float32 in [0, 1], hand light.

    The steps of the Kaggle author's get_dataset.py (scipy imread(flatten=True), imresize,
    1 - X/255) redone with Pillow: float luma, scipy's bytescale contrast stretch to uint8,
    bilinear resize, then invert.
    """
    from PIL import Image

    f = np.asarray(image.convert("F"), dtype=np.float32)
    lo, hi = f.min(), f.max()
    # bytescale treats a constant image as range 1 rather than dividing by zero.
    span = hi - lo if hi > lo else np.float32(1)
    u8 = (np.clip((f - lo) * np.float32(255 / span), 0, 255) + np.float32(0.5)).astype(np.uint8)
    small = Image.fromarray(u8, "L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    return 1 - np.asarray(small).astype(np.float32) / np.float32(255)


@contextmanager
def _open_photos(source: Path) -> Iterator[list[tuple[int, str, Callable[[], bytes]]]]:
    """(digit, file name, reader of its bytes) for every photo in a zip archive or a folder.

    Every read is bounded: the archive is a regular file of at most MAX_ARCHIVE_BYTES,
    each photo (a file of the folder, or a member checked from the archive's directory
    before any is read) at most MAX_PHOTO_BYTES.
    """
    if source.is_dir():
        found = _matches((path.relative_to(source).as_posix(), path) for path in _folder_paths(source))
        yield [
            (digit, name, functools.partial(_read_photo_file, path)) for digit, name, path in found if path.is_file()
        ]
        return
    with _opened_archive(source) as raw:
        try:
            archive = open_zip(raw, source, MAX_DIRECTORY_BYTES)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:  # zip 6.4
            raise DataError(
                f"{source} is not a readable zip archive ({exc}). Download {ARCHIVE_URL} again, "
                f"or pass the folder it unpacks to."
            ) from exc
        with archive:
            photos = list(_matches((info.filename, info) for info in archive.infolist()))
            for _, _, info in photos:  # all checked from the directory before any is read
                check_member(info, MAX_PHOTO_BYTES, source)
            yield [
                (digit, name, functools.partial(read_member, archive, info, MAX_PHOTO_BYTES, source))
                for digit, name, info in photos
            ]


def _folder_paths(source: Path) -> list[Path]:
    """Every path under the folder `source`, sorted (links to folders are listed, not followed).
    DataError past MAX_FOLDER_ENTRIES paths, counted as they are listed, or past MAX_FOLDER_DEPTH
    levels of folders: the photos are not in a folder such as / or ~, and walking it whole would
    take minutes."""
    found: list[Path] = []
    folders = [(source, 0)]
    while folders:
        folder, depth = folders.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue  # a folder this process may not read holds no photo it could read
        with entries:
            for entry in entries:
                found.append(Path(entry.path))
                if len(found) > MAX_FOLDER_ENTRIES:
                    raise DataError(
                        f"{source} holds more than {MAX_FOLDER_ENTRIES:,} files and folders; {_NOT_THE_PHOTOS}"
                    )
                if entry.is_dir(follow_symlinks=False):
                    if depth == MAX_FOLDER_DEPTH:
                        raise DataError(
                            f"{source} has folders more than {MAX_FOLDER_DEPTH} levels deep; {_NOT_THE_PHOTOS}"
                        )
                    folders.append((Path(entry.path), depth + 1))
    return sorted(found)


def _matches(entries: Iterable[tuple[str, T]]) -> Iterator[tuple[int, str, T]]:
    """(digit, file name, entry) of each (path, entry) whose path is a photo's: `.../<digit>/<name>.jpg`."""
    for path, entry in entries:
        match = PHOTO_PATH.search(path)
        if match:
            yield int(match.group(1)), match.group(2), entry


def _opened_archive(source: Path) -> IO[bytes]:
    """The archive at `source`, checked to be a regular file of at most MAX_ARCHIVE_BYTES."""
    try:
        return open_regular(source, MAX_ARCHIVE_BYTES)
    except UnreadableFile as err:
        raise DataError(f"{err}; pass the downloaded {ARCHIVE_NAME} or its unpacked folder.") from None


def _read_photo_file(path: Path) -> bytes:
    """The bytes of the photo at `path`: a regular file of at most MAX_PHOTO_BYTES."""
    try:
        return read_regular(path, MAX_PHOTO_BYTES)
    except UnreadableFile as err:
        raise DataError(str(err)) from None


def build_arrays(source: Path, expected_counts: Optional[Mapping[int, int]] = None) -> tuple[np.ndarray, np.ndarray]:
    """Build the Kaggle-layout arrays from the original photos.

    source: the GitHub archive (zip) or a folder holding `.../<digit>/*.JPG` (the unpacked
        archive, the repository, or its Dataset/ folder).
    expected_counts: photos per digit that must be found; `EXPECTED_COUNTS` when None.
    Returns X (n, 64, 64) float32 and Y (n, 10) float64 one-hot: digits in `KAGGLE_COLUMNS`
    order, each digit's photos in sorted file-name order. Raises DataError when the
    source is unreadable or its photo counts differ from `expected_counts`.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source} does not exist; pass the downloaded {ARCHIVE_NAME} or its unpacked folder.")
    expected = dict(EXPECTED_COUNTS if expected_counts is None else expected_counts)
    try:
        with _open_photos(source) as photos:
            by_digit: dict[int, list[tuple[str, Callable[[], bytes]]]] = {d: [] for d in range(10)}
            for digit, name, read in photos:
                by_digit[digit].append((name, read))
            found = {d: len(by_digit[d]) for d in range(10)}
            if found != expected:
                raise DataError(
                    f"{source} holds {sum(found.values())} photos, per digit {found}, but the dataset at "
                    f"commit {COMMIT} has {sum(expected.values())}: {expected}. Use the archive {ARCHIVE_URL}."
                )
            images, labels = [], []
            for column, digit in enumerate(KAGGLE_COLUMNS):
                for name, read in sorted(by_digit[digit], key=lambda item: item[0]):
                    images.append(_decode(read, f"{digit}/{name}", source))
                    labels.append(column)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise DataError(f"{source} could not be read ({exc}); download {ARCHIVE_URL} again.") from exc
    X = np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    # float64 one-hot, as Keras <= 2.1 to_categorical wrote Kaggle's Y.npy.
    Y = np.eye(len(KAGGLE_COLUMNS), dtype=np.float64)[np.asarray(labels, dtype=np.int64)]
    return X, Y


def _decode(read: Callable[[], bytes], name: str, source: Path) -> np.ndarray:
    """Read and preprocess one photo: (64, 64) float32; DataError naming it if it is not an image."""
    from PIL import UnidentifiedImageError

    try:
        with open_image(io.BytesIO(read()), f"Photo {name} in {source}") as image:
            return preprocess(image)
    except (UnidentifiedImageError, OSError, zlib.error) as exc:
        raise DataError(f"Photo {name} in {source} cannot be decoded ({exc}); the download is corrupt.") from exc


def _save_atomic(array: np.ndarray, path: Path) -> None:
    """np.save, written atomically: readers never see half a file."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomically(path, buf.getvalue())


def build_cache(source: Path, data_dir: Path, expected_counts: Optional[Mapping[int, int]] = None) -> Path:
    """Build X.npy / Y.npy from the photos in `source` (zip or folder) into `<data_dir>/sign_digits/`.

    Returns that folder. Raises DataError when the source is wrong or the folder unwritable.
    """
    X, Y = build_arrays(source, expected_counts)
    folder = Path(data_dir) / SUBDIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _save_atomic(Y, folder / Y_FILE)
        _save_atomic(X, folder / X_FILE)
    except OSError as exc:
        raise DataError(
            f"Could not write X.npy / Y.npy into {folder} ({exc}); choose a writable data directory "
            f"with --data-dir or DLTRAIN_DATA_DIR."
        ) from exc
    return folder
