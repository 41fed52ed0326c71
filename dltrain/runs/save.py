"""Write a RunRecord into a run folder: files first, plots last."""

from __future__ import annotations

from dltrain.experiment import RunRecord
from dltrain.errors import RunFolderError
from dltrain.runs.folder import RunFolder


def save_record(folder: RunFolder, record: RunRecord, plots: bool = True) -> None:
    folder.write_csv("history.csv", record.history)
    folder.write_npz("weights.npz", record.weights)
    if record.preprocess:
        folder.write_npz("preprocess.npz", record.preprocess)
    if record.metrics:
        folder.write_json("metrics.json", record.metrics)
        if plots:
            draw_plots(folder, record)
    folder.update_meta(**record.meta)


def draw_plots(folder: RunFolder, record: RunRecord) -> None:
    try:
        _draw(folder, record)
    except OSError as err:
        raise RunFolderError(f"cannot write a plot in {folder.path}: {err.strerror or err}") from None


def _draw(folder: RunFolder, record: RunRecord) -> None:
    from dltrain.runs import plots

    name = record.meta.get("name", folder.name)
    plots.cost_plot(folder.path / "cost.png", record.history, record.loss, name)
    if record.classes is not None:
        plots.accuracy_plot(folder.path / "accuracy.png", record.history, name)
    elif record.predictions is not None:
        split, actual, predicted = record.predictions
        plots.predictions_plot(folder.path / "predictions.png", actual, predicted, split, name)
