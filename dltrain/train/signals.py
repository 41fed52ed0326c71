"""Ctrl-C (SIGINT) and SIGTERM, handled in one place.

Three situations, three context managers or calls:

    interrupt_on_signals()        # the `dltrain` process, first thing: SIGTERM acts as Ctrl-C
                                  # (KeyboardInterrupt), so every command ends with exit 130, never 143
    with graceful_stop(trainer):  # training: the first signal stops after the current batch
        trainer.fit()             # (everything is then saved), a second leaves at once (ForcedExit)
    with stop_signals(on_first=backend.request_stop):   # a sweep: the first signal stops the running
        ...                                              # points after their batch, a second raises KeyboardInterrupt
    with deferred_interrupt():    # writing a finished run: a signal is held back until the files
        write(...)                # are whole, then handled as it would have been
    work_saved()                  # the command's work is complete and saved: later signals are
                                  # ignored, so printing the result ends with exit 0

SIGTERM is what `timeout`, Slurm, `docker stop` and systemd send; it is handled exactly
like Ctrl-C everywhere. Handlers are installed only in the main thread (Python delivers signals there; in a
worker thread each is a no-op, and a worker process keeps whatever its pool
installed). The Python API installs nothing unless asked (`handle_signals=True`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dltrain.atomic import SIGNALS, deferred_interrupt  # noqa: F401 - deferred_interrupt: one of the four, above

RESEND_DELAY = 0.005  # seconds before an interrupt lost in a garbage-collector callback is sent again
# A second interrupt means "quit at once" only this long after the first: `timeout` sends its signal
# to the command and then to the command's process group, so the command gets it twice within
# microseconds (and a script's `kill` of a process and of its group does the same).
REPEAT_GAP = 0.25


class Interrupt(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised by the handlers here; `except KeyboardInterrupt` catches it.

    A subclass on purpose: when a plain KeyboardInterrupt escapes code that exec() runs
    from a string (dataclasses and namedtuples are built so while modules import), CPython
    notes it and, under `python -m`, ends the process by SIGINT at exit, whatever exit
    code was chosen after catching it. It notes the exact class only.
    """


class ForcedExit(Interrupt):
    """A second interrupt: stop now, without waiting for the end of the batch or the saving."""


_raised: list[int] = []  # the signals `_interrupt` turned into Interrupt in this process


def _interrupt(signum, frame):
    _raised.append(signum)
    raise Interrupt


def interrupts_raised() -> int:
    """How many signals were raised as Interrupt in this process so far. Code that catches every
    exception can swallow one: pydantic, building a validator, reports it as a SchemaError. An
    error that follows one is the interrupt's doing (exit 130), not a bug."""
    return len(_raised)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def interrupt_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt from now on (for the `dltrain` process).

    A signal ignored on entry stays ignored, as Python itself leaves SIGINT: a shell script's
    background job (`dltrain run a.yaml &`) is started with SIGINT ignored, so that Ctrl-C
    meant for the script's foreground command does not stop it.
    """
    if _main_thread():
        catch(_interrupt)
        sys.unraisablehook = _redeliver_interrupts(sys.unraisablehook)


def _redeliver_interrupts(previous: Callable) -> Callable:
    """A sys.unraisablehook that sends again an interrupt lost where Python cannot raise it.

    A signal handler runs in whatever Python code is executing when the signal arrives,
    and that can be a weakref callback or a __del__ the garbage collector runs (matplotlib
    figures leave such cycles behind). An exception raised there cannot propagate: Python
    prints "Exception ignored in ..." with a traceback and goes on, as if the signal had
    never come. This hook sends the signal again instead, from another thread a moment
    later (sent from here, its handler would run inside this hook, where it would be lost
    again); the handler then runs in ordinary code and acts as it would have.
    """

    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)
            return
        handled = [s for s in SIGNALS if callable(signal.getsignal(s))]
        if handled:  # none once the exit code is decided (both ignored): nothing is lost then
            resend = threading.Timer(RESEND_DELAY, os.kill, (os.getpid(), handled[0]))
            resend.daemon = True
            resend.start()

    return hook


def work_saved() -> None:
    """The work is complete and saved: ignore SIGINT and SIGTERM while the result is printed.

    Only where interrupt_on_signals() was called (the `dltrain` process): elsewhere
    (tests calling the CLI in-process, the Python API) the handlers are left alone.
    """
    if _main_thread() and signal.getsignal(signal.SIGTERM) is _interrupt:
        ignore_signals()


def ignore_signals() -> None:
    """SIGINT and SIGTERM ignored from now on: the process's exit code is decided."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def _first_or_again(first: list[float]) -> str:
    """'first' for the first interrupt (noted in `first`), 'again' for one at least REPEAT_GAP after
    it, 'echo' for the first delivered a second time (see REPEAT_GAP): nothing to do."""
    now = time.monotonic()
    if not first:
        first.append(now)
        return "first"
    return "again" if now - first[0] >= REPEAT_GAP else "echo"


@contextmanager
def graceful_stop(trainer, enabled: bool = True) -> Iterator[None]:
    """First signal: trainer.stop_requested (stop after the batch, then save); second: ForcedExit."""
    if not enabled or not _main_thread():
        yield
        return
    first: list[float] = []

    def on_signal(signum, frame):
        which = _first_or_again(first)
        if which == "echo":
            return
        if which == "again" or trainer.stop_requested:
            raise ForcedExit()
        trainer.stop_requested = True
        # os.write, not print: a buffered write here could re-enter one the main code is making.
        if trainer.finished:  # nothing left to stop: the run is being saved as completed
            os.write(2, b"\ntraining is over: saving the completed run; interrupt again to quit at once\n")
        else:
            os.write(2, b"\nstopping after the current batch and saving; interrupt again to quit at once\n")

    with _handlers(on_signal):
        yield


@contextmanager
def interrupting() -> Iterator[list]:
    """SIGINT and SIGTERM (those not ignored) raise Interrupt at once inside the block, for work
    that cannot stop at a batch's end (a scikit-learn fit); yields the list of signals received,
    which code that swallows KeyboardInterrupt (scikit-learn's MLPs do) cannot hide."""
    received: list[int] = []
    if not _main_thread():
        yield received
        return

    def on_signal(signum, frame):
        received.append(signum)
        raise Interrupt

    with _handlers(on_signal):
        yield received


@contextmanager
def stop_signals(on_first: Callable[[], None], enabled: bool = True) -> Iterator[None]:
    """First SIGINT/SIGTERM: on_first() (signal-safe: it only sets flags); the second raises KeyboardInterrupt."""
    if not enabled or not _main_thread():
        yield
        return
    first: list[float] = []

    def on_signal(signum, frame):
        which = _first_or_again(first)
        if which == "echo":
            return
        if which == "again":
            raise Interrupt
        on_first()
        # os.write, not print: a buffered write here could re-enter one the main code is making.
        os.write(
            2, b"\nstopping the sweep: running points stop after their current batch; interrupt again to quit at once\n"
        )

    with _handlers(on_signal):
        yield


def catch(handler: Callable) -> dict:
    """`handler` for SIGINT and SIGTERM, but not for one that is ignored: a shell script's
    background job is started with SIGINT ignored, and it stays so. The previous handlers."""
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s, old in previous.items():
        if old is not signal.SIG_IGN:
            signal.signal(s, handler)
    return previous


@contextmanager
def _handlers(handler) -> Iterator[None]:
    """`handler` for SIGINT and SIGTERM inside the block (`catch`)."""
    previous = catch(handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
