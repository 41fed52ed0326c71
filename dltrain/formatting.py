"""Values as short text, the same in every table, CSV and Markdown dltrain prints."""

from __future__ import annotations

import json
from typing import Any


def value_text(value: Any) -> str:
    """A config value as one short string: lists and dicts as compact JSON ([64,32]), the rest as str()."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def number(value: Any) -> str:
    """A metric in a table cell: '' for None; floats in fixed point with four decimals, or with an
    exponent where fixed point would hide them (a diverging run's 1e+270, a tiny 2.5e-05)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.4g}"
    return value_text(value)
