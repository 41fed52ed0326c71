"""Wall time of the everyday commands, as a user's shell sees them (new processes):
`dltrain run configs/perceptron_or.yaml` with and without its plots, `dltrain eval`
of that run, and the README's first command, `dltrain run quickstart` (8x8 digits, 40
epochs, five figures).

    python bench/latency.py [--repeats 7] [--before OLD_CHECKOUT]

Each command runs `--repeats` times after a warm-up (bytecode caches written, files in
the page cache); the table shows medians of wall and CPU seconds. `--before DIR` times a
second checkout of dltrain (e.g. `git worktree add /tmp/before <commit>`) in the same
run, alternating with this one, so background load hits both alike.

Targets: run with plots <= 0.6 s, without <= 0.3 s; eval <= 0.5 s (the quickstart has none).
Results in bench/results/latency-*.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, code_env, machine, timed, write_results

TARGETS = {"run, plots": 0.6, "run, no plots": 0.3, "eval": 0.5, "quickstart": None}
CONFIG = next(p for p in (REPO / "configs", REPO / "dltrain" / "configs") if p.is_dir()) / "perceptron_or.yaml"


def cases(runs: Path, run_folder: Path) -> dict[str, list[str]]:
    run = ["run", str(CONFIG), "--runs-dir", str(runs), "--quiet"]
    return {
        "run, plots": run,
        "run, no plots": [*run, "--set", "output.plots=false"],
        "eval": ["eval", str(run_folder)],
        "quickstart": ["run", "quickstart", "--runs-dir", str(runs), "--quiet"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--before", type=Path, help="another dltrain checkout to time alongside this one")
    a = p.parse_args()
    checkouts = {"now": REPO, **({"before": a.before.resolve()} if a.before else {})}
    dltrain = [sys.executable, "-m", "dltrain"]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for label, checkout in checkouts.items():  # the OR-gate run each checkout evaluates: its own
            folder = runs / label
            subprocess.run(
                [*dltrain, "run", str(CONFIG), "--runs-dir", str(folder), "-q"],
                check=True,
                capture_output=True,
                env=code_env(checkout),
                cwd=checkout,
            )
            for case, args in cases(runs / "scratch", next(folder.iterdir())).items():
                timed([*dltrain, *args], code_env(checkout), checkout)  # warm-up
                results.setdefault(case, {})[label] = {"wall": [], "cpu": []}
        for _ in range(a.repeats):
            for label, checkout in checkouts.items():
                for case, args in cases(runs / "scratch", next((runs / label).iterdir())).items():
                    wall, cpu = timed([*dltrain, *args], code_env(checkout), checkout)
                    results[case][label]["wall"].append(wall)
                    results[case][label]["cpu"].append(cpu)
    doc = {"machine": machine(), "repeats": a.repeats, "checkouts": {k: str(v) for k, v in checkouts.items()}}
    doc["results"] = results
    header = "".join(f"{label + ' wall':>12s}{label + ' cpu':>11s}" for label in checkouts)
    print(f"{'command':16s}{header}{'target':>9s}")
    for case, by_label in results.items():
        row = "".join(
            f"{statistics.median(v['wall']):12.3f}{statistics.median(v['cpu']):11.3f}" for v in by_label.values()
        )
        target = TARGETS[case]
        print(f"{case:16s}{row}{'' if target is None else f'{target:.2f}':>9s}")
    print(f"results: {write_results('latency', doc)}")


if __name__ == "__main__":
    main()
