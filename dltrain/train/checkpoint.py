"""A trainer's complete state as flat arrays, so training can stop and go on bit for bit.

    state = capture(trainer)        # {'epoch': (), 'param_0': W0, ..., 'opt.m_0': ..., 'rng': str, 'history': str}
    restore(other_trainer, state)   # same config => identical weights from here on
    save(folder, state); load(folder)

Everything is a plain array (no pickles): parameters, the optimizer's state (Adam's
moments and step, momentum velocities), the learning-rate schedule's state
(`sched.*`: reduce_on_plateau's rate, best value and bad epochs), early stopping's
(`es.*`: best value and epoch, epochs since, the best weights), the first batch's loss
that divergence is measured against, the shuffle generator's bit_generator state and
the history, the last two as JSON text.
"""

from __future__ import annotations

import json

import numpy as np

from dltrain.data.files import numbers, read_npz
from dltrain.errors import RunFolderError, cut
from dltrain.train.monitor import EpochRecord

FILENAME = "checkpoint.npz"
FORMAT = 1
NAMES = ("format", "epoch", "initial_loss", "rng", "history")  # and the PREFIXES' arrays
PREFIXES = ("param_", "opt.", "sched.", "es.")


def capture(trainer, history: bool = True) -> dict[str, np.ndarray]:
    """Copies of everything that decides the rest of the training, at an epoch boundary."""
    state = {"format": np.array(FORMAT), "epoch": np.array(trainer.epoch)}
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
    state = read_npz(path, error=RunFolderError, names=is_state)  # a regular file, never unpickled
    for key in ("format", "epoch"):
        value = numbers(state, key, 0, path, RunFolderError)
        if value.dtype.kind not in "iu" or not 0 <= int(value) < 2**53:
            raise RunFolderError(f"{path} is damaged: {key} is {value.tolist()!r}, not a count")
    if int(state["format"]) != FORMAT:
        raise RunFolderError(f"{path} is not a dltrain checkpoint (format {FORMAT})")
    for key, value in state.items():
        if key in ("rng", "history"):
            if value.dtype.kind != "U" or value.ndim != 0:
                raise RunFolderError(f"{path} is damaged: {key} is {value.dtype} {value.shape}, not text")
        elif key.startswith(PREFIXES):  # best values may be +-inf before an epoch
            numbers(state, key, None, path, RunFolderError, finite=key.startswith(("param_", "es.best_param_")))
        elif key == "initial_loss":  # NaN: not known yet
            numbers(state, key, 0, path, RunFolderError, finite=False)
    if "rng" not in state:
        raise RunFolderError(f"{path} is damaged: rng is missing")
    return state


def is_state(name: str) -> bool:
    """Whether a checkpoint may hold an array of that name (any other is refused before one is read)."""
    return name in NAMES or name.startswith(PREFIXES)


def load_into(folder, trainer) -> None:
    """Restore `trainer` from the folder's checkpoint; a clear error when it does not fit the config."""
    state = load(folder)
    try:
        restore(trainer, state)
    except (KeyError, ValueError, TypeError, OverflowError, AttributeError) as err:
        raise RunFolderError(
            f"{folder.path / FILENAME} does not match the run's config.yaml ({cut(str(err), 200)}); was the config edited?"
        ) from None
