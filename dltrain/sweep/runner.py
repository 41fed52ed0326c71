"""Run a sweep: every grid point becomes an ordinary run folder inside one sweep folder.

    result = run_sweep("quick.yaml", grid=["training.optimizer.lr=0.1,0.01"], jobs=2, runs_dir="runs")
    result.path      # runs/20261121-204105-quick/ with sweep.json, sweep.yaml and one run folder per point
    result.ranked()  # points, best first by result.metric

Points train wherever the backend puts them and come back as in-memory records; the
run folders are written here, in the order the points finish. sweep.json is rewritten
(atomically) after every point, so it is always a true account of the sweep so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import yaml

from dltrain.api import resolve
from dltrain.config.loader import dump_config
from dltrain.config.schema import Config
from dltrain.errors import ERROR_LOG, ConfigError, Interrupted, TrainingFailed, naming_log
from dltrain.pipeline.save import save_record
from dltrain.runs.folder import RunFolder, elapsed, now_iso
from dltrain.sweep.backends import make_backend
from dltrain.sweep.grid import Point, expand, merge_grids
from dltrain.sweep.interrupt import deferred_interrupt
from dltrain.sweep.point import Trained
from dltrain.sweep.ranking import Metric


@dataclass
class PointState:
    """One point as sweep.json lists it. status: pending | completed | failed | interrupted."""

    point: Point
    status: str = "pending"
    run: Optional[Path] = None
    metrics: dict = field(default_factory=dict)
    seconds: Optional[float] = None
    epochs: Optional[int] = None
    error: Optional[str] = None

    def as_dict(self, root: Optional[Path] = None) -> dict:
        run = None if self.run is None else str(self.run.relative_to(root) if root else self.run)
        return {
            "index": self.point.index,
            "name": self.point.name,
            "values": self.point.values,
            "overrides": self.point.overrides,
            "status": self.status,
            "run": run,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "epochs": self.epochs,
            "error": self.error,
        }


@dataclass
class SweepResult:
    """The sweep so far. status: running | completed (every point) | failed (some) | interrupted."""

    path: Path
    name: str
    grid: dict
    points: list[PointState]
    backend: str
    metric: Optional[Metric] = None
    status: str = "running"
    started: str = field(default_factory=now_iso)
    seconds: float = 0.0
    argv: list = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(p.status != "pending" for p in self.points)

    def ranked(self) -> list[PointState]:
        """Best first by `metric`; points without a value keep grid order at the end."""
        if self.metric is None:
            return list(self.points)
        metric = self.metric
        return sorted(self.points, key=lambda p: (*metric.sort_key(p.metrics), p.point.index))

    def best(self) -> Optional[PointState]:
        ranked = self.ranked()
        return ranked[0] if ranked and self.metric and self.metric.value(ranked[0].metrics) is not None else None

    def as_dict(self, relative: bool = False) -> dict:
        """sweep.json (run folders relative to the sweep folder) or the --json document (absolute)."""
        best = self.best()
        counts = {s: sum(p.status == s for p in self.points) for s in ("completed", "failed", "interrupted", "pending")}
        return {
            "sweep": self.name if relative else str(self.path),
            "status": self.status,
            "backend": self.backend,
            "started": self.started,
            "seconds": self.seconds,
            "argv": self.argv,
            "grid": self.grid,
            "sort_by": str(self.metric) if self.metric else None,
            "best": best.point.index if best else None,
            "counts": counts,
            "points": [p.as_dict(self.path if relative else None) for p in self.points],
        }


def run_sweep(
    config: Union[Config, dict, str, Path],
    grid: Iterable[str] = (),
    *,
    overrides: Iterable[str] = (),
    backend: str = "local",
    jobs: int = 1,
    scheduler: Optional[str] = None,
    name: Optional[str] = None,
    sort_by: Optional[str] = None,
    runs_dir: Union[str, Path] = "runs",
    data_dir: Union[str, Path, None] = None,
    argv: Optional[list[str]] = None,
    on_start: Callable[[SweepResult], None] = lambda sweep: None,
    on_point: Callable[[SweepResult, PointState], None] = lambda sweep, point: None,
) -> SweepResult:
    """Train every point of the grid (the config's `sweep: grid:` updated by `grid` options).

    Every config and option is checked before anything trains or is written (ConfigError).
    Raises TrainingFailed (exit 1) when some point failed and Interrupted (exit 130) on
    Ctrl-C, each carrying the SweepResult; the sweep folder is complete either way.
    """
    base = resolve(config, overrides)
    name = resolve(base, name=name).name if name else base.name
    full_grid = merge_grids(base.sweep.grid if base.sweep else {}, grid)
    points = expand(full_grid, name)
    configs = {p.index: _point_config(base, p) for p in points}
    metric = Metric.parse(sort_by) if sort_by else None
    with make_backend(backend, min(jobs, len(points)), scheduler) as runner:  # never more processes than points
        folder = RunFolder.create(runs_dir, name)
        folder.write_text(
            "sweep.yaml", dump_config(base) + yaml.safe_dump({"sweep": {"grid": full_grid}}, sort_keys=False)
        )
        sweep = SweepResult(
            folder.path,
            name,
            full_grid,
            [PointState(p) for p in points],
            runner.describe(),
            metric,
            argv=list(argv or []),
        )
        _execute(runner, folder, sweep, configs, None if data_dir is None else str(data_dir), on_start, on_point)
    failed = _count(sweep, "failed")
    if failed:
        raise TrainingFailed(f"{failed} of {len(points)} sweep points failed; sweep folder: {folder.path}", sweep)
    return sweep


def _execute(
    runner,
    folder: RunFolder,
    sweep: SweepResult,
    configs: dict[int, Config],
    data_dir: Optional[str],
    on_start: Callable,
    on_point: Callable,
) -> None:
    """Train the points, writing each run folder and sweep.json as results arrive."""
    clock = time.perf_counter()
    _save(folder, sweep, clock)
    on_start(sweep)
    tasks = [(index, cfg.model_dump(mode="json")) for index, cfg in configs.items()]
    try:
        # closing(): an interrupt between two results still stops the backend's running points.
        with closing(runner.run(tasks, data_dir)) as results:
            for trained in results:
                state = sweep.points[trained.index - 1]
                with deferred_interrupt():  # a point's folder and sweep.json are written whole, or not at all
                    _store(folder, sweep, state, trained, configs[trained.index])
                    _save(folder, sweep, clock)
                on_point(sweep, state)
    except KeyboardInterrupt:
        for state in sweep.points:
            if state.status == "pending":
                state.status, state.error = "interrupted", "the sweep was interrupted before this point finished"
        sweep.status = "interrupted"
        _save(folder, sweep, clock)
        finished = len(sweep.points) - _count(sweep, "interrupted")
        raise Interrupted(
            f"sweep interrupted after {finished} of {len(sweep.points)} points; sweep folder: {folder.path}", sweep
        ) from None
    sweep.status = "failed" if _count(sweep, "failed") else "completed"
    _save(folder, sweep, clock)


def _point_config(base: Config, point: Point) -> Config:
    try:
        return resolve(base, point.overrides, name=point.name)
    except ConfigError as err:
        raise ConfigError(f"sweep point {point.index} ({point.label}): {err}") from None


def _store(folder: RunFolder, sweep: SweepResult, state: PointState, trained: Trained, cfg: Config) -> None:
    """Write the point's run folder (when it trained at all) and note its outcome."""
    record = trained.record
    if record is None:
        state.status, state.error = trained.status, trained.error
        return
    record.meta.update(
        argv=sweep.argv, sweep={"folder": sweep.name, "point": state.point.index, "values": state.point.values}
    )
    run = RunFolder.create(folder.path, state.point.name)
    if record.error_log:
        trained.error = record.meta["error"] = naming_log(str(trained.error), run.path / ERROR_LOG)
    run.write_text("config.yaml", record.config_yaml)
    save_record(run, record, plots=cfg.output.plots, report=cfg.output.report)
    state.run, state.metrics = run.path, record.metrics
    state.seconds, state.epochs = record.meta.get("seconds"), record.meta.get("epochs_done")
    state.status, state.error = trained.status, trained.error
    if sweep.metric is None and record.metrics:
        sweep.metric = Metric.default(record.metrics)


def _save(folder: RunFolder, sweep: SweepResult, clock: float) -> None:
    sweep.seconds = elapsed(clock)
    folder.write_json("sweep.json", sweep.as_dict(relative=True))


def _count(sweep: SweepResult, status: str) -> int:
    return sum(p.status == status for p in sweep.points)
