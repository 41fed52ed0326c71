"""Vega-Lite specs (plain dicts) for the report: curves that show their values on hover and
whose series toggle from the legend, a metric against each swept key, parallel coordinates.

The axis rules are the PNGs' (dltrain.plots.base): a log loss axis past two decades, and
limits from the runs that did not fail, so a diverged run cannot squash the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

from dltrain.formatting import number, value_text
from dltrain.plots.base import limits, wants_log

WIDTH, HEIGHT = 520, 300


def _ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def curves(
    runs: list[tuple[str, list[dict], bool]], key: str, title: str, ylabel: str, log: Optional[bool] = None
) -> Optional[dict]:
    """runs: (label, history rows, failed). One line per run and split (train solid, validation
    dashed), a point per epoch with its value on hover; clicking a legend entry picks that run."""
    points = []  # (row, drawn from a failed run)
    for label, history, failed in runs:
        for split, name in (("train", "train"), ("val", "validation")):
            for row in history:
                v = row.get(f"{split}_{key}")
                if _ok(v):
                    points.append(({"run": label, "split": name, "epoch": row["epoch"], key: v}, failed))
    if not points:
        return None
    kept = [row[key] for row, failed in points if not failed]
    use_log = log if log is not None else (key == "loss" and wants_log(kept))
    if use_log:
        points = [(row, failed) for row, failed in points if row[key] > 0]
    scale: dict[str, Any] = {"type": "log"} if use_log else {"zero": False}
    span = limits(kept, use_log)
    if span and any(failed for _, failed in points):  # a failed run is drawn: the others set the limits
        scale["domain"] = list(span)
    many = len(runs) > 10
    pick = {"name": "pick", "select": {"type": "point", "fields": ["run"]}, "bind": "legend"}
    zoom = {"name": "zoom", "select": "interval", "bind": "scales"}  # drag to pan, scroll to zoom
    encoding = {
        "x": {"field": "epoch", "type": "quantitative", "axis": {"tickMinStep": 1}},
        "y": {"field": key, "type": "quantitative", "scale": scale, "title": ylabel},
        "color": {
            "field": "run",
            "type": "nominal",
            "legend": {"columns": 2 if many else 1, "labelLimit": 260, "symbolLimit": 0},
        },
        "strokeDash": {"field": "split", "type": "nominal", "sort": ["train", "validation"], "title": "split"},
        "opacity": {"condition": {"param": "pick", "value": 1}, "value": 0.1},
    }
    tooltip = [
        {"field": "run", "type": "nominal"},
        {"field": "split", "type": "nominal"},
        {"field": "epoch", "type": "quantitative"},
        {"field": key, "type": "quantitative", "format": ".5~g"},
    ]
    return {
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": [row for row, _ in points]},
        "encoding": encoding,
        "layer": [
            {"params": [pick, zoom], "mark": {"type": "line", "clip": True, "strokeWidth": 1.6}},
            {
                "mark": {"type": "point", "filled": True, "size": 22, "clip": True},
                "encoding": {"tooltip": tooltip, "strokeDash": {"value": [1, 0]}},
            },
        ],
    }


def metric_against(points: list[dict], key: str, label: str, metric: str, log: bool = False) -> dict:
    """points: {key: value, metric: value, 'point': name}; a dot per point, numbers on a log
    axis where they span over two decades or were drawn log-uniformly (`log`), other values
    as categories."""
    xs = [p[key] for p in points]
    numeric = all(_ok(x) for x in xs)
    # field names without dots: Vega reads 'test.accuracy' as a nested field
    rows = [{"x": x if numeric else value_text(x), "m": p[metric], "point": p["point"]} for x, p in zip(xs, points)]
    x: dict[str, Any] = {"field": "x", "title": label, "type": "quantitative" if numeric else "ordinal"}
    if numeric and (log or wants_log([v for v in xs if v > 0])) and all(v > 0 for v in xs):
        x["scale"] = {"type": "log"}
    return {
        "title": f"{metric} against {label}",
        "width": 300,
        "height": 220,
        "data": {"values": [r for r in rows if _ok(r["m"])]},
        "mark": {"type": "point", "filled": True, "size": 70},
        "encoding": {
            "x": x,
            "y": {"field": "m", "type": "quantitative", "scale": {"zero": False}, "title": metric},
            "color": {"field": "m", "type": "quantitative", "legend": None},
            "tooltip": [
                {"field": "point", "type": "nominal", "title": "run"},
                {"field": "x", "title": label},
                {"field": "m", "type": "quantitative", "title": metric, "format": ".4f"},
            ],
        },
    }


def parallel(points: list[dict], keys: list[str], labels: dict[str, str], metric: str) -> dict:
    """One line per point across an axis per swept key and the metric, coloured by the metric.
    Each axis runs from its smallest value (bottom) to its largest; categories are evenly spaced."""
    axes = [*keys, metric]
    names = {k: labels.get(k, k) for k in keys} | {metric: metric}
    texts = {k: value_text for k in keys} | {metric: number}  # a metric to four decimals, as in the table
    positions = {k: _positions([p[k] for p in points], texts[k]) for k in axes}
    lines, ticks = [], []
    for i, p in enumerate(points):
        for k in axes:
            lines.append({"i": i, "axis": names[k], "pos": positions[k][0][i], "value": texts[k](p[k]), "m": p[metric]})
    for k in axes:
        for text, pos in positions[k][1].items():
            ticks.append({"axis": names[k], "pos": pos, "value": text})
    order = [names[k] for k in axes]
    x = {"field": "axis", "type": "nominal", "sort": order, "title": None, "axis": {"labelAngle": 0}}
    y = {"field": "pos", "type": "quantitative", "axis": None, "scale": {"domain": [-0.05, 1.05]}}
    return {
        "title": f"{metric} across the swept keys",
        "width": max(360, 150 * len(axes)),
        "height": 280,
        "layer": [
            {
                "data": {"values": [r for r in lines if _ok(r["m"])]},
                "mark": {"type": "line", "opacity": 0.8},
                "encoding": {
                    "x": x,
                    "y": y,
                    "detail": {"field": "i", "type": "nominal"},
                    "color": {"field": "m", "type": "quantitative", "title": metric},
                    "tooltip": [{"field": "m", "type": "quantitative", "title": metric, "format": ".4f"}],
                },
            },
            {
                "data": {"values": [{"axis": a} for a in order]},
                "mark": {"type": "rule", "color": "#999"},
                "encoding": {"x": x},
            },
            {
                "data": {"values": ticks},
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10},
                "encoding": {"x": x, "y": y, "text": {"field": "value"}},
            },
        ],
    }


def _positions(values: list, text: Callable[[Any], str] = value_text) -> tuple[list[Optional[float]], dict[str, float]]:
    """(position in [0, 1] of each value, {tick text: position}): numbers linearly or, past two
    decades, logarithmically; anything else as evenly spaced categories (by `text`) in first-seen order.
    A missing number (None, NaN or inf: a point that failed) has no position, and moves no other."""
    present = [v for v in values if not _missing(v)]
    pos: list[Optional[float]]
    if present and all(_ok(v) for v in present):
        nums = [float(v) for v in present]
        log = all(v > 0 for v in nums) and wants_log(nums)
        scaled = [math.log10(v) if log else v for v in nums]
        lo, hi = min(scaled), max(scaled)
        places = iter(0.5 if hi == lo else (s - lo) / (hi - lo) for s in scaled)
        pos = [None if _missing(v) else next(places) for v in values]
    else:
        texts = list(dict.fromkeys(text(v) for v in values))
        pos = [0.5 if len(texts) == 1 else texts.index(text(v)) / (len(texts) - 1) for v in values]
    ticks: dict[str, float] = {}
    for v, p in zip(values, pos):
        if p is not None:
            ticks.setdefault(text(v), p)
    if len(ticks) > 8:  # many distinct numbers: label the ends only
        ends = sorted(ticks.items(), key=lambda item: item[1])
        ticks = dict([ends[0], ends[-1]])
    return pos, ticks


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))
