"""The sweep's main loop: hand the runs to the backend, write each result as it arrives.

Every finished run is written whole (its run folder, then sweep.json) with signals held
back; a first Ctrl-C or SIGTERM lets the running points stop after their batch and come
back with their checkpoint, which is written like any result; the second abandons them.
Whatever happens, sweep.json ends with a final status and sweep.png shows the points.

sweep.json is flushed to the disk (fsync) when the sweep starts, when it ends and at most every
SYNC_SECONDS between: each rewrite in between still replaces it whole, and a killed process
leaves it in the page cache, so a resume finds every point that finished. A power cut can take
back the last seconds' record: a resume then trains those points again, into new folders beside
the ones they finished in, and on a file system that does not write a replacing file's data
before its name (ext4 does), sweep.json may come back empty, which a resume refuses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from dltrain import collector
from dltrain.config.schema import Config
from dltrain.errors import ERROR_LOG, ConfigError, Interrupted, RunFolderError, TrainingFailed, naming_log
from dltrain.pipeline.experiment import DATA_RECORD, RunRecord
from dltrain.pipeline.save import save_record
from dltrain.pipeline.session import RunResult
from dltrain.runs.folder import RunFolder, elapsed, now_iso
from dltrain.runs.reader import read_meta
from dltrain.runs.status import Status
from dltrain.sweep.backends import NoWorkers
from dltrain.sweep.point import Job, Key, Returned
from dltrain.sweep.ranking import Metric
from dltrain.sweep.run_configs import new_state, point_config
from dltrain.sweep.state import PointState, SweepResult
from dltrain.train import checkpoint
from dltrain.train.signals import deferred_interrupt, stop_signals

UNFINISHED = (Status.PENDING, Status.INTERRUPTED, Status.FAILED)  # what a resumed sweep trains again
SYNC_SECONDS = 2.0  # the longest sweep.json goes without an fsync while points finish


def execute(backend, folder: RunFolder, sweep: SweepResult, plan, base: Config, opts, prune: bool) -> None:
    """Train the runs the sweep has not completed (and the plan's new points); raise as run_sweep says."""
    collector.resume(collect=True)  # this process handles every point's result, even when workers train them
    with sweep.tracking():  # every change to a point below is told to sweep.changed
        _execute(backend, folder, sweep, plan, base, opts, prune)


def _execute(backend, folder: RunFolder, sweep: SweepResult, plan, base: Config, opts, prune: bool) -> None:
    clock, seconds_before = time.perf_counter(), sweep.seconds
    states = {state.point.index: state for state in sweep.points}
    configs: dict[Key, Config] = {}
    resumed_from: dict[Key, int] = {}
    invalid: list[ConfigError] = []  # a point drawn with an invalid config: the sweep stops and fails

    def job(state: PointState, r: int) -> Job:
        run = state.runs[r]
        cfg = configs[(state.point.index, r)] = point_config(base, state, r)
        job = Job(state.point.index, r, cfg.model_dump(mode="json"), prune=plan.pruner() if prune else None)
        if run.path is not None and checkpoint.exists(RunFolder(run.path)):
            job.resume = checkpoint.load(RunFolder(run.path))
            meta = read_meta(run.path) if (run.path / "meta.json").is_file() else {}
            job.trained_on, job.folder = {key: meta[key] for key in DATA_RECORD if key in meta}, str(run.path)
            job.seconds_before = run.seconds or 0.0
        resumed_from[job.key] = int(job.resume["epoch"]) if job.resume else 0
        return job

    def jobs() -> Iterator[Job]:
        for state in list(sweep.points):
            for r, run in enumerate(state.runs):
                if run.status in UNFINISHED and not backend.stopping:
                    yield job(state, r)
        while not backend.stopping and (point := plan.ask()) is not None:
            state = new_state(point, base.seed, sweep.repeats)
            state.trial = plan.trial_number(point.index)
            try:
                new = [job(state, r) for r in range(len(state.runs))]
            except ConfigError as err:  # drawn inside a space whose edges were sound: never tried, and
                plan.drop(point)  # the sweep stops as on Ctrl-C, the running points coming back resumable
                invalid.append(err)
                backend.request_stop()
                return
            sweep.points.append(state)
            states[state.point.index] = state
            yield from new

    synced = [-math.inf]  # when sweep.json was last flushed to the disk (time.monotonic)

    def save(sync: bool = False) -> None:
        sweep.seconds = round(seconds_before + elapsed(clock), 3)
        sync = sync or time.monotonic() - synced[0] >= SYNC_SECONDS
        folder.write_text("sweep.json", sweep.json_text(), sync=sync)
        if sync:
            synced[0] = time.monotonic()

    for state in sweep.points:  # what this session trains again has not ended: progress counts it when it has
        again = [run for run in state.runs if run.status in UNFINISHED and run.status != Status.PENDING]
        for run in again:
            run.status, run.error = Status.PENDING, None
        if again:
            sweep.changed(state)
    lookahead = backend.slots if plan.adaptive else 1 << 30
    failure, hard_stop = None, False
    try:
        with stop_signals(backend.request_stop, enabled=opts.handle_signals):
            save()  # from here on, whatever stops the sweep, sweep.json ends with its final status
            opts.on_start(sweep)
            results = backend.run(jobs(), lookahead, opts.data_dir)
            try:
                for key, returned in results:
                    state = states[key[0]]
                    with deferred_interrupt():  # a run folder and sweep.json are written whole, or not at all
                        try:
                            history = _store(folder, sweep, state, key, returned, configs[key], resumed_from, opts)
                        except RunFolderError as err:  # its folder cannot be written: the point failed, not the sweep
                            state.runs[key[1]].status, state.runs[key[1]].error = Status.FAILED, str(err)
                            history = []
                        sweep.changed(state)
                        if state.status != Status.PENDING:
                            plan.tell(state, history)
                        save()
                    if state.status != Status.PENDING and (
                        isinstance(returned, RunRecord) or returned.status != Status.INTERRUPTED
                    ):
                        opts.on_point(sweep, state)  # not for the runs a stop kept from starting
            finally:
                results.close()  # an interrupt between two results still stops the backend's running points
    except KeyboardInterrupt:
        hard_stop = True
    except NoWorkers as err:
        failure = err
    _finish(folder, sweep, save, failure or next(iter(invalid), None), interrupted=hard_stop or backend.stopping)


def _finish(folder: RunFolder, sweep: SweepResult, save, failure, interrupted: bool) -> None:
    for state in sweep.points:
        cut_off = [run for run in state.runs if run.status == Status.PENDING]
        for run in cut_off:
            run.status, run.error = Status.INTERRUPTED, "the sweep stopped before this run finished"
        if cut_off:
            sweep.changed(state)
    finished = sum(p.status in (Status.COMPLETED, Status.PRUNED) for p in sweep.points)
    # a point stopped by a signal to its worker alone has not ended either: the sweep is not complete
    interrupted = interrupted or sweep.count(Status.INTERRUPTED) > 0
    if sweep.done >= max(len(sweep.points), sweep.planned):  # a stop after the last point ended cut nothing off
        interrupted = False
    sweep.status = (
        Status.FAILED
        if failure or sweep.count(Status.FAILED)
        else Status.INTERRUPTED
        if interrupted
        else Status.COMPLETED
    )
    save(sync=True)
    _draw(folder, sweep)
    resume = f"resume with: dltrain sweep --resume {folder.path}"
    if failure is not None:
        raise TrainingFailed(f"{failure}; {finished} finished points are kept in {folder.path}\n{resume}", sweep)
    if interrupted:
        raise Interrupted(
            f"sweep interrupted after {finished} of {max(len(sweep.points), sweep.planned)} points; "
            f"sweep folder: {folder.path}\n{resume}",
            sweep,
        )
    failed = sweep.count(Status.FAILED)
    if failed:
        raise TrainingFailed(f"{failed} of {len(sweep.points)} sweep points failed; sweep folder: {folder.path}", sweep)


def _store(
    folder: RunFolder,
    sweep: SweepResult,
    state: PointState,
    key: Key,
    returned: Returned,
    cfg: Config,
    resumed_from: dict,
    opts,
) -> list[dict]:
    """Write the run's folder (when it trained at all) and note how it ended; the run's history."""
    r = key[1]
    if isinstance(returned, RunResult):  # it never trained: a folder from an earlier session stays as it was
        state.runs[r].status, state.runs[r].error = returned.status, returned.error
        return []
    record = returned
    info = {"folder": sweep.name, "point": state.point.index, "values": state.point.values}
    if len(state.runs) > 1:
        info["repeat"] = r + 1
    record.meta.update(argv=sweep.argv, sweep=info)
    earlier = state.runs[r].path
    if earlier is None:
        target = RunFolder.create(folder.path, cfg.name)
    else:  # a run cut off earlier: its own folder, continued
        target = RunFolder(earlier)
        target.remove_partial_files()
        old = read_meta(target.path) if (target.path / "meta.json").is_file() else {}
        record.meta["resumed"] = [
            *old.get("resumed", []),
            {"at": now_iso(), "from_epoch": resumed_from.get(key, 0), "argv": list(opts.argv)},
        ]
    if record.error_log:
        record.meta["error"] = naming_log(str(record.meta["error"]), target.path / ERROR_LOG)
    try:
        target.write_text("config.yaml", record.config_yaml)
        save_record(target, record, plots=cfg.output.plots, report=cfg.output.report)
    except RunFolderError:
        state.runs[r].path = target.path  # sweep.json names the folder it failed in: a resume writes it again
        raise
    state.runs[r] = RunResult.of(record, target.path)
    if sweep.metric is None and record.metrics:
        sweep.metric = Metric.default(record.metrics)
    return record.history


def _draw(folder: RunFolder, sweep: SweepResult) -> None:
    """sweep.png: the ranking metric against each swept key (nothing to draw before a point completed)."""
    from dltrain.plots.sweep import sweep_plot
    from dltrain.sweep.grid import short_key

    metric = sweep.metric
    if metric is None:
        return
    rows = []
    for p in sweep.points:
        value = metric.value(p.metrics)
        if value is not None:
            rows.append((p.point.values, value, metric.value(p.metrics_std) if p.metrics_std else None))
    if not rows:
        return
    log_keys = {key for key, values in sweep.space.items() if _log_spaced(values)}
    title = f"sweep {sweep.name}: {metric}" + (f", mean ± std of {sweep.repeats} repeats" if sweep.repeats > 1 else "")
    labels = {k: short_key(k) for k in sweep.space}
    png = sweep_plot(rows, list(sweep.space), log_keys, str(metric), title, labels, metric.lower_is_better)
    folder.write_bytes("sweep.png", png)


def _log_spaced(values) -> bool:
    """A loguniform distribution, or positive numbers spanning a decade or more (0.01, 0.003, 0.001)."""
    if isinstance(values, dict):
        return "loguniform" in values
    try:
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    except OverflowError:  # an int beyond float64 (a 400-digit seed): no axis to draw it on
        return False
    finite = len(numbers) == len(values) > 1 and all(math.isfinite(v) for v in numbers)
    return finite and min(numbers) > 0 and max(numbers) / min(numbers) >= 10
