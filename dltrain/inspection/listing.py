"""What `dltrain runs` lists: one summary per run folder, with dead runs told apart from live ones.

A run writes status `running` and its pid and host into meta.json when it starts. If
the process is gone (killed, machine rebooted) the status stays `running` forever, so
a `running` run on this host whose pid is no longer alive is shown as `crashed`.
Runs started on another host cannot be checked and keep their recorded status.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Optional

from dltrain.runs.reader import Scan, age_key, run_folders
from dltrain.runs.status import Status
from dltrain.train.metrics import main_metric


def _duration(meta: dict, status: str) -> Optional[float]:
    if meta.get("seconds") is not None:
        return meta["seconds"]
    if status == Status.RUNNING and meta.get("started"):
        try:
            return round(time.time() - datetime.fromisoformat(meta["started"]).timestamp(), 1)
        except ValueError:
            return None
    return None


def summarize(path: Path) -> dict:
    """One run folder as a row; never fails: a half-written folder is Status.INCOMPLETE,
    one with a damaged file Status.CORRUPT with the reason in 'problem'."""
    scan = Scan(path)
    meta, config, metrics = scan.meta or {}, scan.config, scan.metrics
    status = scan.status
    metric = main_metric(metrics)
    split, _, key = (metric or "").partition(".")
    value = (metrics.get(split) or {}).get(key)
    model_text = None
    if config is not None:
        hidden = getattr(config.model, "hidden", None)
        model_text = str(getattr(config.model, "type", "")) + (" " + "-".join(map(str, hidden)) if hidden else "")
    return {
        "name": path.name,
        "path": str(path),
        "started": meta.get("started"),
        "status": status,
        "dataset": None if config is None else config.dataset.name,
        "model": model_text,
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
