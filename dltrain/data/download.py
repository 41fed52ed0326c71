"""Fetch one data file from a list of mirrors, verified by sha256, with a progress bar.

pooch does the transfer: it streams into a temporary file next to the destination and
moves it into place only after the checksum matched, so a failed, truncated or corrupt
download never leaves a file at the final path. This module adds the mirror fallback,
a bound on what a mirror can write (one that never stops sending is cut off, and the next
tried), a progress bar that needs no tqdm, and one `DataError` that says what was tried
and which file to put where by hand.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from dltrain.atomic import SHARED_MODE
from dltrain.errors import DataError

# pooch's own default is 30 s; a stalled mirror should fail over to the next one
# rather than hang the run.
DEFAULT_TIMEOUT_S = 30.0
# pooch reads 1 KiB at a time by default; 64 KiB keeps progress updates cheap.
CHUNK_SIZE = 64 * 1024


# What draws a download's progress: called with a description, it returns an object
# speaking the protocol pooch's HTTPDownloader drives (`total`, `update(n)`, `reset()`,
# `close()`). The CLI installs a Rich bar (dltrain.cli.download_bar); the library itself
# shows nothing.
ProgressBarFactory = Callable[[str], Any]
_progress_bar: Optional[ProgressBarFactory] = None


class TooLarge(ValueError):
    """A mirror sent more than the file can hold."""


class _Bounded:
    """The file a download streams into, refusing to grow past `limit` bytes."""

    def __init__(self, file, limit: int):
        self.file, self.limit, self.written = file, limit, 0

    def write(self, chunk: bytes) -> int:
        self.written += len(chunk)
        if self.written > self.limit:
            raise TooLarge(f"sent more than {self.limit:,} bytes, more than the file can be")
        return self.file.write(chunk)

    def flush(self) -> None:
        self.file.flush()


def _bounded(downloader, limit: int):
    """pooch's `downloader`, writing at most `limit` bytes into its temporary file."""

    def download(url: str, output_file: str, pooch, check_only: bool = False):
        if check_only:  # pooch asks whether the file is there: nothing is written
            return downloader(url, output_file, pooch, check_only=True)
        with open(output_file, "w+b") as file:
            return downloader(url, _Bounded(file, limit), pooch)

    return download


def show_download_progress(factory: Optional[ProgressBarFactory]) -> None:
    """Draw every download's progress with `factory` (None: draw nothing)."""
    global _progress_bar
    _progress_bar = factory


@contextmanager
def _quiet_pooch_logger() -> Iterator[None]:
    """Silence pooch's "Downloading data from ..." INFO lines; the progress bar says it."""
    import logging  # here, with pooch: every command imports this module (2-3 ms)

    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(exc: BaseException) -> str:
    """A one-line, user-readable cause for a failed download attempt."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection closed before the whole file arrived (truncated download)"
    if isinstance(exc, TooLarge):
        return str(exc)
    if isinstance(exc, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (offline, or the host is down)"
    if isinstance(exc, ValueError) and "hash" in str(exc):
        got = re.search(r"but got ([0-9a-fA-F]+)", str(exc))
        return "sha256 checksum mismatch" + (f" (got {got.group(1)})" if got else "")
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def new_folders_kept_only_on_success(folder: Path) -> Iterator[None]:
    """Make `folder` and its missing parents for a download into it; when the download fails, those
    made here are removed again where they are still empty, so that it leaves no trace. A folder
    that was there (`new/../data` names one) or that another process made meanwhile stays."""
    missing, path = [], Path(folder)
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    made = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError:  # the download names what keeps it from writing there
            break
        made.append(path)
    try:
        yield
    except BaseException:
        for path in reversed(made):  # the deepest first; one that holds something stays, with those above it
            try:
                path.rmdir()
            except OSError:
                break
        raise


def fetch_file(
    fname: str,
    urls: Sequence[str],
    dest_dir: Path,
    *,
    sha256: Optional[str],
    max_bytes: int,
    manual_hint: str,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Download `fname` into `dest_dir`, trying each URL in `urls` in order.

    sha256: the expected hex digest; None skips the check (only for files whose content
        the caller verifies itself, such as a GitHub archive, whose zip bytes are not stable).
    max_bytes: the most a mirror may send; past it the transfer is cut off and the next URL tried.
    manual_hint: the sentence telling a user without network what to put where; it ends
        the error message.
    Returns the final path `dest_dir / fname`. A file already there whose checksum
    matches is returned without any network access. Raises DataError naming the file,
    every URL tried with why it failed, and `manual_hint`, when no URL worked; the
    final path then holds no new or partial file.
    """
    import pooch
    import requests

    dest_dir = Path(dest_dir)
    there = (dest_dir / fname).exists()
    known_hash = f"sha256:{sha256}" if sha256 else None
    failures: list[str] = []
    for url in urls:
        bar: Any = _progress_bar(f"{fname} from {url.split('/')[2]}") if progress and _progress_bar else False
        downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=CHUNK_SIZE, timeout=timeout)
        try:
            with _quiet_pooch_logger():
                path = pooch.retrieve(
                    url, known_hash=known_hash, fname=fname, path=dest_dir, downloader=_bounded(downloader, max_bytes)
                )
                if not there:  # pooch's temporary file was 0600; data is meant to be shared
                    os.chmod(path, SHARED_MODE)
            return Path(path)
        except (requests.RequestException, ValueError) as exc:
            failures.append(f"{url}: {_reason(exc)}")
        except OSError as exc:
            # A local problem (read-only or full disk) will not go away on the next mirror.
            raise DataError(
                f"Could not write {fname} into {dest_dir}: {exc}. Choose a writable data "
                f"directory with --data-dir or DLTRAIN_DATA_DIR. {manual_hint}"
            ) from exc
        finally:
            if bar is not False:
                bar.close()
    tried = "; ".join(failures) if failures else "no download URL is configured"
    raise DataError(f"Could not download {fname}. Tried: {tried}. {manual_hint}")
