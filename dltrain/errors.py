"""The errors dltrain reports to users, each carrying the exit code the CLI returns.

Anything raised as a `DltrainError` is shown as a short message, never a traceback.
"""


class DltrainError(Exception):
    """A problem the user can fix; the message says what and where."""

    exit_code = 2


class ConfigError(DltrainError):
    """The config (YAML, --set override or flag) is invalid."""


class DataError(DltrainError):
    """A dataset or input file is missing, corrupt or of the wrong shape."""


class RunFolderError(DltrainError):
    """A run folder is missing, incomplete or unreadable."""


class TrainingFailed(DltrainError):
    """Training stopped because it could not go on (e.g. the loss became NaN)."""

    exit_code = 1
