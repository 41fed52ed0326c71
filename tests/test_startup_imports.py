"""`dltrain --help` stays fast: the CLI imports no numerical or plotting library; and each
command loads only the libraries it uses.

Rule for command modules: import typer/rich at the top; import dltrain's engine,
NumPy, scikit-learn, matplotlib, pydantic etc. inside the command function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- each command loads only what it uses ------------------------------------------------


def loaded_by(args: list[str], tmp_path: Path, **env_vars: str) -> set[str]:
    """The modules a fresh process has loaded after running `dltrain ARGS` (which must succeed);
    `env_vars` are set for it (an empty value removes the variable)."""
    out = tmp_path / "modules.txt"
    code = (
        "import sys\nfrom dltrain.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
        f"open({str(out)!r}, 'w').write(' '.join(sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": ""}  # no backend hint: what a user's shell gives
    env = {k: v for k, v in {**env, **env_vars}.items() if v}
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(out.read_text().split())


def family(modules: set[str], *names: str) -> list[str]:
    """Those of `modules` that are one of `names` or inside them."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def split_run(tmp_path_factory) -> Path:
    """A completed classifier run with validation and test splits drawn at random (no stratification)."""
    from dltrain import api

    runs = tmp_path_factory.mktemp("runs")
    X = [[float(i % 3), float(i % 5), float(i % 7)] for i in range(40)]
    config = {
        "name": "imports",
        "dataset": {
            "name": "inline",
            "X": X,
            "y": [i % 2 for i in range(40)],
            "test_size": 0.25,
            "validation_split": 0.2,
        },
        "model": {"type": "logreg"},
        "training": {"epochs": 3},
    }
    return api.run(config, runs_dir=runs).path


def test_run_draws_its_figures_without_pyplot_and_without_scikit_learn(tmp_path):
    loaded = loaded_by(["run", str(REPO / "configs/perceptron_or.yaml"), "--runs-dir", str(tmp_path), "-q"], tmp_path)
    assert "matplotlib.figure" in loaded  # the figures were drawn...
    assert family(loaded, "matplotlib.pyplot", "sklearn") == []  # ... on an Agg canvas, not through pyplot


def test_eval_loads_no_scikit_learn_model_selection_nor_pyplot(split_run, tmp_path):
    loaded = loaded_by(["eval", str(split_run), "--json"], tmp_path)
    assert (split_run / "confusion_matrix.png").is_file()
    assert family(loaded, "sklearn.model_selection", "matplotlib.pyplot") == []
    assert family(loaded, "sklearn") == []  # the split and the metrics are NumPy
    assert family(loaded, "matplotlib") == []  # the run drew this confusion matrix: eval keeps it


def test_runs_loads_neither_matplotlib_nor_scikit_learn(split_run, tmp_path):
    loaded = loaded_by(["runs", str(split_run.parent)], tmp_path)
    assert family(loaded, "matplotlib", "sklearn", "scipy") == []
    # A row is read from meta.json and metrics.json: no NumPy, no config schema (thousands of folders).
    assert family(loaded, "numpy", "dltrain.config.schema") == []


def test_without_a_data_directory_set_run_and_eval_do_not_load_the_downloader(split_run, tmp_path):
    # The per-user cache folder is found without pooch (and the requests stack it imports).
    config = str(REPO / "configs/perceptron_or.yaml")
    assert (
        family(loaded_by(["run", config, "--runs-dir", str(tmp_path), "-q"], tmp_path, DLTRAIN_DATA_DIR=""), "pooch")
        == []
    )
    assert family(loaded_by(["eval", str(split_run)], tmp_path, DLTRAIN_DATA_DIR=""), "pooch") == []
