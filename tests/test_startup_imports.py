"""`dltrain --help` stays fast: the CLI imports no numerical or plotting library; and each
command loads only the libraries it uses.

Rule for command modules: import typer/rich at the top; import dltrain's engine,
NumPy, scikit-learn, matplotlib, pydantic etc. inside the command function.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DLTRAIN, REPO, process_env

HEAVY = ("numpy", "scipy", "sklearn", "matplotlib", "pydantic", "yaml", "pooch", "joblib", "torch", "dask")


def test_importing_the_cli_loads_no_heavy_module():
    code = f"import sys, dltrain.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=process_env(), check=True
    ).stdout.split()
    assert loaded == [], f"dltrain.cli imports {loaded} at module level; import them inside the command that uses them"


def test_the_datasets_help_names_what_the_catalog_can_fetch():
    from dltrain.cli.datasets import DOWNLOADABLE
    from dltrain.data import catalog
    from dltrain.data.registry import DATASETS

    assert DOWNLOADABLE == catalog.DOWNLOADABLE == tuple(catalog.FILES)  # each with its files
    assert set(DOWNLOADABLE) | set(catalog.BUILT_IN) == set(DATASETS)  # every registered dataset listed once


# --- each command loads only what it uses ------------------------------------------------


# A fresh process names each module it imports on stderr (python -X importtime); no backend
# hint for matplotlib: what a user's shell gives.
IMPORTS = {"PYTHONPROFILEIMPORTTIME": "1", "MPLBACKEND": ""}


def imported(stderr: str) -> set[str]:
    """The modules named in `python -X importtime`'s lines ("import time: self | cumulative | module")."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


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


def test_run_draws_its_figures_without_pyplot_and_without_scikit_learn(cli, tmp_path):
    run = cli(
        "run", REPO / "configs/perceptron_or.yaml", "--runs-dir", tmp_path, "-q", process=True, env=IMPORTS, code=0
    )
    loaded = imported(run.stderr)
    assert "matplotlib.figure" in loaded  # the figures were drawn...
    assert family(loaded, "matplotlib.pyplot", "sklearn") == []  # ... on an Agg canvas, not through pyplot


def test_the_quickstart_run_loads_no_scikit_learn(cli, tmp_path):
    # its digits are read from the file scikit-learn ships, its stratified splits drawn in NumPy
    args = [
        "run",
        "quickstart",
        "--runs-dir",
        tmp_path,
        "-q",
        "--set",
        "training.epochs=1",
        "--set",
        "output.plots=false",
    ]
    loaded = imported(cli(*args, process=True, env=IMPORTS, code=0).stderr)
    assert family(loaded, "sklearn", "scipy") == []
    assert family(loaded, "logging") == []  # only a download (pooch) needs it: 2-3 ms of every command


def test_eval_loads_no_scikit_learn_model_selection_nor_pyplot(cli, split_run):
    loaded = imported(cli("eval", split_run, "--json", process=True, env=IMPORTS, code=0).stderr)
    assert (split_run / "confusion_matrix.png").is_file()
    assert family(loaded, "sklearn.model_selection", "matplotlib.pyplot") == []
    assert family(loaded, "sklearn") == []  # the split and the metrics are NumPy
    assert family(loaded, "matplotlib") == []  # the run drew this confusion matrix: eval keeps it


def test_runs_loads_neither_matplotlib_nor_scikit_learn(cli, split_run):
    loaded = imported(cli("runs", split_run.parent, process=True, env=IMPORTS, code=0).stderr)
    assert family(loaded, "matplotlib", "sklearn", "scipy") == []
    # A row is read from meta.json and metrics.json: no NumPy, no config schema (thousands of folders).
    assert family(loaded, "numpy", "dltrain.config.schema") == []


def test_without_a_data_directory_run_and_eval_do_not_load_the_downloader(cli, split_run, tmp_path):
    # The per-user cache folder is found without pooch (and the requests stack it imports).
    env = {**IMPORTS, "DLTRAIN_DATA_DIR": ""}  # empty: no data directory set
    run = cli("run", REPO / "configs/perceptron_or.yaml", "--runs-dir", tmp_path, "-q", process=True, env=env, code=0)
    assert family(imported(run.stderr), "pooch") == []
    assert family(imported(cli("eval", split_run, process=True, env=env, code=0).stderr), "pooch") == []


# --- a plain install is enough --------------------------------------------------------------


def declared_distributions() -> set[str]:
    """dltrain's dependencies without extras and, recursively, theirs (normalized names)."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found, todo = set(), ["dltrain"]
    while todo:
        try:
            wanted = requires(todo.pop()) or []
        except PackageNotFoundError:  # an optional dependency's own requirement that is not installed
            continue
        for text in wanted:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if name not in found and (req.marker is None or req.marker.evaluate({"extra": ""})):
                found.add(name)
                todo.append(name)
    return found


def imported_by_dltrain(stderr: str) -> set[str]:
    """The modules that a dltrain module imports itself, from `python -X importtime`'s tree: each
    line comes after those it imported, indented one step (two spaces) deeper. A library's own
    optional imports (psutil where it is installed) are left out: they are that library's affair."""
    lines = [line.split("|", 2)[2] for line in stderr.splitlines() if line.startswith("import time:")][1:]
    found, pending = set(), {}  # pending: depth -> modules waiting for their importer, one step up
    for line in lines:
        name, depth = line.strip(), (len(line) - len(line.lstrip()) - 1) // 2
        children = pending.pop(depth + 1, [])
        if name.startswith("dltrain"):
            found.update(children)
        pending.setdefault(depth, []).append(name)
    return found


def test_every_module_the_main_commands_import_comes_from_a_declared_dependency(split_run, tmp_path):
    """The README's first command is `pip install -e . && dltrain run quickstart`: a module that
    only the test extras bring in (click comes with dask, not with Typer) breaks it for a user."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    owners = packages_distributions()
    commands = [
        ["run", "quickstart", "--runs-dir", tmp_path / "runs", "--set", "training.epochs=2", "--quiet"],
        ["eval", split_run, "--json"],
        ["report", split_run, "-o", tmp_path / "report.html"],
    ]
    allowed = declared_distributions()
    for args in commands:
        proc = subprocess.run(
            [*DLTRAIN, *map(str, args)], capture_output=True, text=True, env=process_env(IMPORTS), timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        tops = {m.split(".")[0] for m in imported_by_dltrain(proc.stderr)} - set(sys.stdlib_module_names) - {"dltrain"}
        undeclared = {
            top: owners[top]
            for top in tops
            if top in owners and not {canonicalize_name(d) for d in owners[top]} & allowed
        }
        assert not undeclared, f"dltrain {args[0]} imports {undeclared}, which pyproject.toml does not declare"
