"""`dltrain report RUN_OR_SWEEP...`: one run's page, or a page comparing several runs or the
points of a sweep.

    html = report_html([Path("runs/20261121-220241-quick")])   # a run, a sweep or a folder of runs
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dltrain.errors import ConfigError, RunFolderError
from dltrain.formatting import value_text
from dltrain.inspection.compare import column_names, comparison, short_names
from dltrain.report import charts
from dltrain.report.page import Page, esc, table
from dltrain.report.run_page import Parts, add_run, read_parts, status_badge
from dltrain.runs.locate import is_run_folder, run_folders
from dltrain.runs.reader import read_sweep
from dltrain.runs.status import Status


def report_html(refs: list[Path]) -> str:
    """The page for `refs`: run folders, sweep folders or folders of runs. RunFolderError
    (exit 2) when one is none of those."""
    sweeps = [p for p in refs if (p / "sweep.json").is_file()]
    if len(refs) == 1 and is_run_folder(refs[0]):
        page = Page(f"dltrain run {refs[0].name}")
        add_run(page, read_parts(refs[0]))
        return page.html()
    if len(refs) == 1 and sweeps:
        return _sweep_page(refs[0])
    folders: list[Path] = []
    for ref in refs:
        folders += _run_folders(ref)
    if len(folders) == 1:
        return report_html(folders)
    page = Page(f"dltrain: {len(folders)} runs")
    page.add(f"<h1>{len(folders)} runs</h1>")
    _add_runs(page, [read_parts(p) for p in dict.fromkeys(folders)], None)
    return page.html()


def _run_folders(ref: Path) -> list[Path]:
    if not ref.exists():
        raise RunFolderError(f"no run or sweep folder at {ref}")
    if not ref.is_dir():
        raise RunFolderError(f"{ref} is a file, not a run or sweep folder")
    if is_run_folder(ref):
        return [ref]
    inside = run_folders(ref)
    if not inside:
        raise RunFolderError(f"{ref} is neither a run folder, a sweep folder nor a folder of runs")
    return inside


def _sweep_page(path: Path) -> str:
    sweep = read_sweep(path)
    page = Page(f"dltrain sweep {path.name}")
    page.add(f"<h1>sweep {esc(sweep['sweep'])} {status_badge(sweep['status'])}</h1>")
    search = sweep.get("search") or "grid"
    # the swept keys: a grid's values, or a random or Optuna search's space (its distributions)
    grid = (sweep.get("grid") if search == "grid" else sweep.get("space")) or {}
    facts = {
        "points": len(sweep["points"]),
        **{k: v for k, v in sweep.get("counts", {}).items() if v},
        "backend": sweep["backend"],
        "ranked by": sweep.get("sort_by"),
        "time": f"{sweep['seconds']:.2f} s",
    }
    page.add(
        '<div class="facts">'
        + "".join(f"<span>{esc(k)}: <b>{esc(v)}</b></span>" for k, v in facts.items() if v is not None)
        + "</div>"
    )
    label = "grid" if search == "grid" else f"{search} search over"
    page.add(
        f"<p>{esc(label)}: "
        + "; ".join(f"<code>{esc(k)}</code> = {esc(value_text(v))}" for k, v in grid.items())
        + "</p>"
    )
    folders, missing = [], []
    for point in sweep["points"]:
        for number, run in enumerate(point.get("repeats") or [point], 1):
            if run["run"] is not None and is_run_folder(path / run["run"]):
                folders.append(path / run["run"])
            else:
                repeat = f", repeat {number}" if point.get("repeats") else ""
                missing.append(f"point {point['index']} ({point['name']}{repeat}): {run['status']}, no run folder")
    parts = [read_parts(p) for p in folders]
    _add_runs(page, parts, grid, missing, sweep.get("sort_by"))
    return page.html()


def _add_runs(
    page: Page,
    parts: list[Parts],
    grid: Optional[dict],
    missing: Optional[list[str]] = None,
    sort_by: Optional[str] = None,
) -> None:
    """The comparison table (sortable), the overlaid curves and, for a sweep, the metric against its keys:
    ranked by `sort_by` (a sweep's own ranking metric) where the runs have it, else by their main metric."""
    readable = [p for p in parts if p.run is not None]
    problems = [f"{p.name}: {problem}" for p in parts for problem in p.problems] + (missing or [])
    if problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in problems)
        page.add(f'<div class="problems"><b>problems</b><ul>{items}</ul></div>')
    if not readable:
        page.add("<p>no run could be read.</p>")
        return
    read_runs = [p.run for p in readable if p.run is not None]
    try:
        cmp = comparison(read_runs, sort_by=sort_by)
    except ConfigError:  # no run has the sweep's metric (none completed): the main metric of each kind
        cmp = comparison(read_runs)
    if len(cmp.groups) > 1:
        kinds = ", ".join(f"{g.label} ({len(g.rows)})" for g in cmp.groups)
        page.add(
            f'<p class="problems">these runs are of {len(cmp.groups)} kinds: {esc(kinds)}; each is ranked on its own.</p>'
        )
    short = column_names(cmp.changed_keys, cmp.all_keys)
    ranked = [g.metric for g in cmp.groups if g.metric]
    metrics = list(dict.fromkeys([*ranked, *(k for k in cmp.metric_keys if not k.startswith("baseline."))]))
    # the ranked metric, then what differs (a sweep's keys), then the other metrics
    headers = ["#", "run", "status", *metrics[: len(set(ranked))], *(short[k] for k in cmp.changed_keys)]
    headers += [*metrics[len(set(ranked)) :], "epochs", "seconds"]
    body = []
    for group in cmp.groups:
        for rank, i in enumerate(group.rows, 1):
            row = cmp.rows[i]
            values = [row.get(k) for k in metrics]
            body.append(
                [rank, row["run"], row["status"], *values[: len(set(ranked))], *(row.get(k) for k in cmp.changed_keys)]
                + [*values[len(set(ranked)) :], row["epochs"], row["seconds"]]
            )
    page.section(
        "runs" + (f", best {cmp.groups[0].metric} first" if cmp.groups[0].metric else ""),
        table(headers, body, best=cmp.best, tid="runs")
        + f"<p>{cmp.hidden} config keys are the same in every run and not shown. Click a column header to sort.</p>",
    )
    labels = cmp.labels()
    runs = [
        (label, run.history, row["status"] in (Status.FAILED, Status.CRASHED))
        for label, run, row in zip(labels, cmp.runs, cmp.rows)
    ]
    shown = []
    for loss in dict.fromkeys(run.meta.get("loss") or run.config.training.loss for run in cmp.runs):
        members = [r for r, run in zip(runs, cmp.runs) if (run.meta.get("loss") or run.config.training.loss) == loss]
        spec = charts.curves(members, "loss", f"loss ({loss})", f"loss ({loss})")
        if spec:
            shown.append(page.chart(spec))
    spec = charts.curves(runs, "accuracy", "accuracy", "accuracy")
    if spec:
        shown.append(page.chart(spec))
    if shown:
        page.section("curves (click a legend entry to pick a run)", '<div class="charts">' + "".join(shown) + "</div>")
    if grid and cmp.groups[0].metric:
        _sweep_charts(page, cmp, grid, cmp.groups[0].metric)


def _sweep_charts(page: Page, cmp: Any, grid: dict, metric: str) -> None:
    keys = [k for k in grid if k in cmp.all_keys]
    if not keys:
        return
    short = short_names(keys, cmp.all_keys)
    points = []
    for row, run in zip(cmp.rows, cmp.runs):
        config = run.config.model_dump(mode="json")
        values = {k: _dotted(config, k) for k in keys}
        points.append({**values, metric: row.get(metric), "point": row["run"]})
    logs = {k: isinstance(grid[k], dict) and "loguniform" in grid[k] for k in keys}  # a search's distribution
    shown = [page.chart(charts.metric_against(points, k, short[k], metric, logs[k])) for k in keys]
    if len(keys) > 1:
        shown.append(page.chart(charts.parallel(points, keys, short, metric)))
    page.section(f"{metric} against the swept keys", '<div class="charts">' + "".join(shown) + "</div>")


def _dotted(tree: dict, key: str) -> Any:
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None  # type: ignore[assignment]
    return tree
