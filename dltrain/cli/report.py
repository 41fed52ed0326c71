"""`dltrain report RUN_OR_SWEEP... [-o FILE]`: one self-contained HTML file, readable offline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import err_console, output_format, reports_errors, write_output


@app.command("report")
@reports_errors
def report(
    targets: list[str] = typer.Argument(
        ..., help="a run folder, a sweep folder, several runs, a folder of runs, or 'latest'"
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="the HTML file to write (default: report.html in the run or sweep folder)"
    ),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="where 'latest' is looked for"),
):
    """Write an HTML report: status, metrics, config, interactive curves and figures of a run;
    a sortable comparison and overlaid curves of several runs; a sweep's metric against its keys.

    Everything is inlined (scripts, styles, images): the file opens offline, nothing is fetched.
    """
    from dltrain.report.build import report_html
    from dltrain.runs.locate import resolve_ref

    if output is not None:
        output_format(output, "-o", ("html", "htm"))
    paths = [resolve_ref(t, runs_dir) for t in targets]
    html = report_html(paths).encode()
    if output is None:
        if len(paths) != 1 or not paths[0].is_dir():
            from dltrain.errors import ConfigError

            raise ConfigError("several runs make one report: name its file with -o FILE")
        output = _write_in_folder(paths[0], html)
    else:
        write_output(output, html)
    err_console.print(f"report: {output} ({len(html) / 1e6:.2f} MB)", soft_wrap=True)


def _write_in_folder(folder: Path, html: bytes) -> Path:
    """report.html in the run or sweep folder: a file dltrain owns there, replaced atomically
    (whatever is at that name, a symlink included, is replaced; nothing is written through it)."""
    from dltrain.runs.folder import atomic_write

    return atomic_write(folder / "report.html", html)
