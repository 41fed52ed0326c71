"""What datasets exist, which real ones are on disk, and fetching them ahead of time.

Backs the `dltrain datasets` command. Only the downloadable datasets (mnist,
sign_digits) are inspected; the others are generated or embedded in dltrain and always
available, so they are listed by name only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dltrain.data import mnist, sign_digits, sign_photos
from dltrain.data.paths import DOWNLOADABLE
from dltrain.data.registry import DATASETS
from dltrain.errors import DataError

BUILT_IN: tuple[str, ...] = tuple(name for name in DATASETS if name not in DOWNLOADABLE)

# Each downloadable dataset's folder under the data dir and the files that make it complete.
FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "mnist": (mnist.SUBDIR, tuple(mnist.FILES)),
    "sign_digits": (sign_digits.SUBDIR, (sign_digits.X_FILE, sign_digits.Y_FILE)),
}


def _files(name: str, data_dir: Path) -> tuple[Path, list[Path]]:
    """The folder of a downloadable dataset and the files that make it complete."""
    subdir, names = FILES[name]
    folder = Path(data_dir) / subdir
    return folder, [folder / f for f in names]


def describe(data_dir: Path) -> list[dict]:
    """One dict per dataset: name, kind ("download" or "built-in"), available, size_bytes, path.

    For downloadable datasets, available means every file is present (not verified);
    size_bytes counts the files present and path is their folder. Built-in datasets have
    size_bytes and path None.
    """
    rows = []
    for name in DOWNLOADABLE:
        folder, files = _files(name, data_dir)
        present = [f for f in files if f.is_file()]
        rows.append(
            {
                "name": name,
                "kind": "download",
                "available": len(present) == len(files),
                "size_bytes": sum(f.stat().st_size for f in present),
                "path": str(folder),
            }
        )
    rows += [{"name": n, "kind": "built-in", "available": True, "size_bytes": None, "path": None} for n in BUILT_IN]
    return rows


def fetch(name: str, data_dir: Path, source: Optional[Path] = None, progress: bool = True) -> Path:
    """Download (or, for sign_digits, build) a dataset into `data_dir` and check it loads.

    source: sign_digits only; a photo archive or folder downloaded by hand to build the
        arrays from, replacing any cached X.npy / Y.npy.
    Returns the dataset's folder. Raises DataError for an unknown or built-in name, or
    when the files cannot be fetched or are corrupt.
    """
    if name not in DOWNLOADABLE:
        kind = "built into dltrain and needs no download" if name in BUILT_IN else "not a known dataset"
        raise DataError(f"'{name}' is {kind}; the datasets that can be fetched are {', '.join(DOWNLOADABLE)}.")
    if name == "mnist":
        if source is not None:
            raise DataError(
                f"--from is only for sign_digits; to install MNIST by hand, copy the four .gz files into "
                f"{Path(data_dir) / mnist.SUBDIR}/ ."
            )
        mnist.load_arrays(data_dir, progress=progress)
        return Path(data_dir) / mnist.SUBDIR
    if source is not None:
        sign_photos.build_cache(source, data_dir)
    sign_digits.load_arrays(data_dir, progress=progress)
    return Path(data_dir) / sign_digits.SUBDIR
