"""The `dltrain` command (and `python -m dltrain`).

Signals are taken over before anything heavy is imported, so Ctrl-C or SIGTERM at any
moment, even while Typer, NumPy or pydantic load, ends the process with exit 130 and
no traceback (dltrain.train.signals).
"""

import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StartupInterrupt(KeyboardInterrupt):
    """SIGINT or SIGTERM while dltrain's own handlers load; a subclass as theirs is
    (dltrain.train.signals.Interrupt says why)."""


def _interrupt(signum, frame):
    raise _StartupInterrupt


def main() -> None:
    # An interrupt until dltrain's handlers take over, unless ignored on entry: what
    # dltrain.train.signals.catch does, written here because importing it is the window this closes
    # (its ignore_signals likewise, in `finally`, where the import may not have happened).
    for s in SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, _interrupt)
    try:
        from dltrain import collector
        from dltrain.train.signals import interrupt_on_signals

        collector.pause()  # off until a model trains (for good if none does): start-up makes objects to keep
        interrupt_on_signals()
        _outputs_that_never_fail()
        # dltrain's config and run-file models use no pydantic plugin, and looking for plugins reads
        # the metadata of every installed distribution (10-20 ms of every command); a user's own
        # setting of the variable wins.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
        _forget_zero_sizes()
        from dltrain.cli import main as run_command

        run_command()  # exits: Typer turns KeyboardInterrupt into exit 130, the commands say what was interrupted
    except SystemExit as done:
        lost = getattr(sys.stdout, "lost", None)
        if lost and done.code in (0, None):  # code that caught the OutputLost did not make the output less lost
            sys.stderr.write(f"error: {lost}\n")
            sys.exit(1)
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    finally:
        for s in SIGNALS:  # ignored: the exit code is decided, and a late signal must not change it
            signal.signal(s, signal.SIG_IGN)


def _forget_zero_sizes() -> None:
    """Unset COLUMNS and LINES where they say 0, before any Rich console reads them: a width of 0
    prints nothing at all, not even an error. Unset, a terminal's own size is used, and piped
    tables are unlimited."""
    for name in ("COLUMNS", "LINES"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) == 0:
            del os.environ[name]


def _outputs_that_never_fail() -> None:
    """A terminal that cannot show a character gets a '?' instead of a UnicodeEncodeError; a
    closed stdout (`dltrain run ... >&-`) gets a note instead of failing a run that completed
    (but fails a command whose only output was stdout); a stdout that fails later (`| head -1`
    leaving, a full disk) is an OutputLost error. A stderr that is closed or fails (`2>&1 |
    head -1` leaving) changes nothing: what it would show is dropped, and the work and its exit
    code are those it would have had."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    else:
        sys.stderr = _Stderr(sys.stderr)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout(open(os.devnull, "w"))  # noqa: SIM115 - for the life of the process
    else:
        sys.stdout = _Stdout(sys.stdout)


class _Guarded:
    """A standard stream, for the wrappers below: its other attributes (encoding, isatty, fileno,
    buffer, ...) are the stream's own."""

    def __init__(self, stream):
        self._stream = stream

    def _to_devnull(self) -> None:
        """From now on the stream writes to /dev/null: what it still holds, and Python's last
        flush at exit, go nowhere and cannot fail again."""
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._stream.fileno())
        os.close(null)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _Stdout(_Guarded):
    """sys.stdout, whose failing write or flush raises OutputLost (exit 1, one message on stderr)
    rather than an OSError that would read as a bug. From then on the output goes to
    /dev/null: the error is reported once, and Python's last flush at exit cannot fail again.
    `lost` keeps the message, so that a command ending with exit 0 after some code caught the
    error still fails (click probes a stream with an empty write inside `except Exception`)."""

    def __init__(self, stream):
        super().__init__(stream)
        self.lost = None

    def write(self, text: str) -> int:
        if isinstance(text, str) and not text:  # nothing to write, nothing to fail (/dev/full refuses even that)
            return 0
        return self._guarded(self._stream.write, text)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except OSError as err:
            from dltrain.errors import OutputLost

            self._to_devnull()
            reason = err.strerror or type(err).__name__
            self.lost = f"stdout could not be written ({reason}); the output is lost"
            raise OutputLost(self.lost) from None


class _ClosedStdout(_Guarded):
    """No stdout at all (`>&-`): what is written goes to /dev/null and makes the output `lost`,
    so that a command that printed its result there exits 1, not 0 (`dltrain schema >&-`).
    The result of a run or sweep is saved in its folder anyway: `dltrain.cli.common.saved_in`
    forgives it, with a note on stderr naming the folder."""

    closed_at_start = True

    def __init__(self, stream):
        super().__init__(stream)
        self.lost = None

    def write(self, text: str) -> int:
        if text:
            self.lost = "stdout is closed; the output is lost"
        return self._stream.write(text)


class _Stderr(_Guarded):
    """sys.stderr, which goes quiet for good once a write or flush fails (`2>&1 | head -1`
    leaving, a full disk). stderr holds what a person reads along the way (progress, notes,
    tables with --json, error messages); losing it drops that and nothing else: the run or
    sweep goes on, and the exit code is the one its work deserves."""

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            self._to_devnull()


if __name__ == "__main__":
    main()
