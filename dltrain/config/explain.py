"""A pydantic ValidationError of the config as the lines a user reads: each bad key's path as
written in the YAML, the problem, the value given, and the keys or kinds allowed there
("did you mean ...?" for near misses).

    invalid config:
      model.hiden: unknown key (did you mean 'hidden'?); allowed keys: init, bias_init, type, hidden, ...
      training.optimizer.lr: Input should be greater than 0 (got -1)
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from dltrain.config.schema import Config
from dltrain.errors import shorten
from dltrain.formatting import did_you_mean


def explain(err: ValidationError, data: dict) -> str:
    """One line per bad key: `key.path: problem (got value)` plus suggestions."""
    messages: dict[str, list[str]] = {}
    for e in err.errors():
        path = _clean_path(e["loc"], data)
        if e["type"].startswith("union_tag"):
            path.append(e["ctx"]["discriminator"].strip("'"))  # the key that names the kind
        key = ".".join(map(_key_text, path)) or "(top level)"
        messages.setdefault(key, []).append(_describe(e, path, data))
    lines = [f"{key}: {' / '.join(dict.fromkeys(msgs))}" for key, msgs in messages.items()]
    return "invalid config:\n  " + "\n  ".join(lines)


def _key_text(part: Any) -> str:
    """A key or list index as written in a key path; quoted (and cut short) where it would not
    print as one short line: a newline, a control character, a long or non-text key."""
    if isinstance(part, int) or (isinstance(part, str) and part.isprintable() and len(part) <= 80):
        return str(part)
    return shorten(part, 80)


def _clean_path(loc: tuple, data: Any) -> list:
    """Split pydantic's loc into the keys the user wrote and the union tags pydantic adds."""
    path, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            path.append(part)
            node = node[part] if part < len(node) else None
        elif isinstance(node, dict) and i == len(loc) - 1 and not _is_tag(part, node):
            path.append(part)  # a missing key
        else:
            continue  # a union tag ('mlp', 'int', "literal['full']") or past a scalar
    return path


def _is_tag(part, node: dict) -> bool:
    return part in (node.get("name"), node.get("type")) or (isinstance(part, str) and "[" in part)


def _describe(e: Any, path: list, data: dict) -> str:
    kind, ctx = e["type"], e.get("ctx") or {}
    shown = not isinstance(e["input"], dict) and kind not in {"missing", "extra_forbidden"}
    got = f" (got {shorten(e['input'])})" if shown else ""
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], data)
        return f"unknown key{did_you_mean(str(path[-1]), allowed)}; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return f"{shorten(e['input'])} is not allowed{did_you_mean(str(e['input']), options)}; allowed: {', '.join(options)}"
    if kind == "union_tag_invalid":
        options = re.findall(r"'([^']*)'", ctx.get("expected_tags", ""))
        return (
            f"{shorten(ctx['tag'])} is unknown{did_you_mean(str(ctx['tag']), options)}; allowed: {', '.join(options)}"
        )
    if kind == "union_tag_not_found":
        return "required key is missing: it says which kind this section describes"
    message = e["msg"].removeprefix("Value error, ")
    return f"{message}{got}"


def _allowed_keys(path: list, data: dict) -> list[str]:
    """Field names of the config section at `path`, following union tags in `data`."""
    cls: type[BaseModel] | None = Config
    node: Any = data
    for part in path:
        if isinstance(part, int):
            node = node[part]
            continue
        node = node.get(part, {}) if isinstance(node, dict) else {}
        cls = _section_class(cls.model_fields[part].annotation, node) if cls is not None else None
        if cls is None:
            return []
    return list(cls.model_fields) if cls is not None else []


def _section_class(annotation, node) -> type[BaseModel] | None:
    """The config class that `node` is validated against, for a field's annotation."""
    members = [a for a in _flatten(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    for cls in members:
        for tag_field in ("name", "type"):
            field = cls.model_fields.get(tag_field)
            if field and isinstance(node, dict) and node.get(tag_field) in typing.get_args(field.annotation):
                return cls
    return members[0] if len(members) == 1 else None


def _flatten(annotation) -> list:
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    if typing.get_origin(annotation) is typing.Annotated:
        return _flatten(args[0])
    return [leaf for a in args for leaf in _flatten(a)]
