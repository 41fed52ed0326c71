"""What every command shares: error reporting with exit codes, JSON output, the consoles."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from dltrain.cli.progress import rich_progress
from dltrain.cli.tables import plain_console, run_summary
from dltrain.runs.status import Status

err_console = plain_console(stderr=True, highlight=False)

DATA_DIR_HELP = "data directory (default: $DLTRAIN_DATA_DIR, else a per-user cache)"


# Typer's own exits (a command's exit code, a declined confirmation) and usage errors: click's
# classes in the Typer versions built on click, Typer's copies since it carries click inside.
USAGE_ERROR = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")
TYPER_EXITS = (typer.Exit, typer.Abort, USAGE_ERROR)


def print_json(doc: Any) -> None:
    """Exactly one JSON document on stdout, standard JSON: a NaN or infinite number (a diverged
    loss) is null, as JSON has no such numbers (Python's NaN and Infinity break jq and browsers)."""
    sys.stdout.write(json.dumps(_finite(doc), indent=2, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


@contextlib.contextmanager
def saved_in(path) -> Iterator[None]:
    """Around printing the result of work already saved in `path`: if stdout is lost (a closed
    pipe, a full disk), the error (exit 1) says that the work itself is complete and where. With
    no stdout at all (`>&-`) no result was asked for: a note says where it is, and the exit code
    is the work's."""
    from dltrain.errors import OutputLost

    try:
        yield
    except OutputLost as err:
        raise OutputLost(f"{err}; the work is complete and saved in {path}") from None
    stdout: Any = sys.stdout
    if getattr(stdout, "closed_at_start", False) and stdout.lost:
        stdout.lost = None
        err_console.print(f"note: stdout is closed; the results are saved in {path}", soft_wrap=True)


UNUSABLE_PATHS = (errno.ENAMETOOLONG, errno.ELOOP)  # a path argument no file can have: a usage error, not a bug


def reports_errors(command: Callable) -> Callable:
    """Turn DltrainError and Ctrl-C into a short message and the documented exit code.

    Any other exception is a bug: a one-line message (exit 1), or with DLTRAIN_DEBUG=1 the
    exception itself with its traceback. With `as_json=True` the error is also printed on
    stdout as {"status": ..., "error": ...}.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from dltrain.errors import DltrainError, Interrupted, TrainingFailed, debugging, describe, shorten
        from dltrain.train.signals import interrupts_raised

        as_json, interrupts = kwargs.get("as_json", False), interrupts_raised()
        try:
            return command(*args, **kwargs)
        except TYPER_EXITS:
            raise  # Typer's own exits (a command's exit code, a declined confirmation) and usage errors
        except DltrainError as err:
            _report(err, as_json)
            raise typer.Exit(err.exit_code) from None
        except MemoryError as err:
            _report(DltrainError(describe(err)), as_json)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _report(Interrupted("interrupted"), as_json)
            raise typer.Exit(130) from None
        except Exception as err:
            if interrupts_raised() > interrupts:  # an interrupt that a library caught and reported as its own error
                _report(Interrupted("interrupted"), as_json)
                raise typer.Exit(130) from None
            if isinstance(err, OSError) and err.errno in UNUSABLE_PATHS:  # a path argument no file can have
                _report(DltrainError(f"{shorten(str(err.filename), 200)}: {err.strerror}"), as_json)
                raise typer.Exit(2) from None
            if debugging():
                raise
            _report(TrainingFailed(f"{describe(err)}; run again with DLTRAIN_DEBUG=1 to see the traceback"), as_json)
            raise typer.Exit(1) from None

    wrapper.reports_errors = True  # type: ignore[attr-defined]  # checked by the tests for every command
    return wrapper


def _report(err, as_json: bool) -> None:
    status = {1: Status.FAILED, 130: Status.INTERRUPTED}.get(err.exit_code, "error")
    from rich.text import Text

    # Text, not markup: messages hold lists such as [0, 1] that markup would swallow.
    message = (
        Text.assemble(("error: ", "bold red"), str(err))
        if status != Status.INTERRUPTED
        else Text(str(err), style="yellow")
    )
    err_console.print(message, soft_wrap=True)
    if as_json:
        doc = err.result.as_dict() if getattr(err, "result", None) else {"status": status}
        doc["error"] = str(err)
        print_json(doc)


def confirmed(question: str) -> bool:
    """The user's yes (y, yes) to `question`, asked on stderr and answered on stdin: stdout holds
    only results (click's prompt writes a space there). ConfigError when no answer can come
    (stdin closed or at its end: a script), saying to pass --yes."""
    from dltrain.errors import ConfigError

    err_console.print(f"{question} [y/N]: ", end="", soft_wrap=True)
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if not (sys.stdin is not None and sys.stdin.isatty()):  # the answer was not echoed: end the line
        err_console.print()
    if not answer:
        raise ConfigError(f'"{question}" got no answer (stdin gave nothing); pass --yes to go ahead without asking')
    return answer.strip().lower() in ("y", "yes")


def print_note(note: str) -> None:
    """A remark about the run (a clamped batch size, ...) on stderr, kept apart from results."""
    err_console.print(f"note: {note}", soft_wrap=True)


def note_shadowed(config) -> None:
    """A note when CONFIG, a bundled config's name, is also a NAME.yaml here that the user may have meant."""
    from dltrain.config.bundled import shadowed_file

    file = shadowed_file(config)
    if file:
        print_note(f"{config} is the bundled config; give {file} to use the file {file} here")


def at_the_terminal(quiet: bool) -> dict[str, Any]:
    """The keywords of `api.run` and `api.resume` for a command at the terminal: live progress
    (plain lines with `quiet`), notes on stderr, the command line kept in meta.json, and
    Ctrl-C or SIGTERM handled (stop after the batch, save, exit 130)."""
    return {
        "progress": rich_progress(quiet),
        "on_note": print_note,
        "argv": ["dltrain", *sys.argv[1:]],
        "handle_signals": True,
    }


def print_result(result, as_json: bool) -> None:
    """What `run` and `resume` print once the run folder is complete: one JSON document with
    --json, else the summary, or only the note when nothing was trained (a finished run resumed)."""
    from dltrain.train.signals import work_saved

    work_saved()  # the run folder is complete: a signal from here on does not change the exit code
    with saved_in(result.path):
        if as_json:
            print_json(result.as_dict())
        elif result.note:  # no summary that could read as a new result
            err_console.print(result.note, soft_wrap=True)
        else:
            run_summary(result)


def output_format(path: Path, option: str, formats: tuple[str, ...]) -> str:
    """The format a user-named output is written in, as its suffix names it (the first of
    `formats` where it has none). Any other suffix is a ConfigError, raised before any work:
    a file named x.svg never holds PNG bytes."""
    suffix = path.suffix.lower().removeprefix(".")
    suffix = suffix if suffix.isalpha() else ""  # curves_lr0.01 has no suffix, and is written as the first format
    if not suffix or suffix in formats:
        return suffix or formats[0]
    from dltrain.errors import ConfigError

    names = ", ".join(f".{name}" for name in formats[:-1]) + f" or .{formats[-1]}"
    raise ConfigError(f"{option} {path}: cannot write a .{suffix} file (only {names})")


def write_output(path, data: bytes):
    """Write a file the user named (--plot PATH, report -o FILE): a regular file or nothing
    (dltrain.files.write_user_file); anything else is exit 2. Every user-named output goes through here."""
    from dltrain.files import write_user_file

    return write_user_file(path, data)
