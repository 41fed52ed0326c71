"""Read a run folder back: the resolved config, meta, history, metrics and the trained network.

    run = read_run(path)                            # dltrain.runs.locate.load_run: "latest" too
    run.config, run.meta, run.metrics, run.history
    net = run.network()                             # the trained Network, no data needed
    sweep = read_sweep(sweep_dir)                   # a sweep folder's sweep.json, checked

Every file is checked as it is read: the config through the same schema as `dltrain
run`, meta.json, metrics.json and the arrays through dltrain.runs.schema, sweep.json
through dltrain.runs.sweep_schema; only regular files are read, each up to a size limit.
A missing, half-written, damaged or hostile folder raises RunFolderError naming the file
and the field (exit 2).

Listings read leniently instead: `Scan(path)` never raises, reads only meta.json up
front (the rest when asked for) and calls a folder with a bad file `corrupt`, with
the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from dltrain.errors import ConfigError, RunFolderError, cut, shorten
from dltrain.formatting import displayable
from dltrain.runs.folder import MAX_JSON, read_json
from dltrain.runs.schema import check_meta, check_metrics
from dltrain.runs.status import Status, run_status
from dltrain.runs.sweep_schema import check_sweep

if TYPE_CHECKING:  # finding run folders needs neither NumPy nor the config schema; reading one loads them
    import numpy as np

    from dltrain.config.schema import Config
    from dltrain.nn.network import Network

PathLike = Union[str, Path]

MAX_ARRAYS = 4 << 30  # weights.npz, preprocess.npz: each file, and its arrays together


@dataclass
class Run:
    """One run folder, read: config, meta and metrics at once; history rows ({'epoch': int,
    'train_loss': float, ...}, None where blank), weights and preprocessing on first use."""

    path: Path
    config: Config
    meta: dict
    metrics: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The folder's name as shown (`displayable`); `path` is the folder."""
        return displayable(self.path.name)

    @property
    def classes(self) -> Optional[list]:
        return self.meta.get("classes")

    @cached_property
    def history(self) -> list[dict]:
        """history.csv's rows, read when first asked for (comparing or listing runs does not need them)."""
        return read_history(self.path / "history.csv")

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        """{'W0': (n_in, n_1), 'b0': (n_1,), ...} as saved, checked to chain and be finite."""
        from dltrain.data.files import read_npz
        from dltrain.runs.schema import check_weights, is_weight

        path = self.path / "weights.npz"
        if not path.exists():
            raise RunFolderError(f"{self.path} has no weights.npz: is it a complete run folder?")
        return check_weights(read_npz(path, MAX_ARRAYS, RunFolderError, names=is_weight, stored=True), path)

    @cached_property
    def preprocess(self) -> dict[str, np.ndarray]:
        """{'scaler_shift': (n_features,), 'scaler_scale': (n_features,)}, or {} for an unscaled run."""
        if not (self.path / "preprocess.npz").exists():
            if self.config.dataset.scaling != "none":
                status = run_status(self.meta)
                why = (
                    "(runs from before dltrain saved its scaler)"
                    if status == Status.COMPLETED
                    else f"(it is written when the run ends, and this run is {status})"
                )
                raise RunFolderError(
                    f"{self.path} was trained with scaling {self.config.dataset.scaling!r} but has no preprocess.npz "
                    f"{why}: new samples cannot be scaled the same way"
                )
            return {}
        from dltrain.data.files import read_npz
        from dltrain.runs.schema import check_preprocess, is_preprocess

        path = self.path / "preprocess.npz"
        arrays = read_npz(path, MAX_ARRAYS, RunFolderError, names=is_preprocess, stored=True)
        return check_preprocess(arrays, self.weights["W0"].shape[0], path)

    def network(self) -> Network:
        """The trained network: built from the config, then given the saved weights. RunFolderError
        when config.yaml was edited since the checkpoint in what decides the numbers (the weights
        belong to the config they were trained with)."""
        import numpy as np

        from dltrain.runs.folder import RunFolder
        from dltrain.train import checkpoint

        checkpoint.check_trained_with(RunFolder(self.path), self.config, "its config.yaml")

        W = self.weights
        n_layers = sum(1 for k in W if re.fullmatch(r"W\d+", k))
        n_in, n_out = W["W0"].shape[0], W[f"W{n_layers - 1}"].shape[1]
        n_classes = len(self.classes) if self.classes is not None else None
        cfg = self.config
        try:
            net = cfg.model.build(
                n_in, n_classes, n_out, cfg.training.loss, np.random.default_rng(0), np.dtype(cfg.training.dtype)
            )
        except (ValueError, TypeError) as err:
            raise RunFolderError(f"{self.path}: the saved config does not build a model: {err}") from None
        if len(net.layers) != n_layers:
            raise RunFolderError(
                f"{self.path}: weights.npz has {n_layers} layers but the config's model has {len(net.layers)}"
            )
        for i, layer in enumerate(
            net.layers
        ):  # into the network's own arrays (in the fast engine, views of one vector)
            layer.W[...] = _fitting(W, f"W{i}", layer.W.shape, self.path)
            if layer.b is not None:
                layer.b[...] = _fitting(W, f"b{i}", layer.b.shape, self.path)
        return net


def _fitting(weights: dict, key: str, shape: tuple, path: Path) -> np.ndarray:
    if key not in weights or weights[key].shape != shape:
        found = weights[key].shape if key in weights else "nothing"
        raise RunFolderError(
            f"{path}: weights.npz does not fit the config's model: {key} should be {shape}, found {found}"
        )
    if weights[key].dtype.kind not in "fiu":
        raise RunFolderError(f"{path}: weights.npz holds {weights[key].dtype} values in {key}, not numbers")
    return weights[key]


def read_history(path: Path) -> list[dict]:
    """history.csv's rows: {'epoch': int, 'train_loss': float, ...}, None where blank."""
    from dltrain.data.files import read_csv

    if not path.exists():
        return []
    rows = read_csv(path, MAX_JSON, RunFolderError)
    if not rows:
        return []
    header = rows[0]
    if "epoch" not in header or any(len(row) != len(header) for row in rows):
        raise RunFolderError(f"{path} is damaged: not a table of epochs with columns {shorten(header, 100)}")
    try:
        table = [{k: _number(v) for k, v in zip(header, row)} for row in rows[1:]]
    except ValueError as err:
        raise RunFolderError(f"{path} is damaged: {cut(str(err), 120)}") from None
    for row in table:  # the values may be NaN or infinite (a diverged run); the epochs may not
        if not isinstance(row["epoch"], int) or row["epoch"] < 1:
            raise RunFolderError(f"{path} is damaged: epoch {shorten(row['epoch'], 40)} is not a positive integer")
    return table


def _number(text: str):
    if text == "":
        return None
    return int(text) if text.isdigit() and len(text) < 19 else float(text)


def read_config(path: Path) -> Config:
    """The run folder's config.yaml, bounded and validated as `dltrain run` validates a config."""
    from dltrain.config.loader import read_yaml, validate

    file = path / "config.yaml"
    if not file.exists() and not file.is_symlink():
        raise RunFolderError(f"{path} is not a complete run folder: config.yaml is missing")
    try:
        return validate(read_yaml(file, fast=True))  # written by dltrain, read by the hundred (compare, report)
    except ConfigError as err:
        raise RunFolderError(f"{file} is not a valid dltrain config: {err}") from None


@dataclass
class Scan:
    """A run folder as a listing sees it. Nothing raises: a file that cannot be read or
    fails its check is added to `problems`, and the status becomes corrupt.

    Only meta.json is read when `status` is first asked for; config and metrics when
    they are (a listing of thousands of folders stays cheap).
    """

    path: Path
    problems: list[str] = field(default_factory=list)

    def _lenient(self, read, default):
        try:
            return read(self.path)
        except RunFolderError as err:
            self.problems.append(str(err))
            return default

    def _lenient_json(self, name: str, check, missing):
        """`check`ed JSON of the file `name`; `missing` when there is none, {} when it is bad.
        Read first and looked at only on failure: a listing opens each file once."""
        file = self.path / name
        try:
            return check(read_json(file), file)
        except RunFolderError as err:
            if not file.exists() and not file.is_symlink():  # a dangling symlink is there, and bad
                return missing
            self.problems.append(str(err))
            return {}

    @cached_property
    def meta(self) -> Optional[dict]:
        """meta.json ({} when it is bad), or None when there is none yet."""
        return self._lenient_json("meta.json", check_meta, None)

    @cached_property
    def config(self) -> Optional[Config]:
        file = self.path / "config.yaml"
        return self._lenient(read_config, None) if file.exists() or file.is_symlink() else None

    @cached_property
    def metrics(self) -> dict:
        return self._lenient_json("metrics.json", check_metrics, {})

    @property
    def status(self) -> str:
        meta = self.meta
        if meta is None:  # being created, or abandoned before its first meta.json
            return Status.INCOMPLETE
        return Status.CORRUPT if self.problems else run_status(meta)

    @property
    def problem(self) -> Optional[str]:
        """The first reason the folder is corrupt, or None."""
        return self.problems[0] if self.problems else None


def read_run(path: PathLike) -> Run:
    """The run folder at `path`; RunFolderError if it is missing or incomplete."""
    path = Path(path)
    if not path.exists():
        raise RunFolderError(f"no run folder at {path}")
    if not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a run folder")
    config = read_config(path)
    return Run(path, config, read_meta(path), read_metrics(path))


def read_meta(path: Path) -> dict:
    """The run folder's meta.json, checked (dltrain.runs.schema)."""
    file = path / "meta.json"
    if not file.exists() and not file.is_symlink():
        raise RunFolderError(f"{path} has no meta.json: is it a complete run folder?")
    return check_meta(read_json(file), file)


def read_metrics(path: Path) -> dict:
    """The run folder's metrics.json, checked; {} when the run has none (not completed)."""
    file = path / "metrics.json"
    if not file.exists() and not file.is_symlink():
        return {}
    return check_metrics(read_json(file), file)


def read_sweep(path: Path) -> dict:
    """The sweep folder's sweep.json, checked (dltrain.runs.sweep_schema): every run it names is a folder
    inside `path`."""
    file = path / "sweep.json"
    return check_sweep(read_json(file), file)
