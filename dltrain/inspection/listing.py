"""What `dltrain runs` lists: one summary per run folder, with dead runs told apart from live ones.

A run writes status `running` and its pid and host into meta.json when it starts. If
the process is gone (killed, machine rebooted) the status stays `running` forever, so
a `running` run on this host whose pid is no longer alive is shown as `crashed`.
Runs started on another host cannot be checked and keep their recorded status.

A row comes from meta.json and metrics.json alone (a run records its dataset and model
in meta.json), so listing thousands of folders costs two small JSON reads each. Both
are read leniently (dltrain.runs.reader.Scan): a folder with a damaged file is listed
as `corrupt`, with the reason, and the listing goes on.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Optional

from dltrain.errors import RunFolderError
from dltrain.formatting import did_you_mean, displayable
from dltrain.runs.locate import age_key, run_folders
from dltrain.runs.reader import Scan, read_history
from dltrain.runs.status import Status
from dltrain.train.metric_names import main_metric

LIVE_METRICS = ("val_accuracy", "val_loss", "train_accuracy", "train_loss")  # a running run's, best first


def _latest(path: Path) -> tuple[Optional[str], Optional[float]]:
    """The main metric of history.csv's last row ('val.accuracy', 0.97): what a running run shows.
    (None, None) when there is none or the file does not read (its checked reader: a regular
    file of bounded size)."""
    try:
        rows = read_history(path / "history.csv")
    except RunFolderError:
        return None, None
    last = rows[-1] if rows else {}
    for column in LIVE_METRICS:
        value = last.get(column)
        if isinstance(value, (int, float)):
            return column.replace("_", ".", 1), float(value)
    return None, None


def _duration(meta: dict, status: str) -> Optional[float]:
    if meta.get("seconds") is not None:
        return meta["seconds"]
    if status == Status.RUNNING and meta.get("started"):
        try:
            return round(time.time() - datetime.fromisoformat(meta["started"]).timestamp(), 1)
        except ValueError:
            return None
    return None


def _model_text(kind, hidden) -> Optional[str]:
    """'mlp 64-32', 'logreg'; None when there is no model type."""
    if kind is None:
        return None
    return str(kind) + (" " + "-".join(map(str, hidden)) if isinstance(hidden, list) and hidden else "")


def _dataset_and_model(scan: Scan, meta: dict) -> tuple[Optional[str], Optional[str]]:
    """The dataset name and model text, from meta.json: listing thousands of folders reads two small
    JSON files each. Runs from before meta.json held them fall back to their config.yaml."""
    model = meta.get("model")
    if isinstance(model, dict) and "dataset" in meta:
        return (None if meta["dataset"] is None else str(meta["dataset"])), _model_text(
            model.get("type"), model.get("hidden")
        )
    config = scan.config
    if config is None:
        return None, None
    return config.dataset.name, _model_text(getattr(config.model, "type", None), getattr(config.model, "hidden", None))


def summarize(path: Path) -> dict:
    """One run folder as a row; never fails: a half-written folder is Status.INCOMPLETE,
    one with a damaged file Status.CORRUPT with the reason in 'problem'."""
    scan = Scan(path)
    meta, metrics = scan.meta or {}, scan.metrics
    metric = main_metric(metrics)
    split, _, key = (metric or "").partition(".")
    value = (metrics.get(split) or {}).get(key)
    dataset, model = _dataset_and_model(scan, meta)
    status = scan.status  # after every read: a damaged file makes it corrupt
    given = meta.get("name")
    if status == Status.RUNNING and metric is None:  # no metrics.json yet: the latest epoch's
        metric, value = _latest(path)
    return {
        "name": displayable(path.name),
        "given_name": displayable(given) if isinstance(given, str) else None,  # the config's name or --name
        "path": str(path),
        "started": meta.get("started"),
        "status": status,
        "dataset": dataset,
        "model": model,
        "metric": metric,
        "value": value,
        "epochs": meta.get("epochs_done"),
        "epochs_total": meta.get("epochs"),
        "seconds": _duration(meta, status),
        "metrics": {k: v for k, v in metrics.items() if k != "baseline" and isinstance(v, dict)},
        "problem": scan.problem,
    }


def list_runs(runs_dir) -> list[dict]:
    """Summaries of every run folder in `runs_dir`, oldest first."""
    rows = [summarize(p) for p in run_folders(runs_dir, sort=False)]  # each meta.json read once
    return sorted(rows, key=lambda row: age_key(row["name"], row["started"]))


FILTER_KEYS = ("name", "status", "dataset", "model")


def _matches(row: dict, assignment: str) -> bool:
    """Whether `row` matches KEY=PATTERN; `name` matches the folder's name or the name the run was given."""
    from fnmatch import fnmatchcase

    key, _, pattern = assignment.partition("=")
    pattern = displayable(pattern)  # a name as shown, as typed or as bytes
    values = [str(row.get(key) or "")]
    if key == "name" and row.get("given_name") is not None:  # name=quickstart: whatever the timestamp
        values.append(str(row["given_name"]))
    # model=mlp matches 'mlp 64-32'; name=*quickstart* is a glob
    return any(fnmatchcase(value, pattern) or value.split(" ")[0] == pattern for value in values)


def metric_value(row: dict, metric: str) -> Optional[float]:
    """The value of 'split.key' (test.accuracy) in a row's metrics, or None."""
    split, _, key = metric.partition(".")
    value = (row.get("metrics") or {}).get(split, {}).get(key)
    if not isinstance(value, (int, float)) or value != value:  # missing, or NaN: no place in a ranking
        return None
    return float(value)


def select_runs(rows: list[dict], filters=(), sort: Optional[str] = None, last: Optional[int] = None) -> list[dict]:
    """The rows (oldest first) that match every KEY=VALUE filter; then the `last` newest of them;
    then, with `sort` ('test.accuracy'), best first, runs without that metric at the end."""
    from dltrain.errors import ConfigError
    from dltrain.train.metric_names import SPLIT_METRICS, SPLITS, rank_key

    statuses = [s.value for s in Status]
    for assignment in filters:
        key, sep, value = assignment.partition("=")
        if not sep or key not in FILTER_KEYS:
            raise ConfigError(f"--filter {assignment!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}")
        if key == "status" and not set("*?[") & set(value) and value not in statuses:
            raise ConfigError(
                f"--filter {assignment!r}: no run has that status{did_you_mean(value, statuses)}; one of {', '.join(statuses)}"
            )
    rows = [r for r in rows if all(_matches(r, f) for f in filters)]
    if last is not None:
        rows = rows[-last:] if last else []
    if sort is not None:
        split, _, key = sort.partition(".")
        if split not in SPLITS or key not in SPLIT_METRICS:
            names = [f"{s}.{m}" for s in SPLITS for m in SPLIT_METRICS]
            raise ConfigError(
                f"--sort {sort!r}: expected SPLIT.METRIC{did_you_mean(sort, names)}, e.g. test.accuracy or val.loss"
            )
        rows = sorted(rows, key=lambda r: rank_key(sort, metric_value(r, sort)))  # stable
    return rows
