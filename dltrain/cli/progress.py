"""Progress while training, always on stderr so stdout stays free for results and --json.

On a terminal: a Rich progress bar with the live loss and accuracy. Otherwise (a pipe,
a log file, or --quiet): one plain line every `log_every` epochs and at the last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from rich.console import Console

if TYPE_CHECKING:  # the engine (NumPy) is imported by the command, not by `dltrain --help`
    from dltrain.train.loop import EpochRecord


def _fmt(record: EpochRecord) -> str:
    parts = [f"loss {record.train_loss:.6g}"]
    if record.train_accuracy is not None:
        parts.append(f"acc {record.train_accuracy:.4f}")
    if record.val_loss is not None:
        parts.append(f"val_loss {record.val_loss:.6g}")
    if record.val_accuracy is not None:
        parts.append(f"val_acc {record.val_accuracy:.4f}")
    return "  ".join(parts)


class _ProgressConsole(Console):
    def on_broken_pipe(self) -> None:
        # The reader went away (`dltrain run ... 2>&1 | head`): go quiet and keep training
        # rather than exit with a half-written run folder, as Rich does by default.
        self.quiet = True


class Progress:
    """Context manager; call it with each EpochRecord."""

    def __init__(
        self, total_epochs: int, log_every: int, live: Optional[bool] = None, console: Optional[Console] = None
    ):
        self.console = console or _ProgressConsole(stderr=True)
        self.total, self.log_every = total_epochs, log_every
        self.live = self.console.is_terminal if live is None else live
        self._bar = None

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("<"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.console,
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total, status="")
        return self

    def __call__(self, record: EpochRecord) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=record.epoch, status=_fmt(record))
        elif record.epoch % self.log_every == 0 or record.epoch in (1, self.total):
            self.console.print(
                f"epoch {record.epoch:>{len(str(self.total))}}/{self.total}  {_fmt(record)}", highlight=False
            )

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def rich_progress(quiet: bool):
    """The progress factory `dltrain.api.run` takes: a live bar on a terminal unless `quiet`."""
    return lambda total_epochs, log_every: Progress(total_epochs, log_every, live=False if quiet else None)
