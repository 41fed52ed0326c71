"""The points of a sweep: grid values parsed as YAML, their cartesian product, point names.

    grid = merge_grids({"training.epochs": [10]}, ["training.optimizer.lr=0.1,0.01", "model.hidden=[64],[64,32]"])
    points = expand(grid, "quick")    # 1 x 2 x 2 = 4 points, in grid order
    points[3].overrides               # ['training.epochs=10', 'training.optimizer.lr=0.01', 'model.hidden=[64, 32]']
    points[3].name                    # 'quick-4_epochs10_lr0.01_hidden64x32' (lr 1e6: 'lr1e6';
                                      # dataset={name: sqrt_mean, n: 50}: 'sqrt_mean-n50')

A point is nothing more than a list of `--set` overrides on the base config, so a
sweep point and a hand-written `dltrain run --set ...` train the same model.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from dltrain.config.bounded_yaml import load_yaml
from dltrain.config.schema import MAX_RUNS
from dltrain.errors import ConfigError, shorten
from dltrain.formatting import name_first

# YAML 1.1 (PyYAML) reads 1e-3 as a string; people writing a grid of learning rates mean a number.
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

MAX_NAME = 80  # Config.name's limit: the name becomes part of a folder name


@dataclass(frozen=True)
class Point:
    """One grid point. index: 1-based position in the grid; values: key path -> value."""

    index: int
    values: dict[str, Any]
    name: str

    @property
    def overrides(self) -> list[str]:
        """The point as `--set key=value` assignments."""
        return [f"{key}={yaml_inline(value)}" for key, value in self.values.items()]

    @property
    def label(self) -> str:
        """Short and readable: 'lr=0.1 hidden=[64, 32]'."""
        return " ".join(f"{short_key(key)}={yaml_inline(value)}" for key, value in self.values.items())


def yaml_inline(value: Any) -> str:
    """`value` as one line of YAML that reads back as the same value."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).removesuffix("\n...\n").strip()


def short_key(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def parse_values(text: str) -> list:
    """'0.1,0.01' -> [0.1, 0.01]; '[64],[64,32]' -> [[64], [64, 32]]; 'relu,tanh' -> ['relu', 'tanh']."""
    try:
        values = load_yaml(f"[{text}]")
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "not YAML"
        raise ConfigError(
            f"--grid values {shorten(text)} are not a comma-separated list of YAML values ({problem})"
        ) from None
    return [float(v) if isinstance(v, str) and _EXPONENT_FLOAT.fullmatch(v) else v for v in values]


def parse_grid_option(option: str) -> tuple[str, list]:
    """'training.optimizer.lr=0.1,0.01' -> ('training.optimizer.lr', [0.1, 0.01])."""
    key, sep, text = option.partition("=")
    key = key.strip()
    if not sep or not key or not text.strip():
        raise ConfigError(f"--grid expects key.path=value1,value2,..., got {option!r}")
    return key, parse_values(text)


def merge_grids(file_grid: dict[str, list], options: Iterable[str], required: bool = True) -> dict[str, list]:
    """The config file's `sweep: grid:` updated by --grid options (an option replaces the file's key).

    required=False: an empty grid is fine (a random or Optuna search may have only a space)."""
    grid = {key: list(values) for key, values in file_grid.items()}
    given = set()
    for option in options:
        key, values = parse_grid_option(option)
        if key in given:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one option: --grid {key}=a,b,c")
        given.add(key)
        grid[key] = values
    empty = [key for key, values in grid.items() if not values]
    if empty:
        raise ConfigError(f"sweep grid: {', '.join(empty)} has no values; give at least one value per key")
    if not grid and required:
        raise ConfigError(
            "nothing to sweep: give --grid key.path=value1,value2 or a `sweep: grid:` section in the config"
        )
    return grid


def expand(grid: dict[str, list], base_name: str) -> list[Point]:
    """The cartesian product of `grid`, the last key varying fastest."""
    keys = list(grid)
    size = math.prod(len(grid[key]) for key in keys)
    if size > MAX_RUNS:  # one run folder each
        counts = " x ".join(str(len(grid[key])) for key in keys)
        raise ConfigError(f"the sweep grid has {counts} = {size:,} points; at most {MAX_RUNS:,} are run in one sweep")
    combos = list(itertools.product(*(grid[key] for key in keys)))
    width = len(str(len(combos)))
    points = []
    for i, combo in enumerate(combos, start=1):
        values = dict(zip(keys, combo))
        points.append(Point(i, values, point_name(base_name, i, width, values)))
    return points


def point_name(base: str, index: int, width: int, values: dict[str, Any]) -> str:
    """'quick-3_lr0.1_hidden64x32_tanh': readable in a folder listing, always a valid run name."""
    slug = "_".join(_slug(key, value) for key, value in values.items())
    name = f"{base}-{index:0{width}d}"
    return f"{name}_{slug}"[:MAX_NAME].rstrip("-._") if slug else name


def _slug(key: str, value: Any) -> str:
    # A string value names itself ('tanh'); a number needs its key ('lr0.1'); a whole section its
    # own slugs, its name first ('sqrt_mean-n50'). No '=': run names keep to letters, digits, '.',
    # '_' and '-', safe unquoted in any shell.
    if isinstance(value, dict) and value:
        items = name_first(value)
        return "-".join(_slug(str(k), v) for k, v in items)
    text = short_number(value) if isinstance(value, float) else yaml_inline(value).replace(", ", "x")
    text = re.sub(r"[^A-Za-z0-9._-]+", "", text)
    return text if isinstance(value, str) else f"{short_key(key)}{text}"


def short_number(value: float) -> str:
    """1000000.0 -> '1e6', 0.001 -> '0.001', 1e-05 -> '1e-5', 0.0031622776 -> '0.003162': four
    significant digits, as a person writes them (the exact value is in sweep.json)."""
    mantissa, _, exponent = f"{value:.4g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa
