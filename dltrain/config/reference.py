"""The config schema as a reference for people: every key, its type, default and meaning.

    parts = reference(Config)     # [Part(title, intro, rows), ...]
    markdown(parts)               # docs/config.md

Plain sections (`training`, `output`) are flattened into dotted keys. A key that takes
one of several sections (`dataset`, `model`, `training.optimizer`, `model.init`) gets a
part of its own: the keys every choice shares, then one part per choice with the rest.
Meanings come from the field descriptions and the section docstrings, so the JSON Schema,
`dltrain schema` and docs/config.md say the same thing.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


@dataclass
class Row:
    key: str  # dotted path from the top of the config
    type: str
    default: str
    meaning: str


@dataclass
class Part:
    title: str
    intro: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class _Choice:
    """A key that takes one of several sections, told apart by `tag` (the `name` or `type` key)."""

    keys: list[str]
    tag: str
    variants: tuple[type[BaseModel], ...]


def reference(model: type[BaseModel]) -> list[Part]:
    """The parts of the reference of `model`: its own keys first, then each choice of sections."""
    choices: dict[tuple, _Choice] = {}
    top = Part("Top level", _doc(model), _rows(model, "", choices))
    parts, done = [top], set[tuple]()
    while len(done) < len(choices):  # choices found while walking add more choices
        key = next(k for k in choices if k not in done)
        done.add(key)
        parts.extend(_choice_parts(choices[key], choices))
    return parts


def _rows(model: type[BaseModel], prefix: str, choices: dict, skip: frozenset = frozenset()) -> list[Row]:
    rows = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        key = prefix + name
        section, variants = _sections(info.annotation)
        if variants and info.discriminator:
            tag = str(info.discriminator)
            choice = choices.setdefault(variants, _Choice([], tag, variants))
            if key not in choice.keys:  # model.init recurs in every model
                choice.keys.append(key)
            names = " | ".join(v for variant in variants for v in _tags(variant, tag))
            rows.append(Row(key, f"one of {names} (by {key}.{tag})", _default(info, tag), _meaning(info)))
        elif section is not None:
            optional = _allows_none(info.annotation)
            rows.append(Row(key, "section" + (" or null" if optional else ""), _default(info), _meaning(info, section)))
            rows.extend(_rows(section, key + ".", choices))
        else:
            rows.append(Row(key, _type(info), _default(info), _meaning(info)))
    return rows


def _choice_parts(choice: _Choice, choices: dict) -> list[Part]:
    """One part with the keys every variant shares alike, then one per variant with the rest."""
    key = choice.keys[0]
    per_variant = {
        v: {r.key: r for r in _rows(v, key + ".", choices, frozenset({choice.tag}))} for v in choice.variants
    }
    first = per_variant[choice.variants[0]]
    shared = [k for k, row in first.items() if all(rows.get(k) == row for rows in per_variant.values())]
    also = f" (also {', '.join(f'`{k}`' for k in choice.keys[1:])})" if len(choice.keys) > 1 else ""
    parts = []
    if shared:
        parts.append(Part(f"`{key}`: keys of every choice{also}", "", [first[k] for k in shared]))
    for variant in choice.variants:
        title = f"`{key}.{choice.tag}: {' | '.join(_tags(variant, choice.tag))}`{also}"
        rows = [row for k, row in per_variant[variant].items() if k not in shared]
        parts.append(Part(title, _doc(variant), rows))
    return parts


# --- reading pydantic's annotations --------------------------------------------------------


def _strip(annotation) -> Any:
    """The type inside Annotated[...]."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation) -> tuple:
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(_strip(a) for a in typing.get_args(annotation))
    return (annotation,)


def _allows_none(annotation) -> bool:
    return type(None) in _members(annotation)


def _is_section(t) -> bool:
    return inspect.isclass(t) and issubclass(t, BaseModel)


def _sections(annotation) -> tuple[Optional[type[BaseModel]], tuple]:
    """(the one section type, ()) for a plain section; (None, variants) for a choice of sections."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if members and all(_is_section(m) for m in members):
        return (members[0], ()) if len(members) == 1 else (None, tuple(members))
    return None, ()


def _tags(variant: type[BaseModel], tag: str) -> list[str]:
    return [str(v) for v in typing.get_args(variant.model_fields[tag].annotation)]


def _type(info: FieldInfo) -> str:
    """E.g. 'int >= 0', 'list of int > 0, non-empty', 'float | null'; bounds go with the type they bound."""
    members = _members(info.annotation)
    kinds = [_type_name(m) for m in members if m is not type(None)]
    bounds = _bounds(info.metadata)
    if bounds:
        kinds[-1] += (", " if typing.get_origin(members[-1]) is list else " ") + bounds
    return " | ".join(kinds + (["null"] if type(None) in members else []))


def _type_name(t) -> str:
    t = _strip(t)
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return " | ".join(json.dumps(v) if not isinstance(v, str) else v for v in typing.get_args(t))
    if origin is list:
        (item,) = typing.get_args(t) or (Any,)
        inner = [_type_name(m) for m in _members(item)]
        bounds = _bounds(_metadata(item))
        text = inner[0] if len(inner) == 1 else f"({' | '.join(inner)})"
        return f"list of {text}" + (f" {bounds}" if bounds else "")
    if origin is dict:
        key, value = typing.get_args(t)
        return f"mapping of {_type_name(key)} to {_type_name(value)}"
    if t is Any:
        return "any"
    return getattr(t, "__name__", str(t))


def _metadata(annotation) -> list:
    """Constraints written as Annotated[int, Field(gt=0)]."""
    found: list = []
    for extra in getattr(annotation, "__metadata__", ()):
        found.extend(getattr(extra, "metadata", [extra]))
    return found


def _bounds(metadata) -> str:
    words = []
    for m in metadata or ():
        if isinstance(m, annotated_types.Gt):
            words.append(f"> {m.gt}")
        elif isinstance(m, annotated_types.Ge):
            words.append(f">= {m.ge}")
        elif isinstance(m, annotated_types.Lt):
            words.append(f"< {m.lt}")
        elif isinstance(m, annotated_types.Le):
            words.append(f"<= {m.le}")
        elif isinstance(m, annotated_types.MinLen):
            words.append("non-empty" if m.min_length == 1 else f"at least {m.min_length} items")
    return ", ".join(words)


def _default(info: FieldInfo, tag: Optional[str] = None) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return str(getattr(value, tag)) if tag else "{}"
    return json.dumps(value) if not isinstance(value, str) else value


def _meaning(info: FieldInfo, section: Optional[type[BaseModel]] = None) -> str:
    return info.description or (_doc(section) if section else "")


def _doc(model: type[BaseModel]) -> str:
    """The docstring of a section, as one paragraph per blank-line-separated block."""
    doc = inspect.getdoc(model) or ""
    return "\n\n".join(" ".join(block.split()) for block in doc.split("\n\n"))


# --- Markdown -------------------------------------------------------------------------------


def markdown(parts: list[Part], title: str, preamble: str) -> str:
    """The reference as one Markdown document: a table per part."""
    lines = [f"# {title}", "", preamble, ""]
    for part in parts:
        lines += [f"## {part.title}", ""]
        if part.intro:
            lines += [part.intro, ""]
        if part.rows:
            lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
            lines += [f"| `{r.key}` | {_cell(r.type)} | {_code(r.default)} | {_cell(r.meaning)} |" for r in part.rows]
            lines.append("")
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"`{text}`" if text not in ("required", "") else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
