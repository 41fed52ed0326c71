"""`dltrain schema`: the config schema as JSON Schema (for editors and validators)."""

from __future__ import annotations

from dltrain.cli import app
from dltrain.cli.common import print_json


@app.command()
def schema():
    """Print the config schema as JSON Schema: every key, its type, default and meaning."""
    from dltrain.config.schema import Config

    print_json(Config.model_json_schema())
