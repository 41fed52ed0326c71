"""Run a sweep: every point (and each of its repeats) becomes an ordinary run folder inside one sweep folder.

    result = run_sweep("quick.yaml", grid=["training.optimizer.lr=0.1,0.01"], jobs=2, runs_dir="runs")
    result.path      # runs/20261121-204105-quick/ with sweep.json, sweep.yaml, sweep.png and one run folder per run
    result.ranked()  # points, best first by result.metric (the mean over repeats)
    resume_sweep(result.path)   # trains what an interrupted sweep left: cut-off runs from their checkpoint

Runs train wherever the backend puts them and come back as in-memory records; the run
folders are written here, in the order the runs finish. sweep.json is rewritten
(atomically) after every run, so it is always a true account of the sweep so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from dltrain.config.loader import dump_config, resolve
from dltrain.config.schema import MAX_RUNS, Config, Sweep
from dltrain.errors import ConfigError
from dltrain.runs.claim import claimed
from dltrain.runs.folder import RunFolder, now_iso
from dltrain.runs.status import Status
from dltrain.sweep.backends import make_backend
from dltrain.sweep.execute import execute
from dltrain.sweep.grid import merge_grids, parse_grid_option
from dltrain.sweep.ranking import Metric, check_metric, default_metric
from dltrain.sweep.resume_checks import check_resume
from dltrain.sweep.run_configs import new_state, repeat_seeds, run_config
from dltrain.sweep.search import Fixed, edge_points, make_plan, search_space
from dltrain.sweep.state import PointState, SweepResult


@dataclass
class Options:
    """How and where the runs train (the same for a new sweep and a resumed one)."""

    backend: str = "local"
    jobs: int = 1
    scheduler: Optional[str] = None
    data_dir: Optional[str] = None
    data_on_workers: bool = False
    worker_timeout: float = 60.0
    argv: list = field(default_factory=list)
    handle_signals: bool = False
    on_start: Callable[[SweepResult], None] = lambda sweep: None
    on_point: Callable[[SweepResult, PointState], None] = lambda sweep, point: None


def run_sweep(
    config: Union[Config, dict, str, Path],
    grid: Iterable[str] = (),
    *,
    overrides: Iterable[str] = (),
    name: Optional[str] = None,
    sort_by: Optional[str] = None,
    runs_dir: Union[str, Path] = "runs",
    search: Optional[str] = None,
    trials: Optional[int] = None,
    repeats: Optional[int] = None,
    prune: bool = False,
    **options,
) -> SweepResult:
    """Train every point: the grid (the config's `sweep:` section updated by `grid` options),
    or `trials` points of a random or Optuna search; each `repeats` times with its own seed.

    options: those of `Options` (backend, jobs, scheduler, data_dir, argv, on_point, ...).
    Every config and option is checked before anything trains or is written (ConfigError).
    Raises TrainingFailed (exit 1) when some point failed and Interrupted (exit 130) on
    Ctrl-C or SIGTERM, each carrying the SweepResult; the sweep folder is complete either way.
    """
    opts = _options(options)
    base = resolve(config, overrides, name=name)
    section = base.sweep or Sweep()
    search = search or section.search
    trials = trials if trials is not None else (section.trials if search != "grid" else None)
    repeats = repeats if repeats is not None else section.repeats
    prune = prune or section.prune
    for option, count in (("--repeats", repeats), ("--trials", trials)):
        if count is not None and count < 1:
            raise ConfigError(f"{option} must be 1 or more, got {count}")
    for option, count in (("--repeats", repeats), ("--trials", trials or 0)):
        if count > MAX_RUNS:
            raise ConfigError(f"{option} {count:,}: a sweep trains at most {MAX_RUNS:,} runs")
    if prune and search != "optuna":
        raise ConfigError("--prune applies to --search optuna")
    if prune and repeats > 1:
        raise ConfigError("--prune judges single runs: use it without --repeats")
    grid_values = merge_grids(section.grid, grid, required=search == "grid" and not section.space)
    if repeats > 1 and ("seed" in grid_values or "seed" in section.space):
        raise ConfigError("--repeats gives each repeat a seed of its own: sweep over `seed` or repeat, not both")
    # A --grid option replaces the config's own grid or space for its key.
    given = {parse_grid_option(option)[0] for option in grid}
    file_space = {key: dist for key, dist in section.space.items() if key not in given}
    plan = make_plan(search, grid_values, file_space, trials=trials, seed=base.seed, name=base.name)
    space: dict[str, Any] = grid_values if search == "grid" else search_space(grid_values, file_space)
    # Every point up front is resolved now (an Optuna search: the edges of its space), so a bad key or value
    # fails before any training.
    checked = plan.points() if plan is not None else edge_points(space, base.name)
    points = len(checked) if search != "optuna" else trials or 1
    if points * repeats > MAX_RUNS:
        raise ConfigError(f"{points:,} points x {repeats:,} repeats: a sweep trains at most {MAX_RUNS:,} runs")
    for point in checked:
        for seed in repeat_seeds(base.seed, repeats):
            run_config(base, point, seed, repeats)
    metric = Metric.parse(sort_by) if sort_by else None
    swept_data = any(k == "dataset" or k.startswith("dataset.") for k in space)  # each point's data its own
    if metric is not None and not opts.data_on_workers and not swept_data:
        check_metric(metric, base, opts.data_dir)
    if search == "optuna":
        from dltrain.sweep.study import OptunaPlan, check_prune

        metric = metric or default_metric(base, None if opts.data_on_workers else opts.data_dir)
        check_prune(prune, metric)
    runs = repeats * points
    with make_backend(
        opts.backend,
        min(opts.jobs, runs) if opts.jobs >= 1 else opts.jobs,  # never more processes than runs
        opts.scheduler,
        worker_data=opts.data_on_workers,
        data_dir=opts.data_dir,
        worker_timeout=opts.worker_timeout,
    ) as backend:
        folder = RunFolder.create(runs_dir, base.name)
        if search == "optuna":
            assert trials is not None and metric is not None  # make_plan refused a search without trials
            plan = OptunaPlan(space, trials, base.seed, base.name, folder.path, metric, prune)
        section_doc: dict = {"search": search, "repeats": repeats}
        if search == "grid":
            section_doc["grid"] = space
        else:
            section_doc.update(space={k: d.as_yaml() for k, d in space.items()}, trials=trials, prune=prune)
        # The config as given, as the user's file: each point is it with --set overrides (see run_config)
        sweep_yaml = dump_config(base, given_only=True) + yaml.safe_dump({"sweep": section_doc}, sort_keys=False)
        folder.write_text("sweep.yaml", sweep_yaml)
        sweep = SweepResult(
            folder.path,
            base.name,
            section_doc.get("grid") or section_doc["space"],
            [new_state(p, base.seed, repeats) for p in plan.points()],
            backend.describe(),
            metric,
            argv=list(opts.argv),
            search=search,
            repeats=repeats,
            planned=trials or len(plan.points()),
        )
        with claimed(folder.path, BUSY):  # no run of it is resumed meanwhile
            execute(backend, folder, sweep, plan, base, opts, prune)
    return sweep


BUSY = "another dltrain process is training it (the sweep itself, a resume of it, or a resume of one of its runs)"


def resume_sweep(sweep_dir: Union[str, Path], **options) -> SweepResult:
    """Finish an interrupted (or failed) sweep in its own folder: only the runs that did not complete
    train, those cut off from their checkpoint; an Optuna search continues its study."""
    opts = _options(options)
    path = Path(sweep_dir)
    with claimed(path, BUSY):  # while this sweep trains, and from before its folder is checked
        return _resume(path, opts)


def _resume(path: Path, opts: Options) -> SweepResult:
    sweep, base = check_resume(path, opts.data_dir, opts.data_on_workers)
    section = base.sweep or Sweep()
    with make_backend(
        opts.backend,
        opts.jobs,
        opts.scheduler,
        worker_data=opts.data_on_workers,
        data_dir=opts.data_dir,
        worker_timeout=opts.worker_timeout,
    ) as backend:
        folder = RunFolder(path)
        plan: Any = Fixed([])
        prune = section.prune  # grid and random: every point is in sweep.json already
        if sweep.search == "optuna":
            from dltrain.sweep.study import OptunaPlan

            assert sweep.metric is not None  # check_resume chose it
            plan = OptunaPlan(
                search_space(section.grid, section.space),
                section.trials or len(sweep.points),
                base.seed,
                base.name,
                path,
                sweep.metric,
                prune,
                existing=len(sweep.points),
            )
            for state in sweep.points:
                if state.status not in (Status.COMPLETED, Status.PRUNED):
                    state.trial = plan.again(state)
        sweep.planned = (section.trials or 0) if sweep.search == "optuna" else len(sweep.points)
        sweep.resumed.append({"at": now_iso(), "argv": list(opts.argv)})
        sweep.status, sweep.backend = Status.RUNNING, backend.describe()
        execute(backend, folder, sweep, plan, base, opts, prune)
    return sweep


def _options(options: dict) -> Options:
    """The sweep's options; also ConfigError, before any folder is made, where DLTRAIN_ENGINE names no
    engine (each point would fail on it)."""
    from dltrain.nn.fast import engine

    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown sweep options: {', '.join(sorted(unknown))}")
    engine()
    opts = Options(**options)
    opts.data_dir = None if opts.data_dir is None else str(opts.data_dir)
    return opts
