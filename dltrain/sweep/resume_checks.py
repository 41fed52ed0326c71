"""What `dltrain sweep --resume` checks before it writes anything: sweep.json, sweep.yaml (the
same search, and each run's config as its folder's config.yaml holds it), each unfinished
run's folder, meta.json and checkpoint, and an Optuna search's study. A resume that would
train into the wrong folders or from a config the runs were not made with stops here, with
ConfigError or RunFolderError naming the file (exit 2).

    sweep, base = check_resume(sweep_dir, data_dir=None, remote_data=False)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dltrain.config.loader import read_yaml, resolve
from dltrain.config.schema import Config, Sweep
from dltrain.errors import ConfigError, RunFolderError, cut
from dltrain.formatting import canonical_json, first_difference
from dltrain.pipeline.save import RUN_FILES
from dltrain.pipeline.session import RunResult
from dltrain.runs.folder import RunFolder
from dltrain.runs.reader import read_config, read_meta, read_sweep
from dltrain.runs.status import Status, run_status
from dltrain.sweep.execute import UNFINISHED
from dltrain.sweep.ranking import default_metric
from dltrain.sweep.run_configs import point_config
from dltrain.sweep.search import search_space
from dltrain.sweep.state import PointState, SweepResult
from dltrain.train import checkpoint


def check_resume(path: Path, data_dir: Optional[str], remote_data: bool) -> tuple[SweepResult, Config]:
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
    check_one_config(sweep, base, data_dir, remote_data)
    if sweep.search == "optuna":
        from dltrain.sweep.study import check_prune, check_study

        sweep.metric = sweep.metric or default_metric(base, None if remote_data else data_dir)
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
    ours, recorded = canonical_json(space), canonical_json(sweep.space)
    if section.search != sweep.search or ours != recorded:
        raise RunFolderError(
            f"{file} does not agree with sweep.json: its sweep section is search: {section.search} over "
            f"{cut(ours, 200)}; sweep.json's is search: {sweep.search} over {cut(recorded, 200)}"
        )
    return base


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
    sweep.yaml now gives that run (but for more epochs where the sweep trained it to sweep.yaml's and
    `dltrain resume POINT --epochs M` further); its data must be those its runs trained on, and each
    unfinished run's checkpoint must fit the network they build (see _check_data; when the data are
    only on the workers, they check the runs they continue). RunFolderError or ConfigError naming
    the files and what disagrees otherwise, before anything trains."""
    yaml_file = sweep.path / "sweep.yaml"
    folders: list[tuple[RunResult, Config]] = []  # each run folder, with the config sweep.yaml gives its run
    for state in sweep.points:
        for r, run in enumerate(state.runs):
            if run.path is None or not (run.path / "config.yaml").is_file():
                continue
            cfg = _recorded_config(sweep, base, state, r)
            saved = read_config(run.path)
            if run.epochs == cfg.training.epochs < saved.training.epochs:  # `dltrain resume POINT --epochs M` after
                saved = saved.model_copy(update={"training": saved.training.model_copy(update={"epochs": run.epochs})})
            differs = first_difference(_comparable(cfg, saved), _comparable(saved, saved))
            if differs:
                key, now, then = differs
                raise RunFolderError(
                    f"{yaml_file} does not agree with {run.path / 'config.yaml'}: {key} is {now} in sweep.yaml but "
                    f"{then} in the run's config; a sweep's points all come from one config, so put back the file "
                    f"that was edited, or train the edited config as a new sweep: dltrain sweep {yaml_file}"
                )
            folders.append((run, cfg))
    if not remote_data:
        _check_data(folders, data_dir, yaml_file)


def _comparable(cfg: Config, saved: Config) -> dict:
    """`cfg` as JSON-ready data without its sweep section, `loss: auto` read as the loss `saved` resolved it to."""
    doc = cfg.model_dump(mode="json", exclude={"sweep"})
    if doc["training"]["loss"] == "auto":
        doc["training"]["loss"] = saved.training.loss
    return doc


def _check_data(folders: list[tuple[RunResult, Config]], data_dir: Optional[str], yaml_file: Path) -> None:
    """The data each run's config loads now are those its meta.json says it trained on (a resume continues
    its runs, and trains its new points, on the data the sweep began on), and each unfinished run's
    checkpoint restores into the trainer its config builds. The data are loaded once per dataset, one
    dataset at a time."""
    from dltrain.pipeline.experiment import Experiment, check_same_data, load_splits

    keyed = [
        (canonical_json([cfg.dataset.model_dump(mode="json"), cfg.training.dtype]), run, cfg) for run, cfg in folders
    ]
    loaded: dict[str, Any] = {}  # one dataset's splits at a time
    for dataset, run, cfg in sorted(keyed, key=lambda item: item[0]):
        assert run.path is not None
        if dataset not in loaded:
            loaded = {dataset: load_splits(cfg, data_dir)}
        splits = loaded[dataset]
        if (run.path / "meta.json").is_file():
            check_same_data(read_meta(run.path), splits, run.path)
        if run.status in UNFINISHED and checkpoint.exists(RunFolder(run.path)):
            exp = Experiment(cfg, splits=splits)
            checkpoint.load_into(RunFolder(run.path), exp.trainer, exp.cfg, f"the config {yaml_file} gives it")


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
