"""Find run folders: inside a runs directory and its sweep folders, oldest first; `latest`;
shell globs and folders of runs given on the command line.

    run = load_run("latest", runs_dir="runs")            # or a path to a run folder
    folders = run_folders("runs")                        # oldest first, by meta.json's start time
    folders = expand_refs(["runs/*-mlp", "latest"])      # each once, in the order given

Finding run folders needs neither NumPy nor the config schema: a listing of thousands stays cheap.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from dltrain.errors import RunFolderError
from dltrain.runs.reader import PathLike, Run, read_meta, read_run


def is_run_folder(path: Path) -> bool:
    """A folder with a config.yaml or a meta.json (whatever they are: a damaged one is still listed, as corrupt)."""
    return path.is_dir() and _has_run_file(path)


def _has_run_file(folder: Path) -> bool:
    return os.path.exists(os.path.join(folder, "config.yaml")) or os.path.exists(os.path.join(folder, "meta.json"))


def run_folders(runs_dir: PathLike, sort: bool = True) -> list[Path]:
    """The run folders inside `runs_dir` and inside its sweep folders, oldest first (`sort`)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunFolderError(f"no runs directory at {runs_dir}")
    found = []
    with os.scandir(runs_dir) as entries:  # is_dir() from the directory listing: no stat per entry
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir() and _has_run_file(path):
                found.append(path)
            elif (path / "sweep.json").is_file():
                found.extend(p for p in path.iterdir() if is_run_folder(p))
    return sorted(found, key=lambda path: age_key(path.name, _started(path))) if sort else found


def _started(path: Path):
    try:
        return read_meta(path).get("started")
    except RunFolderError:
        return None


def age_key(name: str, started) -> tuple:
    """Sort key of a run folder: the instant meta.json says it started (first if it says none),
    then its name (with a numeric suffix compared as a number)."""
    stem, _, suffix = name.rpartition("-")
    numbered = suffix.isascii() and suffix.isdigit() and stem  # not '²', which isdigit() takes and int() refuses
    return (_instant(started), stem, int(suffix)) if numbered else (_instant(started), name, 0)


def _instant(started) -> float:
    """An ISO timestamp as seconds since the epoch, -inf if it is none: 10:00+02:00 came before
    09:00+00:00, which its text does not tell."""
    try:
        return datetime.fromisoformat(started).timestamp()
    except (TypeError, ValueError, OverflowError, OSError):
        return -math.inf


def resolve_ref(ref: PathLike, runs_dir: PathLike = "runs") -> Path:
    """`latest` -> the newest run folder in `runs_dir`; anything else is a path."""
    if str(ref) != "latest":
        return Path(ref)
    folders = run_folders(runs_dir)
    if not folders:
        raise RunFolderError(f"'latest': there are no run folders in {runs_dir}")
    return folders[-1]


def load_run(ref: PathLike, runs_dir: PathLike = "runs") -> Run:
    """The run named by `ref` (a path or `latest`)."""
    return read_run(resolve_ref(ref, runs_dir))


def expand_refs(refs: Iterable[PathLike], runs_dir: PathLike = "runs") -> list[Path]:
    """Run folders from paths, `latest`, shell globs and folders that hold runs, in order, once each."""
    found: list[Path] = []
    for ref in refs:
        text = str(ref)
        globbed = glob.has_magic(text) and not Path(text).exists()
        paths = [Path(p) for p in sorted(glob.glob(text))] if globbed else [resolve_ref(text, runs_dir)]
        if globbed:  # what a pattern matches beside runs ('runs/*': report.html, a sweep's sweep.json) is passed over
            paths = [p for p in paths if is_run_folder(p) or (p.is_dir() and run_folders(p, sort=False))]
        if not paths:
            raise RunFolderError(f"{text} matches no run folder")
        for path in paths:
            if path.is_dir() and not is_run_folder(path):
                inside = run_folders(path)
                if not inside:
                    raise RunFolderError(f"{path} is neither a run folder nor a folder of runs")
                found.extend(inside)
            else:
                found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(Path(os.path.realpath(path)), path)  # realpath: a symlink loop is not an error here
    return list(unique.values())
