"""Read a YAML config, apply `--set key.path=value` overrides, validate (errors explained by dltrain.config.explain).

    cfg = resolve("configs/logreg.yaml", ["training.optimizer.lr=0.1"])

Every problem raises `ConfigError` with the key path, the bad value and what is
allowed ("did you mean ...?" for near misses).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from yaml.reader import ReaderError

from dltrain.config.bounded_yaml import MAX_DEPTH, MAX_NODES, load_yaml
from dltrain.config.bundled import find_config
from dltrain.config.explain import explain
from dltrain.config.schema import Config
from dltrain.errors import ConfigError, cut, shorten

MAX_CONFIG_BYTES = 4 << 20  # a config with an inline dataset is kilobytes; /dev/zero is not a config


def read_yaml(path: str | Path, fast: bool = False) -> dict:
    """The YAML mapping in `path` (safe and bounded: see dltrain.config.bounded_yaml; `fast`: with
    libyaml's parser, for the files dltrain wrote itself)."""
    from dltrain.files import UnreadableFile, read_regular

    path = Path(path)
    try:
        raw = read_regular(path, MAX_CONFIG_BYTES)
    except UnreadableFile as err:
        raise ConfigError(f"config file {err}" if "does not exist" in str(err) else str(err)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start} cannot be decoded)") from None
    data = parse_yaml(text, str(path), fast)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {YAML_KINDS.get(type(data), 'single value')}"
        raise ConfigError(f"{path}: a config is a YAML mapping (name:, dataset:, model:, ...), got {got}")
    return data


YAML_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def parse_yaml(text: str, source: str, fast: bool = False) -> Any:
    """The YAML document in `text`; a ConfigError naming `source` and the line on any problem."""
    try:
        return load_yaml(text, fast)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML{_problem(err, text)}") from None


def _problem(err: yaml.YAMLError, text: str) -> str:
    """' at line 3, column 6: found duplicate key ...' on one line (the text quoted is cut short)."""
    if isinstance(err, ReaderError) and isinstance(err.character, int):
        # The first of its kind in `text` (the reader stops there); its position is counted in
        # characters by the Python reader and in bytes by libyaml, so it is found again here.
        index = text.find(chr(err.character))
        line, column = text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
        where = f" at line {line}, column {column}" if index >= 0 else ""
        return f"{where}: the character U+{err.character:04X} is not allowed in YAML"
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = " ".join((getattr(err, "problem", None) or str(err)).split())
    return f"{where}: {cut(problem, 300)}"


def apply_override(data: dict, assignment: str) -> None:
    """Set `a.b.c=value` in the nested dict `data`; the value is parsed as YAML."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key.path=value, got {shorten(assignment)}")
    parts = key.strip().split(".")
    if len(parts) > MAX_DEPTH:
        raise ConfigError(f"--set {cut(key, 120)}: a key path of {len(parts)} parts is too deep (at most {MAX_DEPTH})")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(
            f"--set {cut(key, 120)}: {shorten(text)} is not a valid YAML value{_problem(err, text)}"
        ) from None
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {cut(key, 120)}: {cut('.'.join(parts[: i + 1]), 120)} is a value, not a section")
        node = child
    node[parts[-1]] = value


def validate(data: dict) -> Config:
    """The validated config with defaults filled in, or a `ConfigError` that lists every problem."""
    _check_size(data)
    try:
        return _validated(data)
    except ValidationError as err:
        raise ConfigError(explain(err, data)) from None


def _validated(data: Any) -> Config:
    """Config.model_validate, with Ctrl-C and SIGTERM held back until it returns: the sections'
    validators are built on first use, and pydantic turns an interrupt while it builds one into
    a SchemaError (an internal error, exit 1, instead of exit 130). A config within the bounds
    validates in well under a second."""
    from dltrain.atomic import deferred_interrupt

    with deferred_interrupt():
        return Config.model_validate(data)


def _check_size(data: Any) -> None:
    """ConfigError unless `data` reads back from the config.yaml it becomes: at most MAX_DEPTH levels
    (the last of them values) and MAX_NODES values, as a config file may have (--set can go further)."""
    nodes, level = 0, [data]
    for _depth in range(MAX_DEPTH):
        nodes += len(level)
        if nodes > MAX_NODES:
            raise ConfigError(f"the config holds more than {MAX_NODES:,} values; a config file may hold no more")
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in ([*item.keys(), *item.values()] if isinstance(item, dict) else item)
        ]
        if not level:
            return
    raise ConfigError(f"the config nests more than {MAX_DEPTH} levels deep; a config file may nest no deeper")


def config_data(config: Union[Config, dict, str, Path]) -> dict:
    """A fresh plain mapping of a Config (its sweep section included), a dict, a YAML file or
    the name of a bundled config ('quickstart'). Of a Config, the values it was given (its file,
    --set and flags), not the defaults validation filled in: overrides apply to those, so that
    one naming another kind (`training.optimizer.name=sgd`) gets that kind's defaults, not the
    keys the first kind filled in (Adam's beta1), as on the command line."""
    if isinstance(config, Config):
        data = given_values(config)
        if config.sweep is not None:  # excluded from dumps so that run folders never hold a grid
            data["sweep"] = config.sweep.model_dump(mode="json")
        return data
    if isinstance(config, dict):
        _check_size(config)  # before copying it: a copy of a dict nested 1,000 deep fails with a RecursionError
        return copy.deepcopy(config)  # never edit the caller's dict
    return read_yaml(find_config(config))


def resolve(config: Union[Config, dict, str, Path], overrides: Iterable[str] = (), **updates) -> Config:
    """The validated Config: `overrides` ('key.path=value') applied, then top-level `updates`
    that are not None (the --name and --seed flags)."""
    overrides = list(overrides)  # read twice: an iterator would be used up
    data = config_data(config)
    if overrides:
        _name_overridden_kinds(data, overrides, config if isinstance(config, Config) else None)
    for assignment in overrides:
        apply_override(data, assignment)
    given = {key: value for key, value in updates.items() if value is not None}
    data.update(given)
    try:
        return validate(data)
    except ConfigError as err:
        if isinstance(config, (str, Path)):  # name the file (or bundled config) the problem came from
            flags = (["--set"] if overrides else []) + [f"--{key}" for key in given]
            raise ConfigError(f"{config}{' with ' + ', '.join(flags) if flags else ''}: {err}") from None
        raise


def _name_overridden_kinds(data: dict, overrides: list[str], cfg: Optional[Config] = None) -> None:
    """Write into `data` the kind of each section with kinds (dataset.name, model.type,
    training.optimizer.name, ...) that an override reaches into, as validation resolves it
    before the overrides (`cfg`, when `data` is already that Config's; a sweep resolves each
    point from its validated base), where `data` leaves it to the default:
    `training.optimizer.lr=0.1` on a config without an optimizer then sets the default
    optimizer's rate. Nothing is written when `data` is not a valid config by itself (the
    overrides may be what makes it one)."""
    if cfg is None:
        try:
            _check_size(data)
            cfg = _validated(data)
        except (ConfigError, ValidationError, ValueError, TypeError):
            return
    for assignment in overrides:
        section: BaseModel = cfg
        node = data
        for part in assignment.partition("=")[0].strip().split(".")[:-1]:
            info, value = type(section).model_fields.get(part), getattr(section, part, None)
            if info is None or not isinstance(value, BaseModel) or not isinstance(node.get(part, {}), dict):
                break
            node = node.setdefault(part, {})
            _name_kind(node, info, value)
            section = value


def given_values(cfg: Config) -> dict:
    """The values `cfg` was given (its file, --set, flags, the section objects put into it), as
    JSON-ready data, with the kind of each section it holds (a class default, never "given")."""
    data = cfg.model_dump(mode="json", exclude_unset=True)
    _name_kinds(cfg, data)
    return data


def _name_kinds(section: BaseModel, node: dict) -> None:
    """Write into `node` (`section` dumped with only the values it was given) the kind of every
    section with kinds that it holds: a kind left to its class default counts as not given."""
    for part, info in type(section).model_fields.items():
        value, child = getattr(section, part, None), node.get(part)
        if isinstance(value, BaseModel) and isinstance(child, dict):
            _name_kind(child, info, value)
            _name_kinds(value, child)


def _name_kind(node: dict, info: FieldInfo, section: BaseModel) -> None:
    """Write into `node` the kind of `section` (its discriminator's value: name, type), unless
    `node` names one, when the field `info` holding it is a union of kinds."""
    if info.discriminator:
        node.setdefault(str(info.discriminator), getattr(section, str(info.discriminator)))


class _BlockDumper(yaml.SafeDumper):
    """Every mapping in block style, one key per line; a list of plain values on one line
    ([256, 256]), a list of lists or mappings one item per line (an inline X: one row per line)."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = not any(isinstance(v, (list, dict)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_BlockDumper.add_representer(list, _represent_list)


def dump_config(cfg: Config, given_only: bool = False) -> str:
    """The resolved config as YAML, in schema order and block style; `given_only`: only the values
    the config was given (its file, --set and flags), the defaults left to validation."""
    doc = given_values(cfg) if given_only else cfg.model_dump(mode="json")
    return yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False)
