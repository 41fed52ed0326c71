"""Benchmark: wall time of whole `dltrain sweep` commands, serial vs --jobs 2, modes alternating.

    python bench/sweep.py [--repeats 3]

Two cases, each the whole command as a user runs it (start-up, worker processes,
training, run folders, plots):
  startup      2 quickstart points of 1 epoch: almost nothing but start-up. Target:
               --jobs 2 no slower than serial (the workers import while the parent does).
  quickstart   8 quickstart points (4 learning rates x 2 hidden sizes, 40 epochs each).
               Target: --jobs 2 at least 1.6x faster than serial on a quiet 2-core machine.
Serial and --jobs 2 alternate within each repeat, so background load hits both alike. The
machine's own ceiling is measured too (two pure-Python busy loops in two processes vs one
after the other): on a shared machine another process's load caps any speed-up. Results
go to bench/results/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
CASES = {
    "startup": ["--grid", "training.optimizer.lr=0.003,0.001", "--set", "training.epochs=1"],
    "quickstart": ["--grid", "training.optimizer.lr=0.01,0.003,0.001,0.0003", "--grid", "model.hidden=[64],[32,32]"],
}


def sweep(args: list[str], runs: Path, jobs: int) -> tuple[float, dict]:
    """Wall seconds of one `dltrain sweep` and its --json document."""
    command = [sys.executable, "-m", "dltrain", "sweep", str(QUICKSTART), *args, "--jobs", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.run(
        [*command, "--runs-dir", str(runs), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds, json.loads(proc.stdout)


def _busy(_) -> float:
    total = 0
    for i in range(4_000_000):
        total += i * i
    return total


def machine_ceiling() -> float:
    """Speed-up of 4 CPU-bound tasks on 2 processes over 1: ~2.0 on 2 idle cores."""
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    for i in range(4):
        _busy(i)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_busy, range(2)))  # start the processes outside the timing
        start = time.perf_counter()
        list(pool.map(_busy, range(4)))
        parallel = time.perf_counter() - start
    return round(serial / parallel, 3)


def summary(times: dict[int, list[float]]) -> dict:
    serial, parallel = times[1], times[2]
    return {
        "serial_seconds": serial,
        "jobs2_seconds": parallel,
        "serial_median": statistics.median(serial),
        "jobs2_median": statistics.median(parallel),
        "speedup_median": round(statistics.median(serial) / statistics.median(parallel), 3),
        # Serial and parallel alternate, so each pair saw about the same background load.
        "speedup_pairwise": [round(a / b, 3) for a, b in zip(serial, parallel)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep.json")
    opts = parser.parse_args()

    times = {case: {1: [], 2: []} for case in CASES}
    metrics: dict = {case: {} for case in CASES}
    ceilings = [machine_ceiling()]
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(opts.repeats):
            for case, args in CASES.items():
                for jobs in (1, 2):
                    seconds, doc = sweep(args, Path(tmp) / f"{case}-{jobs}-{repeat}", jobs)
                    times[case][jobs].append(round(seconds, 3))
                    metrics[case].setdefault(jobs, [p["metrics"] for p in doc["points"]])
                    print(f"repeat {repeat + 1}: {case:10s} --jobs {jobs}: {seconds:6.2f} s", file=sys.stderr)
    ceilings.append(machine_ceiling())
    result = {
        "benchmark": "whole `dltrain sweep` commands on configs/quickstart.yaml: serial vs --jobs 2, alternating",
        "repeats": opts.repeats,
        "cases": {case: {"args": CASES[case], **summary(times[case])} for case in CASES},
        "identical_metrics": all(m[1] == m[2] for m in metrics.values()),
        "machine_ceiling_before_after": ceilings,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_after": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
