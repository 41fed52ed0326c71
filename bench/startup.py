"""Wall time of `dltrain --help` and of a whole `dltrain run configs/perceptron_or.yaml`
(including its plots), as a user's shell sees them: new processes, medians of several.

    python bench/startup.py [--repeats 7]

Target: `dltrain --help` <= 0.25 s. Results in bench/results/startup-*.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from _common import REPO, machine, thread_env, wait_for_idle, write_results


def wall(cmd, repeats) -> list[float]:
    times = []
    for _ in range(repeats):
        wait_for_idle(timeout=30)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=thread_env(1), cwd=REPO)
        times.append(time.perf_counter() - t)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    dltrain = [sys.executable, "-m", "dltrain"]
    with tempfile.TemporaryDirectory() as runs:
        doc = {
            "machine": machine(),
            "python_startup_s": wall([sys.executable, "-c", "pass"], a.repeats),
            "help_s": wall([*dltrain, "--help"], a.repeats),
            "run_perceptron_or_s": wall(
                [*dltrain, "run", "configs/perceptron_or.yaml", "--runs-dir", runs, "--quiet"], a.repeats
            ),
        }
    for key in ("python_startup_s", "help_s", "run_perceptron_or_s"):
        print(
            f"{key:22s} median {statistics.median(doc[key]):.3f} s  (min {min(doc[key]):.3f}, max {max(doc[key]):.3f})"
        )
    print(f"results: {write_results('startup', doc)}")


if __name__ == "__main__":
    main()
