"""The config of each run of a sweep: the base config (sweep.yaml), the point's values as
--set overrides, the repeat's seed and its name.

    seeds = repeat_seeds(base.seed, 3)      # [base.seed, two seeds derived from it]
    cfg = run_config(base, point, seeds[1], repeats=3, repeat=1)   # named POINT_r2
"""

from __future__ import annotations

from dltrain.config.loader import resolve
from dltrain.config.schema import Config
from dltrain.errors import ConfigError, cut
from dltrain.sweep.state import PointState, pending


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The config's seed, then seeds derived from it (NumPy's SeedSequence): repeat 1 is the run
    a sweep without repeats trains, and the others are independent of it and of each other."""
    import numpy as np

    spawned = np.random.SeedSequence(seed).spawn(repeats - 1)
    return [seed, *(int(s.generate_state(1)[0]) for s in spawned)]


def new_state(point, seed: int, repeats: int) -> PointState:
    return PointState(point, [pending(s) for s in repeat_seeds(seed, repeats)])


def point_config(base: Config, state: PointState, repeat: int) -> Config:
    """The config of a point's run `repeat` (a sweep.json from before repeats has no seeds: the base's)."""
    seed = state.runs[repeat].seed
    return run_config(base, state.point, base.seed if seed is None else seed, len(state.runs), repeat)


def run_config(base: Config, point, seed: int, repeats: int, repeat: int = 0) -> Config:
    """The config of one run: the base config, the point's values, the repeat's seed and its name."""
    name = point.name if repeats == 1 else f"{point.name[:76]}_r{repeat + 1}"
    overrides = point.overrides if repeats == 1 else [*point.overrides, f"seed={seed}"]
    try:
        return resolve(base, overrides, name=name)
    except ConfigError as err:
        where = f"sweep point {point.index}" if point.index else "an edge of the sweep space"
        raise ConfigError(f"{where} ({cut(point.label, 120)}): {err}") from None
