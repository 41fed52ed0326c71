"""`dltrain runs [DIR]`: list run folders with their status, data, model, main metric and duration."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dltrain.cli import app
from dltrain.cli.common import confirmed, err_console, print_json, reports_errors
from dltrain.cli.completion import complete_folder
from dltrain.cli.tables import STATUS_STYLE, fit_widths, print_table, table_console
from dltrain.runs.status import Status


@app.command("runs")
@reports_errors
def runs(
    runs_dir: Path = typer.Argument(Path("runs"), help="folder of run folders", autocompletion=complete_folder),
    filters: list[str] = typer.Option(
        [],
        "--filter",
        help="keep runs whose KEY=VALUE: status=completed, dataset=mnist, model=mlp, name=quickstart (the run's name or its folder's), name='*lr*' (repeatable: all must hold)",
    ),
    sort: Optional[str] = typer.Option(None, "--sort", help="best first by SPLIT.METRIC, e.g. test.accuracy"),
    last: Optional[int] = typer.Option(None, "--last", min=0, help="only the N newest (after --filter)"),
    delete: bool = typer.Option(False, "--delete", help="delete the listed run folders (needs --filter or --last)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="with --delete: do not ask for confirmation"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document (a list of runs) on stdout"),
):
    """List the run folders in DIR, oldest first. A run whose process died shows as crashed."""
    from dltrain.errors import ConfigError
    from dltrain.inspection.listing import list_runs, select_runs

    if delete and not filters and last is None:
        raise ConfigError("--delete needs --filter or --last: it never deletes every run at once")
    rows = select_runs(list_runs(runs_dir), filters, sort, last)
    if delete:
        _delete(rows, runs_dir, yes, as_json)
        return
    if as_json:
        print_json(rows)
        return
    _show(rows, runs_dir, sort)


def _delete(rows: list[dict], runs_dir: Path, yes: bool, as_json: bool) -> None:
    """Delete the run folders of `rows` but those `_keep` keeps, after asking (unless `yes`); one that
    cannot be deleted is named, the others still are, and the exit code is 2."""
    from dltrain.errors import RunFolderError
    from dltrain.formatting import one_line
    from dltrain.inspection.listing import summarize
    from dltrain.runs.claim import InUse, claimed, claimed_sweep_of
    from dltrain.runs.folder import NotOnlyARun, RunFolder

    kept = {r["path"]: why for r in rows if (why := _keep(Path(r["path"]), r["status"], runs_dir))}
    rows = [r for r in rows if r["path"] not in kept]
    for path, why in kept.items():
        err_console.print(f"kept {one_line(str(path))}: {one_line(why)}", soft_wrap=True)
    if rows and not as_json:
        _show(rows, runs_dir, None, title=f"{_folders(len(rows))} to delete in {one_line(str(runs_dir))}", stderr=True)
    if rows and not yes and not confirmed(f"delete {_folders(len(rows))}?"):
        rows = []  # declined: nothing deleted, and exit 0 (the answer was heard)
    deleted, failed = [], {}
    for r in rows:
        path = Path(r["path"])
        try:  # held as a run or a resume holds it, so that none starts between the look and the deletion
            with claimed_sweep_of(path), claimed(path, RUNNING):
                why = _keep(path, summarize(path)["status"], runs_dir)  # again: it may have changed since
                if not why:
                    RunFolder(path).delete(_deletable())
                    deleted.append(r["path"])
                    continue
        except InUse:
            why = RUNNING
        except NotOnlyARun as err:  # something no run writes came in after the first look
            why = str(err)
        except RunFolderError as err:  # the system refused (permissions, a busy file system)
            failed[r["path"]] = str(err)
            err_console.print(f"error: {one_line(str(err))}", soft_wrap=True)
            continue
        err_console.print(f"kept {one_line(str(r['path']))}: {one_line(why)}", soft_wrap=True)
        kept[r["path"]] = why
    if as_json:
        running = [path for path, why in kept.items() if why == RUNNING]
        print_json({"deleted": deleted, "kept_running": running, "kept": kept, "failed": failed})
    else:
        err_console.print(f"deleted {_folders(len(deleted))}" + (f"; {len(failed)} could not be" if failed else ""))
    if failed:
        raise typer.Exit(2)


def _deletable() -> tuple[str, ...]:
    """The names a run folder may hold and still be deleted as a run's."""
    from dltrain.pipeline.save import EARLIER_RUN_FILES, RUN_FILES

    return (*RUN_FILES, *EARLIER_RUN_FILES)


def _folders(n: int) -> str:
    return f"{n} run folder{'s' if n != 1 else ''}"


RUNNING = "it is still running"


def _keep(path: Path, status: str, runs_dir: Path) -> Optional[str]:
    """Why the run folder at `path` must not be deleted (None: it may be): it is training, alone or
    in a sweep still running (a resumed sweep retrains a run whose meta.json still says interrupted),
    it holds something no run writes, or it is reached through a symbolic link (to a sweep
    elsewhere, or to a run listed on its own)."""
    from dltrain.errors import RunFolderError
    from dltrain.formatting import one_line
    from dltrain.runs.folder import RunFolder
    from dltrain.runs.reader import read_sweep
    from dltrain.runs.status import run_status

    if status == Status.RUNNING or _alive(path):
        return RUNNING
    foreign = RunFolder(path).foreign_entry(_deletable())
    if foreign is not None:
        return f"it holds {foreign!r}, which no run writes (delete the folder yourself if all it holds may go)"
    if _through_link(path, runs_dir):
        if not path.resolve().is_relative_to(runs_dir.resolve()):
            return f"it lies outside {one_line(str(runs_dir))}, through a symbolic link"
        return "it is reached through a symbolic link; delete the folder it names"
    if (path.parent / "sweep.json").is_file():
        try:
            if run_status(read_sweep(path.parent)) == Status.RUNNING:
                return RUNNING
        except RunFolderError:
            pass  # a damaged sweep.json: its runs are judged on their own
    return None


def _alive(path: Path) -> bool:
    """Whether meta.json, read as it is, names a process still training the run: a damaged file
    beside it (a corrupt run) must not hide that."""
    from dltrain.errors import RunFolderError
    from dltrain.runs.folder import read_json
    from dltrain.runs.status import run_status

    try:
        meta = read_json(path / "meta.json")
    except (RunFolderError, ValueError):
        return False
    return isinstance(meta, dict) and run_status(meta) == Status.RUNNING


def _through_link(path: Path, runs_dir: Path) -> bool:
    """Whether `path`, under `runs_dir`, is reached through a symbolic link: the run folder's own
    name, or its sweep's (deleting it would delete, or fail on, the folder of another listed name)."""
    try:
        parts = path.relative_to(runs_dir).parts
    except ValueError:
        return True
    return any(runs_dir.joinpath(*parts[: i + 1]).is_symlink() for i in range(len(parts)))


def _show(
    rows: list[dict], runs_dir: Path, sort: Optional[str], title: Optional[str] = None, stderr: bool = False
) -> None:
    """The runs as a table on stdout (`stderr`: there, for the person asked to confirm a deletion)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from dltrain.formatting import number, one_line
    from dltrain.inspection.listing import metric_value

    console = table_console(stderr)
    if not rows:
        console.print(f"no run folders in {one_line(str(runs_dir))}")
        return
    rows = [{**r, "name": one_line(r["name"])} for r in rows]  # a row per run, whatever its folder is named
    metrics = {sort} if sort else {r["metric"] for r in rows if r["metric"]}
    single = next(iter(metrics)) if len(metrics) == 1 else None  # then the header names it
    cells = []
    for r in rows:
        if single:
            live = r["value"] if r["metric"] == single else None  # a running run's latest epoch
            metric = number(metric_value(r, single) if metric_value(r, single) is not None else live)
        else:
            metric = f"{r['metric']} {number(r['value'])}" if r["value"] is not None else ""
        seconds = f"{r['seconds']:.1f}" if r["seconds"] is not None else ""
        status = r["status"]
        if status == Status.RUNNING and r["epochs"] is not None:  # how far it is
            status += f" epoch {r['epochs']}/{r['epochs_total'] or '?'}"
        cells.append([status, r["dataset"] or "", r["model"] or "", metric, seconds])
    headers = ["status", "dataset", "model", single or "metric", "seconds"]
    # Model and metric wrap at their spaces ('mlp' / '64-32'); the run name gets what the others
    # leave at their narrowest (columns are one space apart, with no outer edge).
    widths = [max(len(h), *(_narrowest(c[i], i in (2, 3)) for c in cells)) for i, h in enumerate(headers)]
    room = console.width - sum(widths) - len(headers)
    name_width = max(
        min(max(len(r["name"]) for r in rows), room), *(len(w) + 1 for r in rows for w in r["name"].split("-"))
    )
    natural = max(len(r["name"]) for r in rows) + sum(
        max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)
    )
    roomy = natural + 2 * len(headers) <= console.width  # then two spaces between columns, else one
    table = Table(
        title=title or f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {one_line(str(runs_dir))}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, 1) if roomy else (0, 0),
    )
    table.add_column("run", no_wrap=True, min_width=name_width)
    for header in headers:
        table.add_column(header, justify="right" if header in ("seconds", single) else "left")
    for r, (status, *rest) in zip(rows, cells):
        # Text, not markup: names and meta.json values are shown as they are, and parse faster.
        styled = Text(status, style=STATUS_STYLE.get(r["status"], "white"))
        table.add_row(Text(_wrapped(r["name"], name_width)), styled, *map(Text, rest))
    fit_widths(table, console)
    print_table(console, table)
    for r in rows:
        if r.get("problem"):
            console.print(Text(f"{r['name']} is corrupt: {one_line(r['problem'])}", style="red"), soft_wrap=True)


def _narrowest(text: str, wraps: bool) -> int:
    return max(map(len, text.split(" "))) if wraps else len(text)


def _wrapped(name: str, width: int) -> str:
    """`name` on lines of at most `width` characters, broken only after a '-' (never inside a word)."""
    parts = name.split("-")
    lines, line = [], ""
    for token in [p + "-" for p in parts[:-1]] + parts[-1:]:
        if line and len(line) + len(token) > width:
            lines.append(line)
            line = ""
        line += token
    return "\n".join([*lines, line])
