"""Side by side: the config keys and final metrics of several runs, as rows of one table.

    table = comparison([read_run(p) for p in paths], sort_by="test.accuracy")
    table.config_keys     # ['training.optimizer.lr']: the dotted keys that differ (all of them with show_all)
    table.hidden          # how many identical keys were left out
    table.rows            # [{'run': ..., 'status': ..., 'training.optimizer.lr': 0.1, 'test.accuracy': ...}]
    table.groups          # runs of one dataset and task, each ranked on its own

Metrics are flattened the same way ('test.accuracy', 'baseline.test.accuracy').
Runs are ordered by `dltrain.train.metric_names.rank_key`, the one ranking of runs. Runs of
different datasets or tasks (classification, regression) are never ranked together:
each group gets its own main metric, its own differing keys and its own order.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from dltrain.errors import ConfigError
from dltrain.formatting import did_you_mean, number, printable, value_text
from dltrain.runs.reader import Run
from dltrain.runs.status import run_status
from dltrain.train.metric_names import main_metric, rank_key

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


RUN_COLUMNS = ("run", "status", "epochs", "seconds")  # what a run's row shows besides its config and metrics


def short_names(keys: list[str], among: Optional[list[str]] = None) -> dict[str, str]:
    """The shortest dotted suffix of each key that no other key of `among` (default: `keys`)
    shares: training.optimizer.lr -> lr, training.optimizer.name -> optimizer.name."""
    among = keys if among is None else among
    names = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in among):
                names[key] = suffix
                break
        else:
            names[key] = key
    return names


def column_names(keys: list[str], all_keys: list[str]) -> dict[str, str]:
    """short_names of config keys shown as columns beside RUN_COLUMNS: training.epochs stays
    whole beside a run's epochs."""
    return short_names(keys, [*all_keys, *RUN_COLUMNS])


@dataclass
class Group:
    """Runs of one dataset and task. rows: indices into Comparison.rows, best first when sorted."""

    dataset: str
    task: str  # 'classification' | 'regression'
    rows: list[int]
    changed_keys: list[str]
    metric: Optional[str]  # the metric ranked on: --sort-by, else the main metric
    val_metric: Optional[str]  # the same metric on the validation split, where there is one
    best: Optional[int] = None  # index into Comparison.rows

    @property
    def label(self) -> str:
        return f"{self.task} on {self.dataset}"


@dataclass
class Comparison:
    runs: list[Run]
    config_keys: list[str]
    changed_keys: list[str]
    metric_keys: list[str]
    rows: list[dict]
    hidden: int = 0
    all_keys: list[str] = field(default_factory=list)  # every config key of the runs, shown or not
    groups: list[Group] = field(default_factory=list)
    sort_by: Optional[str] = None

    @property
    def columns(self) -> list[str]:
        return ["run", "status", *self.metric_keys, "epochs", "seconds", *self.config_keys]

    @property
    def best(self) -> Optional[int]:
        """The best row when there is one group and a metric to rank on."""
        return self.groups[0].best if len(self.groups) == 1 else None

    def labels(self, most: int = 3) -> list[str]:
        """Legend text per run, unique: what differs within its group ('lr=0.1, hidden=[64]'), the
        keys with the most distinct values first, past `most` keys '+K more'; the run name where
        nothing differs or two labels would be the same."""
        labels = [row["run"] for row in self.rows]
        for group in self.groups:
            distinct = {k: len({value_text(self.rows[i].get(k)) for i in group.rows}) for k in group.changed_keys}
            keys = sorted(group.changed_keys, key=lambda k: -distinct[k])
            short = short_names(keys, self.all_keys or None)
            more = f", +{len(keys) - most} more" if len(keys) > most else ""
            for i in group.rows:
                text = ", ".join(f"{short[k]}={value_text(self.rows[i].get(k))}" for k in keys[:most])
                labels[i] = text + more if text else self.rows[i]["run"]
        seen: dict[str, int] = {}
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
        return [f"{label} ({row['run']})" if seen[label] > 1 else label for label, row in zip(labels, self.rows)]

    def as_dict(self) -> dict:
        return {
            "config_keys": self.config_keys,
            "changed_keys": self.changed_keys,
            "hidden_keys": self.hidden,
            "metric_keys": self.metric_keys,
            "sort_by": self.sort_by,
            "best": None if self.best is None else self.rows[self.best]["run"],
            "groups": [
                {
                    "dataset": g.dataset,
                    "task": g.task,
                    "metric": g.metric,
                    "changed_keys": g.changed_keys,
                    "best": None if g.best is None else self.rows[g.best]["run"],
                    "runs": [self.rows[i]["run"] for i in g.rows],
                }
                for g in self.groups
            ],
            "runs": self.rows,
        }

    def as_csv(self) -> str:
        """The table as CSV (values whole; a newline in a folder name is quoted), without control characters."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([printable(c) for c in self.columns])  # metric names are metrics.json's keys
        for row in self.rows:
            writer.writerow([printable(_config_text(row.get(c))) for c in self.columns])
        return buf.getvalue()

    def as_markdown(self) -> str:
        """The table in Markdown, one line per run: '|' escaped, newlines and control characters gone."""
        header = " | ".join(_markdown_cell(c) for c in self.columns)
        lines = [f"| {header} |", "|" + "|".join(" --- " for _ in self.columns) + "|"]
        for i, row in enumerate(self.rows):
            cells = [
                _markdown_cell((number if c in self.metric_keys else _config_text)(row.get(c))) for c in self.columns
            ]
            if i == self.best and self.sort_by in self.columns:
                j = self.columns.index(self.sort_by)
                cells[j] = f"**{cells[j]}**"
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def _config_text(value) -> str:
    """A cell as the config spells it: true / false, and nothing for a value a run does not have."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value_text(value)


def _markdown_cell(text: str) -> str:
    return printable(text).replace("\n", " ").replace("|", "\\|")


def _same(values: list) -> bool:
    texts = {json.dumps(v, sort_keys=True, default=str) for v in values}
    return len(texts) == 1


def _changed(configs: list[dict], keys: list[str]) -> list[str]:
    return [k for k in keys if not _same([c.get(k, "<absent>") for c in configs])]


def task_of(run: Run) -> str:
    return "classification" if run.classes is not None else "regression"


def comparison(runs: list[Run], show_all: bool = False, sort_by: Optional[str] = None) -> Comparison:
    """Rows of config values and metrics, grouped by dataset and task, each group best first by
    `sort_by` (else by its main metric). Only the keys that differ are kept unless `show_all`."""
    configs = [flatten(r.config.model_dump(mode="json")) for r in runs]
    metrics = [_numbers(r.metrics) for r in runs]
    all_keys = [k for k in dict.fromkeys(k for c in configs for k in c) if k not in IGNORED_KEYS]
    changed = _changed(configs, all_keys)
    shown = all_keys if show_all else changed
    metric_keys = sorted(dict.fromkeys(k for m in metrics for k in m), key=_metric_order)
    if sort_by is not None and sort_by not in metric_keys:
        hint = did_you_mean(sort_by, metric_keys)
        raise ConfigError(
            f"--sort-by {sort_by!r} is not a metric of these runs{hint}; they have: {', '.join(metric_keys) or 'none'}"
        )
    rows = []
    for run, config, values in zip(runs, configs, metrics):
        row: dict[str, Any] = {"run": run.name, "path": str(run.path), "status": run_status(run.meta)}
        row.update({k: values.get(k) for k in metric_keys})
        row.update(epochs=run.meta.get("epochs_done"), seconds=run.meta.get("seconds"))
        row.update({k: config.get(k) for k in shown})
        rows.append(row)
    groups = _groups(runs, configs, rows, changed, sort_by)
    order = [i for g in groups for i in g.rows]  # rows grouped, each group in its own order
    position = {old: new for new, old in enumerate(order)}
    for g in groups:
        g.rows = [position[i] for i in g.rows]
        g.best = None if g.best is None else position[g.best]
    return Comparison(
        [runs[i] for i in order],
        shown,
        changed,
        metric_keys,
        [rows[i] for i in order],
        hidden=len(all_keys) - len(shown),
        all_keys=all_keys,
        groups=groups,
        sort_by=sort_by,
    )


def _groups(runs: list[Run], configs: list[dict], rows: list[dict], changed: list[str], sort_by) -> list[Group]:
    members: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        members.setdefault((run.config.dataset.name, task_of(run)), []).append(i)
    groups = []
    for (dataset, task), indices in members.items():
        metric = sort_by or next((m for m in (main_metric(runs[i].metrics) for i in indices) if m), None)
        if metric is not None and all(rows[i].get(metric) is None for i in indices):
            metric = None  # e.g. --sort-by val.loss in a group without a validation split
        val_metric = None
        if metric is not None and not metric.startswith(("val.", "baseline.")):
            candidate = "val." + metric.split(".", 1)[1]
            val_metric = candidate if any(rows[i].get(candidate) is not None for i in indices) else None
        group_changed = _changed([configs[i] for i in indices], changed) if len(members) > 1 else changed
        group = Group(dataset, task, indices, group_changed, metric, val_metric)
        if metric is not None:
            group.rows = sorted(indices, key=lambda i: rank_key(metric, rows[i][metric]))  # stable
            best = group.rows[0]
            group.best = best if rank_key(metric, rows[best][metric])[0] == 0 else None
        groups.append(group)
    return groups


def _metric_order(key: str) -> tuple:
    """baseline last; within each, train, val, test; within a split, loss first."""
    parts = key.split(".")
    baseline = parts[0] == "baseline"
    split = parts[1] if baseline else parts[0]
    return (baseline, {"train": 0, "val": 1, "test": 2}.get(split, 3), parts[-1] != "loss", key)
