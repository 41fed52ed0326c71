"""Values as short text: one number format for the tables dltrain prints (compare, eval, runs,
sweep, the HTML report), and short config values. CSV and JSON keep values whole; nothing
printed keeps a control character (`printable`), and a name that is not UTF-8 is shown with
its odd bytes as '\\xff' (`displayable`)."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

# C0 and C1 control characters but tab and newline
CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])


# lone surrogates: what os.fsdecode makes of a file name's bytes that are not UTF-8 (U+DC80-U+DCFF)
SURROGATES = re.compile("[\ud800-\udfff]")


def displayable(text: str) -> str:
    """`text` as text every output can encode (UTF-8 HTML, a PNG's font, JSON, a terminal): each
    byte of a file name that is not UTF-8, which Python holds as a surrogate escape ('\\udcff'),
    written as '\\xff', any other lone surrogate as '\\ud800'. For display only: the file
    system is given the real name."""
    return SURROGATES.sub(_escaped, text)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def displayable_values(value: Any) -> Any:
    """`value` (JSON-like: dicts and lists nested) with every string in it, dict keys too, `displayable`."""
    if isinstance(value, str):
        return displayable(value)
    if isinstance(value, dict):
        return {displayable_values(k): displayable_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [displayable_values(v) for v in value]
    return value


def printable(text: str) -> str:
    """`text` without control characters (tab and newline kept): a folder or file name holding
    an escape sequence ("\\x1b]0;title\\a") is printed, not obeyed by the terminal. Bytes
    that are not UTF-8 are shown as `displayable` writes them."""
    if text.isprintable():
        return text
    return displayable(text).translate(CONTROLS)


LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def one_line(text: str) -> str:
    """`text` as `printable` shows it, on one line: a line break or tab written as \\n, \\r, \\t
    (\\u2028, \\u2029). For a folder's name in a table row or a title, which a line break would cut in two."""
    return printable(text.translate(LINE_BREAKS))


def value_text(value: Any) -> str:
    """A config value as one short string: lists and dicts as compact JSON ([64,32]), the rest as str()."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def name_first(section: dict) -> list[tuple[Any, Any]]:
    """A config section's (key, value) pairs with its `name` first, the others in their order."""
    return sorted(section.items(), key=lambda item: item[0] != "name")


def number(value: Any) -> str:
    """A metric in a table cell: '' for None; floats in fixed point with four decimals, or with an
    exponent where fixed point would hide them (a diverging run's 1e+270, a tiny 2.5e-05)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.4g}"
    return value_text(value)


def seconds(value: Any) -> str:
    """A duration in a table cell: '' for None, else two decimals (0.27)."""
    return "" if value is None else f"{value:.2f}"


def shorten(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis in the middle, where both ends tell
    ('[256,256,128,…,10]', 'adam…-05')."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2 + (width - 1) % 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def canonical_json(value: Any) -> str:
    """`value` as JSON with its keys sorted (what is not JSON as str()): equal data, equal text."""
    return json.dumps(value, sort_keys=True, default=str)


def first_difference(new: Any, old: Any, key: str = "") -> Optional[tuple[str, str, str]]:
    """(the dotted key, its value in `new`, its value in `old`, each as short JSON) of the first
    value that differs between two JSON-like documents, or None when none does. A key only one
    of them has is not compared: a setting added to the config since `old` was written."""
    if isinstance(new, dict) and isinstance(old, dict):
        for name in new:
            if name in old:
                found = first_difference(new[name], old[name], f"{key}.{name}" if key else name)
                if found:
                    return found
        return None
    new_text, old_text = canonical_json(new), canonical_json(old)
    return None if new_text == old_text else (key, shorten(new_text, 80), shorten(old_text, 80))


def did_you_mean(word: str, options: list[str]) -> str:
    """' (did you mean 'hidden'?)' for the option nearest to a mistyped `word`, or '' when none is near."""
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
