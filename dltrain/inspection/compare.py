"""Side by side: the config keys and final metrics of several runs, as rows of one table.

    table = comparison([read_run(p) for p in paths], only_changed=True, sort_by="test.accuracy")
    table.config_keys     # ['training.optimizer.lr']: dotted keys of the resolved configs
    table.rows            # [{'run': ..., 'status': ..., 'training.optimizer.lr': 0.1, 'test.accuracy': ...}]
    table.best            # index of the best row for `sort_by`

Metrics are flattened the same way ('test.accuracy', 'baseline.test.accuracy').
Which way is better comes from `dltrain.train.metrics.lower_is_better`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass
from typing import Any, Optional

from dltrain.errors import ConfigError
from dltrain.formatting import number, value_text
from dltrain.runs.reader import Run
from dltrain.runs.status import run_status
from dltrain.train.metrics import lower_is_better

IGNORED_KEYS = {"name"}  # the run column already names every run


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}, 'c': [1, 2]} -> {'a.b': 1, 'c': [1, 2]}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _numbers(tree: dict) -> dict[str, float]:
    return {k: v for k, v in flatten(tree).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def short_names(keys: list[str]) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key shares: training.optimizer.lr -> lr."""
    names = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
                names[key] = suffix
                break
        else:
            names[key] = key
    return names


@dataclass
class Comparison:
    runs: list[Run]
    config_keys: list[str]
    changed_keys: list[str]
    metric_keys: list[str]
    rows: list[dict]
    sort_by: Optional[str] = None
    best: Optional[int] = None

    @property
    def columns(self) -> list[str]:
        return ["run", "status", *self.config_keys, *self.metric_keys, "epochs", "seconds"]

    def labels(self) -> list[str]:
        """Legend text per run: what differs ('lr=0.1, hidden=[64]'), else the run name."""
        short = short_names(self.changed_keys)
        return [
            ", ".join(f"{short[k]}={value_text(row.get(k))}" for k in self.changed_keys) or row["run"]
            for row in self.rows
        ]

    def as_dict(self) -> dict:
        return {
            "config_keys": self.config_keys,
            "changed_keys": self.changed_keys,
            "metric_keys": self.metric_keys,
            "sort_by": self.sort_by,
            "best": None if self.best is None else self.rows[self.best]["run"],
            "runs": self.rows,
        }

    def as_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if row.get(c) is None else value_text(row.get(c)) for c in self.columns])
        return buf.getvalue()

    def as_markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "|".join(" --- " for _ in self.columns) + "|"]
        for i, row in enumerate(self.rows):
            cells = [
                (number if c in self.metric_keys else value_text)(row.get(c)).replace("|", "\\|") for c in self.columns
            ]
            if i == self.best and self.sort_by in self.columns:
                j = self.columns.index(self.sort_by)
                cells[j] = f"**{cells[j]}**"
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _same(values: list) -> bool:
    texts = {json.dumps(v, sort_keys=True, default=str) for v in values}
    return len(texts) == 1


def comparison(runs: list[Run], only_changed: bool = False, sort_by: Optional[str] = None) -> Comparison:
    """Rows of config values and metrics, sorted best first by `sort_by` when given."""
    configs = [flatten(r.config.model_dump(mode="json")) for r in runs]
    metrics = [_numbers(r.metrics) for r in runs]
    all_keys = [k for k in dict.fromkeys(k for c in configs for k in c) if k not in IGNORED_KEYS]
    changed = [k for k in all_keys if not _same([c.get(k, "<absent>") for c in configs])]
    metric_keys = sorted(dict.fromkeys(k for m in metrics for k in m), key=_metric_order)
    rows = []
    for run, config, values in zip(runs, configs, metrics):
        row: dict[str, Any] = {"run": run.name, "path": str(run.path), "status": run_status(run.meta)}
        row.update({k: config.get(k) for k in (changed if only_changed else all_keys)})
        row.update({k: values.get(k) for k in metric_keys})
        row.update(epochs=run.meta.get("epochs_done"), seconds=run.meta.get("seconds"))
        rows.append(row)
    table = Comparison(runs, changed if only_changed else all_keys, changed, metric_keys, rows)
    if sort_by is not None:
        _sort(table, sort_by)
    return table


def _metric_order(key: str) -> tuple:
    """baseline last; within each, train, val, test; within a split, loss first."""
    parts = key.split(".")
    baseline = parts[0] == "baseline"
    split = parts[1] if baseline else parts[0]
    return (baseline, {"train": 0, "val": 1, "test": 2}.get(split, 3), parts[-1] != "loss", key)


def _sort(table: Comparison, metric: str) -> None:
    if metric not in table.metric_keys:
        near = difflib.get_close_matches(metric, table.metric_keys, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(
            f"--sort-by {metric!r} is not a metric of these runs{hint}; they have: {', '.join(table.metric_keys)}"
        )
    sign = 1 if lower_is_better(metric) else -1
    order = sorted(
        range(len(table.rows)), key=lambda i: (table.rows[i][metric] is None, sign * (table.rows[i][metric] or 0.0))
    )
    table.rows = [table.rows[i] for i in order]
    table.runs = [table.runs[i] for i in order]
    table.sort_by = metric
    table.best = 0 if table.rows and table.rows[0][metric] is not None else None
