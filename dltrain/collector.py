"""Python's cycle collector in a `dltrain` process: off while the command starts, on once a
model trains or a sweep starts.

A command's imports and config schemas make some 100,000 objects that live as long as the
process, and next to no reference cycles, yet the collector walks them again and again as
they pile up (bench/README.md has what that cost). `pause()`, the command line's first step,
turns it off; a command that trains nothing keeps it off, and its few cycles (under a
megabyte, whatever its input) go with the process. `resume()` freezes what exists, so the
collector never walks it again, and turns it back on for good: training, and a sweep's
points by the thousand, make the garbage it is there for. A program that uses the Python
API never paused it, and `resume()` leaves it as it is.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Turn the collector off, if it is on (the command line, before its imports)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume(collect: bool = False) -> None:
    """If `pause()` turned the collector off: freeze every object alive now and turn it back on.
    `collect`: first free the cycles made so far (0.1 s; an Optuna study's set-up leaves 3 MB)."""
    global _paused
    if _paused:
        if collect:
            gc.collect()
        gc.freeze()
        gc.enable()
        _paused = False
