"""The Rich progress bar of a dataset download, on stderr."""

from __future__ import annotations


class RichDownloadBar:
    """A Rich progress bar speaking the protocol pooch's HTTPDownloader drives.

    pooch sets `total` (bytes, 0 when the server sends no length), calls `update(n)`
    per chunk, then `reset()`, `update(total)` and `close()` when the file is complete.
    tqdm is not a dependency, so `progressbar=True` would fail; this object is passed
    instead.
    """

    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from dltrain.cli.tables import plain_console

        self._progress = Progress(
            TextColumn("{task.description}", markup=False),  # the host may be [an:IPv6::address]
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=plain_console(stderr=True),
        )
        self._task = self._progress.add_task(description, total=None)
        self._total = 0
        self._running = False

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, value: int) -> None:
        self._total = int(value or 0)
        # An unknown length (0) shows a pulsing bar rather than an instantly full one.
        self._progress.update(self._task, total=self._total or None)
        self._start()

    def update(self, n: int) -> None:
        self._start()
        self._progress.advance(self._task, n)

    def reset(self) -> None:
        self._progress.reset(self._task, total=self._total or None)

    def close(self) -> None:
        if self._running:
            self._progress.stop()
            self._running = False

    def _start(self) -> None:
        if not self._running:
            self._progress.start()
            self._running = True
