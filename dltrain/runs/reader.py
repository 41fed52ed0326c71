"""Read a run folder back: the resolved config, meta, history, metrics and the trained network.

    run = load_run("latest", runs_dir="runs")      # or a path to a run folder
    run.config, run.meta, run.metrics, run.history
    net = run.network()                             # the trained Network, no data needed

The config is validated through the same schema as `dltrain run` (never parsed by
hand); a missing, half-written or unreadable folder raises RunFolderError (exit 2).
"""

from __future__ import annotations

import csv
import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from dltrain.errors import ConfigError, RunFolderError
from dltrain.runs.folder import RunFolder

if TYPE_CHECKING:  # finding run folders needs neither NumPy nor the schema; reading one loads them
    import numpy as np

    from dltrain.config.schema import Config
    from dltrain.nn.network import Network

PathLike = Union[str, Path]


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "config.yaml").is_file() or (path / "meta.json").is_file())


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
        return self.path.name

    @property
    def classes(self) -> Optional[list]:
        return self.meta.get("classes")

    @property
    def split_metrics(self) -> dict:
        """metrics.json without the baseline: {'train': {...}, 'val': {...}, 'test': {...}}."""
        return {k: v for k, v in self.metrics.items() if k != "baseline"}

    @cached_property
    def history(self) -> list[dict]:
        """history.csv's rows, read when first asked for (comparing or listing runs does not need them)."""
        return _read_history(self.path / "history.csv")

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        """{'W0': (n_in, n_1), 'b0': (n_1,), ...} as saved (allow_pickle=False)."""
        return RunFolder(self.path).read_npz("weights.npz")

    @cached_property
    def preprocess(self) -> dict[str, np.ndarray]:
        """{'scaler_shift': (n_features,), 'scaler_scale': (n_features,)}, or {} for an unscaled run."""
        if not (self.path / "preprocess.npz").exists():
            if self.config.dataset.scaling != "none":
                raise RunFolderError(
                    f"{self.path} was trained with scaling {self.config.dataset.scaling!r} but has no preprocess.npz "
                    "(runs from before dltrain saved its scaler): new samples cannot be scaled the same way"
                )
            return {}
        return RunFolder(self.path).read_npz("preprocess.npz")

    def network(self) -> Network:
        """The trained network: built from the config, then given the saved weights."""
        import numpy as np

        W = self.weights
        n_layers = sum(1 for k in W if re.fullmatch(r"W\d+", k))
        if n_layers == 0:
            raise RunFolderError(f"{self.path / 'weights.npz'} holds no weight matrices (W0, W1, ...)")
        n_in, n_out = W["W0"].shape[0], W[f"W{n_layers - 1}"].shape[1]
        n_classes = len(self.classes) if self.classes is not None else None
        cfg = self.config
        try:
            net = cfg.model.build(
                n_in, n_classes, n_out, cfg.training.loss, np.random.default_rng(0), np.dtype(cfg.training.dtype)
            )
        except ValueError as err:
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


def _read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        with open(path, newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except (OSError, ValueError, csv.Error) as err:
        raise RunFolderError(f"{path} is unreadable: {err}") from None


def _number(text: Optional[str]):
    if text is None or text == "":
        return None
    return int(text) if text.isdigit() else float(text)


def _read_config(path: Path) -> Config:
    from dltrain.config.loader import read_yaml, validate

    file = path / "config.yaml"
    if not file.is_file():
        raise RunFolderError(f"{path} is not a complete run folder: config.yaml is missing")
    try:
        return validate(read_yaml(file))
    except ConfigError as err:
        raise RunFolderError(f"{file} is not a valid dltrain config: {err}") from None


def read_run(path: PathLike) -> Run:
    """The run folder at `path`; RunFolderError if it is missing or incomplete."""
    path = Path(path)
    if not path.exists():
        raise RunFolderError(f"no run folder at {path}")
    if not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a run folder")
    folder = RunFolder(path)
    config = _read_config(path)
    meta = folder.read_json("meta.json")
    metrics = folder.read_json("metrics.json") if (path / "metrics.json").exists() else {}
    if not isinstance(meta, dict) or not isinstance(metrics, dict):
        raise RunFolderError(f"{path}: meta.json and metrics.json must hold JSON objects")
    return Run(path, config, meta, metrics)


def run_folders(runs_dir: PathLike, sort: bool = True) -> list[Path]:
    """The run folders inside `runs_dir` and inside its sweep folders, oldest first (`sort`)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunFolderError(f"no runs directory at {runs_dir}")
    found = []
    for path in runs_dir.iterdir():
        if is_run_folder(path):
            found.append(path)
        elif (path / "sweep.json").is_file():
            found.extend(p for p in path.iterdir() if is_run_folder(p))
    return sorted(found, key=lambda path: age_key(path.name, _started(path))) if sort else found


def _started(path: Path):
    import json

    try:
        return json.loads((path / "meta.json").read_text()).get("started")
    except (OSError, ValueError, AttributeError):
        return None


def age_key(name: str, started) -> tuple:
    """Sort key of a run folder: its start time from meta.json, then its name (with a numeric
    suffix compared as a number)."""
    started = started if isinstance(started, str) else ""
    stem, _, suffix = name.rpartition("-")
    return (started, stem, int(suffix)) if suffix.isdigit() and stem else (started, name, 0)


def resolve_ref(ref: PathLike, runs_dir: PathLike = "runs") -> Path:
    """`latest` -> the newest run folder in `runs_dir`; anything else is a path."""
    if str(ref) != "latest":
        return Path(ref)
    folders = run_folders(runs_dir)
    if not folders:
        raise RunFolderError(f"'latest': there are no run folders in {runs_dir}")
    return folders[-1]


def load_run(ref: PathLike, runs_dir: PathLike = "runs") -> Run:
    """The run named by `ref` (a path or `latest`)."""
    return read_run(resolve_ref(ref, runs_dir))


def expand_refs(refs: Iterable[PathLike], runs_dir: PathLike = "runs") -> list[Path]:
    """Run folders from paths, `latest`, shell globs and folders that hold runs, in order, once each."""
    found: list[Path] = []
    for ref in refs:
        text = str(ref)
        paths = (
            [Path(p) for p in sorted(glob.glob(text))]
            if glob.has_magic(text) and not Path(text).exists()
            else [resolve_ref(text, runs_dir)]
        )
        if not paths:
            raise RunFolderError(f"{text} matches no run folder")
        for path in paths:
            if path.is_dir() and not is_run_folder(path):
                inside = run_folders(path)
                if not inside:
                    raise RunFolderError(f"{path} is neither a run folder nor a folder of runs")
                found.extend(inside)
            else:
                found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())
