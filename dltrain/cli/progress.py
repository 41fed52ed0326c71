"""Progress while training, always on stderr so stdout stays free for results and --json.

On a terminal: a Rich progress bar with the live loss and accuracy. Otherwise (a pipe,
a log file, or --quiet): a plain line for epoch 1, every `log_every`-th epoch counted
from it, and the last one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from rich.console import Console

from dltrain.cli.tables import PlainConsole, plain_console

if TYPE_CHECKING:  # the engine (NumPy) is imported by the command, not by `dltrain --help`
    from dltrain.train.monitor import EpochRecord


# Fields of the live status, most important first: a narrow terminal drops them from the end.
FIELDS = (
    ("train_loss", "loss", "{:.6g}"),
    ("val_loss", "val_loss", "{:.6g}"),
    ("val_accuracy", "val_acc", "{:.4f}"),
    ("train_accuracy", "acc", "{:.4f}"),
)
ORDER = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")  # the order they are shown in
REDRAW_SECONDS = 0.1  # the live bar follows the batches at most 10 times a second


def _fmt(record: EpochRecord, width: int = 10**6) -> str:
    """The record's metrics in at most `width` characters, dropping the least important first."""
    chosen, used = {}, -2
    for name, label, form in FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        text = f"{label} {form.format(value)}"
        if used + 2 + len(text) > width:
            break
        chosen[name], used = text, used + 2 + len(text)
    return "  ".join(chosen[name] for name in ORDER if name in chosen)


class _ProgressConsole(PlainConsole):
    def on_broken_pipe(self) -> None:
        # The reader went away (`dltrain run ... 2>&1 | head`): go quiet and keep training
        # rather than exit with a half-written run folder, as Rich does by default.
        self.quiet = True


class Progress:
    """Context manager; call it with each EpochRecord, and `batch` with the epochs done so far
    (fractional within an epoch) to move a live bar between epochs.

    Plain output logs epoch 1, then every `log_every`-th epoch counted from it
    (1, 1 + log_every, 1 + 2 log_every, ...), then the last one, whenever training ends.
    """

    def __init__(
        self,
        total_epochs: int,
        log_every: int,
        live: Optional[bool] = None,
        console: Optional[Console] = None,
        get_time: Optional[Callable[[], float]] = None,
    ):
        self.console = console or plain_console(_ProgressConsole, stderr=True)
        self.total, self.log_every = total_epochs, log_every
        self.live = self.console.is_terminal if live is None else live
        self.get_time = get_time or time.monotonic
        self._bar: Any = None  # the Rich progress bar, once entered on a live display
        self._next_draw = 0.0
        self._unprinted: Optional[EpochRecord] = None  # the latest epoch, when the log skipped it
        self.batch = self._batch if self.live else None

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress
            from rich.table import Column

            width = self.console.width
            self._fixed = 33 + 2 * (len(str(self.total)) - 3)  # everything but the bar and the status
            self._bar_width = max(8, min(40, width - self._fixed - 50))
            self._bar = RichProgress(
                TextColumn("epoch"),
                MofNCompleteColumn(table_column=Column(no_wrap=True)),
                BarColumn(bar_width=self._bar_width),
                TimeElapsedColumn(table_column=Column(no_wrap=True)),
                TextColumn("<"),
                TimeRemainingColumn(table_column=Column(no_wrap=True)),
                TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                console=self.console,
                transient=False,
                get_time=self.get_time,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total, status="")
        return self

    def __call__(self, record: EpochRecord) -> None:
        if self._bar is not None:
            room = self.console.width - self._fixed - self._bar_width
            self._bar.update(self._task, completed=record.epoch, status=_fmt(record, room))
        elif (record.epoch - 1) % self.log_every == 0 or record.epoch == self.total:
            self._print(record)
        else:
            self._unprinted = record

    def _batch(self, epochs_done: float) -> None:
        now = self.get_time()
        if now >= self._next_draw:  # Rich redraws on its own clock; this only bounds the updates
            self._next_draw = now + REDRAW_SECONDS
            self._bar.update(self._task, completed=epochs_done)

    def _print(self, record: EpochRecord) -> None:
        self._unprinted = None
        self.console.print(
            f"epoch {record.epoch:>{len(str(self.total))}}/{self.total}  {_fmt(record)}", highlight=False
        )

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self._unprinted is not None:  # stopped early or interrupted: the last epoch still shows
            self._print(self._unprinted)
        return False


def rich_progress(quiet: bool):
    """The progress factory `dltrain.api.run` takes: a live bar on a terminal unless `quiet`."""
    return lambda total_epochs, log_every: Progress(total_epochs, log_every, live=False if quiet else None)
