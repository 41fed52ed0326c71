"""Shared fixtures: a CLI runner, a temporary runs directory, the real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple, Optional

import pytest
from typer.testing import CliRunner

from dltrain.cli import app

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


class CliResult(NamedTuple):
    """What one dltrain command did: exit code, the two streams, stdout as JSON (None if it is not)."""

    exit_code: int
    stdout: str
    stderr: str
    json: Any

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args, process: bool = False, env: Optional[dict] = None, timeout: float = 120, **kw) -> CliResult:
    """Run `dltrain ARGS...`: in this process through Typer's runner, or with `process=True`
    in a fresh interpreter (real streams, real exit status, real signals). An exception that
    escapes the command is raised here with its traceback; no command may print one."""
    argv = [str(a) for a in args]
    if process:
        proc = subprocess.run(
            [sys.executable, "-m", "dltrain", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            **kw,
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        result = CliRunner().invoke(app, argv, env=env, **kw)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        code, out, err = result.exit_code, result.stdout, result.stderr
    assert "Traceback" not in out + err, out + err
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return CliResult(code, out, err, doc)


@pytest.fixture
def cli():
    """cli(*args, process=False) -> CliResult(exit_code, stdout, stderr, json)."""
    return invoke


@pytest.fixture
def run_json(cli, runs_dir):
    """Train through the CLI with --json and return (exit code, parsed stdout document)."""

    def go(config, *extra):
        result = cli("run", config, "--runs-dir", runs_dir, "--json", *extra)
        return result.exit_code, result.json

    return go


def real_data_dir() -> Path | None:
    """DLTRAIN_DATA_DIR if set, else the shared data folder beside the repository."""
    env = os.environ.get("DLTRAIN_DATA_DIR")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None
