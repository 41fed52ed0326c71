"""What every report page inlines: the Vega, Vega-Lite and vega-embed JavaScript, the style
sheet and a few lines of script (sortable tables, rendering the charts).

The JavaScript comes from vl-convert-python, which ships the Vega libraries inside its
wheel: no CDN, no network. Bundling it takes seconds, so it is cached per version in the
user's cache folder (and in memory for this process).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

MAX_BUNDLE_BYTES = 8 << 20  # the bundle is about 0.9 MB


def _cache_file(version: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dltrain" / f"vega-embed-bundle-{version}.js"


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed, minified, defining window.vegaEmbed (about 0.9 MB)."""
    import vl_convert

    from dltrain.atomic import write_atomically
    from dltrain.files import UnreadableFile, read_regular

    cache = _cache_file(getattr(vl_convert, "__version__", "unknown"))
    try:  # a regular file of at most MAX_BUNDLE_BYTES: a FIFO or /dev/zero planted there is rebuilt over
        bundle = read_regular(cache, MAX_BUNDLE_BYTES).decode()
    except (UnreadableFile, UnicodeDecodeError):
        bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]  # the stub misses the default snippet
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(cache, bundle.encode())
        except OSError:
            pass  # an unwritable cache only costs the next report the same seconds
    return bundle.replace("</script", "<\\/script")  # never ends the inline <script> early


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1em 1.5em 3em; color: #1d2330; }
h1 { font-size: 1.5em; margin: .2em 0; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #dde; }
.facts { display: flex; flex-wrap: wrap; gap: .4em 1.6em; margin: .6em 0; color: #444; }
.facts b { color: #1d2330; }
.status { padding: .1em .55em; border-radius: .8em; font-weight: 600; font-size: .9em; }
.status.completed { background: #d9f2dd; color: #17612a; } .status.failed, .status.crashed { background: #f9d9d9; color: #8a1c1c; }
.status.interrupted, .status.running, .status.incomplete, .status.unknown, .status.pending
  { background: #fff0c7; color: #6b5000; }
.problems { background: #fff4f4; border-left: 4px solid #c33; padding: .5em 1em; }
table { border-collapse: collapse; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e4e6ee; text-align: left; white-space: nowrap; }
td.num { text-align: right; } tr.best td { background: #eefaf0; font-weight: 600; }
table.sortable th { cursor: pointer; user-select: none; background: #f4f5f9; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: .7em; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; font-size: .7em; }
.scroll { overflow-x: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; } .chart { min-height: 120px; }
.figures img { max-width: 100%; border: 1px solid #e4e6ee; margin: .3em 0; }
details pre { background: #f6f7fb; padding: .8em; overflow-x: auto; }
footer { margin-top: 3em; color: #888; font-size: .85em; }
"""

SCRIPT = """
function sortTable(th) {
  const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
  const down = th.getAttribute("aria-sort") === "ascending";
  for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", down ? "descending" : "ascending");
  const key = (row) => { const cell = row.cells[col]; const v = cell.dataset.value ?? cell.textContent.trim();
                         const x = parseFloat(v); return v === "" ? null : (isNaN(x) || !/^[-+.\\deE]+$/.test(v) ? v : x); };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return down ? -c : c;
  });
  rows.forEach((row) => body.appendChild(row));
}
document.querySelectorAll("table.sortable th").forEach((th) => th.addEventListener("click", () => sortTable(th)));
const started = performance.now();
const charts = Array.from(document.querySelectorAll("script.spec")).map((node) =>
  vegaEmbed(document.getElementById(node.dataset.target), JSON.parse(node.textContent),
            {actions: false, renderer: "svg", tooltip: {theme: "light"}}));
Promise.all(charts).then(
  () => { document.body.dataset.rendered = "yes";  // for tests and bench/report.py: charts done
          document.body.dataset.renderMs = String(Math.round(performance.now() - started));
          document.body.dataset.pageMs = String(Math.round(performance.now())); },
  (err) => { document.body.dataset.rendered = "error"; console.error(err); });
"""
