"""The Python API behind the CLI: `dltrain.run(config)` trains and writes a run folder.

    from dltrain import run
    result = run("configs/quickstart.yaml", overrides=["training.epochs=5"], runs_dir="runs")
    result.path, result.status, result.metrics
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

from dltrain.config.loader import apply_override, dump_config, load_config, validate
from dltrain.config.schema import Config
from dltrain.errors import DltrainError, Interrupted, TrainingFailed
from dltrain.experiment import Experiment
from dltrain.runs.folder import RunFolder, elapsed, now_iso
from dltrain.runs.save import save_record
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
    if isinstance(config, (Config, dict)):
        data = config.model_dump(mode="json") if isinstance(config, Config) else dict(config)
        for assignment in overrides:
            apply_override(data, assignment)
        cfg = validate(data)
    else:
        cfg = load_config(config, overrides)
    updates = {k: v for k, v in updates.items() if v is not None}
    return validate({**cfg.model_dump(mode="json"), **updates}) if updates else cfg


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

    Raises ConfigError / DataError (nothing written) for bad input; TrainingFailed
    (exit 1) and Interrupted (exit 130) after saving what was done, status failed or
    interrupted in meta.json.
    """
    cfg = resolve(config, overrides, name=name, seed=seed)
    exp = Experiment(cfg, data_dir)

    folder = RunFolder.create(runs_dir, cfg.name)
    clock = time.perf_counter()
    folder.write_text("config.yaml", dump_config(cfg))
    folder.update_meta(**exp.describe(), argv=list(sys.argv if argv is None else argv), status="running", started=now_iso())

    status, error = "completed", None
    try:
        with Progress(cfg.training.epochs, cfg.training.log_every, live=live) as progress:
            exp.train(on_epoch=progress)
    except DltrainError as err:
        status, error = "failed", str(err)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"

    record = exp.record(status, error)
    record.meta.update(ended=now_iso(), seconds=elapsed(clock))
    save_record(folder, record, plots=cfg.output.plots)
    result = RunResult(folder.path, status, record.metrics, record.meta["seconds"], exp.trainer.epoch, error)
    if status == "interrupted":
        raise Interrupted(f"interrupted after {result.epochs} epochs; run folder: {folder.path}", result)
    if status == "failed":
        raise TrainingFailed(f"{error}\nrun folder: {folder.path}", result)
    return result
