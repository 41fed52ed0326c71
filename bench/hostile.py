"""What hostile input costs: wall seconds and peak memory (ru_maxrss) of each `dltrain`
command the hardening issue lists, each in a fresh process as a user would type it, next
to the same command on a plain config. Goal: every case under 2 s and 200 MB.

    python bench/hostile.py [--repeats 3]

Each case must also end with exit 0, 1 or 2 and no traceback; the table says when one
does not. Results in bench/results/hostile-*.json.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import yaml
from _common import machine, thread_env, wait_for_idle, write_results

BASE = "name: t\ndataset: {name: or_gate}\noutput: {plots: false}\n"
BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


def bomb(levels: int) -> str:
    """The 'billion laughs': `levels` anchors of nine aliases to the previous one (9**levels values)."""
    return "".join(BOMB.splitlines(keepends=True)[:levels])


def header_claiming(elements: int) -> bytes:
    """A .npy header that claims `elements` float64 values (none follow)."""
    buf = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    np.lib.format.write_array_header_1_0(buf, {**header, "shape": (elements,)})
    return buf.getvalue()


def npz_claiming(path: Path, elements: int) -> Path:
    """A dataset .npz whose X claims `elements` values; its y is real."""
    y = io.BytesIO()
    np.save(y, np.zeros(4))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header_claiming(elements))
        archive.writestr("y.npy", y.getvalue())
    return path


def cases(tmp: Path) -> dict[str, list[str]]:
    """Name -> dltrain arguments, with the files they need written under `tmp`."""

    def file(name: str, text: str) -> str:
        (tmp / name).write_text(text)
        return str(tmp / name)

    from dltrain import api

    base = file("base.yaml", BASE)
    run = api.run(yaml.safe_load(BASE) | {"training": {"epochs": 2}}, runs_dir=tmp / "runs").path
    deep_run = Path(shutil.copytree(run, tmp / "deep-runs" / "deep"))
    (deep_run / "config.yaml").write_text(BASE + "foo: " + "[" * 600 + "]" * 600 + "\n")
    zero_run = Path(shutil.copytree(run, tmp / "zero-runs" / "zero"))
    (zero_run / "meta.json").unlink()
    (zero_run / "meta.json").symlink_to("/dev/zero")
    values = ",".join(map(str, range(1000)))
    (tmp / "huge.npy").write_bytes(header_claiming(10**12))
    huge_npz = npz_claiming(tmp / "huge.npz", 10**12)
    sweep = ["sweep", base, "--runs-dir", str(tmp / "sweeps")]
    return {
        "plain config, --dry-run (reference)": ["run", base, "--dry-run"],
        "config nested 600 levels": ["run", file("deep.yaml", BASE + "foo: " + "[" * 600 + "]" * 600), "--dry-run"],
        "config nested 1,000,000 levels": [
            "run",
            file("deeper.yaml", BASE + "foo: " + "[" * 10**6 + "]" * 10**6),
            "--dry-run",
        ],  # fmt: skip
        "--set nested 2,000 levels": ["run", base, "--set", "model.hidden=" + "[" * 2000 + "]" * 2000, "--dry-run"],
        "--grid nested 2,000 levels": [*sweep, "--grid", "training.epochs=" + "[" * 2000 + "]" * 2000],
        "run folder config.yaml nested 600: runs": ["runs", str(deep_run.parent)],
        "run folder config.yaml nested 600: eval": ["eval", str(deep_run)],
        "run folder config.yaml nested 600: resume": ["resume", str(deep_run)],
        "alias bomb, 8 levels": ["run", file("bomb8.yaml", BASE + bomb(8) + "foo: *a7\n"), "--dry-run"],
        "alias bomb, 9 levels": ["run", file("bomb9.yaml", BASE + bomb(9) + "foo: *a8\n"), "--dry-run"],
        "alias bomb, 9 levels in --set": [
            "run",
            base,
            "--set",
            "model.hidden=" + bomb(9).replace("\n", ", ").join("{}"),
            "--dry-run",
        ],  # fmt: skip
        "config of 4 MB, a flat list of 2,000,000 values": [
            "run",
            file("flat.yaml", BASE + "foo: [" + ",".join(["1"] * 2_000_000)[: (4 << 20) - 100] + "]\n"),
            "--dry-run",
        ],  # fmt: skip
        "/dev/zero as config": ["run", "/dev/zero", "--dry-run"],
        "run folder meta.json -> /dev/zero: runs": ["runs", str(zero_run.parent)],
        "grid of 10^9 points": [
            *sweep,
            *[f"--grid={key}={values}" for key in ("seed", "training.epochs", "split_seed")],
        ],
        "npy header claiming 10^12 values: predict": ["predict", str(run), str(tmp / "huge.npy")],
        "dataset .npz claiming 10^12 values: run": [
            "run",
            file("file.yaml", f"name: t\ndataset: {{name: file, path: {huge_npz}}}\n"),
            "--runs-dir",
            str(tmp / "r"),
        ],  # fmt: skip
        "5,000-digit integer in a config": ["run", file("int.yaml", BASE + "seed: " + "7" * 5000), "--dry-run"],
        "5,000-digit integer in --set": ["run", base, "--set", "seed=" + "7" * 5000, "--dry-run"],
        "4,000 hex digits (4,817-digit integer)": ["run", base, "--set", "seed=0x" + "f" * 4000, "--dry-run"],
        "uniform init -1e308..1e308": [
            "run",
            base,
            "--set",
            "model.init={name: uniform, low: -1e308, high: 1e308}",
            "--runs-dir",
            str(tmp / "r"),
        ],  # fmt: skip
    }


# Started by this script, it starts dltrain: a child's peak memory (ru_maxrss) counts the
# memory of the process it was forked from, which must be a small one, not this script.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.executable, [sys.executable, "-m", "dltrain", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)
"""


def measure(args: list[str]) -> dict:
    """One fresh `python -m dltrain ARGS`: exit code, wall seconds, peak resident memory, traceback or not."""
    wait_for_idle(timeout=3)
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *args], capture_output=True, text=True, env=thread_env(1))
    code, wall, peak_kb = proc.stdout.split()
    return {
        "exit": int(code),
        "seconds": round(float(wall), 3),
        "peak_mb": round(int(peak_kb) / 1024, 1),
        "traceback": "Traceback" in proc.stderr,
        "message": proc.stderr.strip()[-160:],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="runs of each case: median and slowest time, largest memory")
    a = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in cases(Path(tmp)).items():
            runs = [measure(args) for _ in range(a.repeats)]
            seconds = [r["seconds"] for r in runs]
            worst = runs[-1] | {
                "seconds": statistics.median(seconds),
                "seconds_max": max(seconds),
                "peak_mb": max(r["peak_mb"] for r in runs),
            }
            ok = all(r["exit"] in (0, 1, 2) and not r["traceback"] for r in runs)
            results[name] = worst | {"ok": ok}
            print(f"{name:44s} exit {worst['exit']:3d}  {worst['seconds']:5.2f} s (max {max(seconds):5.2f})"
                  f"  {worst['peak_mb']:6.1f} MB{'' if ok else '  NOT OK'}", flush=True)  # fmt: skip
    over = [n for n, r in results.items() if r["seconds"] >= 2 or r["peak_mb"] >= 200 or not r["ok"]]
    print(f"median over 2 s or peak over 200 MB, or not ok: {', '.join(over) or 'none'}")
    print(f"results: {write_results('hostile', {'machine': machine(), 'cases': results})}")


if __name__ == "__main__":
    main()
