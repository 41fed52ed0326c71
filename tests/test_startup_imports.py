"""`dltrain --help` stays fast: the CLI imports no numerical or plotting library.

Rule for command modules: import typer/rich at the top; import dltrain's engine,
NumPy, scikit-learn, matplotlib, pydantic etc. inside the command function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "scipy", "sklearn", "matplotlib", "pydantic", "yaml", "pooch", "joblib", "torch", "dask")


def test_importing_the_cli_loads_no_heavy_module():
    code = f"import sys, dltrain.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert loaded == [], f"dltrain.cli imports {loaded} at module level; import them inside the command that uses them"


def test_the_datasets_help_names_what_the_catalog_can_fetch():
    from dltrain.cli.datasets import DOWNLOADABLE
    from dltrain.data import catalog
    from dltrain.data.registry import DATASETS

    assert DOWNLOADABLE == catalog.DOWNLOADABLE == tuple(catalog.FILES)  # each with its files
    assert set(DOWNLOADABLE) | set(catalog.BUILT_IN) == set(DATASETS)  # every registered dataset listed once
