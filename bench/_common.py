"""What every benchmark shares: idle-CPU waits, thread limits, machine facts, results files.

The machine these run on is shared, so each measurement first waits until the other
processes leave the CPU alone, and records how busy they kept it while it ran
(`others_cpu`: cores' worth of CPU used by other processes; 0 is a quiet machine).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def busy_cores(seconds: float = 0.5) -> float:
    """Cores' worth of CPU in use over the next `seconds`."""
    b0, t0 = cpu_busy()
    time.sleep(seconds)
    b1, t1 = cpu_busy()
    return (b1 - b0) / max(t1 - t0, 1e-9) * os.cpu_count()


def wait_for_idle(threshold: float = 0.15, timeout: float = 120.0) -> float:
    """Wait (at most `timeout` s) until less than `threshold` cores are busy; returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        load = busy_cores()
        if load < threshold or time.monotonic() > deadline:
            return load


class OthersMeter:
    """CPU used by other processes while a block runs: all CPU time minus this process tree's."""

    def __enter__(self):
        self.b0, self.t0 = cpu_busy()
        self.own0 = _own_cpu()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        b1, t1 = cpu_busy()
        wall = time.perf_counter() - self.wall0
        ticks = os.sysconf("SC_CLK_TCK")
        busy_s = (b1 - self.b0) / ticks
        self.others = max(0.0, (busy_s - (_own_cpu() - self.own0)) / max(wall, 1e-9))
        return False


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def thread_env(threads: int) -> dict:
    return {**os.environ, **{v: str(threads) for v in THREAD_VARS}, "PYTHONPATH": str(REPO)}


def run_worker(script: str, args: list[str], threads: int) -> dict:
    """Run `python bench/<script> --worker ...` with `threads` BLAS/OpenMP threads; its last stdout line is JSON."""
    wait_for_idle()
    with OthersMeter() as meter:
        proc = subprocess.run(
            [sys.executable, str(BENCH / script), "--worker", *args, "--threads", str(threads)],
            capture_output=True,
            text=True,
            env=thread_env(threads),
        )
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["others_cpu"] = round(meter.others, 2)
    return doc


def limit_threads(threads: int):
    """Limit BLAS and OpenMP pools in this process (and PyTorch's, when it is loaded)."""
    from threadpoolctl import threadpool_limits

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threadpool_limits(threads)


def median_after_first(seconds: list[float]) -> float:
    """Median seconds per epoch over epochs 2..N (the first pays for warm-up)."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def machine() -> dict:
    import numpy as np
    from threadpoolctl import threadpool_info

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    blas = sorted(
        {
            f"{i['internal_api']} {i.get('version')} ({i.get('architecture', '')}, {i['prefix']})"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        }
    )
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
    }


def write_results(name: str, doc: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def code_env(checkout: Path, threads: int = 1) -> dict:
    """Environment that runs `python -m dltrain` from `checkout` (this repository or an older copy of it),
    writing bytecode caches as an installed package has them. Run the command in `checkout`:
    `python -m` puts the working directory first on the path."""
    env = {**thread_env(threads), "PYTHONPATH": str(checkout)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("MPLBACKEND", None)  # what a user's shell gives
    env.pop("DLTRAIN_DATA_DIR", None)  # ... and the commands timed with this need no dataset folder
    return env


def timed(cmd: list[str], env: dict, cwd: Path = REPO, idle_timeout: float = 20.0) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command, after waiting for the CPU to go idle; it must succeed."""
    wait_for_idle(timeout=idle_timeout)
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    return wall, cpu
