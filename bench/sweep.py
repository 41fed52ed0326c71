"""Benchmark: wall time of an 8-point sweep run serially vs with --jobs 2 (target speed-up >= 1.8x on 2 cores).

    python bench/sweep.py [--repeats 3] [--epochs 400]

Each measurement is the whole command, `python -m dltrain sweep ...`, as a user runs it:
start-up, worker processes, training, run folders and plots. Points are ~1.7 s each
(an MLP on the bundled digits), heavy enough that process start-up does not dominate.
Runs alternate serial / parallel so that background load hits both alike. The machine's
own ceiling is measured too (two pure-Python busy loops in two processes vs one after the
other): on a shared 2-core machine another process's load caps any speed-up. Results go
to bench/results/sweep.json.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
GRID = ["training.optimizer.lr=0.02,0.01,0.005,0.002", "model.hidden=[64],[48]"]  # 8 points


def config(epochs: int) -> dict:
    return {
        "name": "bench",
        "seed": 0,
        "dataset": {"name": "digits", "test_size": 0.2, "validation_split": 0.1, "scaling": "minmax", "stratify": True},
        "model": {"type": "mlp", "hidden": [64], "activation": "relu"},
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": epochs, "batch_size": 64},
    }


def sweep(config_path: Path, runs: Path, jobs: int) -> tuple[float, dict]:
    """Wall seconds of one `dltrain sweep` and its --json document."""
    args = [
        sys.executable,
        "-m",
        "dltrain",
        "sweep",
        str(config_path),
        *(a for g in GRID for a in ("--grid", g)),
        "--jobs",
        str(jobs),
        "--runs-dir",
        str(runs),
        "--json",
    ]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"sweep --jobs {jobs} failed ({proc.returncode}):\n{proc.stderr}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, default=600, help="epochs per point (600: ~1.7 s a point on the reference machine)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep.json")
    opts = parser.parse_args()

    times: dict[int, list[float]] = {1: [], 2: []}
    ceilings = [machine_ceiling()]
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "bench.yaml"
        config_path.write_text(yaml.safe_dump(config(opts.epochs)))
        metrics = {}
        for repeat in range(opts.repeats):
            for jobs in (1, 2):
                seconds, doc = sweep(config_path, Path(tmp) / f"runs-{jobs}-{repeat}", jobs)
                times[jobs].append(round(seconds, 3))
                point_seconds = [p["seconds"] for p in doc["points"]]
                metrics.setdefault(jobs, [p["metrics"] for p in doc["points"]])
                print(
                    f"repeat {repeat + 1}: --jobs {jobs}: {seconds:6.2f} s wall "
                    f"(points {min(point_seconds):.2f}-{max(point_seconds):.2f} s each)",
                    file=sys.stderr,
                )
    ceilings.append(machine_ceiling())
    serial, parallel = statistics.median(times[1]), statistics.median(times[2])
    result = {
        "benchmark": "8-point dltrain sweep, whole command wall time: serial vs --jobs 2",
        "points": 8,
        "epochs_per_point": opts.epochs,
        "repeats": opts.repeats,
        "serial_seconds": times[1],
        "jobs2_seconds": times[2],
        "serial_median": serial,
        "jobs2_median": parallel,
        "speedup_median": round(serial / parallel, 3),
        "speedup_best": round(min(times[1]) / min(times[2]), 3),
        # Serial and parallel alternate, so each pair saw about the same background load.
        "speedup_pairwise": [round(a / b, 3) for a, b in zip(times[1], times[2])],
        "identical_metrics": metrics[1] == metrics[2],
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
