"""Shared fixtures: the CLI (`cli`, or `invoke` where no fixture reaches: module fixtures,
hypothesis tests; `spawn` for a process a test signals mid-run), a temporary runs
directory, the real data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np
import pytest
from typer.testing import CliRunner

from dltrain.cli import app

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DLTRAIN = [sys.executable, "-m", "dltrain"]  # the command in a fresh interpreter
SCRIPT = Path(sys.executable).parent / "dltrain"  # the console script `pip install` made

# A test run started as a shell script's background job inherits SIGINT ignored, and so would the
# dltrain processes it starts (dltrain leaves an ignored signal ignored): the interrupt tests
# need it delivered, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist starts its workers with COLUMNS=80 and LINES=24: every test sees what a piped
# command sees, in a worker or not (tests that want a width pass COLUMNS themselves)
for name in ("COLUMNS", "LINES"):
    os.environ.pop(name, None)


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

    @property
    def message(self) -> str:
        """stderr with runs of whitespace made one space, so a line Rich wrapped reads as one."""
        return " ".join(self.stderr.split())


def process_env(env: Optional[dict] = None) -> dict:
    """The environment of a dltrain process: this one's, this checkout first on the path, plus `env`."""
    return {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}


def invoke(
    *args,
    process: bool = False,
    script: bool = False,
    env: Optional[dict] = None,
    cwd: Optional[Path] = None,
    input: Optional[str] = None,
    timeout: Optional[float] = None,
    code: Optional[int] = None,
) -> CliResult:
    """Run `dltrain ARGS...` and return what it did.

    In this process through Typer's runner by default; with `process=True` in a fresh
    interpreter (real streams, real exit status, real signals); with `script=True` as the
    console script a user runs. `env` adds variables, `cwd` is the working directory, `input`
    is stdin, `timeout` the seconds it may take (default 120 for a process, none in this
    process) and `code`, if given, the exit code it must end with. An exception that escapes
    the command is raised here with its traceback; no command may print one."""
    argv = [str(a) for a in args]
    if process or script:
        proc = subprocess.run(
            [str(SCRIPT)] + argv if script else DLTRAIN + argv,
            capture_output=True,
            text=True,
            timeout=120 if timeout is None else timeout,
            env={**os.environ, **(env or {})} if script else process_env(env),  # the script as installed
            cwd=cwd,
            input=input,
        )
        exit_code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        with working_directory(cwd), time_limit(timeout):
            result = CliRunner().invoke(app, argv, env=env, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        exit_code, out, err = result.exit_code, result.stdout, result.stderr
    assert "Traceback" not in out + err, out + err
    if code is not None:
        assert exit_code == code, f"exit {exit_code}, not {code}\n{out}{err}"
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    return CliResult(exit_code, out, err, doc)


def spawn(*args, env: Optional[dict] = None, **popen: Any) -> subprocess.Popen:
    """`dltrain ARGS...` started in a fresh interpreter and left running, for a test that reads
    its progress as it comes or signals it mid-run. stdout and stderr are text pipes and the
    working directory is the repository, unless `popen` (Popen's keywords) says otherwise."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "cwd": REPO, **popen}
    return subprocess.Popen(DLTRAIN + [str(a) for a in args], env=process_env(env), **popen)


def fuzzed(variable: str, default: int):
    """Hypothesis settings for a fuzz suite: `default` examples, the same ones on every CI run;
    with the environment variable `variable` set, that many new random ones (a long local run)."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=int(os.environ.get(variable, default)),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=variable not in os.environ,
    )


@contextmanager
def working_directory(path: Optional[Path]) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


_HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def claimed_elsewhere(folder: Path) -> Iterator[None]:
    """`folder` claimed for the block by another process, with the exclusive flock a resume takes:
    the moment between that resume's check of the folder and its writing `running` there."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.communicate("")


def with_file_size_limit(limit: int, code: str, *args: Any) -> subprocess.CompletedProcess:
    """Python `code` run in a fresh interpreter (`args` its sys.argv[1:]) whose files cannot grow
    past `limit` bytes: a write past it fails (EFBIG), as it would on a full disk."""
    prelude = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    )
    command = [sys.executable, "-c", prelude + code, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@contextmanager
def time_limit(seconds: Optional[float]) -> Iterator[None]:
    """Raise TimeoutError in a command still running after `seconds` (SIGALRM: main thread only)."""
    if seconds is None:
        yield
        return

    def too_slow(signum, frame):
        raise TimeoutError(f"the command took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def two_class_csv_config(folder: Path, name: str, first: str, second: str, epochs: int = 20) -> Path:
    """A config (`folder/NAME.yaml`) training a small MLP on `folder/NAME.csv`: 60 rows of two
    features, labelled `first` where they sum past 1 and `second` elsewhere; 25% test split."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 2))
    labels = np.where(X.sum(axis=1) > 1, first, second)
    data = folder / f"{name}.csv"
    data.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, labels)))
    config = folder / f"{name}.yaml"
    config.write_text(
        f"name: {name}\nseed: 0\ndataset: {{name: file, path: '{data}', test_size: 0.25}}\n"
        f"model: {{type: mlp, hidden: [4]}}\ntraining: {{optimizer: {{name: adam, lr: 0.05}}, epochs: {epochs}}}\n"
    )
    return config


@pytest.fixture
def cli():
    """cli(*args, process=False, script=False, env=, cwd=, input=, timeout=, code=) -> CliResult(exit_code, stdout, stderr, json)."""
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
