"""Predict with a saved run: new samples in, classes with probabilities (or values) out.

    run = load_run("runs/2026...-digits")
    names, X = read_inputs([Path("three.png")], run)     # X: (n, n_features), raw units
    predictions(run, names, X)                            # [{'input': 'three.png', 'class': 3, 'probability': 0.97, ...}]

Inputs go through the training preprocessing: image files through the dataset's
`image_to_sample` (grayscale, size, pixel scale), then every sample through the
feature scaler fitted at training time (preprocess.npz).
"""

from __future__ import annotations

import itertools
import math
from array import array
from pathlib import Path
from typing import Optional

import numpy as np

from dltrain.data.files import csv_number, csv_rows, read_npy, read_npz
from dltrain.data.images import MAX_IMAGE_BYTES, open_image
from dltrain.errors import DataError, RunFolderError, cut
from dltrain.files import UnreadableFile, open_regular, regular_file_at
from dltrain.runs.reader import Run
from dltrain.train.targets import class_probabilities, predict_classes

FAR = 4.0  # an image whose mean pixel lies more spreads than this from the training data's is suspect
# Samples one call answers: each becomes a row of the table or the JSON (about 3 KB of Python
# objects, 0.04 ms to print), so a big file would take gigabytes and minutes. `eval --set
# dataset.path=` scores a whole labelled file.
MAX_SAMPLES = 100_000
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _expected(run: Run) -> tuple[int, tuple[int, ...]]:
    """(n_features, sample_shape) the run's network takes."""
    n_features = int(run.weights["W0"].shape[0])
    shape = tuple(run.meta.get("sample_shape") or (n_features,))
    if math.prod(shape) != n_features:  # files of two runs, or a damaged one: neither can be trusted
        raise RunFolderError(
            f"{run.path}: meta.json's sample_shape {list(shape)} does not fit weights.npz, "
            f"whose W0 has shape {tuple(run.weights['W0'].shape)}"
        )
    return n_features, shape


def to_rows(array: np.ndarray, run: Run, source: str) -> np.ndarray:
    """One sample of the sample shape (or flat) -> (1, n_features); several -> (n, n_features).

    A run trained with `bias_input: true` takes samples without the constant-1 column too:
    it appends the column itself, as the dataset did in training.
    """
    n_features, shape = _expected(run)
    if array.dtype.kind not in "biuf":  # bool, integers, floats
        raise DataError(f"{source}: samples must be numbers, got {array.dtype}")
    if getattr(run.config.dataset, "bias_input", False) and array.ndim and array.shape[-1] == n_features - 1:
        array = np.concatenate([array, np.ones((*array.shape[:-1], 1), array.dtype)], axis=-1)
    if array.shape in (shape, (n_features,)):
        array = array.reshape(1, n_features)
    elif array.ndim >= 2 and array.shape[1:] in (shape, (n_features,)):
        array = array.reshape(len(array), n_features)
    else:
        shapes = f"{shape} or {n_features} values" if shape != (n_features,) else f"{n_features} values"
        if getattr(run.config.dataset, "bias_input", False):
            shapes += f" ({n_features - 1} without the constant 1 input its dataset appends)"
        raise DataError(
            f"{source}: an array of shape {array.shape} does not fit this run, which takes samples of {shapes}; "
            f"give one sample, or several stacked along the first axis (rows)"
        )
    if not len(array):
        raise DataError(f"{source} holds no samples")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{source}: samples must be finite numbers")
    return array.astype(np.float64)


def _read_npy(path: Path, run: Run) -> np.ndarray:
    return read_npy(path)


def _read_npz(path: Path, run: Run) -> np.ndarray:
    arrays = read_npz(path)
    if "X" in arrays:
        return arrays["X"]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise DataError(f"{path}: a .npz of samples holds an array 'X' (or exactly one array); it has {sorted(arrays)}")


def _read_csv(path: Path, run: Run) -> np.ndarray:
    """Rows of numbers; a header row is skipped, and a label column dropped.

    Label column: for a run trained on a file, the one it was trained with (`dataset: {name:
    file, label: digit}`), so a run predicts on its own training CSV, whatever its other columns
    are named (x, y, ...); for any other run, columns named label, y or target. A run trained on
    a CSV records its feature columns' names (meta.json's `features`): a header's columns are
    taken by those names, in the training order, and a header without one of them is refused.
    """
    values, width, n = array("d"), None, 0  # 8 bytes a number, converted row by row as read
    with csv_rows(path) as rows:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path} holds no rows")
        columns: Optional[list[int]] = None  # those taken, in this order (None: all but `drop`)
        drop: set[int] = set()
        if not all(_is_number(c) for c in first):
            label = getattr(run.config.dataset, "label", None)
            if isinstance(run.meta.get("features"), list):
                columns = _named_columns(first, run.meta["features"], path, run)
            elif label is not None:
                drop = {i for i, name in enumerate(first) if name == label}
            else:
                drop = {i for i, name in enumerate(first) if name.strip().lower() in ("label", "y", "target")}
        else:
            rows = itertools.chain([first], rows)
        for row in rows:
            if n == MAX_SAMPLES:  # refused before the rest is read
                raise _too_many(path)
            if columns is not None and len(row) != len(first):
                raise DataError(f"{path}: a row of {len(row)} cells under a header of {len(first)}")
            numbers = (
                [row[i] for i in columns] if columns is not None else [c for i, c in enumerate(row) if i not in drop]
            )
            width = len(numbers) if width is None else width
            try:
                if len(numbers) != width:
                    raise ValueError(f"a row of {len(numbers)} numbers after rows of {width}")
                values.extend(csv_number(c) for c in numbers)
            except ValueError as err:
                raise DataError(
                    f"{path}: every cell must be a number, in rows of one length ({cut(str(err), 120)})"
                ) from None
            n += 1
    if not n:  # a header alone (a first row with text in it is one)
        raise DataError(f"{path} holds no rows of numbers, only a header: {cut(','.join(first), 80)}")
    return np.frombuffer(values, dtype=np.float64).reshape(n, width or 0)


def _named_columns(header: list[str], features: list[str], path: Path, run: Run) -> list[int]:
    """Where each of the run's feature columns is in `header`; DataError naming one it lacks (or has twice)."""
    where: dict[str, int] = {}
    twice = set()
    for i, name in enumerate(header):
        if name in where:
            twice.add(name)
        where.setdefault(name, i)
    for name in features:
        if name not in where or name in twice:
            found = "has no" if name not in where else "has more than one"
            raise DataError(
                f"{path} {found} column {name!r}; {run.name} was trained on the columns "
                f"{cut(', '.join(features), 200)} (taken by name, in any order)"
            )
    return [where[name] for name in features]


def _is_number(text: str) -> bool:
    """Whether `text` reads as a number to Python, as a header's names do not (a cell such as `1_0`
    makes its row data, refused by csv_number, rather than a header taken away unread)."""
    try:
        float(text)
        return True
    except ValueError:
        return False


READERS = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv}


def _image(path: Path, run: Run, invert: bool) -> np.ndarray:
    """The image file at `path` as one sample (1, n_features): a regular file of at most
    MAX_IMAGE_BYTES, its pixels (at most MAX_PIXELS) counted before any is decoded."""
    from PIL import UnidentifiedImageError

    _, shape = _expected(run)
    if len(shape) != 2:
        raise DataError(
            f"{path}: {run.name} was not trained on images (its samples have shape {shape}); give a .npy, .npz or .csv file"
        )
    try:
        with open_regular(path, MAX_IMAGE_BYTES) as f, open_image(f, str(path)) as image:
            sample = run.config.dataset.image_to_sample(image, shape, invert)
    except UnreadableFile as err:
        raise DataError(str(err)) from None
    except UnidentifiedImageError:  # its message names Python's file object, not the file
        raise DataError(f"{path} is not a readable image (not a format Pillow knows, or damaged)") from None
    except OSError as err:
        raise DataError(f"{path} is not a readable image ({err})") from None
    return to_rows(np.asarray(sample), run, str(path))


def read_inputs(paths: list[Path], run: Run, invert: str = "no") -> tuple[list[str], np.ndarray, list[str]]:
    """(names, X, warnings): one name per sample ('a.png', 'b.npy[3]'), X: (n, n_features)
    before scaling, and what looks wrong about the inputs (see `polarity`).

    invert: 'no', 'yes' (images are dark on light: invert them) or 'auto' (invert each image
    whose inverted pixels look more like the training data; the name then ends in ' (inverted)').
    """
    if invert == "auto" and run.meta.get("input_stats") is None:
        raise DataError(
            f"--invert auto: {run.name} records no statistics of its training inputs "
            "(an older run, or inputs beyond float64's range)"
        )
    names: list[str] = []
    blocks: list[np.ndarray] = []
    warnings: list[str] = []
    for path in paths:
        suffix = path.suffix.lower()
        try:
            if not regular_file_at(path):
                raise DataError(f"input file {path} does not exist")
        except UnreadableFile as err:  # a directory, a device, a FIFO: there, but not a file
            raise DataError(f"input {err}") from None
        if suffix in IMAGE_SUFFIXES:
            rows = _image(path, run, invert == "yes")
            if invert != "yes":
                flipped = _image(path, run, True)
                distance, inverted = polarity(run, rows, flipped)
                if invert == "auto" and inverted is not None and inverted < distance:
                    rows, path = flipped, Path(f"{path} (inverted)")
                elif inverted is not None and distance > FAR and inverted < distance:
                    warnings.append(
                        f"{path} looks inverted (dark ink on a light background?): its mean pixel lies {distance:.1f} "
                        f"spreads from the training data's, inverted {inverted:.1f}; use --invert yes, or --invert auto"
                    )
        elif suffix in READERS:
            rows = to_rows(READERS[suffix](path, run), run, str(path))
        else:
            kinds = ", ".join(sorted({*READERS, *IMAGE_SUFFIXES}))
            raise DataError(f"{path}: unknown input type {suffix or '(no suffix)'}; use one of {kinds}")
        if len(names) + len(rows) > MAX_SAMPLES:
            raise _too_many(path)
        names.extend(
            [str(path)] if suffix in IMAGE_SUFFIXES or len(rows) == 1 else [f"{path}[{i}]" for i in range(len(rows))]
        )
        blocks.append(rows)
    return names, np.concatenate(blocks), warnings


def _too_many(path: Path) -> DataError:
    return DataError(
        f"{path}: more than {MAX_SAMPLES:,} samples in all; predict answers at most {MAX_SAMPLES:,} at a time "
        "(split the file; `dltrain eval RUN --set dataset.path=FILE` scores a whole labelled file)"
    )


def polarity(run: Run, rows: np.ndarray, inverted: np.ndarray) -> tuple[float, Optional[float]]:
    """How many spreads the mean of the preprocessed `rows` (1, n_features) lies from the training
    inputs' mean, and the same for the `inverted` image; (0.0, None) when the run records no stats."""
    stats = run.meta.get("input_stats")
    if not isinstance(stats, dict):
        return 0.0, None
    spread = max(float(stats["spread"]), 1e-12)

    def distance(x: np.ndarray) -> float:
        with np.errstate(all="ignore"):  # a damaged scaler overflows: predictions() reports its outputs
            return abs(float(prepare(run, x).mean(dtype=np.float64)) - float(stats["mean"])) / spread

    return distance(rows), distance(inverted)


def prepare(run: Run, X: np.ndarray) -> np.ndarray:
    """Scale X: (n, n_features) with the training scaler and cast to the run's dtype, as make_splits does."""
    from dltrain.data.split import Scaler

    return np.ascontiguousarray(Scaler.from_arrays(run.preprocess)(X), dtype=np.dtype(run.config.training.dtype))


PROBABILITY_OUTPUTS = ("sigmoid", "softmax")  # other outputs are not probabilities: shown raw


def predictions(run: Run, names: list[str], X: np.ndarray) -> list[dict]:
    """One dict per row of X (n_samples, n_features, raw: the run's scaling is applied here):
    {'input', 'class', 'probability', 'probabilities'} for a sigmoid or
    softmax classifier, {'input', 'class', 'output'} for another classifier (a step or ReLU
    output is no probability), {'input', 'value'} for regression."""
    net = run.network()
    with np.errstate(all="ignore"):  # overflow is reported below, as a whole
        outputs = net.predict(prepare(run, X))
    bad = ~np.isfinite(outputs).all(axis=1)
    if bad.any():
        raise RunFolderError(
            f"{run.path}: the network's output for {names[int(np.argmax(bad))]} is not finite (NaN or infinite): "
            "its weights.npz or preprocess.npz are damaged, or the input lies far outside the training data"
        )
    classes: Optional[list] = run.classes
    if classes is None:
        return [{"input": n, "value": _value(row)} for n, row in zip(names, outputs)]
    index = predict_classes(outputs)
    if net.layers[-1].activation not in PROBABILITY_OUTPUTS:
        return [
            {"input": n, "class": classes[k], "output": _value(row)}
            for n, k, row in zip(names, index.tolist(), outputs)
        ]
    proba = class_probabilities(outputs)
    return [
        {
            "input": n,
            "class": classes[k],
            "probability": float(p[k]),
            "probabilities": {str(c): float(v) for c, v in zip(classes, p)},
        }
        for n, k, p in zip(names, index.tolist(), proba)
    ]


def _value(row: np.ndarray):
    values = [float(v) for v in row]
    return values[0] if len(values) == 1 else values
