"""Re-evaluate a saved run: rebuild its network, reload its data and split, recompute metrics.

    report = evaluate(run, splits_of(run, ["dataset.test_size=0.5"]), "test")
    report["metrics"]   # {'test': {'loss', 'accuracy'}}: on an unchanged run, equal to metrics.json
    report["details"]   # {'test': {precision/recall/f1 per class and macro, log_loss, confusion_matrix}}

The data goes through `dltrain.pipeline.experiment.load_splits` and the metrics through
`split_outputs` (training's `split_metrics`, plus the outputs of that same forward pass
for the details), the very code paths of training, so an unchanged run reproduces its
metrics.json bit for bit. The extra metrics are scikit-learn's formulas in NumPy
(`dltrain.train.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import numpy as np

from dltrain.data.split import Splits
from dltrain.errors import ConfigError, DataError, RunFolderError, shorten
from dltrain.nn.network import Network
from dltrain.runs.reader import Run
from dltrain.runs.status import Status, run_status
from dltrain.train.metrics import class_scores, confusion_matrix, log_loss, regression_scores, split_outputs
from dltrain.train.targets import class_probabilities, predict_classes


def overridden(run: Run, overrides: Iterable[str] = ()):
    """The run's config with `overrides` ('dataset.key=value', the dataset only) applied."""
    from dltrain.config.loader import apply_override, validate

    overrides = list(overrides)
    if not overrides:
        return run.config
    data = run.config.model_dump(mode="json")
    for assignment in overrides:
        if not assignment.startswith("dataset."):
            raise ConfigError(f"eval --set changes the dataset only (dataset.KEY=VALUE); got {assignment!r}")
        apply_override(data, assignment)
    return validate(data)


def splits_of(run: Run, overrides: Iterable[str] = (), data_dir=None, resplit: bool = False) -> Splits:
    """The run's data, split as in training; `overrides` ('dataset.key=value') change the dataset only.

    An override of a key that decides the split or the preprocessing (see SPLIT and
    PREPROCESSING in dltrain.data.base) raises ConfigError unless `resplit`: rows the model
    was trained on could enter the evaluated splits. So does the run's own data when its
    splits no longer hold the samples they held in training (the file was edited since).
    """
    from dltrain.pipeline.experiment import changed_data, load_splits

    cfg = overridden(run, overrides)
    if not resplit:
        for key, affects in resplit_keys(run.config, cfg)[:1]:
            raise ConfigError(
                f"eval --set {key}: changes the {affects} of the data the run was trained on, so training rows "
                "could enter the evaluated splits and the metrics would no longer be held-out; "
                "add --resplit to evaluate anyway"
            )
    splits = load_splits(cfg, data_dir)
    changed = None if resplit or cfg.dataset != run.config.dataset else changed_data(run.meta, splits)
    if changed:
        raise ConfigError(
            f"the data {run.name} trained on has changed: {changed}; the evaluated splits would no longer be "
            "the data held out from its training, nor the metrics held-out; add --resplit to evaluate anyway"
        )
    return splits


def resplit_warning(run: Run, overrides: Iterable[str]) -> Optional[str]:
    """What to tell the user when `overrides` change the split or preprocessing (None if they do not)."""
    keys = [key for key, _ in resplit_keys(run.config, overridden(run, overrides))]
    if not keys:
        return None
    return (
        f"--resplit ({', '.join(keys)}): rows the model trained on may be in these splits; the metrics are not held-out"
    )


def resplit_keys(before, after) -> list[tuple[str, str]]:
    """(dataset.KEY, 'split' | 'preprocessing') for each key of `after.dataset` that differs from
    `before` and decides the split or the preprocessing; another dataset altogether changes both."""
    old, new = before.dataset, after.dataset
    if type(old) is not type(new):
        return [("dataset.name", "split and preprocessing")]
    found = []
    for key, field in type(new).model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get("affects") and getattr(old, key) != getattr(new, key):
            found.append((f"dataset.{key}", str(extra["affects"])))
    return found


def check_compatible(run: Run, splits: Splits, net: Network) -> None:
    """The data must have the model's inputs and classes."""
    n_in = net.layers[0].W.shape[0]
    if splits.n_features != n_in:
        raise DataError(f"the evaluation data has {splits.n_features} features per sample but {run.name} takes {n_in}")
    if splits.classes != run.classes:
        raise DataError(
            f"the evaluation data has classes {shorten(splits.classes, 300)} but {run.name} was trained on "
            f"{shorten(run.classes, 300)}"
        )
    from dltrain.pipeline.experiment import changed_columns

    changed = changed_columns(run.meta, splits)
    if changed:
        raise DataError(f"the evaluation data does not have the columns {run.name} was trained on: {changed}")


def chosen_splits(splits: Splits, which: str) -> list[tuple[str, tuple]]:
    """(name, (X, y)) for `which` ('all' or one split name); ConfigError if the run has no such split."""
    present = splits.items()
    if which == "all":
        return present
    chosen = [(name, pair) for name, pair in present if name == which]
    if not chosen:
        raise ConfigError(f"this run has no {which} split (it has {', '.join(n for n, _ in present)})")
    return chosen


def classifier_details(y: np.ndarray, outputs: np.ndarray, classes: list) -> dict:
    """Per-class and macro precision/recall/F1, log loss and the confusion matrix.

    y: (n,) class indices; outputs: (n, n_out) network outputs.
    """
    pred = predict_classes(outputs)
    matrix = confusion_matrix(y, pred, len(classes))
    p, r, f, support = class_scores(matrix)
    return {
        "n": int(len(y)),
        "accuracy": float(np.mean(pred == y)),
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
        "log_loss": log_loss(y, class_probabilities(outputs)),
        "per_class": {
            str(c): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": matrix.tolist(),
    }


def regression_details(y: np.ndarray, outputs: np.ndarray) -> dict:
    """n, mse, mae, r2 over all targets. y: (n,) or (n, k); outputs: (n, k)."""
    return {"n": int(len(y)), **regression_scores(y, outputs)}


MAX_THREADS = 4096


def threads_of(meta: dict):
    """BLAS held to the thread count the run was trained with (meta.json's `blas`), for the block:
    a matrix product splits its sums by thread, so the metrics come back to the last bit only with
    that count (a sweep point trained with one thread beside others). No limit when meta.json
    records none, or several, or not a count."""
    import contextlib

    entries = meta.get("blas")
    counts = [e.get("threads") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    count = counts[0] if counts else None
    if type(count) is not int or not 1 <= count <= MAX_THREADS or any(c != count for c in counts):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=count, user_api="blas")


def evaluate(run: Run, splits: Splits, which: str = "all", plots: bool = True) -> dict:
    """Metrics of the saved network on `which` split(s); plots of the last one into the run folder.

    Returns {'run', 'split', 'metrics': {split: ...}, 'details': {split: ...}, 'baseline', 'plots'}.
    """
    net = run.network()
    check_compatible(run, splits, net)
    report: dict[str, Any] = {
        "run": str(run.path),
        "split": which,
        "metrics": {},
        "details": {},
        "baseline": run.metrics.get("baseline"),
        "plots": [],
    }
    last: Optional[tuple[str, np.ndarray, np.ndarray]] = None
    for name, (X, y) in chosen_splits(splits, which):
        with threads_of(run.meta):
            report["metrics"][name], outputs = split_outputs(net, X, y, splits.n_classes)
        report["details"][name] = (
            classifier_details(y, outputs, splits.classes)
            if splits.classes is not None
            else regression_details(y, outputs)
        )
        last = (name, y, outputs)
    if run_status(run.meta) == Status.RUNNING:  # a resume trains it further: its figures are its own to write
        report["warnings"] = [
            f"{run.name} is training (pid {run.meta.get('pid')}): these are the weights it saved before, and no "
            "plot is written into its folder meanwhile"
        ]
    elif plots and last is not None:
        try:
            report["plots"] = [str(p) for p in _draw(run, splits, *last, report["details"][last[0]])]
        except RunFolderError as err:  # a read-only run folder still evaluates
            report["warnings"] = [f"no plot written: {err}"]
    return report


def _draw(run: Run, splits: Splits, split: str, y: np.ndarray, outputs: np.ndarray, details: dict) -> list:
    """The run's own confusion_matrix.png or predictions.png, redrawn for the evaluated split
    (its title names the split): one file per view, never a copy under a second name."""
    from dltrain.plots.base import drawn_from
    from dltrain.plots.samples import confusion_matrix_plot, confusion_source, predictions_plot
    from dltrain.runs.folder import atomic_write

    title = f"{run.config.name}: {split} split"
    if splits.classes is not None:
        matrix, path = np.array(details["confusion_matrix"]), run.path / "confusion_matrix.png"
        if drawn_from(path) == confusion_source(matrix, splits.classes, title):
            return [path]  # the picture it holds is this one (drawn by the run, or an earlier eval)
        return [atomic_write(path, confusion_matrix_plot(matrix, splits.classes, title))]
    return [atomic_write(run.path / "predictions.png", predictions_plot(y, outputs, split, run.config.name))]
