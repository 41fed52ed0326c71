"""The errors dltrain reports to users, each carrying the exit code the CLI returns.

Anything raised as a `DltrainError` is shown as a short message, never a traceback.
Anything else is a bug: its traceback goes to `error.log` in the run folder (when there
is one), and `DLTRAIN_DEBUG=1` lets it propagate with its traceback instead.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Optional

ERROR_LOG = "error.log"  # a run folder's record of the unexpected exception that ended it


class DltrainError(Exception):
    """A problem the user can fix; the message says what and where.

    `result` is the run's RunResult when a run folder was written before the error.
    """

    exit_code = 2

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class ConfigError(DltrainError):
    """The config (YAML, --set override or flag) is invalid."""


class DataError(DltrainError):
    """A dataset or input file is missing, corrupt or of the wrong shape."""


class RunFolderError(DltrainError):
    """A run folder is missing, incomplete or unreadable."""


class TrainingFailed(DltrainError):
    """Training stopped because it could not go on (e.g. the loss became NaN)."""

    exit_code = 1


class OutputLost(DltrainError):
    """stdout could not be written (the reader of a pipe left, a full disk): whatever the
    command saved is complete, but the result it was to print is lost."""

    exit_code = 1


class Interrupted(DltrainError):
    """The user stopped the run (Ctrl-C, SIGTERM); what was done is saved."""

    exit_code = 130


def debugging() -> bool:
    """True when DLTRAIN_DEBUG is set (and not 0): unexpected exceptions propagate with their traceback."""
    return os.environ.get("DLTRAIN_DEBUG", "") not in ("", "0")


def is_bug(err: BaseException) -> bool:
    """An exception dltrain did not anticipate: neither a DltrainError nor running out of memory."""
    return not isinstance(err, (DltrainError, MemoryError))


def traceback_text(err: BaseException) -> str:
    """The full traceback of `err`, as Python prints it."""
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


def describe(err: BaseException, log: Optional[Path] = None) -> str:
    """A message for the user: a DltrainError's own text; anything else named for what it is.

    `log`: where the traceback of a bug was written, named in the message.
    """
    if isinstance(err, DltrainError):
        return str(err)
    if isinstance(err, MemoryError):
        return (
            "not enough memory: the model or the dataset is too large for this machine; "
            "reduce model.hidden or the dataset size, or use training.dtype float32"
        )
    message = f"internal error: {type(err).__name__}: {err}"
    return naming_log(message, log) if log else message


def naming_log(message: str, log: Path) -> str:
    """`message` with the file that holds the traceback named."""
    return f"{message} (the traceback is in {log})"


def shorten(value, limit: int = 120) -> str:
    """repr(value), cut to about `limit` characters: a message never quotes a whole document."""
    return cut(repr(value), limit)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]} ..."
