"""The run folder: where one run's config, history, metrics, weights and plots live.

    folder = RunFolder.create("runs", "logreg")   # runs/20261121-204105-logreg[-2, -3, ...]
    folder.write_json("metrics.json", {...})       # every write is atomic

Every file is written to a temporary name in the same folder and renamed into
place, so a reader (or a crash) only ever sees a complete old or new version.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.atomic import write_atomically
from dltrain.errors import RunFolderError

if TYPE_CHECKING:  # NumPy is loaded by the commands that read or write arrays, not by those that list folders
    import numpy as np


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> RunFolder:
        """A new, empty folder named timestamp-name; a numeric suffix avoids any collision."""
        runs_dir = Path(runs_dir)
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunFolderError(f"cannot create the runs directory {runs_dir}: {err.strerror}") from None
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        for attempt in range(1, 10_000):
            path = runs_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                path.mkdir()  # atomic: exactly one process creates a given name
                return cls(path)
            except FileExistsError:
                continue
            except OSError as err:
                raise RunFolderError(f"cannot create a run folder in {runs_dir}: {err.strerror}") from None
        raise RunFolderError(f"no free run folder name for {stem} in {runs_dir}")

    # --- atomic writes ---------------------------------------------------------------

    def write_bytes(self, filename: str, data: bytes) -> Path:
        return atomic_write(self.path / filename, data)

    def write_text(self, filename: str, text: str) -> Path:
        return self.write_bytes(filename, text.encode())

    def write_json(self, filename: str, obj: Any) -> Path:
        return self.write_text(filename, json.dumps(obj, indent=2, allow_nan=True) + "\n")

    def write_csv(self, filename: str, rows: list[dict]) -> Path:
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(
                {k: "" if v is None else repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
            )
        return self.write_text(filename, buf.getvalue())

    def write_npz(self, filename: str, arrays: dict[str, np.ndarray]) -> Path:
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwargs as allow_pickle
        return self.write_bytes(filename, buf.getvalue())

    # --- reads -------------------------------------------------------------------------

    def read_json(self, filename: str) -> Any:
        try:
            return json.loads((self.path / filename).read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} has no {filename}: is it a complete run folder?") from None
        except (OSError, ValueError) as err:
            raise RunFolderError(f"{self.path / filename} is unreadable: {err}") from None

    def read_npz(self, filename: str) -> dict[str, np.ndarray]:
        import numpy as np

        try:
            with np.load(self.path / filename, allow_pickle=False) as archive:
                return {k: archive[k] for k in archive.files}
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} has no {filename}: is it a complete run folder?") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise RunFolderError(f"{self.path / filename} is unreadable: {err}") from None

    def update_meta(self, **fields) -> dict:
        """Merge `fields` into meta.json."""
        path = self.path / "meta.json"
        try:
            meta = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as err:
            raise RunFolderError(f"{path} is unreadable: {err}") from None
        meta.update(fields)
        self.write_json("meta.json", meta)
        return meta

    def remove_partial_files(self) -> list[Path]:
        """Delete temporary files a killed process left behind (never the complete ones)."""
        partial = [p for p in self.path.glob(".*.tmp") if p.is_file()]
        for p in partial:
            p.unlink(missing_ok=True)
        return partial

    def remove_if_empty(self) -> None:
        """Remove the folder if nothing but partial files is in it (after a failed first write)."""
        self.remove_partial_files()
        try:
            self.path.rmdir()
        except OSError:
            pass  # not empty, or not removable: leave it


def atomic_write(target: Path, data: bytes) -> Path:
    """`write_atomically`, with a RunFolderError naming the file when it fails."""
    try:
        return write_atomically(target, data)
    except OSError as err:
        raise RunFolderError(f"cannot write {target}: {err.strerror or err}") from None


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)
