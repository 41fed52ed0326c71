"""The Python API behind the CLI: `dltrain.run(config)` trains and writes a run folder.

    from dltrain import run
    result = run("configs/quickstart.yaml", overrides=["training.epochs=5"], runs_dir="runs")
    result.path, result.status, result.metrics
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from dltrain.config.loader import dump_config, load_config, validate
from dltrain.config.schema import Config
from dltrain.data.paths import resolve_data_dir
from dltrain.data.split import Splits, make_splits
from dltrain.errors import ConfigError, DltrainError, Interrupted, TrainingFailed
from dltrain.nn.network import Network
from dltrain.runs.folder import RunFolder, elapsed, now_iso
from dltrain.train.loop import Trainer
from dltrain.train.metrics import split_metrics
from dltrain.train.progress import Progress


@dataclass
class RunResult:
    """What a finished (or failed, or interrupted) run reports."""

    path: Path
    status: str
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    epochs: int = 0
    error: Optional[str] = None

    def as_dict(self) -> dict:
        return {"run": str(self.path), "status": self.status, "epochs": self.epochs,
                "seconds": self.seconds, "metrics": self.metrics, "error": self.error}


def resolve(config: Union[Config, dict, str, Path], overrides: Iterable[str] = (), **updates) -> Config:
    """A validated Config from a Config, a dict or a YAML path, with overrides and updates applied."""
    if isinstance(config, Config):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        from dltrain.config.loader import apply_override

        for assignment in overrides:
            apply_override(config, assignment)
        cfg = validate(config)
    else:
        cfg = load_config(config, overrides)
    updates = {k: v for k, v in updates.items() if v is not None}
    return validate({**cfg.model_dump(mode="json"), **updates}) if updates else cfg


def load_splits(cfg: Config, data_dir=None) -> Splits:
    """The dataset of `cfg`, split and preprocessed as the run sees it."""
    dataset = cfg.dataset.load(resolve_data_dir(data_dir))
    return make_splits(dataset, cfg.dataset, np.dtype(cfg.training.dtype))


def build_network(cfg: Config, splits: Splits, rng: np.random.Generator) -> Network:
    n_classes = len(splits.classes) if splits.classes is not None else None
    try:
        return cfg.model.build(splits.n_features, n_classes, splits.n_targets, cfg.training.loss, rng, np.dtype(cfg.training.dtype))
    except ValueError as err:
        raise ConfigError(f"invalid config: model: {err}") from None


def seeded_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for initialization and shuffling, both from `seed`."""
    init, shuffle = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(shuffle)


def weights_of(net: Network) -> dict[str, np.ndarray]:
    """{'W0': (n_in, n_1), 'b0': (n_1,), 'W1': ...} layer by layer."""
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"] = layer.W
        if layer.b is not None:
            arrays[f"b{i}"] = layer.b
    return arrays


def final_metrics(net: Network, splits: Splits) -> dict:
    n_classes = len(splits.classes) if splits.classes is not None else None
    return {name: split_metrics(net, X, y, n_classes) for name, (X, y) in splits.items()}


def run(
    config: Union[Config, dict, str, Path],
    *,
    overrides: Iterable[str] = (),
    runs_dir: Union[str, Path] = "runs",
    data_dir: Union[str, Path, None] = None,
    name: Optional[str] = None,
    seed: Optional[int] = None,
    live: Optional[bool] = None,
    argv: Optional[list[str]] = None,
) -> RunResult:
    """Train the model `config` describes and write a run folder under `runs_dir`.

    Raises ConfigError / DataError (nothing written) for bad input, TrainingFailed
    (folder kept, status failed) when training cannot go on.
    """
    cfg = resolve(config, overrides, name=name, seed=seed)
    splits = load_splits(cfg, data_dir)
    init_rng, shuffle_rng = seeded_rngs(cfg.seed)
    net = build_network(cfg, splits, init_rng)
    trainer = Trainer(net, cfg.training.optimizer, cfg.training, splits, shuffle_rng)

    folder = RunFolder.create(runs_dir, cfg.name)
    started, clock = now_iso(), time.perf_counter()
    folder.write_text("config.yaml", dump_config(cfg))
    folder.update_meta(**_meta(cfg, splits, argv), status="running", started=started)

    status, error = "completed", None
    try:
        with Progress(cfg.training.epochs, cfg.training.log_every, live=live) as progress:
            trainer.fit(on_epoch=progress)
    except DltrainError as err:
        status, error = "failed", str(err)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"

    history = [r.as_row() for r in trainer.history]
    folder.write_csv("history.csv", history)
    folder.write_npz("weights.npz", weights_of(net))
    metrics = final_metrics(net, splits) if status == "completed" else {}
    if metrics:
        folder.write_json("metrics.json", metrics)
        if cfg.output.plots:
            _plots(folder, cfg, net, splits, history)
    seconds = elapsed(clock)
    folder.update_meta(status=status, ended=now_iso(), seconds=seconds, epochs_done=trainer.epoch, error=error)
    result = RunResult(folder.path, status, metrics, seconds, trainer.epoch, error)
    if status == "interrupted":
        raise Interrupted(f"interrupted after {trainer.epoch} epochs; run folder: {folder.path}", result)
    if status == "failed":
        raise TrainingFailed(f"{error}\nrun folder: {folder.path}", result)
    return result


def _meta(cfg: Config, splits: Splits, argv) -> dict:
    import os
    import socket

    from dltrain import __version__

    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "dltrain_version": __version__,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "argv": list(sys.argv if argv is None else argv),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "classes": splits.classes,
        "sample_shape": list(splits.sample_shape) if splits.sample_shape else None,
        "n_features": splits.n_features,
        "split_sizes": {name: len(pair[1]) for name, pair in splits.items()},
    }


def _plots(folder: RunFolder, cfg: Config, net: Network, splits: Splits, history: list[dict]) -> None:
    from dltrain.runs import plots

    plots.cost_plot(folder.path / "cost.png", history, net.loss, cfg.name)
    if splits.classes is not None:
        plots.accuracy_plot(folder.path / "accuracy.png", history, cfg.name)
    else:
        name, (X, y) = [(n, p) for n, p in splits.items()][-1]  # test if any, else val, else train
        plots.predictions_plot(folder.path / "predictions.png", y, net.predict(X), name, cfg.name)
