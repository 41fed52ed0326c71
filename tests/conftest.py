"""Shared fixtures: a CLI runner, a temporary runs directory, the real data directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain.cli import app

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def cli():
    """invoke(*args) -> click Result; stdout and stderr are kept apart."""
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture
def run_json(cli, runs_dir):
    """Train through the CLI with --json and return (exit code, parsed stdout document)."""

    def go(config, *extra):
        result = cli("run", config, "--runs-dir", runs_dir, "--json", *extra)
        assert "Traceback" not in result.output
        return result.exit_code, json.loads(result.stdout)

    return go


def real_data_dir() -> Path | None:
    """DLTRAIN_DATA_DIR if set, else the shared data folder beside the repository."""
    env = os.environ.get("DLTRAIN_DATA_DIR")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None
