"""Rich output for the inspect commands (eval, compare, runs, predict)."""

from __future__ import annotations

from rich.console import Console


def stdout_console() -> Console:
    """A console for tables on stdout. Piped or redirected, Rich would wrap at 80 columns;
    wide tables then stay one line per row instead (up to 200 columns)."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console
