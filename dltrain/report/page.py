"""HTML pieces: escaped text, tables that sort, charts, inlined images, the whole page.

Everything that comes from a run folder (names, config values, error messages) goes
through `esc`; chart specs travel as JSON inside <script type="application/json">,
with '<' escaped so no value can close the element. Both show a name that is not UTF-8
as `displayable` writes it, so that the page encodes as UTF-8.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from dltrain.formatting import displayable, displayable_values, number, value_text


def esc(value: Any) -> str:
    """`value` as HTML text: escaped, and `displayable`."""
    return html.escape(displayable(str(value)), quote=True)


def cell(value: Any) -> str:
    """A table cell: numbers right-aligned with the one number format (the raw value kept for sorting)."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float)):
        return f"<td>{esc('' if value is None else value_text(value))}</td>"
    raw = repr(value) if math.isfinite(value) else ""
    return f'<td class="num" data-value="{esc(raw)}">{esc(number(value))}</td>'


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], best: Optional[int] = None, tid: str = "") -> str:
    """A sortable table; row `best` highlighted."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join(
        f"<tr{' class=best' if i == best else ''}>" + "".join(cell(v) for v in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    ident = f' id="{esc(tid)}"' if tid else ""
    return f'<div class="scroll"><table class="sortable"{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _json_for_script(spec: dict) -> str:
    text = json.dumps(
        displayable_values(spec), separators=(",", ":"), allow_nan=False, default=lambda v: displayable(str(v))
    )
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class Page:
    """A report under construction: sections of HTML and the charts they place."""

    title: str
    parts: list[str] = field(default_factory=list)
    specs: list[tuple[str, dict]] = field(default_factory=list)

    def add(self, fragment: str) -> None:
        self.parts.append(fragment)

    def section(self, heading: str, fragment: str) -> None:
        self.parts.append(f"<section><h2>{esc(heading)}</h2>{fragment}</section>")

    def chart(self, spec: dict) -> str:
        """A placeholder <div> for a Vega-Lite spec, filled in by the page's script."""
        target = f"chart-{len(self.specs)}"
        self.specs.append((target, spec))
        return f'<div class="chart" id="{target}"></div>'

    def html(self) -> str:
        from dltrain import __version__
        from dltrain.report.assets import SCRIPT, STYLE, vega_bundle

        specs = "".join(
            f'<script type="application/json" class="spec" data-target="{t}">{_json_for_script(s)}</script>'
            for t, s in self.specs
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{STYLE}</style></head><body>"
            + "".join(self.parts)
            + f"<footer>dltrain {esc(__version__)} report; works offline, nothing is fetched.</footer>"
            + specs
            + f"<script>{vega_bundle()}</script><script>{SCRIPT}</script></body></html>\n"
        )
