"""A trainer's complete state as flat arrays, so training can stop and go on bit for bit.

    state = capture(trainer, cfg)   # {'epoch': (), 'param_0': W0, ..., 'opt.m_0': ..., 'rng': str, 'history': str}
    restore(other_trainer, state)   # same config => identical weights from here on
    save(folder, state); load(folder)
    restore_fitting(trainer, state, source, cfg, "the run's config.yaml")  # or a clear error

Everything is a plain array (no pickles): parameters, the optimizer's state (Adam's
moments and step, momentum velocities), the learning-rate schedule's state
(`sched.*`: reduce_on_plateau's rate, best value and bad epochs), early stopping's
(`es.*`: best value and epoch, epochs since, the best weights), the first batch's loss
that divergence is measured against, the shuffle generator's bit_generator state and
the history, the last two as JSON text. And the settings of the config it was trained
with (`settings`, JSON): a resume, eval and predict refuse a config edited since in anything
that decides the numbers (the weights belong to the settings they were trained with).
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from dltrain.data.files import numbers, read_npz
from dltrain.errors import RunFolderError, cut, shorten
from dltrain.formatting import first_difference
from dltrain.train.monitor import EpochRecord

if TYPE_CHECKING:
    from dltrain.config.schema import Config

FILENAME = "checkpoint.npz"
FORMAT = 1
# the state's counters and the least each may be (es.stopped_epoch: -1 while not stopped)
COUNTS = {"epoch": 0, "opt.t": 0, "sched.bad_epochs": 0, "es.best_epoch": 0, "es.wait": 0, "es.stopped_epoch": -1}
RECORD_FIELDS = [f.name for f in dataclasses.fields(EpochRecord)]
NULLABLE = {  # the fields that are None where they do not apply
    name
    for name, hint in get_type_hints(EpochRecord).items()
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
}
NAMES = ("format", "epoch", "initial_loss", "rng", "history", "settings")  # and the PREFIXES' arrays
PREFIXES = ("param_", "opt.", "sched.", "es.")
MAX_SETTINGS = 4 << 20  # characters: as much as a config file may hold (settings are kilobytes)
SECTIONS = ("seed", "dataset", "model", "training")  # what every config's settings have
MAX_DEPTH = 32  # levels of nesting: a config has a handful (an inline dataset's rows of values)
# What a resume may change in the config: the run's name, how long it trains, how often it logs
# and checkpoints, what it writes and the baseline fitted at the end. The rest decides the numbers.
RESUMABLE: dict[str, Any] = {
    "name": True,
    "output": True,
    "baseline": True,
    "sweep": True,
    "training": {"epochs": True, "log_every": True, "checkpoint_every": True},
}


def settings(cfg: Config) -> dict[str, Any]:
    """The settings of `cfg` that decide the numbers its training computes, as JSON-ready data."""
    return cfg.model_dump(mode="json", exclude=RESUMABLE)


def capture(trainer, cfg: Config, history: bool = True) -> dict[str, np.ndarray]:
    """Copies of everything that decides the rest of the training, at an epoch boundary, with the
    `settings` of `cfg`, the config `trainer` was built from."""
    state = {
        "format": np.array(FORMAT),
        "epoch": np.array(trainer.epoch),
        "settings": np.array(json.dumps(settings(cfg))),
    }
    for i, p in enumerate(trainer.net.params):
        state[f"param_{i}"] = p.copy()
    for key, value in trainer.optimizer.state().items():
        state[f"opt.{key}"] = np.array(value, copy=True)
    for key, value in trainer.schedule.state().items():
        state[f"sched.{key}"] = value
    if trainer.stopper is not None:
        for key, value in trainer.stopper.state().items():
            state[f"es.{key}"] = value
    state["initial_loss"] = np.array(np.nan if trainer.initial_loss is None else trainer.initial_loss)
    state["rng"] = np.array(json.dumps(trainer.rng.bit_generator.state))
    if history:
        state["history"] = np.array(json.dumps([r.as_row() for r in trainer.history]))
    return state


def restore(trainer, state: dict[str, np.ndarray]) -> None:
    """Put `trainer` back into a captured state (in place: the optimizer keeps its references)."""
    params = trainer.net.params
    for i, p in enumerate(params):
        saved = state[f"param_{i}"]
        if saved.shape != p.shape:
            raise ValueError(f"parameter {i} has shape {saved.shape}, the network expects {p.shape}")
        p[...] = saved
    for key, value in trainer.optimizer.state().items():
        kept = state.get(f"opt.{key}")
        if kept is None or np.shape(kept) != np.shape(value):
            found = "nothing" if kept is None else np.shape(kept)
            raise ValueError(f"optimizer state {key} should have shape {np.shape(value)}, found {found}")
    trainer.optimizer.load_state(_section(state, "opt."))
    trainer.schedule.load_state(_section(state, "sched."))
    if trainer.stopper is not None:
        trainer.stopper.load_state(_section(state, "es."))
    initial = float(state.get("initial_loss", np.nan))  # absent from checkpoints before divergence_factor
    trainer.initial_loss = None if np.isnan(initial) else initial
    trainer.rng.bit_generator.state = json.loads(str(state["rng"]))
    trainer.epoch = int(state["epoch"])
    if "history" in state:
        trainer.history = [EpochRecord(**row) for row in json.loads(str(state["history"]))]


def _section(state: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


class Mark:
    """The state at an epoch boundary, kept in memory to roll an epoch back (preallocated: taken every epoch)."""

    def __init__(self, trainer):
        self.params = [p.copy() for p in trainer.net.params]
        self.opt, self.rng, self.epoch = {}, None, 0

    def take(self, trainer) -> None:
        for mark, p in zip(self.params, trainer.net.params):
            np.copyto(mark, p)
        self.opt = trainer.optimizer.state()  # already a snapshot (copies)
        # a trainer that does not shuffle never draws from its generator: nothing to roll back
        self.rng = trainer.rng.bit_generator.state if trainer.shuffles else None
        self.epoch = trainer.epoch

    def restore(self, trainer) -> None:
        for mark, p in zip(self.params, trainer.net.params):
            np.copyto(p, mark)
        trainer.optimizer.load_state(self.opt)
        if self.rng is not None:
            trainer.rng.bit_generator.state = self.rng
        trainer.epoch = self.epoch


def save(folder, state: dict[str, np.ndarray]) -> None:
    """Write the checkpoint atomically (a crash leaves the previous one intact)."""
    folder.write_npz(FILENAME, state)


def exists(folder) -> bool:
    return (folder.path / FILENAME).is_file()


def load(folder) -> dict[str, np.ndarray]:
    """The checkpoint's arrays, each checked: RunFolderError naming the file and the array otherwise."""
    path = folder.path / FILENAME
    state = read_npz(path, error=RunFolderError, names=is_state, stored=True)  # a regular file, never unpickled
    value = numbers(state, "format", 0, path, RunFolderError)
    if value.dtype.kind not in "iu" or int(value) != FORMAT:
        raise RunFolderError(f"{path} is not a dltrain checkpoint (format {FORMAT})")
    numbers(state, "epoch", 0, path, RunFolderError)
    for key, value in state.items():
        if key in ("rng", "history", "settings"):
            if value.dtype.kind != "U" or value.ndim != 0:
                raise RunFolderError(f"{path} is damaged: {key} is {value.dtype} {value.shape}, not text")
        elif key.startswith(PREFIXES):  # best values may be +-inf before an epoch
            numbers(state, key, None, path, RunFolderError, finite=key.startswith(("param_", "es.best_param_")))
        elif key == "initial_loss":  # NaN: not known yet
            numbers(state, key, 0, path, RunFolderError, finite=False)
        if key in COUNTS and not _is_count(value, COUNTS[key]):
            raise RunFolderError(f"{path} is damaged: {key} is {shorten(value.tolist(), 60)}, not a count")
    if "rng" not in state:
        raise RunFolderError(f"{path} is damaged: rng is missing")
    if not isinstance(_json(state, "rng", path), dict):
        raise RunFolderError(f"{path} is damaged: rng is not a generator's state")
    if "history" in state:
        _check_history(_json(state, "history", path), path)
    if "settings" in state:
        _check_settings(state, path)
    return state


def is_state(name: str) -> bool:
    """Whether a checkpoint may hold an array of that name (any other is refused before one is read)."""
    return name in NAMES or name.startswith(PREFIXES)


def _is_count(value: np.ndarray, least: int) -> bool:
    return value.ndim == 0 and value.dtype.kind in "iu" and least <= int(value) < 2**53


def _json(state: dict[str, np.ndarray], key: str, path) -> Any:
    try:
        return json.loads(str(state[key]))
    except (ValueError, RecursionError) as err:  # not JSON; nested too deep
        raise RunFolderError(f"{path} is damaged: {key} is not JSON ({cut(str(err), 120)})") from None


def _check_settings(state: dict[str, np.ndarray], path) -> None:
    """RunFolderError unless `settings` reads as a config's settings: at most MAX_SETTINGS characters
    of JSON, an object with every one of SECTIONS, nested no deeper than a config."""
    if len(str(state["settings"])) > MAX_SETTINGS:
        raise RunFolderError(f"{path} is damaged: settings is longer than any config ({MAX_SETTINGS} characters)")
    settings = _json(state, "settings", path)
    if not isinstance(settings, dict) or any(key not in settings for key in SECTIONS) or _depth(settings) > MAX_DEPTH:
        raise RunFolderError(f"{path} is damaged: settings is not a config's settings")


def _depth(value: Any) -> int:
    """How deep JSON data nests (a number: 1), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, (dict, list)):
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _check_history(rows: Any, path) -> None:
    """RunFolderError unless `rows` are history rows: EpochRecord's fields, numbers, epochs counting up from 1."""
    if not isinstance(rows, list):
        raise RunFolderError(f"{path} is damaged: history is not a list of epochs")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(RECORD_FIELDS):
            raise RunFolderError(f"{path} is damaged: history row {i + 1} does not have the fields of an epoch")
        if type(row["epoch"]) is not int or row["epoch"] != i + 1:
            raise RunFolderError(f"{path} is damaged: history row {i + 1} is epoch {shorten(row['epoch'], 40)}")
        for name, value in row.items():
            if (value is None and name in NULLABLE) or (type(value) in (int, float)):
                continue
            raise RunFolderError(f"{path} is damaged: history row {i + 1} has {name} {shorten(value, 40)}")


def load_into(folder, trainer, cfg: Config, config: str = "the run's config.yaml") -> None:
    """Restore `trainer`, built from `cfg`, from the folder's checkpoint; a clear error when it does
    not fit `config` (words naming where `cfg` comes from)."""
    restore_fitting(trainer, load(folder), folder.path / FILENAME, cfg, config)


def check_trained_with(folder, cfg: Config, config: str) -> None:
    """RunFolderError when the folder's checkpoint was trained with other `settings` than `cfg`'s,
    which `config` names in words (nothing to check without a checkpoint)."""
    if exists(folder):
        _same_settings(load(folder), folder.path / FILENAME, cfg, config)


def _same_settings(state: dict[str, np.ndarray], source, cfg: Config, config: str) -> None:
    saved = json.loads(str(state["settings"])) if "settings" in state else None  # older checkpoints have none
    differs = None if saved is None else first_difference(settings(cfg), saved)
    if differs:
        key, now, then = differs
        raise RunFolderError(
            f"{source} was trained with {key}: {then}, not {now} as in {config}, edited since; put the "
            "setting back as it was, or train the edited config as a new run"
        )


def restore_fitting(trainer, state: dict[str, np.ndarray], source, cfg: Config, config: str) -> None:
    """`restore`, or RunFolderError naming `source` (the checkpoint) when the state was trained with
    other `settings` than those of `cfg`, or does not fit the trainer that `cfg` (which `config`
    names in words) built."""
    _same_settings(state, source, cfg, config)
    try:
        restore(trainer, state)
    except (KeyError, ValueError, TypeError, OverflowError, AttributeError) as err:
        raise RunFolderError(
            f"{source} does not fit {config} ({cut(str(err), 200)}); was the config edited, or the checkpoint damaged?"
        ) from None
