"""Size and rendering time of HTML reports (dltrain report): a one-run report of the MNIST
MLP (every figure: confusion matrix, 32 weight images, error gallery) and a 50-run
comparison (a 10 x 5 sweep on the 8x8 digits), opened in headless Chromium.

    python bench/report.py [--loads 5] [--epochs 2]

Budgets: one run < 3 MB, 50 runs < 6 MB, rendered in < 2 s (from navigation start until
every chart is drawn, `document.body.dataset.pageMs`). Needs chromium, chromium-driver
and selenium (the test extra). Results in bench/results/report-*.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, machine, wait_for_idle, write_results

sys.path.insert(0, str(REPO))

BUDGET_MB = {"one run (MNIST MLP)": 3.0, "50 runs (sweep)": 6.0}
BUDGET_S = 2.0


def build(root: Path, epochs: int) -> dict[str, Path]:
    from dltrain import api
    from dltrain.report.build import report_html
    from dltrain.sweep.runner import run_sweep

    mnist = api.run(REPO / "configs/mlp_mnist.yaml", overrides=[f"training.epochs={epochs}"], runs_dir=root).path
    lrs = ",".join(str(x) for x in (0.0003, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1))
    sweep = run_sweep(
        REPO / "configs/quickstart.yaml",
        [f"training.optimizer.lr={lrs}", "model.hidden=[16],[32],[64],[128],[64,32]"],
        overrides=["training.epochs=20"],
        jobs=2,
        runs_dir=root,
    ).path
    pages = {}
    for name, target in (("one run (MNIST MLP)", mnist), ("50 runs (sweep)", sweep)):
        t = time.perf_counter()
        html = report_html([target])
        print(f"{name}: report built in {time.perf_counter() - t:.2f} s", file=sys.stderr)
        pages[name] = root / f"{target.name}.html"
        pages[name].write_text(html)
    return pages


def render_seconds(page: Path, loads: int) -> list[float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)
    times = []
    try:
        for _ in range(loads + 1):  # the first load warms the browser's caches up: not counted
            wait_for_idle(timeout=20)
            browser.get(page.as_uri())
            while not browser.execute_script("return document.body && document.body.dataset.rendered"):
                time.sleep(0.02)
            times.append(int(browser.execute_script("return document.body.dataset.pageMs")) / 1000)
    finally:
        browser.quit()
    return times[1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loads", type=int, default=5)
    p.add_argument("--epochs", type=int, default=2, help="MNIST epochs (the figures' size does not depend on them)")
    p.add_argument("--keep", type=Path, help="write the runs and reports here instead of a temporary folder")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = a.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name, page in build(root, a.epochs).items():
            seconds = render_seconds(page, a.loads)
            rows.append(
                {
                    "report": name,
                    "mb": page.stat().st_size / 1e6,
                    "budget_mb": BUDGET_MB[name],
                    "render_s_median": statistics.median(seconds),
                    "render_s_max": max(seconds),
                    "render_s": seconds,
                }
            )
    print(f"{'report':<22} {'MB':>6} {'budget':>7} {'render s (median)':>18} {'max':>6}")
    for r in rows:
        print(
            f"{r['report']:<22} {r['mb']:>6.2f} {r['budget_mb']:>7.1f} {r['render_s_median']:>18.2f} {r['render_s_max']:>6.2f}"
        )
    print(f"render budget: {BUDGET_S} s")
    print(write_results("report", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
