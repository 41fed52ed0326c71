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

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from dltrain.config.loader import dump_config, read_yaml, resolve
from dltrain.config.schema import MAX_RUNS, Config, Sweep
from dltrain.errors import ConfigError, RunFolderError, cut
from dltrain.pipeline.save import RUN_FILES
from dltrain.runs.claim import claimed
from dltrain.runs.folder import RunFolder, now_iso
from dltrain.runs.reader import read_config, read_meta, read_sweep
from dltrain.runs.status import Status, run_status
from dltrain.sweep.backends import make_backend
from dltrain.sweep.execute import UNFINISHED, execute
from dltrain.sweep.grid import merge_grids, parse_grid_option
from dltrain.sweep.ranking import Metric
from dltrain.sweep.search import Fixed, edge_points, make_plan, search_space
from dltrain.sweep.state import PointState, SweepResult, pending
from dltrain.train import checkpoint


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
    grid_values = merge_grids(section.grid, grid, required=search == "grid")
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
            [_new_state(p, base.seed, repeats) for p in plan.points()],
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
    sweep, base = check_resume(path, opts)
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


def check_resume(path: Path, opts: Options) -> tuple[SweepResult, Config]:
    """Everything a resume of the sweep folder `path` reads, checked before anything in it is written
    (but for SQLite rolling back a write to optuna.db that was cut off): sweep.json, sweep.yaml (which
    must describe the same search and give every run the config its folder's config.yaml holds), each
    unfinished run (its config, folder, meta.json and a checkpoint that fits its config) and an Optuna
    search's optuna.db. ConfigError or RunFolderError (exit 2, naming the file)
    otherwise. The sweep to resume and its base config."""
    if not (path / "sweep.json").is_file():
        raise ConfigError(f"--resume {path}: no sweep.json there; give the sweep folder `dltrain sweep` printed")
    doc = read_sweep(path)
    # Two processes training the same runs into the same folders would corrupt both.
    if run_status(doc) == Status.RUNNING:
        where = f"pid {doc['pid']} on {doc.get('host') or 'this host'}"
        raise ConfigError(f"--resume {path}: sweep {doc['sweep']} is still running ({where}); stop it before resuming")
    sweep = SweepResult.from_dict(doc, path)
    base = _sweep_yaml(path, sweep)
    check_unfinished_folders(sweep, base)
    check_one_config(sweep, base, opts.data_dir, remote_data=opts.data_on_workers)
    if sweep.search == "optuna":
        from dltrain.sweep.study import check_prune, check_study

        sweep.metric = sweep.metric or default_metric(base, None if opts.data_on_workers else opts.data_dir)
        check_prune((base.sweep or Sweep()).prune, sweep.metric)
        check_study(path, [state.trial for state in sweep.points if state.trial is not None])
    return sweep, base


def _sweep_yaml(path: Path, sweep: SweepResult) -> Config:
    """sweep.yaml, the base config of the sweep's runs, whose `sweep:` section must be the search
    sweep.json records (the same search, the same keys and values)."""
    file = path / "sweep.yaml"
    try:
        base = resolve(read_yaml(file))
    except ConfigError as err:
        raise ConfigError(str(err) if str(file) in str(err) else f"{file}: {err}") from None
    section = base.sweep or Sweep()
    space: Any = section.grid
    if section.search != "grid" and (section.grid or section.space):
        space = {key: dist.as_yaml() for key, dist in search_space(section.grid, section.space).items()}
    if section.search != sweep.search or _json(space) != _json(sweep.space):
        raise RunFolderError(
            f"{file} does not agree with sweep.json: its sweep section is search: {section.search} over "
            f"{cut(_json(space), 200)}; sweep.json's is search: {sweep.search} over {cut(_json(sweep.space), 200)}"
        )
    return base


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def check_unfinished_folders(sweep: SweepResult, base: Config) -> None:
    """The runs a resume trains again must start: each one's config resolves, and the folder it continues
    is a folder of the sweep's own (never a symbolic link: the run's files would go wherever it points),
    with a sound meta.json and checkpoint. ConfigError or RunFolderError before anything trains otherwise."""
    for state in sweep.points:
        for r, run in enumerate(state.runs):
            if run.status not in UNFINISHED:
                continue
            _recorded_config(sweep, base, state, r)
            if run.path is None:
                continue
            problem = _not_a_folder(run.path)
            if problem:
                raise RunFolderError(
                    f"{run.path}: the run folder of sweep point {state.point.index} is {problem}; nothing was "
                    "trained (a resume continues each unfinished run in its own folder inside the sweep)"
                )
            RunFolder(run.path).check_replaceable(RUN_FILES)
            if (run.path / "meta.json").exists() or (run.path / "meta.json").is_symlink():
                read_meta(run.path)
            if checkpoint.exists(RunFolder(run.path)):
                checkpoint.load(RunFolder(run.path))


def check_one_config(sweep: SweepResult, base: Config, data_dir: Optional[str], remote_data: bool = False) -> None:
    """A sweep's points all come from one config: each run folder's config.yaml must be the config
    sweep.yaml now gives that run, and each unfinished run's checkpoint must fit the network and data
    it builds (not checked when the data is only on the workers). RunFolderError naming the files and
    the key that disagrees otherwise, before anything trains."""
    yaml_file = sweep.path / "sweep.yaml"
    splits: dict[str, Any] = {}
    for state in sweep.points:
        for r, run in enumerate(state.runs):
            if run.path is None or not (run.path / "config.yaml").is_file():
                continue
            cfg = _recorded_config(sweep, base, state, r)
            saved = read_config(run.path)
            differs = _first_difference(_comparable(cfg, saved), _comparable(saved, saved))
            if differs:
                key, now, then = differs
                raise RunFolderError(
                    f"{yaml_file} does not agree with {run.path / 'config.yaml'}: {key} is {now} in sweep.yaml but "
                    f"{then} in the run's config; a sweep's points all come from one config, so put sweep.yaml "
                    f"back as it was, or train the edited config as a new sweep: dltrain sweep {yaml_file}"
                )
            if run.status in UNFINISHED and not remote_data and checkpoint.exists(RunFolder(run.path)):
                _check_checkpoint(RunFolder(run.path), cfg, data_dir, splits, yaml_file)


def _comparable(cfg: Config, saved: Config) -> dict:
    """`cfg` as JSON-ready data without its sweep section, `loss: auto` read as the loss `saved` resolved it to."""
    doc = cfg.model_dump(mode="json", exclude={"sweep"})
    if doc["training"]["loss"] == "auto":
        doc["training"]["loss"] = saved.training.loss
    return doc


def _first_difference(new: Any, old: Any, key: str = "") -> Optional[tuple[str, str, str]]:
    """(the dotted key, its value in `new`, in `old`) of the first value that differs, or None."""
    if isinstance(new, dict) and isinstance(old, dict):
        for name in [*new, *(k for k in old if k not in new)]:
            found = _first_difference(new.get(name), old.get(name), f"{key}.{name}" if key else name)
            if found:
                return found
        return None
    return None if _json(new) == _json(old) else (key, cut(_json(new), 80), cut(_json(old), 80))


def _check_checkpoint(folder: RunFolder, cfg: Config, data_dir: Optional[str], splits: dict, yaml_file: Path) -> None:
    """The folder's checkpoint restores into the trainer `cfg` builds (the data loaded once per dataset)."""
    from dltrain.pipeline.experiment import Experiment, load_splits

    key = _json([cfg.dataset.model_dump(mode="json"), cfg.training.dtype])
    if key not in splits:
        splits[key] = load_splits(cfg, data_dir)
    exp = Experiment(cfg, splits=splits[key])
    checkpoint.load_into(folder, exp.trainer, f"the config {yaml_file} gives it")


def _recorded_config(sweep: SweepResult, base: Config, state: PointState, repeat: int) -> Config:
    """The config of a run as sweep.json records its point; RunFolderError naming sweep.json when its values make none."""
    try:
        return point_config(base, state, repeat)
    except ConfigError as err:
        one_line = " ".join(line.strip() for line in str(err).splitlines())
        raise RunFolderError(f"{sweep.path / 'sweep.json'} is damaged: {one_line}") from None


def _not_a_folder(path: Path) -> Optional[str]:
    """Why `path` is not a folder of its own ('a symbolic link', 'missing', 'not a folder'), or None."""
    if path.is_symlink():
        return "a symbolic link"
    if not path.exists():
        return "missing"
    return None if path.is_dir() else "not a folder"


def _options(options: dict) -> Options:
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown sweep options: {', '.join(sorted(unknown))}")
    opts = Options(**options)
    opts.data_dir = None if opts.data_dir is None else str(opts.data_dir)
    return opts


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The config's seed, then seeds derived from it (NumPy's SeedSequence): repeat 1 is the run
    a sweep without repeats trains, and the others are independent of it and of each other."""
    import numpy as np

    spawned = np.random.SeedSequence(seed).spawn(repeats - 1)
    return [seed, *(int(s.generate_state(1)[0]) for s in spawned)]


def _new_state(point, seed: int, repeats: int) -> PointState:
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


CLASSIFIER_METRICS, REGRESSION_METRICS = ("loss", "accuracy"), ("loss", "mse", "mae", "r2")


def check_metric(metric: Metric, base: Config, data_dir: Optional[str]) -> None:
    """ConfigError unless the runs of `base` will have `metric` (its split, and a metric of their
    task): a sweep ranked by one they lack would rank nothing, and an Optuna search learn nothing.
    Decided from the base config's splits (a sweep over dataset keys is not checked)."""
    from dltrain.pipeline.experiment import load_splits

    splits = load_splits(base, data_dir)
    present = [name for name, _ in splits.items()]
    keys = CLASSIFIER_METRICS if splits.classes is not None else REGRESSION_METRICS
    kind = "a classifier's" if splits.classes is not None else "a regression's"
    if metric.split not in present:
        raise ConfigError(f"--sort-by {metric}: the runs have no {metric.split} split (they have {', '.join(present)})")
    if metric.key not in keys:
        raise ConfigError(f"--sort-by {metric}: {metric.key} is not one of {kind} metrics ({', '.join(keys)})")


def default_metric(base: Config, data_dir: Optional[str]) -> Metric:
    """The metric an Optuna search optimises when none is given: that of Metric.default, known before
    any point has trained (from the splits of the base config)."""
    from dltrain.pipeline.experiment import load_splits

    splits = load_splits(base, data_dir)
    split = "val" if splits.val is not None else "test" if splits.test is not None else "train"
    return Metric(split, "accuracy" if splits.classes is not None else "loss")
