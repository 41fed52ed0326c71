"""Python's cycle collector in a `dltrain` process: off while the command starts, on once a
model trains.

A command's imports, config schemas and figures make some 100,000 objects that live as long
as the process, and next to no reference cycles, yet the collector walks them again and again
as they pile up: 0.06-0.09 s of the 0.4 s `dltrain run` on the OR gate, 0.19 s of the 1.2 s
with its figures (bench/latency.py).
`pause()` (the command line, first thing) turns it off; `resume()` (before a model trains or a
sweep starts) freezes what exists, so the collector never walks it again, and turns it back on
for good: training, and a sweep's points by the thousand, make the garbage it is there for. A
program that uses the Python API never paused it, and `resume()` leaves it as it is.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    global _paused
    if _paused:
        gc.freeze()
        gc.enable()
        _paused = False
