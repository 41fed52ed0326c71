"""Wall time of the everyday commands, as a user's shell sees them (new processes):
`dltrain run configs/perceptron_or.yaml` with and without its plots, `dltrain eval`
of that run, and the README's first command, `dltrain run quickstart` (8x8 digits, 40
epochs, five figures); beside them the floor under the OR-gate run (`floor_cli.py`: a
Typer command on the same libraries that parses the same command line and reads the
config, and with --plots draws three one-line matplotlib figures), so each run reads
as a ratio to what its libraries cost on this machine in the same minutes.

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

from _common import BENCH, REPO, code_env, machine, timed, write_results

TARGETS = {"run, plots": 0.6, "run, no plots": 0.3, "eval": 0.5, "quickstart": None}
FLOOR_OF = {"run, plots": "floor, plots", "run, no plots": "floor, no plots"}
CONFIG = next(p for p in (REPO / "configs", REPO / "dltrain" / "configs") if p.is_dir()) / "perceptron_or.yaml"


def cases(runs: Path, run_folder: Path) -> dict[str, list[str]]:
    """Command lines by case: dltrain's arguments, or a whole command for the floors."""
    run = ["run", str(CONFIG), "--runs-dir", str(runs), "--quiet"]
    floor = [sys.executable, str(BENCH / "floor_cli.py"), *run]
    return {
        "run, plots": run,
        "run, no plots": [*run, "--set", "output.plots=false"],
        "eval": ["eval", str(run_folder)],
        "quickstart": ["run", "quickstart", "--runs-dir", str(runs), "--quiet"],
        "floor, plots": [*floor, "--plots"],
        "floor, no plots": [*floor, "--set", "output.plots=false"],
    }


def command(args: list[str]) -> list[str]:
    """The process to start for a case's command line."""
    return args if args[0] == sys.executable else [sys.executable, "-m", "dltrain", *args]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--before", type=Path, help="another dltrain checkout to time alongside this one")
    a = p.parse_args()
    checkouts = {"now": REPO, **({"before": a.before.resolve()} if a.before else {})}
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for label, checkout in checkouts.items():  # the OR-gate run each checkout evaluates: its own
            folder = runs / label
            subprocess.run(
                command(["run", str(CONFIG), "--runs-dir", str(folder), "-q"]),
                check=True,
                capture_output=True,
                env=code_env(checkout),
                cwd=checkout,
            )
            for case, args in cases(runs / "scratch", next(folder.iterdir())).items():
                try:
                    timed(command(args), code_env(checkout), checkout)  # warm-up
                except RuntimeError as err:  # an older checkout without this command (the quickstart): not timed
                    if label == "now":
                        raise
                    print(f"{label}, {case}: not timed: {err}", file=sys.stderr)
                    continue
                results.setdefault(case, {})[label] = {"wall": [], "cpu": []}
        for _ in range(a.repeats):
            for label, checkout in checkouts.items():
                for case, args in cases(runs / "scratch", next((runs / label).iterdir())).items():
                    if label not in results[case]:
                        continue
                    wall, cpu = timed(command(args), code_env(checkout), checkout)
                    results[case][label]["wall"].append(wall)
                    results[case][label]["cpu"].append(cpu)
    doc = {"machine": machine(), "repeats": a.repeats, "checkouts": {k: str(v) for k, v in checkouts.items()}}
    doc["results"] = results
    written = write_results("latency", doc)
    header = "".join(f"{label + ' wall':>12s}{label + ' cpu':>11s}{'/floor':>7s}" for label in checkouts)
    print(f"{'command':16s}{header}{'target':>9s}")
    for case, by_label in results.items():
        row = ""
        for label in checkouts:
            if label not in by_label:
                row += f"{'n/a':>12s}{'':11s}{'':7s}"
                continue
            v = by_label[label]
            wall = statistics.median(v["wall"])
            floor = results.get(FLOOR_OF.get(case), {}).get(label, {}).get("wall")
            ratio = f"{wall / statistics.median(floor):.2f}" if floor else ""
            row += f"{wall:12.3f}{statistics.median(v['cpu']):11.3f}{ratio:>7s}"
        target = TARGETS.get(case)
        print(f"{case:16s}{row}{'' if target is None else f'{target:.2f}':>9s}")
    print(f"results: {written}")


if __name__ == "__main__":
    main()
