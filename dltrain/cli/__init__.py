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
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(show: bool) -> None:
    if show:
        from dltrain import __version__

        typer.echo(f"dltrain {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="show the version and exit"
    ),
):
    """Train logistic regression, perceptrons and MLPs on NumPy from YAML experiment configs."""
    from dltrain.cli.download_bar import RichDownloadBar
    from dltrain.data.download import show_download_progress

    show_download_progress(RichDownloadBar)  # a dataset downloaded by any command shows its bar


# Each module registers its command on `app` when imported; the order is the order of --help.
from dltrain.cli import (  # noqa: E402,F401
    compare,
    configs,
    evaluate,
    gradcheck,
    init,
    list_runs,
    predict,
    report,
    resume,
    run,
    schema,
    sweep,
)
from dltrain.cli.datasets import app as _datasets  # noqa: E402

app.add_typer(_datasets, name="datasets")


def main() -> None:
    import sys
    from typing import Any, cast

    from dltrain.errors import DltrainError

    try:
        # named as installed, `python -m dltrain` too: a completion script calls the program by its name
        code = app(standalone_mode=False, prog_name="dltrain")
    except DltrainError as err:  # outside any command: stdout lost while Typer printed help or usage
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        sys.exit(1)
    except typer.exceptions.TyperException as err:  # a usage error, found before any command ran
        from typer import rich_utils

        rich_utils.rich_format_error(cast(Any, err))  # Typer's own usage errors are click's
        if "--json" in sys.argv[1:]:  # the command's own --json handling never started: keep its promise
            from dltrain.cli.common import print_json

            print_json({"status": "error", "error": err.format_message()})
        sys.exit(getattr(err, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
