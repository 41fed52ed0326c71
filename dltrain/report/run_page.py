"""One run's report: what the run folder holds, read piece by piece, so that a running,
crashed, failed or interrupted run, or one with a missing or corrupt file, still gets a
page of what exists, with every problem named.

    parts = read_parts(Path("runs/20261121-213027-quickstart"))
    html = run_report(parts)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

from dltrain.errors import ConfigError, RunFolderError
from dltrain.files import UnreadableFile, read_regular
from dltrain.formatting import seconds, value_text
from dltrain.report import charts
from dltrain.report.page import Page, esc, image, table
from dltrain.runs import reader
from dltrain.runs.locate import is_run_folder
from dltrain.runs.reader import Run
from dltrain.runs.status import Status, run_status

# The run's figures the report shows as images (its curves are drawn live instead), in order.
FIGURES = {
    "confusion_matrix.png": "confusion matrix",
    "predictions.png": "predicted against actual",
    "weights.png": "first-layer weights",
    "errors.png": "misclassified samples",
    "boundary.png": "decision regions",
}
PNG = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 32 << 20  # a figure dltrain draws is well under a megabyte
T = TypeVar("T")


@dataclass
class Parts:
    """What could be read of a run folder. config: config.yaml as a plain dict."""

    path: Path
    config: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    run: Optional[Run] = None  # when the folder reads as a whole

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        return run_status(self.meta) if self.meta else "unknown"


def read_parts(path: Path) -> Parts:
    """Every piece of the run folder that reads; the others named in `problems`.

    Each file goes through the checked reader the other commands use (dltrain.runs.reader:
    regular files only, bounded in size and nesting, every field checked), one at a time,
    so that a damaged file costs only its own part of the page."""
    if not is_run_folder(path):
        raise RunFolderError(f"{path} is not a run folder (no config.yaml or meta.json)")
    parts = Parts(path)
    config = _checked(parts, reader.read_config)
    meta = _checked(parts, reader.read_meta)
    metrics = _checked(parts, reader.read_metrics)
    history = _checked(parts, lambda folder: reader.read_history(folder / "history.csv"))
    parts.meta, parts.metrics, parts.history = meta or {}, metrics or {}, history or []
    parts.config = config.model_dump(mode="json") if config is not None else _config_as_written(path)
    if config is not None and meta is not None and metrics is not None and history is not None:
        parts.run = Run(path, config, meta, metrics)
        parts.run.history = history  # read once: the cached property is filled in
    if not (path / "history.csv").is_file():
        parts.problems.append("history.csv is missing: no curves")
    if parts.status == Status.COMPLETED:
        for name in ("metrics.json", "weights.npz"):
            if not (path / name).is_file():
                parts.problems.append(f"{name} is missing, though the run completed")
    return parts


def _checked(parts: Parts, read: Callable[[Path], T]) -> Optional[T]:
    """What `read` makes of the run folder, or None with its RunFolderError added to `problems`."""
    try:
        return read(parts.path)
    except RunFolderError as err:
        parts.problems.append(str(err))
        return None


def _config_as_written(path: Path) -> dict:
    """config.yaml as a plain mapping when it is not a valid config (its facts are still shown),
    read with the same bounds; {} when it does not read at all (its problem is already named)."""
    from dltrain.config.loader import read_yaml

    try:
        return read_yaml(path / "config.yaml", fast=True)
    except ConfigError:
        return {}


def _get(tree: dict, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)  # type: ignore[assignment]
    return tree


def facts(parts: Parts) -> str:
    cfg, meta = parts.config, parts.meta
    dataset = _get(cfg, "dataset.name")
    classes = meta.get("classes")
    task = f"{len(classes)} classes" if isinstance(classes, list) else "regression"
    model = _get(cfg, "model.type")
    hidden = _get(cfg, "model.hidden") if model == "mlp" else None
    items = {
        "dataset": f"{dataset} ({task})" if dataset else None,
        "model": f"{model} {value_text(hidden)}" if hidden else model,
        "loss": meta.get("loss") or _get(cfg, "training.loss"),
        "epochs": f"{meta.get('epochs_done', '?')} of {_get(cfg, 'training.epochs') or '?'}",
        "time": f"{seconds(meta.get('seconds'))} s" if meta.get("seconds") is not None else None,
        "started": _to_the_second(meta.get("started")),
        "seed": cfg.get("seed"),
    }
    return (
        '<div class="facts">'
        + "".join(f"<span>{esc(k)}: <b>{esc(v)}</b></span>" for k, v in items.items() if v is not None)
        + "</div>"
    )


def status_badge(status: str) -> str:
    return f'<span class="status {esc(status)}">{esc(status)}</span>'


def metrics_table(metrics: dict) -> str:
    """A row per split, then the baseline's; a column per metric."""
    baseline = metrics.get("baseline") if isinstance(metrics.get("baseline"), dict) else {}
    rows = [(k, v) for k, v in metrics.items() if k != "baseline" and isinstance(v, dict)]
    rows += [(f"sklearn {k}", v) for k, v in (baseline or {}).items() if isinstance(v, dict)]
    keys = list(dict.fromkeys(k for _, values in rows for k in values))
    fragment = table(["split", *keys], [[split, *(values.get(k) for k in keys)] for split, values in rows])
    if baseline:
        fragment += f"<p>sklearn: {esc(baseline.get('error') or baseline.get('model'))}</p>"
    return fragment


def add_run(page: Page, parts: Parts, heading: bool = True) -> None:
    """The run's sections on `page`."""
    if heading:
        page.add(f"<h1>{esc(parts.name)} {status_badge(parts.status)}</h1>")
    page.add(facts(parts))
    if parts.meta.get("error"):
        page.add(f'<p class="problems">error: {esc(parts.meta["error"])}</p>')
    for note in parts.meta.get("notes") or []:
        page.add(f"<p>note: {esc(note)}</p>")
    if parts.problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in parts.problems)
        page.add(f'<div class="problems"><b>problems reading this run</b><ul>{items}</ul></div>')
    if parts.metrics:
        page.section("metrics", metrics_table(parts.metrics))
    else:
        page.section("metrics", f"<p>no metrics: the run is {esc(parts.status)}.</p>")
    failed = parts.status in (Status.FAILED, Status.CRASHED)
    specs = [
        charts.curves(
            [(parts.name, parts.history, failed)], "loss", "loss per epoch", f"loss ({parts.meta.get('loss', '')})"
        ),
        charts.curves([(parts.name, parts.history, failed)], "accuracy", "accuracy per epoch", "accuracy"),
    ]
    shown = [page.chart(s) for s in specs if s is not None]
    if shown:
        page.section("curves", '<div class="charts">' + "".join(shown) + "</div>")
    figures = []
    for filename, caption in FIGURES.items():
        file = parts.path / filename
        if file.is_file():
            data, problem = _read_figure(file)
            if problem is None:
                figures.append(f"<figure>{image(data, caption)}<figcaption>{esc(caption)}</figcaption></figure>")
            else:
                parts.problems.append(problem)
                page.add(f'<p class="problems">{esc(problem)}</p>')
    if figures:
        page.section("figures", '<div class="figures">' + "".join(figures) + "</div>")
    if parts.config:
        import yaml

        text = yaml.safe_dump(parts.config, sort_keys=False)
        page.add(f"<details><summary>resolved config</summary><pre>{esc(text)}</pre></details>")


def _read_figure(file: Path) -> tuple[bytes, Optional[str]]:
    """(the PNG's bytes, None), or (b"", the problem) for a file that is not a readable PNG of
    at most MAX_FIGURE_BYTES (a regular file only, checked as it is opened)."""
    try:
        data = read_regular(file, MAX_FIGURE_BYTES)
    except UnreadableFile as err:
        return b"", str(err)
    return (data, None) if data.startswith(PNG) else (b"", f"{file.name} is not a PNG image")


def run_report(parts: Parts) -> str:
    page = Page(f"dltrain run {parts.name}")
    add_run(page, parts)
    return page.html()


def write_run_report(path: Path) -> Path:
    """report.html inside the run folder (what `output.report: true` asks for)."""
    from dltrain.runs.folder import atomic_write

    return atomic_write(path / "report.html", run_report(read_parts(path)).encode())


def _to_the_second(started):
    """'2026-12-01 19:25:41' of meta.json's '2026-12-01T19:25:41.123+00:00' (as written: local time)."""
    return started[:19].replace("T", " ") if isinstance(started, str) else started
