"""The `dltrain` command line: a thin layer over the Python API.

Each command lives in its own module and registers itself on `app`. Heavy modules
(NumPy engine, scikit-learn, matplotlib) are imported inside the commands, so
`dltrain --help` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="dltrain",
    help="Train logistic regression, perceptrons and MLPs on NumPy from YAML experiment configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



def _version(show: bool) -> None:
    if show:
        from dltrain import __version__

        typer.echo(f"dltrain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="show the version and exit")):
    """Train logistic regression, perceptrons and MLPs on NumPy from YAML experiment configs."""


from dltrain.cli import run as _run  # noqa: E402,F401  (registers `run`)
from dltrain.cli import resume as _resume  # noqa: E402,F401  (registers `resume`)
from dltrain.cli.datasets import app as _datasets  # noqa: E402

app.add_typer(_datasets, name="datasets")


def main() -> None:
    app()
from dltrain.cli import evaluate as _evaluate  # noqa: E402,F401  (registers `eval`)
from dltrain.cli import list_runs as _list_runs  # noqa: E402,F401  (registers `runs`)
from dltrain.cli import compare as _compare  # noqa: E402,F401  (registers `compare`)
from dltrain.cli import predict as _predict  # noqa: E402,F401  (registers `predict`)
from dltrain.cli import sweep as _sweep  # noqa: E402,F401  (registers `sweep`)
