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
import os
import stat
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from dltrain.atomic import PARTIAL_NAME, deferred_interrupt, write_atomically
from dltrain.errors import RunFolderError, cut
from dltrain.files import UnreadableFile, read_regular

if TYPE_CHECKING:  # NumPy is loaded by the commands that read or write arrays, not by those that list folders
    import numpy as np

IN_PLACE_BYTES = 4096  # the most update_meta_in_place writes: one page, in one write


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> RunFolder:
        """A new, empty folder named timestamp-name; a numeric suffix avoids any collision."""
        runs_dir = Path(runs_dir)
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file, a FIFO, a dangling symlink...
            raise RunFolderError(f"the runs directory {runs_dir} is there but is not a directory") from None
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

    # sync=False: not flushed to the disk (see write_atomically), for files rewritten while training

    def write_bytes(self, filename: str, data: bytes, sync: bool = True) -> Path:
        return atomic_write(self.path / filename, data, sync)

    def write_text(self, filename: str, text: str, sync: bool = True) -> Path:
        return self.write_bytes(filename, text.encode(), sync)

    def write_json(self, filename: str, obj: Any, sync: bool = True) -> Path:
        return self.write_text(filename, json.dumps(obj, indent=2, allow_nan=True) + "\n", sync)

    def write_csv(self, filename: str, rows: list[dict], sync: bool = True, columns: Iterable[str] = ()) -> Path:
        """`rows` under a header of their keys (`columns` when there is no row: a header alone)."""
        buf = io.StringIO()
        fieldnames = list(rows[0]) if rows else list(columns)
        if fieldnames:
            writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            writer.writerows(
                {k: "" if v is None else repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
            )
        return self.write_text(filename, buf.getvalue(), sync)

    def write_npz(self, filename: str, arrays: dict[str, np.ndarray]) -> Path:
        import numpy as np

        buf = io.BytesIO()
        # Built in memory in milliseconds, then an interrupt is handled: one arriving as np.savez closes
        # an array's entry leaves the archive open for writing (ValueError, a traceback from its __del__).
        with deferred_interrupt():
            np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwargs as allow_pickle
        return self.write_bytes(filename, buf.getvalue())

    # --- reads: only regular files, up to a size limit (dltrain.runs.reader checks what they hold) ---

    def read_json(self, filename: str) -> Any:
        return read_json(self.path / filename)

    def read_npz(self, filename: str) -> dict[str, np.ndarray]:
        from dltrain.data.files import read_npz

        return read_npz(self.path / filename, error=RunFolderError, stored=True)  # as write_npz writes them

    def update_meta(self, sync: bool = True, **fields) -> dict:
        """Merge `fields` into meta.json."""
        meta = self._merged_meta(fields, missing_ok=True)
        self.write_json("meta.json", meta, sync)
        return meta

    def _merged_meta(self, fields: dict, missing_ok: bool = False) -> dict:
        """meta.json's fields (none if it is missing and `missing_ok`) with `fields` merged in."""
        path = self.path / "meta.json"
        meta = read_json(path) if path.exists() or not missing_ok else {}
        if not isinstance(meta, dict):
            raise RunFolderError(f"{path} is damaged: not a JSON object")
        return {**meta, **fields}

    def update_meta_in_place(self, **fields) -> dict:
        """update_meta for a full disk, where an atomic write finds no room for its second copy:
        meta.json is rewritten in the blocks it already occupies. Not atomic (a crash in the
        middle could damage it), so only the fallback when update_meta fails, and only for a
        meta.json of one page (about 1.5 KB is usual): one write, which a copy-on-write file
        system either makes whole or refuses, never half of a longer file."""
        path = self.path / "meta.json"
        meta = self._merged_meta(fields)
        data = (json.dumps(meta, allow_nan=True) + "\n").encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                info = os.fstat(fd)
                room = min(IN_PLACE_BYTES, max(info.st_size, info.st_blocks * 512))
                if not stat.S_ISREG(info.st_mode) or len(data) > room:
                    raise RunFolderError(f"cannot write {path}: no room for {len(data)} bytes in place")
                view = memoryview(data)
                while view:
                    view = view[os.pwrite(fd, view, len(data) - len(view)) :]
                os.ftruncate(fd, len(data))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise RunFolderError(f"cannot write {path}: {err.strerror or err}") from None
        return meta

    def remove_partial_files(self) -> list[Path]:
        """Delete temporary files a killed process left behind (never the complete ones, nor a
        user's own `.notes.tmp`): those `write_atomically` names `.NAME.XXXXXXXX.tmp`."""
        partial = [p for p in self.path.glob(".*.tmp") if PARTIAL_NAME.fullmatch(p.name) and p.is_file()]
        for p in partial:
            p.unlink(missing_ok=True)
        return partial

    def check_replaceable(self, filenames: Iterable[str]) -> None:
        """RunFolderError naming the first of `filenames` that a folder stands at: a file cannot be
        renamed over it, so a run that wrote there would fail at its last write, after training."""
        for filename in filenames:
            path = self.path / filename
            try:
                planted = stat.S_ISDIR(path.lstat().st_mode)
            except OSError:  # nothing there (or nothing to see): the write decides
                continue
            if planted:
                raise RunFolderError(
                    f"{path} is a folder, where the run writes its file {filename}; move it away and try again "
                    "(nothing was changed)"
                )

    def remove(self, filename: str) -> None:
        """Delete the folder's `filename` if it is there: a file, or a symlink planted there (the
        link alone). A folder of that name is not one of dltrain's files and is left alone."""
        path = self.path / filename
        try:
            if not stat.S_ISDIR(path.lstat().st_mode):
                path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            raise RunFolderError(f"cannot delete {path}: {err.strerror or err}") from None

    def foreign_entry(self, run_files: Iterable[str]) -> Optional[str]:
        """The first entry (by name) that is neither a file named in `run_files` nor a partial file:
        what makes the folder more than a run's, which `delete` refuses to take; None when there is none."""
        names = set(run_files)
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError:
            return None  # not there, or not readable: delete names the problem
        for entry in entries:
            if not (entry.name in names or PARTIAL_NAME.fullmatch(entry.name)) or entry.is_dir(follow_symlinks=False):
                return entry.name
        return None

    def delete(self, run_files: Iterable[str]) -> None:
        """Remove the whole run folder: only one with a meta.json or config.yaml, holding nothing but
        files named in `run_files` (those a run writes) and partial files, so that neither a mistyped
        path nor a folder of other things that happens to hold a config.yaml is ever taken.
        NotOnlyARun or RunFolderError saying why otherwise, with nothing deleted."""
        import shutil

        if not ((self.path / "meta.json").is_file() or (self.path / "config.yaml").is_file()):
            raise RunFolderError(f"{self.path} is not a run folder; nothing was deleted")
        foreign = self.foreign_entry(run_files)
        if foreign is not None:
            raise NotOnlyARun(
                f"{self.path} holds {foreign!r}, which no run writes; nothing was deleted "
                "(delete the folder yourself if all it holds may go)"
            )
        try:
            shutil.rmtree(self.path)
        except OSError as err:
            raise RunFolderError(f"cannot delete {self.path}: {err.strerror or err}") from None

    def remove_if_empty(self) -> None:
        """Remove the folder if nothing but partial files is in it (after a failed first write)."""
        self.remove_partial_files()
        try:
            self.path.rmdir()
        except OSError:
            pass  # not empty, or not removable: leave it


class NotOnlyARun(RunFolderError):
    """A run folder holds something no run writes: it is not deleted as a run's."""


def atomic_write(target: Path, data: bytes, sync: bool = True) -> Path:
    """`write_atomically`, with a RunFolderError naming the file when it fails."""
    try:
        return write_atomically(target, data, sync)
    except OSError as err:
        raise RunFolderError(f"cannot write {target}: {err.strerror or err}") from None


MAX_JSON = 64 << 20  # meta.json, metrics.json and history.csv are kilobytes


def read_json(path: Path) -> Any:
    """The JSON document in the regular file `path` (at most MAX_JSON bytes); RunFolderError otherwise."""
    try:
        return json.loads(read_regular(path, MAX_JSON))
    except UnreadableFile as err:
        raise RunFolderError(str(err)) from None
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError; nesting too deep
        raise RunFolderError(f"{path} is unreadable: not JSON ({cut(str(err), 120)})") from None


def now_iso() -> str:
    """The local time with its UTC offset, to the millisecond (two runs started in one second keep their order)."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)
