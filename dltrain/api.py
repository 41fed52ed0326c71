"""The Python API behind the CLI: `dltrain.run(config)` trains and writes a run folder,
`dltrain.api.resume(folder)` continues one from its checkpoint.

    from dltrain import run
    result = run("configs/quickstart.yaml", overrides=["training.epochs=5"], runs_dir="runs")
    result.path, result.status, result.metrics
    resume(result.path, epochs=20)      # same weights as a run of 20 epochs, bit for bit
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Optional, Union

from dltrain.baseline import INTERRUPTED
from dltrain.config.loader import dump_config, resolve
from dltrain.config.schema import Config
from dltrain.errors import ConfigError, Interrupted, RunFolderError, TrainingFailed
from dltrain.pipeline.experiment import Experiment, check_same_data
from dltrain.pipeline.save import RUN_FILES
from dltrain.pipeline.session import ProgressFactory, RunResult, Session
from dltrain.runs.claim import claimed, claimed_sweep_of
from dltrain.runs.folder import RunFolder, now_iso
from dltrain.runs.status import Status, run_status
from dltrain.train import checkpoint
from dltrain.train.monitor import check_monitors


def check_without_data(cfg: Config) -> None:
    """The checks `run` makes once the data is loaded, as far as the config alone decides them
    (`dltrain run --dry-run`): a val.* monitor needs dataset.validation_split. ConfigError otherwise."""
    check_monitors(cfg.training, has_val=cfg.dataset.validation_split > 0, classifies=None)


def run(
    config: Union[Config, dict, str, Path],
    *,
    overrides: Iterable[str] = (),
    runs_dir: Union[str, Path] = "runs",
    data_dir: Union[str, Path, None] = None,
    name: Optional[str] = None,
    seed: Optional[int] = None,
    progress: Optional[ProgressFactory] = None,
    on_note: Optional[Callable[[str], None]] = None,
    argv: Optional[list[str]] = None,
    handle_signals: bool = False,
) -> RunResult:
    """Train the model `config` describes and write a run folder under `runs_dir`.

    Raises ConfigError / DataError (nothing written) for bad input; TrainingFailed
    (exit 1) and Interrupted (exit 130) after saving what was done, status failed or
    interrupted in meta.json (failed also when a file cannot be written, a full disk);
    RunFolderError when the run folder cannot be created.
    `handle_signals`: the first SIGINT/SIGTERM stops after the current batch and saves
    (the CLI sets it; without it Ctrl-C raises KeyboardInterrupt, which also saves).
    """
    cfg = resolve(config, overrides, name=name, seed=seed)
    exp = Experiment(cfg, data_dir)
    _tell_notes(exp, on_note)

    folder = RunFolder.create(runs_dir, cfg.name)
    with claimed(folder.path, "a dltrain run is training it"):  # as a resume does: `runs --delete` keeps it
        try:
            folder.write_text("config.yaml", dump_config(exp.cfg))  # `loss: auto` resolved
            folder.update_meta(
                **exp.describe(),
                argv=list(sys.argv if argv is None else argv),
                status=Status.RUNNING,
                started=now_iso(),
                process_started=now_iso(),
                epochs_done=0,
            )
        except RunFolderError:
            folder.remove_if_empty()  # no half-made run folder without a meta.json
            raise
        result = Session(exp, folder, progress=progress, handle_signals=handle_signals).train()
    return _finish(result, cfg.training.epochs)


def resume(
    run_dir: Union[str, Path],
    *,
    epochs: Optional[int] = None,
    data_dir: Union[str, Path, None] = None,
    progress: Optional[ProgressFactory] = None,
    on_note: Optional[Callable[[str], None]] = None,
    argv: Optional[list[str]] = None,
    handle_signals: bool = False,
) -> RunResult:
    """Continue an interrupted, crashed or finished run in its own folder, from its checkpoint
    (from the start when it has none), up to `epochs` (default: the config's).

    The result is bit-identical to the same run never interrupted. RunFolderError while another
    process resumes the same folder, or trains the sweep it belongs to.
    """
    run_dir = Path(run_dir)
    if (run_dir / "sweep.json").is_file():
        raise RunFolderError(f"{run_dir} is a sweep folder: finish it with dltrain sweep --resume {run_dir}")
    with claimed_sweep_of(run_dir), claimed(run_dir, "another dltrain process is training it"):
        return _resume(run_dir, epochs, data_dir, progress, on_note, argv, handle_signals)


def _resume(
    run_dir: Path,
    epochs: Optional[int],
    data_dir: Union[str, Path, None],
    progress: Optional[ProgressFactory],
    on_note: Optional[Callable[[str], None]],
    argv: Optional[list[str]],
    handle_signals: bool,
) -> RunResult:
    from dltrain.runs.reader import read_run

    saved = read_run(run_dir)
    folder, meta, cfg = RunFolder(saved.path), saved.meta, saved.config
    if run_status(meta) == Status.RUNNING:
        raise RunFolderError(
            f"{folder.path} is still running (pid {meta.get('pid')} on {meta.get('host')}); stop it before resuming"
        )
    if epochs is not None:
        cfg = resolve(cfg, [f"training.epochs={epochs}"])
    done, stopped = meta.get("epochs_done"), meta.get("stopped_epoch")
    if run_status(meta) == Status.COMPLETED and (done == cfg.training.epochs or stopped is not None):
        if stopped is not None:  # early stopping ended it: finished, whatever the epochs asked for
            note = (
                f"nothing to do: {folder.path} stopped early at epoch {stopped}; a run that stopped early is finished"
            )
        else:
            note = f"nothing to do: {folder.path} has completed its {done} epochs; train further with --epochs M (M > {done})"
        return RunResult(  # the folder left as it is
            folder.path, Status.COMPLETED, saved.metrics, meta.get("seconds") or 0.0, done, note=note
        )
    folder.check_replaceable(RUN_FILES)
    exp = Experiment(cfg, data_dir)
    check_same_data(meta, exp.splits, folder.path)
    _tell_notes(exp, on_note)
    if checkpoint.exists(folder):
        checkpoint.load_into(folder, exp.trainer, exp.cfg)
    done = exp.trainer.epoch
    if done > cfg.training.epochs:
        raise ConfigError(f"--epochs {cfg.training.epochs}: the run has already trained {done} epochs; ask for more")

    folder.remove_partial_files()
    folder.write_text("config.yaml", dump_config(exp.cfg))
    resumed = [
        *meta.get("resumed", []),
        {"at": now_iso(), "from_epoch": done, "argv": list(sys.argv if argv is None else argv)},
    ]
    folder.update_meta(
        status=Status.RUNNING,
        pid=os.getpid(),
        host=socket.gethostname(),
        process_started=now_iso(),
        resumed=resumed,
        error=None,
        epochs_done=done,
        epochs=cfg.training.epochs,
    )
    session = Session(
        exp, folder, progress=progress, handle_signals=handle_signals, seconds_before=meta.get("seconds") or 0.0
    )
    return _finish(session.train(), cfg.training.epochs)


def _tell_notes(exp: Experiment, on_note: Optional[Callable[[str], None]]) -> None:
    if on_note is not None:
        for note in exp.notes:
            on_note(note)


def _finish(result: RunResult, epochs: int) -> RunResult:
    """The result of a completed run; the documented exception for one that did not complete."""
    if result.status == Status.INTERRUPTED:
        raise Interrupted(
            f"interrupted after {result.epochs} of {epochs} epochs; history, weights and a checkpoint are saved in\n"
            f"  {result.path}\nresume with: dltrain resume {result.path}",
            result,
        )
    if result.status == Status.FAILED:
        raise TrainingFailed(f"{result.error}\nrun folder: {result.path}", result)
    if (result.metrics.get("baseline") or {}).get("error") == INTERRUPTED:
        raise Interrupted(
            f"interrupted while scikit-learn fitted the baseline: the run completed and is saved, without its\n"
            f"baseline, in {result.path}",
            result,
        )
    return result
