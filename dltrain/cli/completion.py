"""Shell completion of the arguments that name configs and run folders.

The shell runs `dltrain` on every Tab press, so these functions look at the file system
only (no YAML, no NumPy). Enable it once with `dltrain --install-completion`.
"""

from __future__ import annotations

from pathlib import Path

RUN_FILES = ("meta.json", "config.yaml")  # what makes a folder a run folder (see dltrain.runs.reader)


def _entries(incomplete: str, keep) -> list[str]:
    """Paths under the folder part of `incomplete` that start with it and pass `keep(path)`;
    folders end in '/' so that the next Tab descends into them."""
    folder, _, prefix = incomplete.rpartition("/")
    base = Path(folder + "/" if folder else ".")
    try:
        children = sorted(base.iterdir())
    except OSError:
        return []
    found = []
    for child in children:
        if not child.name.startswith(prefix) or (child.name.startswith(".") and not prefix.startswith(".")):
            continue
        shown = f"{folder}/{child.name}" if folder else child.name
        if keep(child):
            found.append(shown)
        elif child.is_dir():
            found.append(shown + "/")
    return found


def _is_config_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.is_file()


def _is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in RUN_FILES)


def complete_config(incomplete: str) -> list[str]:
    """Bundled config names, then YAML files and folders on the path typed so far."""
    from dltrain.config.bundled import bundled_names

    names = [n for n in bundled_names() if n.startswith(incomplete)] if "/" not in incomplete else []
    return names + _entries(incomplete, _is_config_file)


def complete_bundled(incomplete: str) -> list[str]:
    """Bundled config names (for --from)."""
    from dltrain.config.bundled import bundled_names

    return [n for n in bundled_names() if n.startswith(incomplete)]


def complete_run(incomplete: str) -> list[str]:
    """'latest', then run folders and the folders that lead to them on the path typed so far."""
    return (["latest"] if "latest".startswith(incomplete) else []) + _entries(incomplete, _is_run_folder)


def complete_folder(incomplete: str) -> list[str]:
    """Folders (a folder of runs, a sweep folder)."""
    return _entries(incomplete, lambda path: False)
