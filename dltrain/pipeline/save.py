"""Write a RunRecord into a run folder: files first, plots last."""

from __future__ import annotations

from dltrain.errors import ERROR_LOG
from dltrain.pipeline.experiment import RunRecord
from dltrain.runs.folder import RunFolder
from dltrain.train import checkpoint
from dltrain.train.monitor import HISTORY_COLUMNS

# Final results: only a completed run has them. An earlier session's copies would
# describe older weights, so a run resumed and then stopped again loses them.
FINAL_FILES = (
    "metrics.json",
    "cost.png",
    "accuracy.png",
    "predictions.png",
    "confusion_matrix.png",
    "weights.png",
    "errors.png",
    "boundary.png",
    "report.html",
)
# Every file a run may write in its folder.
RUN_FILES = (
    "config.yaml",
    "meta.json",
    "history.csv",
    "weights.npz",
    "preprocess.npz",
    checkpoint.FILENAME,
    ERROR_LOG,
    *FINAL_FILES,
)


# Files an earlier dltrain wrote into run folders (eval's regression figure, now predictions.png):
# a run folder holding them is still only a run's.
EARLIER_RUN_FILES = ("predicted_vs_actual.png",)


def save_record(folder: RunFolder, record: RunRecord, plots: bool = True, report: bool = False) -> None:
    if record.checkpoint:
        checkpoint.save(folder, record.checkpoint)
    folder.write_csv("history.csv", record.history, columns=HISTORY_COLUMNS)
    folder.write_npz("weights.npz", record.weights)
    if record.preprocess:
        folder.write_npz("preprocess.npz", record.preprocess)
    if record.metrics:
        folder.write_json("metrics.json", record.metrics)
        if plots:
            draw_plots(folder, record)
    else:
        for name in FINAL_FILES:
            folder.remove(name)
    if record.error_log:
        folder.write_text(ERROR_LOG, record.error_log)
    else:  # an earlier session's traceback no longer describes this run
        folder.remove(ERROR_LOG)
    folder.update_meta(**record.meta)
    if report:  # last: it shows the folder as saved, whatever the status
        from dltrain.report.run_page import write_run_report

        write_run_report(folder.path)


def draw_plots(folder: RunFolder, record: RunRecord) -> None:
    """Write the record's figures, rendering them here unless a worker already did."""
    from dltrain.plots import run_figures

    for filename, png in (record.figures or run_figures(record)).items():
        folder.write_bytes(filename, png)
