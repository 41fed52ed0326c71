"""What `dltrain runs` lists: one summary per run folder, with dead runs told apart from live ones.

A run writes status `running` and its pid and host into meta.json when it starts. If
the process is gone (killed, machine rebooted) the status stays `running` forever, so
a `running` run on this host whose pid is no longer alive is shown as `crashed`.
Runs started on another host cannot be checked and keep their recorded status.

A row comes from meta.json and metrics.json alone (a run records its dataset and model
in meta.json), so listing thousands of folders costs two small JSON reads each.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

from dltrain.runs.reader import age_key, run_folders
from dltrain.runs.status import Status, run_status
from dltrain.train.metric_names import main_metric


def _read(path: Path, name: str) -> dict:
    try:
        data = json.loads((path / name).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _config(path: Path):
    """The run's config through the schema, or None when config.yaml is missing, unreadable or
    invalid: such a folder is still listed, without its dataset and model."""
    from dltrain.config.loader import read_yaml, validate
    from dltrain.errors import ConfigError

    try:
        return validate(read_yaml(path / "config.yaml"))
    except ConfigError:
        return None


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


def _dataset_and_model(path: Path, meta: dict) -> tuple[Optional[str], Optional[str]]:
    """The dataset name and model text, from meta.json: listing thousands of folders reads two small
    JSON files each. Runs from before meta.json held them fall back to their config.yaml."""
    model = meta.get("model")
    if isinstance(model, dict) and "dataset" in meta:
        return (None if meta["dataset"] is None else str(meta["dataset"])), _model_text(
            model.get("type"), model.get("hidden")
        )
    config = _config(path)
    if config is None:
        return None, None
    return config.dataset.name, _model_text(config.model.type, getattr(config.model, "hidden", None))


def summarize(path: Path) -> dict:
    """One run folder as a row; tolerant of half-written folders (Status.INCOMPLETE)."""
    meta = _read(path, "meta.json")
    status = run_status(meta) if meta else Status.INCOMPLETE
    metrics = _read(path, "metrics.json")
    metric = main_metric(metrics)
    split, _, key = (metric or "").partition(".")
    value = (metrics.get(split) or {}).get(key)
    dataset, model = _dataset_and_model(path, meta)
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
    }


def list_runs(runs_dir) -> list[dict]:
    """Summaries of every run folder in `runs_dir`, oldest first."""
    rows = [summarize(p) for p in run_folders(runs_dir, sort=False)]  # each meta.json read once
    return sorted(rows, key=lambda row: age_key(row["name"], row["started"]))
