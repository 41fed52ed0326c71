"""The example configs that ship inside the package, found by name from any directory.

    bundled_names()              # ['logreg', 'logreg_mnist', ..., 'quickstart', 'sqrt_mean']
    describe("quickstart")       # the config's first comment line
    find_config("quickstart")    # the bundled file; a path that exists is returned as it is

A bare name (no suffix, no folder) that is no file in the current directory means the
bundled config. Anything else that is missing is an error that names the closest
bundled config, so a typo or a wrong directory never runs something unexpected.

This module reads no YAML and imports nothing heavy: shell completion calls it.
"""

from __future__ import annotations

import difflib
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "configs"
SUFFIXES = (".yaml", ".yml")


def bundled_names() -> list[str]:
    """Names of the bundled configs (file names without .yaml), sorted."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def bundled_path(name: str) -> Path:
    return BUNDLED_DIR / f"{name}.yaml"


def describe(name: str) -> str:
    """The first comment line of a bundled config: what it trains, in one line."""
    for line in bundled_path(name).read_text().splitlines():
        if line.startswith("#") and line.strip("# "):
            return line.lstrip("#").strip()
    return ""


def closest(word: str) -> str | None:
    """The bundled name nearest to `word` ('quikstart', 'configs/quickstart.yaml'), if any is close."""
    stem = Path(word).name
    for suffix in SUFFIXES:
        stem = stem.removesuffix(suffix)
    match = difflib.get_close_matches(stem, bundled_names(), n=1, cutoff=0.6)
    return match[0] if match else None


def find_config(ref: str | Path) -> Path:
    """The config file `ref` names: an existing file, else a bundled config by bare name.

    Raises ConfigError (exit 2) for anything else, suggesting the closest bundled name.
    """
    from dltrain.errors import ConfigError

    path = Path(ref)
    if path.exists() or path.is_symlink():  # the reader says what is wrong with a folder, a FIFO, ...
        return path
    text = str(ref)
    bare = path.name == text and not path.suffix
    if bare and bundled_path(text).is_file():
        return bundled_path(text)
    near = closest(text)
    hint = f" (did you mean the bundled config {near!r}?)" if near else ""
    if bare and (file := _yaml_file(text)):
        hint = f" (did you mean the file {file}?)"  # `dltrain init NAME` writes NAME.yaml
    if bare:
        raise ConfigError(
            f"no config file or bundled config named {text!r}{hint}; `dltrain configs` lists the bundled ones"
        )
    raise ConfigError(f"config file {path} does not exist{hint}")


def _yaml_file(name: str) -> str | None:
    """NAME.yaml (or NAME.yml) when the current directory has that file."""
    return next((f"{name}{s}" for s in SUFFIXES if Path(f"{name}{s}").is_file()), None)


def shadowed_file(ref: str | Path) -> str | None:
    """NAME.yaml in the current directory when `ref` is a bare NAME that find_config takes as the
    bundled config: a file the user may have meant (`dltrain init quickstart` writes quickstart.yaml)."""
    path, text = Path(ref), str(ref)
    if path.exists() or path.is_symlink() or path.name != text or path.suffix or not bundled_path(text).is_file():
        return None
    file = _yaml_file(text)
    return None if file is None or Path(file).samefile(bundled_path(text)) else file  # not in configs/ itself


def starter_text(name: str, source: str = "quickstart") -> str:
    """The bundled config `source`, commented, with its run name set to `name`."""
    import re

    from dltrain.errors import ConfigError

    if source not in bundled_names():
        near = closest(source)
        hint = f" (did you mean {near!r}?)" if near else ""
        raise ConfigError(
            f"--from {source}: no bundled config of that name{hint}; allowed: {', '.join(bundled_names())}"
        )
    text = bundled_path(source).read_text()
    commands = {
        f"dltrain run {name}.yaml --dry-run": "shows it with every default filled in",
        "dltrain schema": "lists every key, its default and its meaning",
        f"dltrain run {name}.yaml": "trains it",
    }
    width = max(map(len, commands)) + 3
    lines = "".join(f"#   {command:<{width}}{what}\n" for command, what in commands.items())
    header = f"# {name}: a starter config, copied from the bundled {source!r}.\n{lines}#\n"
    return header + re.sub(r"(?m)^name: .*$", f"name: {name}", text, count=1)


def write_starter(name: str, source: str = "quickstart", directory: str | Path = ".") -> Path:
    """Write NAME.yaml (a starter config from the bundled `source`) into `directory`; never overwrite."""
    import re

    from dltrain.atomic import deferred_interrupt
    from dltrain.config.schema import NAME_PATTERN
    from dltrain.errors import ConfigError

    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(
            f"{name!r}: a config name must be 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    path = Path(directory) / f"{name}.yaml"
    text = starter_text(name, source)
    try:
        f = open(path, "x")  # noqa: SIM115 - "x": fails if the file exists, even if it appeared a moment ago
    except FileExistsError:
        raise ConfigError(f"{path} already exists; it was left as it is (choose another name or remove it)") from None
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from None
    with deferred_interrupt():  # Ctrl-C is handled once the file is written and closed
        try:
            with f:
                f.write(text)
        except BaseException as err:  # a full disk: no half-written file left to refuse the next `init`
            path.unlink(missing_ok=True)
            if isinstance(err, OSError):
                raise ConfigError(f"cannot write {path}: {err.strerror or err}") from None
            raise
    return path
