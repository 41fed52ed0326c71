"""The errors dltrain reports to users, each carrying the exit code the CLI returns.

Anything raised as a `DltrainError` is shown as a short message, never a traceback.
"""


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


class Interrupted(DltrainError):
    """The user stopped the run (Ctrl-C, SIGTERM); what was done is saved."""

    exit_code = 130


def describe(err: BaseException) -> str:
    """A message for the user: a DltrainError's own text; anything else named for what it is."""
    if isinstance(err, DltrainError):
        return str(err)
    if isinstance(err, MemoryError):
        return (
            "not enough memory: the model or the dataset is too large for this machine; "
            "reduce model.hidden or the dataset size, or use training.dtype float32"
        )
    return f"internal error: {type(err).__name__}: {err}"


def shorten(value, limit: int = 120) -> str:
    """repr(value), cut to about `limit` characters: a message never quotes a whole document."""
    return cut(repr(value), limit)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]} ..."
