"""Which points a sweep trains: every grid point, points drawn at random, or Optuna's suggestions.

    plan = make_plan("random", space, trials=8, seed=0, name="quick")
    plan.points()       # the points known up front (all of them for grid and random search)
    plan.ask()          # one more point, or None (Optuna asks its sampler; the others have no more)
    plan.tell(state)    # a point's outcome (Optuna learns from it)

A grid key in a random or Optuna search is a `choice` among its values.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from dltrain.config.schema import Distribution
from dltrain.errors import ConfigError
from dltrain.sweep.grid import Point, expand, point_name

SEARCHES = ("grid", "random", "optuna")


class GridPlan:
    adaptive = False

    def __init__(self, grid: dict[str, list], name: str):
        self._points = expand(grid, name)

    def points(self) -> list[Point]:
        return self._points

    def ask(self) -> Optional[Point]:
        return None

    def tell(self, state, history: list) -> None:
        pass


class Fixed(GridPlan):
    """Points given as they are (those of a sweep being resumed)."""

    def __init__(self, points: list[Point]):
        self._points = points


class RandomPlan(GridPlan):
    """`trials` points, each key drawn independently from its distribution, seeded."""

    def __init__(self, space: dict[str, Distribution], trials: int, seed: int, name: str):
        # A generator of its own, so the points do not depend on anything else drawn from `seed`.
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        width = len(str(trials))
        self._points = []
        for i in range(1, trials + 1):
            values = {key: draw(dist, rng) for key, dist in space.items()}
            self._points.append(Point(i, values, point_name(name, i, width, values)))


def draw(dist: Distribution, rng: np.random.Generator) -> Any:
    if dist.kind == "choice":
        return dist.choices[int(rng.integers(len(dist.choices)))]
    low, high = dist.bounds
    if dist.kind == "int":
        return int(rng.integers(int(low), int(high) + 1))
    if dist.kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def edges(dist: Distribution) -> list:
    """The values at the ends of a distribution: its low and high, or every one of its choices."""
    if dist.kind == "choice":
        return list(dist.choices)
    low, high = dist.bounds
    return [int(low), int(high)] if dist.kind == "int" else [float(low), float(high)]


def edge_points(space: dict[str, Distribution], name: str) -> list[Point]:
    """Points that put one key at a time at each of its edges, the others at their first (index 0:
    not points of the sweep). An Optuna search, whose points are drawn as it goes, checks these
    before anything trains, as a grid or random search checks every point of its own."""
    first = {key: edges(dist)[0] for key, dist in space.items()}
    values = [first, *({**first, key: value} for key, dist in space.items() for value in edges(dist)[1:])]
    return [Point(0, v, name) for v in values]


def search_space(grid: dict[str, list], space: dict[str, dict]) -> dict[str, Distribution]:
    """The space a random or Optuna search draws from: `space` (the config's one-key form,
    {loguniform: [1e-4, 0.1]}), with each grid key a choice among its values."""
    out = {key: Distribution(kind="choice", values=values) for key, values in grid.items()}
    out.update({key: Distribution.model_validate(dist) for key, dist in space.items()})
    if not out:
        raise ConfigError(
            "nothing to search: give a `sweep: space:` section, e.g. "
            "{training.optimizer.lr: {loguniform: [1.0e-4, 0.1]}}, or --grid key.path=a,b"
        )
    return out


def make_plan(
    search: str,
    grid: dict[str, list],
    space: dict[str, dict],
    *,
    trials: Optional[int],
    seed: int,
    name: str,
    study=None,
):
    """The plan of a search; `study` is the Optuna study (dltrain.sweep.study) of an Optuna search."""
    if search not in SEARCHES:
        raise ConfigError(f"unknown search {search!r}; allowed: {', '.join(SEARCHES)}")
    if search == "grid":
        if trials is not None:
            raise ConfigError("--trials applies to --search random|optuna; a grid search trains every grid point")
        if space:
            raise ConfigError("a `sweep: space:` is searched with --search random|optuna, not a grid search")
        from dltrain.sweep.grid import merge_grids

        return GridPlan(merge_grids(grid, []), name)
    if trials is None:
        raise ConfigError(f"--search {search} needs --trials N (or `sweep: trials:` in the config)")
    if search == "random":
        return RandomPlan(search_space(grid, space), trials, seed, name)
    return study
