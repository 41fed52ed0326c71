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

from dltrain.runs.reader import Scan, age_key, run_folders
from dltrain.runs.status import Status
from dltrain.train.metric_names import main_metric


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
    return {
        "name": path.name,
        "path": str(path),
        "started": meta.get("started"),
        "status": status,
        "dataset": dataset,
        "model": model,
        "metric": metric,
        "value": value,
        "epochs": meta.get("epochs_done"),
        "seconds": _duration(meta, status),
        "problem": scan.problem,
    }


def list_runs(runs_dir) -> list[dict]:
    """Summaries of every run folder in `runs_dir`, oldest first."""
    rows = [summarize(p) for p in run_folders(runs_dir, sort=False)]  # each meta.json read once
    return sorted(rows, key=lambda row: age_key(row["name"], row["started"]))
