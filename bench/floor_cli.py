"""The floor under `dltrain run`'s wall time: what any command pays that is built, like
dltrain, as a Typer CLI on NumPy, PyYAML, pydantic and Rich, before doing any work.

    python bench/floor_cli.py run CONFIG [--quiet] [--plots]

It imports those libraries (pydantic without its plugin scan, as dltrain does), lets
Typer parse a command line with the parameters of `dltrain run` and --plots (Typer 0.2x
builds a pydantic adapter for each), reads CONFIG with PyYAML's C loader, validates one
field with a pydantic model, opens a Rich console on stderr and prints one line. With
--plots it also draws and saves, through matplotlib's object API on an Agg canvas (no
pyplot), three figures of one 100-point line each: the three figures of the OR-gate run
at their least. `bench/latency.py` times it beside dltrain.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as `dltrain` sets it, before pydantic loads

import numpy as np  # noqa: E402
import pydantic  # noqa: E402
import rich.console  # noqa: E402
import typer  # noqa: E402
import yaml  # noqa: E402

app = typer.Typer(add_completion=False)


@app.callback()
def main():
    """A command group, as dltrain's: the command's name comes first."""


class Config(pydantic.BaseModel):
    name: str


@app.command()
def run(
    config: Path = typer.Argument(...),
    set_: list[str] = typer.Option([], "--set"),
    name: Optional[str] = typer.Option(None, "--name"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    as_json: bool = typer.Option(False, "--json"),
    dry_run: bool = typer.Option(False, "--dry-run"),
    report: bool = typer.Option(False, "--report"),
    plots: bool = typer.Option(False, "--plots"),
):
    cfg = Config.model_validate(yaml.load(config.read_text(), Loader=yaml.CSafeLoader))
    console = rich.console.Console(stderr=True)
    if plots:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with tempfile.TemporaryDirectory() as out:
            for i in range(3):
                fig = Figure(figsize=(6, 4))
                FigureCanvasAgg(fig)
                ax = fig.add_subplot()
                ax.plot(np.arange(1, 101), np.linspace(1.0, 0.1, 100))
                ax.set(title=cfg.name, xlabel="epoch", ylabel="loss")
                fig.savefig(Path(out) / f"{i}.png", dpi=100)
    console.print(f"{cfg.name}: parsed", highlight=False)


if __name__ == "__main__":
    app()
