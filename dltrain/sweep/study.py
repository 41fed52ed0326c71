"""An Optuna search: TPE suggests each point from the points finished so far.

    plan = OptunaPlan(space, trials=20, seed=0, name="quick", folder=sweep_dir, metric=Metric("val", "accuracy"))
    point = plan.ask()             # Optuna's next suggestion, until `trials` points were asked
    job.prune = plan.pruner()      # with prune=True: Optuna's median rule, applied on the worker each epoch
    plan.tell(state, history)      # the point's metric (or pruned / failed) goes back to the study

The study lives in the sweep folder (optuna.db, SQLite through Optuna's own storage), so
`dltrain sweep --resume` continues it: points cut off are suggested again with the same
values, and new ones follow from everything the study has seen.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any, Optional
from urllib.request import pathname2url

import yaml

from dltrain.config.schema import Distribution
from dltrain.errors import ConfigError, RunFolderError, cut
from dltrain.runs.status import Status
from dltrain.sweep.grid import Point, point_name, yaml_inline
from dltrain.sweep.ranking import Metric

STUDY = "sweep"
# Median pruning waits for a few finished points (a median of one or two is noise) and
# never judges a point on its first epoch, where every learning rate looks alike.
N_STARTUP, N_WARMUP = 3, 2


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("--search optuna needs Optuna, an optional extra: pip install 'dltrain[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def check_prune(prune: bool, metric: Metric) -> None:
    """--prune needs a per-epoch metric to judge: the validation split's (ConfigError otherwise)."""
    if prune and metric.split != "val":
        raise ConfigError(
            "--prune judges points by their per-epoch validation metric: give the dataset a "
            "validation split (dataset.validation_split: 0.1) and rank by it"
        )


def storage(optuna, folder: Path, mode: str):
    """The sweep's study storage, optuna.db in `folder`, opened in SQLite's `mode` (ro, rw or rwc):
    the file's path goes to SQLite as it is, never parsed as part of a URL."""
    uri = f"file:{pathname2url(str(folder.resolve() / 'optuna.db'))}?mode={mode}"
    return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": lambda: sqlite3.connect(uri, uri=True)})


def _regular(file: Path, missing: Optional[str] = None) -> bool:
    """Whether `file` exists (RunFolderError saying `missing` where it does not, if given);
    RunFolderError unless it is a regular file."""
    try:
        mode = os.lstat(file).st_mode
    except FileNotFoundError:
        if missing is not None:
            raise RunFolderError(f"{file} is missing: {missing}") from None
        return False
    if not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise RunFolderError(f"{file} is {what}: a resume continues the sweep's study only in files of its own")
    return True


def _roll_back(folder: Path) -> None:
    """Undo a write to optuna.db that was cut off (a sweep killed mid-transaction leaves its journal,
    optuna.db-journal): SQLite rolls it back on the first read-write open; a read-only open cannot."""
    if not _regular(folder / "optuna.db-journal"):
        return
    uri = f"file:{pathname2url(str(folder.resolve() / 'optuna.db'))}?mode=rw"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as err:
        db, reason = folder / "optuna.db", cut(str(err), 200)
        if "readonly" in reason:
            raise RunFolderError(
                f"{db}: a write to it was cut off, and rolling it back needs write access: {reason}"
            ) from None
        raise RunFolderError(f"{db} is not the sweep's Optuna study: {reason}") from None


def check_study(folder: Path, trials: list[int]) -> None:
    """A resumed Optuna sweep's optuna.db: a regular file of its own (never written through a symbolic
    link) holding the study, with every trial sweep.json names. Read only, but for rolling back a write
    that was cut off; RunFolderError otherwise."""
    file = folder / "optuna.db"
    _regular(file, missing="the sweep's Optuna study cannot continue without it")
    _roll_back(folder)
    optuna = import_optuna()
    from sqlalchemy.exc import SQLAlchemyError

    try:
        study = optuna.load_study(study_name=STUDY, storage=storage(optuna, folder, "ro"))
        count = len(study.trials)
    except (SQLAlchemyError, optuna.exceptions.OptunaError, KeyError, ValueError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "readonly database" in reason:  # an SQLite database without Optuna's tables: opening it would add them
            reason = "it holds no Optuna study"
        raise RunFolderError(f"{file} is not the sweep's Optuna study: {cut(reason, 200)}") from None
    missing = sorted(t for t in trials if t >= count)
    if missing:
        raise RunFolderError(
            f"{file} holds {count} trials, but sweep.json names trial {missing[0]}: not this sweep's study"
        )


def _scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


INVALID = "invalid config"  # a trial's user attribute: its draw gave a config that is not valid


class OptunaPlan:
    adaptive = True  # each suggestion depends on the points finished before it

    def __init__(
        self,
        space: dict[str, Distribution],
        trials: int,
        seed: int,
        name: str,
        folder: Path,
        metric: Metric,
        prune: bool = False,
        existing: int = 0,
    ):
        optuna = self.optuna = import_optuna()
        self.space, self.trials, self.name, self.asked = space, trials, name, existing
        self.metric, self.prune = metric, prune
        self.history_key = f"val_{'accuracy' if metric.key == 'accuracy' else 'loss'}"
        self.distributions = {key: _distribution(optuna, dist) for key, dist in space.items()}
        self.seed = seed
        self.study = optuna.create_study(
            study_name=STUDY,
            storage=storage(optuna, folder, "rw" if existing else "rwc"),
            sampler=self._sampler(existing + 1),
            direction="minimize" if metric.lower_is_better else "maximize",
            load_if_exists=True,
        )
        self.open: dict[int, Any] = {}  # point index -> its running Optuna trial

    def points(self) -> list[Point]:
        return []

    def ask(self) -> Optional[Point]:
        if self.asked >= self.trials:
            return None
        self.asked += 1
        self.study.sampler = self._sampler(self.asked)
        trial = self.study.ask(self.distributions)
        values = {key: self._value(key, trial.params[key]) for key in self.space}
        point = Point(self.asked, values, point_name(self.name, self.asked, len(str(self.trials)), values))
        self.open[point.index] = trial
        return point

    def _sampler(self, index: int):
        """Optuna's TPE sampler for point `index`, seeded from the sweep's seed and the index: a
        sampler seeded once at the start would, made again by a resume, draw the first points'
        values again. Point k gets the same values however many sessions came before it."""
        import numpy as np

        # A draw whose config was invalid stopped an earlier session: the resume must draw anew there.
        study = getattr(self, "study", None)  # None: the first sampler, before the study opens (ask() sets its own)
        invalid = sum(bool(t.user_attrs.get(INVALID)) for t in study.get_trials(deepcopy=False)) if study else 0
        entropy = [self.seed, index, invalid] if invalid else [self.seed, index]
        seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        return self.optuna.samplers.TPESampler(seed=seed)

    def again(self, state) -> int:
        """A point cut off in an earlier session: its trial failed, the same values asked again.

        Returns the new trial's number."""
        if state.trial is not None:
            trial = self.study.trials[state.trial]
            if trial.state == self.optuna.trial.TrialState.RUNNING:
                self.study.tell(state.trial, state=self.optuna.trial.TrialState.FAIL)
        self.study.enqueue_trial({key: self._param(key, v) for key, v in state.point.values.items()})
        trial = self.study.ask(self.distributions)
        self.open[state.point.index] = trial
        return trial.number

    def drop(self, point: Point) -> None:
        """A point asked but never trained (its config is invalid): its trial failed, the point not counted."""
        trial = self.open.pop(point.index)
        trial.set_user_attr(INVALID, True)
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        self.asked -= 1

    def trial_number(self, index: int) -> Optional[int]:
        trial = self.open.get(index)
        return None if trial is None else trial.number

    def pruner(self) -> Optional[MedianPrune]:
        if not self.prune:
            return None
        completed = self.study.get_trials(deepcopy=True, states=(self.optuna.trial.TrialState.COMPLETE,))
        return MedianPrune(completed, self.study.direction, self.history_key)

    def tell(self, state, history: list[dict]) -> None:
        """Report the point's per-epoch metric, then its outcome; a point cut off stays open (resume asks again)."""
        TrialState = self.optuna.trial.TrialState
        trial = self.open.get(state.point.index)
        if trial is None or state.status in (Status.INTERRUPTED, Status.PENDING):
            return
        del self.open[state.point.index]
        for row in history if len(state.runs) == 1 else []:
            value = row.get(self.history_key)
            if value is not None and math.isfinite(value):
                trial.report(value, row["epoch"])
        if state.status == Status.COMPLETED and self.metric.value(state.metrics) is not None:
            self.study.tell(trial, self.metric.value(state.metrics))
        else:
            self.study.tell(trial, state=TrialState.PRUNED if state.status == Status.PRUNED else TrialState.FAIL)

    def _value(self, key: str, param):
        dist = self.space[key]
        if dist.kind == "choice" and not all(_scalar(v) for v in dist.choices):
            return yaml.safe_load(param)
        return param

    def _param(self, key: str, value):
        dist = self.space[key]
        return yaml_inline(value) if dist.kind == "choice" and not all(_scalar(v) for v in dist.choices) else value


def _distribution(optuna, dist: Distribution):
    d = optuna.distributions
    if dist.kind == "choice":
        values = dist.choices if all(_scalar(v) for v in dist.choices) else [yaml_inline(v) for v in dist.choices]
        return d.CategoricalDistribution(values)
    low, high = dist.bounds
    if dist.kind == "int":
        return d.IntDistribution(int(low), int(high))
    return d.FloatDistribution(low, high, log=dist.kind == "loguniform")


class MedianPrune:
    """Asked on the worker after every epoch: Optuna's MedianPruner against the points that had
    finished when this one started (the rule looks at finished points only), so the decision
    needs no connection to the study."""

    def __init__(self, completed: list, direction, key: str):
        self.completed, self.direction, self.key = completed, direction, key
        self._trial: Any = None

    def __call__(self, record) -> bool:
        value = getattr(record, self.key)
        if value is None:
            return False
        if self._trial is None:
            optuna = import_optuna()
            study = optuna.create_study(
                direction=self.direction,
                pruner=optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP, n_warmup_steps=N_WARMUP),
            )
            study.add_trials(self.completed)
            self._trial = study.ask()
        self._trial.report(value, record.epoch)
        return self._trial.should_prune()

    def __getstate__(self):
        return {"completed": self.completed, "direction": self.direction, "key": self.key, "_trial": None}
