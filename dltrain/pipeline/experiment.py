"""One experiment in memory: a validated config made concrete and trained.

    exp = Experiment(cfg, data_dir)     # data loaded and split, network initialised
    exp.train(on_epoch=print)           # raises TrainingFailed on divergence
    record = exp.record(Status.COMPLETED)    # everything a run folder holds, as Python objects

Nothing here touches the run folder, so the same code trains in this process,
in a worker process, or on a cluster node that sends the record back.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from dltrain import collector
from dltrain.baseline import INTERRUPTED, make_estimator
from dltrain.config.loader import dump_config
from dltrain.config.schema import Config
from dltrain.data.paths import resolve_data_dir
from dltrain.data.split import Splits, input_stats, make_splits
from dltrain.errors import ConfigError, cut
from dltrain.nn.network import EVAL_BYTES, Network
from dltrain.pipeline.views import Views, views_of
from dltrain.runs.status import Status
from dltrain.train.loop import Trainer
from dltrain.train.metrics import regression_scores, split_metrics
from dltrain.train.monitor import EpochRecord
from dltrain.train.signals import Interrupt, interrupting


@dataclass
class RunRecord:
    """The contents of a run folder. weights: {'W0': (n_in, n_1), 'b0': (n_1,), ...}.

    views: what the figures show beyond the history (dltrain.pipeline.views), for a completed run.
    figures: {file name: PNG bytes} when drawn where the run trained (sweep workers);
    empty means the folder's writer draws them.
    checkpoint: the trainer's state for checkpoint.npz, when it is carried with the record
    (sweep points); a `dltrain run` session writes its checkpoints itself.
    error_log: the traceback of the unexpected exception that ended the training (error.log).
    """

    config_yaml: str
    meta: dict
    history: list[dict]
    metrics: dict
    weights: dict[str, np.ndarray]
    loss: str
    classes: Optional[list] = None
    views: Optional[Views] = None
    preprocess: dict[str, np.ndarray] = field(default_factory=dict)  # preprocess.npz: the fitted scaler
    figures: dict[str, bytes] = field(default_factory=dict)
    checkpoint: dict[str, np.ndarray] = field(default_factory=dict)
    error_log: Optional[str] = None


def blas_setup() -> list[dict]:
    """The BLAS libraries, the CPU kernels they chose and their thread counts: results are
    bit-identical only for the same library, kernel and thread count, because a kernel orders
    a product's sums its own way and a matrix product splits its sums by thread. 'architecture'
    is OpenBLAS's kernel (Haswell, SkylakeX, ...), None where the library does not say."""
    from threadpoolctl import threadpool_info

    return [
        {
            "library": i.get("internal_api"),
            "version": i.get("version"),
            "architecture": i.get("architecture"),
            "threads": i.get("num_threads"),
        }
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]


def load_splits(cfg: Config, data_dir=None) -> Splits:
    """The dataset of `cfg`, split and preprocessed as the run sees it."""
    dataset = cfg.dataset.load(resolve_data_dir(data_dir))
    return make_splits(dataset, cfg.dataset, np.dtype(cfg.training.dtype))


def split_sizes(splits: Splits) -> dict[str, int]:
    """Samples per split: {'train': 1293, 'val': 144, 'test': 360} (meta.json's split_sizes)."""
    return {name: len(pair[1]) for name, pair in splits.items()}


def changed_data(meta: dict, splits: Splits) -> Optional[str]:
    """How the data differ from what meta.json recorded when the run trained, or None when they do
    not (or meta.json has no record): the samples per split (a file grown or shrunk since, so rows
    moved between the splits), or else the content of the user's data file (its SHA-256)."""
    then, now = meta.get("split_sizes"), split_sizes(splits)
    if isinstance(then, dict) and then != now:
        sizes = lambda counts: ", ".join(f"{name} {count}" for name, count in counts.items())  # noqa: E731
        return f"its splits now hold {sizes(now)} samples, when it trained {sizes(then)}"
    digest = meta.get("data_sha256")
    if isinstance(digest, str) and splits.sha256 is not None and digest != splits.sha256:
        return "its file has been edited (its SHA-256 is not the one meta.json recorded)"
    return None


def changed_columns(meta: dict, splits: Splits) -> Optional[str]:
    """How the data's feature columns differ, by name or order, from those meta.json recorded when
    the run trained on a CSV (each weight belongs to one column), or None."""
    then, now = meta.get("features"), splits.features
    if not isinstance(then, list) or now is None or then == now:
        return None
    return f"its feature columns are {cut(', '.join(now), 200)}; the run was trained on {cut(', '.join(then), 200)}"


DATA_RECORD = ("features", "split_sizes", "data_sha256")  # the keys of meta.json that check_same_data reads


def check_same_data(meta: dict, splits: Splits, folder: str | os.PathLike) -> None:
    """ConfigError unless `splits` are the data the run in `folder` trained on, as its meta.json
    recorded them: the same CSV columns (changed_columns), splits and file (changed_data)."""
    changed = changed_columns(meta, splits) or changed_data(meta, splits)
    if changed:
        raise ConfigError(
            f"the data {folder} trained on has changed: {changed}; a resume continues the training on the data "
            "it began with, so put the data back as it was, or train the changed data as a new run"
        )


def seeded_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for initialization and shuffling, both from `seed`."""
    init, shuffle = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init), np.random.default_rng(shuffle)


def n_classes_of(splits: Splits) -> Optional[int]:
    return len(splits.classes) if splits.classes is not None else None


# Arrays of the parameters' size while training: weights, gradients, Adam's two moments and
# its gradient vector, the epoch's rollback mark of weights and moments, early stopping's best
# weights, and a checkpoint's copies while it is written.
PARAMETER_COPIES = 10


def training_bytes(cfg: Config, splits: Splits) -> int:
    """About the most memory training `cfg` on `splits` takes beyond the data: PARAMETER_COPIES
    of the parameters, each layer's output, its activation and gradient for a batch, and the
    blocks a split is evaluated in (`Network.EVAL_BYTES` of a layer's outputs each)."""
    widths = [
        splits.n_features,
        *(getattr(cfg.model, "hidden", None) or []),
        max(n_classes_of(splits) or 1, splits.n_targets),
    ]
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(widths, widths[1:]))
    n = len(splits.train[1])
    batch = n if cfg.training.batch_size == "full" else min(cfg.training.batch_size, n)
    itemsize = np.dtype(cfg.training.dtype).itemsize
    return itemsize * (PARAMETER_COPIES * parameters + 3 * batch * sum(widths[1:])) + 4 * EVAL_BYTES


def _check_memory(cfg: Config, splits: Splits) -> None:
    """ConfigError when training would take more memory than the machine has: the allocations
    would each succeed (Linux promises memory it does not have) until the kernel kills the
    process, with no message and no chance to save."""
    try:
        machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no such query here: the allocations will tell
        return
    needed = training_bytes(cfg, splits)
    if machine > 0 and needed > machine:
        raise ConfigError(
            f"invalid config: training this model takes about {needed / 2**30:,.1f} GiB of memory and this machine has "
            f"{machine / 2**30:,.1f} GiB: reduce model.hidden or training.batch_size, or use training.dtype float32"
        )


def build_network(cfg: Config, splits: Splits, rng: np.random.Generator) -> Network:
    _check_memory(cfg, splits)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, once, with the keys to change
            net = cfg.model.build(
                splits.n_features,
                n_classes_of(splits),
                splits.n_targets,
                cfg.training.loss,
                rng,
                np.dtype(cfg.training.dtype),
            )
    except ValueError as err:
        raise ConfigError(f"invalid config: model: {err}") from None
    if not net.all_finite():
        raise ConfigError(
            f"invalid config: model.init / model.bias_init give weights that are not finite in {cfg.training.dtype}; use smaller values"
        )
    return net


def weights_of(net: Network) -> dict[str, np.ndarray]:
    """{'W0': (n_in, n_1), 'b0': (n_1,), 'W1': ...} layer by layer."""
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"W{i}"] = layer.W
        if layer.b is not None:
            arrays[f"b{i}"] = layer.b
    return arrays


class Experiment:
    """Config -> splits -> network -> trainer, ready to train."""

    def __init__(self, cfg: Config, data_dir=None, splits: Optional[Splits] = None):
        self.cfg = cfg
        self.splits = splits if splits is not None else load_splits(cfg, data_dir)
        init_rng, shuffle_rng = seeded_rngs(cfg.seed)
        self.net = build_network(cfg, self.splits, init_rng)
        if cfg.training.loss == "auto":  # config.yaml names the loss the run trains on
            training = cfg.training.model_copy(update={"loss": self.net.loss})
            self.cfg = cfg = cfg.model_copy(update={"training": training})
        self.trainer = Trainer(self.net, cfg.training, self.splits, shuffle_rng)
        self.notes = self._notes()

    def _notes(self) -> list[str]:
        """What the run adjusts in the config, said to the user and kept in meta.json."""
        asked, n = self.cfg.training.batch_size, len(self.splits.train[1])
        if asked != "full" and asked > n:
            return [
                f"training.batch_size {asked} is larger than the {n} training samples: each epoch is one full batch of {n}"
            ]
        return []

    def train(
        self,
        on_epoch: Callable[[EpochRecord], None] = lambda r: None,
        on_batch: Optional[Callable[[float], None]] = None,
    ) -> None:
        collector.resume()
        self.trainer.fit(on_epoch=on_epoch, on_batch=on_batch)

    def metrics(self) -> dict:
        """{'train': {...}, 'val': {...}, 'test': {...}} for the splits that exist."""
        n_classes = n_classes_of(self.splits)
        return {name: split_metrics(self.net, X, y, n_classes) for name, (X, y) in self.splits.items()}

    def record(self, status: str, error: Optional[str] = None) -> RunRecord:
        """A completed run with early stopping's restore_best holds the best epoch's weights and
        metrics; the trainer itself keeps the last epoch's, so its checkpoint resumes bit for bit."""
        stopper = self.trainer.stopper
        if status == Status.COMPLETED and stopper is not None:
            with stopper.best_weights(self.net.params):
                return self._record(status, error)
        return self._record(status, error)

    def _record(self, status: str, error: Optional[str]) -> RunRecord:
        completed = status == Status.COMPLETED
        meta = {**self.describe(), "status": status, "epochs_done": self.trainer.epoch, "error": error}
        if self.trainer.stopper is not None:
            meta.update(
                best_epoch=self.trainer.stopper.best_epoch or None, stopped_epoch=self.trainer.stopper.stopped_epoch
            )
        return RunRecord(
            config_yaml=dump_config(self.cfg),
            meta=meta,
            history=[r.as_row() for r in self.trainer.history],
            metrics={**self.metrics(), **baseline_metrics(self.cfg, self.splits)} if completed else {},
            weights={key: w.copy() for key, w in weights_of(self.net).items()},
            loss=self.net.loss,
            classes=self.splits.classes,
            views=views_of(self.net, self.splits) if completed else None,
            preprocess=self.splits.scaler.arrays() if self.splits.scaler else {},
        )

    def describe(self) -> dict:
        """The meta.json fields known before training."""
        from dltrain import __version__

        s = self.splits
        return {
            "name": self.cfg.name,
            "seed": self.cfg.seed,
            # What `dltrain runs` shows, so that listing a folder reads meta.json and never parses the config.
            "dataset": self.cfg.dataset.name,
            "model": self.cfg.model.model_dump(include={"type", "hidden"}),  # {'type': 'mlp', 'hidden': [64]}
            "epochs": self.cfg.training.epochs,  # asked for; epochs_done counts those trained
            "dltrain_version": __version__,
            "python_version": platform.python_version(),
            "numpy_version": np.__version__,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "classes": s.classes,
            "sample_shape": list(s.sample_shape) if s.sample_shape else None,
            "n_features": s.n_features,
            "features": s.features,  # a CSV's column names: predict and eval read columns by them
            "split_sizes": split_sizes(s),
            "data_sha256": s.sha256,  # a user's file: eval and resume notice it edited
            "input_stats": input_stats(s.train[0]),
            "loss": self.net.loss,  # 'auto' resolved
            "notes": self.notes,
            "blas": blas_setup(),
        }


def _scores(est, X: np.ndarray, y: np.ndarray, classify: bool) -> dict[str, float]:
    from sklearn import metrics

    if classify:
        out = {"accuracy": float(metrics.accuracy_score(y, est.predict(X)))}
        if hasattr(est, "predict_proba") and set(np.unique(y)) <= set(est.classes_):
            out["log_loss"] = float(metrics.log_loss(y, est.predict_proba(X), labels=est.classes_))
        return out
    return regression_scores(y, est.predict(X))


def baseline_metrics(cfg, splits) -> dict:
    """{'baseline': {...}} when the config asks for one, else {}.

    A baseline that scikit-learn refuses or fails (a bad option value, an overflow) is recorded
    as {'model': ..., 'error': message}: the dltrain run it accompanies still completes. So is
    one that Ctrl-C or SIGTERM stops, at once (its options may make it run for hours), with the
    error `baseline.INTERRUPTED`. What it prints (a `verbose` option) goes to stderr: stdout
    carries --json's one document.
    """
    if cfg.baseline is None:
        return {}
    classify = splits.classes is not None
    X, y = splits.train
    if not classify and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    est = make_estimator(cfg, classify, len(X))
    doc: dict[str, Any] = {"model": " ".join(repr(est).split())}
    try:
        with warnings.catch_warnings(), _stdout_on_stderr(), interrupting() as signals:
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=epochs is expected
            est.fit(X, y)
            if signals:  # scikit-learn's MLPs catch the interrupt and return what they have
                raise Interrupt
            doc.update({name: _scores(est, Xs, ys, classify) for name, (Xs, ys) in splits.items()})
    except KeyboardInterrupt:
        doc["error"] = INTERRUPTED
    except Exception as err:  # whatever the options make scikit-learn do, the baseline alone failed
        doc["error"] = cut(f"{type(err).__name__}: {err}", 1000)
    return {"baseline": doc}


@contextlib.contextmanager
def _stdout_on_stderr() -> Iterator[None]:
    """Everything printed to stdout meanwhile, by Python or by compiled code, goes to stderr (to
    nowhere if stderr is closed). Only in the main thread: the file descriptors are the whole
    process's, and a thread's run (a Dask worker's) is not the one whose stdout carries --json."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sys.stdout.flush()
    null = None if _is_open(2) else os.open(os.devnull, os.O_WRONLY)  # then fd 2, the lowest free
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        if null is not None:
            os.close(null)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
