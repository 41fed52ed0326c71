"""Commands over many run folders, as a user has them after a few sweeps: `dltrain runs DIR`
over 250 to 2,000 folders (is it linear?), `dltrain compare` of 200 runs and `dltrain report`
of a 100-point sweep; and `dltrain sweep` of 100 and 400 OR-gate points of 2 epochs (almost
nothing but the sweep's own work per point: is its cost per point constant?).

    python bench/scale.py [--repeats 5] [--counts 250 500 1000 2000] [--sweep-points 100 400] [--before OLD_CHECKOUT]

The folders are copies of one real run (`configs/perceptron_or.yaml`), each with its own
name, start time, learning rate, status and metrics; a few are failed, interrupted or left
`running` by a process that is gone. The sweep is a real 100-point sweep of the same
config. Every command runs in a new process, as from a shell; wall and CPU seconds are
medians of `--repeats`. `--before DIR` times a second checkout of dltrain (e.g. one made
with `git worktree add`) on the same folders, alternating with this one, so background load
hits both alike.

Targets: `runs` over 2,000 folders <= 1 s and linear in the count; compare of 200 runs
<= 1.5 s; report of a 100-point sweep <= 5 s; a sweep's cost per point the same at every
size. Results in bench/results/scale-*.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from _common import REPO, code_env, machine, timed, write_results

CONFIG = next(p for p in (REPO / "configs", REPO / "dltrain" / "configs") if p.is_dir()) / "perceptron_or.yaml"
STATUSES = ["completed"] * 16 + ["failed", "interrupted", "running", "completed"]  # 'running' with a dead pid


def template_run(workdir: Path, checkout: Path) -> Path:
    """One real run folder of the OR-gate perceptron."""
    runs = workdir / "template"
    subprocess.run(
        [sys.executable, "-m", "dltrain", "run", str(CONFIG), "--runs-dir", str(runs), "-q"],
        check=True,
        capture_output=True,
        env=code_env(checkout),
        cwd=checkout,
    )
    return next(runs.iterdir())


def clone_runs(template: Path, runs_dir: Path, count: int) -> list[Path]:
    """`count` run folders in `runs_dir` made from `template`: names, start times, lr, status and metrics differ."""
    files = {p.name: p.read_bytes() for p in template.iterdir() if p.is_file()}
    meta, metrics = json.loads(files.pop("meta.json")), json.loads(files.pop("metrics.json"))
    config = files.pop("config.yaml").decode()
    start = datetime(2026, 1, 1, 9, 0, 0).astimezone()
    runs_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        when = start + timedelta(seconds=37 * i)
        path = runs_dir / f"{when:%Y%m%d-%H%M%S}-perceptron-or-{i}"
        path.mkdir()
        for name, data in files.items():
            (path / name).write_bytes(data)
        lr = 0.001 * (1 + i % 50)
        (path / "config.yaml").write_text(config.replace("lr: 0.01", f"lr: {lr!r}"))
        status = STATUSES[i % len(STATUSES)]
        run_meta = {**meta, "started": when.isoformat(timespec="seconds"), "status": status, "pid": 2**22 + i}
        (path / "meta.json").write_text(json.dumps(run_meta, indent=2))
        if status == "completed":
            run_metrics = json.loads(json.dumps(metrics))
            run_metrics["train"]["accuracy"] = (i % 5) / 4
            (path / "metrics.json").write_text(json.dumps(run_metrics, indent=2))
        made.append(path)
    return made


def sweep_folder(workdir: Path, checkout: Path) -> Path:
    """A real 100-point sweep of the OR-gate perceptron (10 learning rates x 10 seeds)."""
    runs = workdir / "sweeps"
    lrs = ",".join(str(0.002 * (k + 1)) for k in range(10))
    subprocess.run(
        [sys.executable, "-m", "dltrain", "sweep", str(CONFIG), "--runs-dir", str(runs)]
        + ["--grid", f"training.optimizer.lr={lrs}", "--grid", f"seed={','.join(map(str, range(10)))}", "--jobs", "2"],
        check=True,
        capture_output=True,
        env=code_env(checkout),
        cwd=checkout,
    )
    return next(runs.iterdir())


def sweep_args(points: int, runs: Path) -> list[str]:
    """`dltrain sweep` of `points` learning rates of the OR-gate perceptron, 2 epochs each, no plots."""
    lrs = ",".join(f"{0.001 + 1e-5 * k:.5f}" for k in range(points))
    overrides = ["--set", "training.epochs=2", "--set", "output.plots=false"]
    return ["sweep", str(CONFIG), *overrides, "--grid", f"training.optimizer.lr={lrs}", "--runs-dir", str(runs)]


def slopes(measured: dict, label: str, kind: str, sizes: list[int], case: str) -> list[float]:
    """Milliseconds per extra folder or point between consecutive sizes of `case` ('runs {n}')."""
    times = [statistics.median(measured[case.format(n=n)][label][kind]) for n in sizes]
    return [1000 * (t1 - t0) / (n1 - n0) for n0, n1, t0, t1 in zip(sizes, sizes[1:], times, times[1:])]


def has_command(checkout: Path, command: str) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "dltrain", command, "--help"], capture_output=True, env=code_env(checkout), cwd=checkout
    )
    return proc.returncode == 0


def measure(cases: dict[str, list[str]], checkouts: dict[str, Path], repeats: int) -> dict:
    """{case: {checkout label: {'wall': [...], 'cpu': [...]}}}; the checkouts alternate within each repeat."""
    results: dict = {case: {label: {"wall": [], "cpu": []} for label in checkouts} for case in cases}
    dltrain = [sys.executable, "-m", "dltrain"]
    failed: set = set()
    for label, checkout in checkouts.items():  # warm-up: bytecode caches, the page cache
        for case, args in cases.items():
            try:
                timed([*dltrain, *args], code_env(checkout), checkout)
            except RuntimeError as err:  # an older checkout may not read what this one wrote
                print(f"{label}, {case}: {err}", file=sys.stderr)
                failed.add((case, label))
    for _ in range(repeats):
        for case, args in cases.items():
            for label, checkout in checkouts.items():
                if (case, label) not in failed:
                    wall, cpu = timed([*dltrain, *args], code_env(checkout), checkout)
                    results[case][label]["wall"].append(wall)
                    results[case][label]["cpu"].append(cpu)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--counts", type=int, nargs="+", default=[250, 500, 1000, 2000])
    p.add_argument("--sweep-points", type=int, nargs="*", default=[100, 400], help="grid sizes of the sweep rows")
    p.add_argument("--before", type=Path, help="another dltrain checkout to time on the same folders")
    a = p.parse_args()
    checkouts = {"now": REPO, **({"before": a.before.resolve()} if a.before else {})}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = template_run(work, REPO)
        cases = {}
        for count in a.counts:
            clone_runs(template, work / f"runs-{count}", count)
            cases[f"runs {count}"] = ["runs", str(work / f"runs-{count}")]
        clone_runs(template, work / "compare-200", 200)
        cases["compare 200"] = ["compare", str(work / "compare-200")]
        if has_command(REPO, "report"):
            sweep = sweep_folder(work, REPO)
            cases["report sweep 100"] = ["report", str(sweep), "--output", str(work / "report")]
        for points in a.sweep_points:
            cases[f"sweep {points}"] = sweep_args(points, work / f"sweep-{points}")
        measured = measure(cases, checkouts, a.repeats)
        shutil.rmtree(work, ignore_errors=True)
    doc = {"machine": machine(), "repeats": a.repeats, "checkouts": {k: str(v) for k, v in checkouts.items()}}
    doc["results"] = measured
    print(f"{'case':20s}" + "".join(f"{label + ' wall':>12s}{label + ' cpu':>11s}" for label in checkouts))
    for case, by_label in measured.items():
        row = "".join(
            f"{statistics.median(v['wall']):12.3f}{statistics.median(v['cpu']):11.3f}" if v["wall"] else f"{'-':>23s}"
            for v in by_label.values()
        )
        print(f"{case:20s}{row}")
    for case, what, sizes in (("runs {n}", "folder", a.counts), ("sweep {n}", "point", a.sweep_points)):
        for label in checkouts:  # linear: the same cost per extra folder (point) at every size
            sized = [n for n in sizes if measured[case.format(n=n)][label]["wall"]]
            for kind in ("wall", "cpu"):  # CPU seconds: what other work on a shared machine disturbs least
                per = ", ".join(f"{s:.3f}" for s in slopes(measured, label, kind, sized, case))
                print(f"{label}: {case.split()[0]}, {kind} ms per extra {what} between {sized}: {per}")
    print(f"results: {write_results('scale', doc)}")


if __name__ == "__main__":
    main()
