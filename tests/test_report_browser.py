"""Reports opened in a real browser: Debian's Chromium driven by Selenium (headless).

For a run report and a sweep report: the page loads without console errors, the chart
area is not blank, the DOM shows metrics.json's values, a header click reorders the
table, nothing is fetched from the network (and the page renders with it switched
off), and hostile names stay text. Without Chromium these tests skip, unless
DLTRAIN_BROWSER_TESTS=required (CI) makes them fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import invoke

from dltrain import api
from dltrain.formatting import number

CONFIG = {
    "name": "web",
    "seed": 2,
    "dataset": {"name": "digits", "classes": [0, 1, 2, 3], "test_size": 0.3, "validation_split": 0.2},
    "model": {"type": "mlp", "hidden": [16]},
    "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 5},
}


def _browser_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    reason = "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("DLTRAIN_BROWSER_TESTS") == "required":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    browser, driver = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.execute_cdp_cmd("Network.enable", {})
    chrome.execute_cdp_cmd(  # no network at all: a page that needed one would not render
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """{'run': (report.html, run folder), 'sweep': (report.html, sweep folder)}."""
    root = tmp_path_factory.mktemp("web")
    run = api.run({**CONFIG, "output": {"report": True}}, runs_dir=root / "runs").path
    from dltrain.sweep.runner import run_sweep

    sweep = run_sweep(
        CONFIG, ["training.optimizer.lr=0.001,0.03", "model.activation=relu,tanh"], runs_dir=root / "s"
    ).path
    invoke("report", sweep, code=0)
    return {"run": (run / "report.html", run), "sweep": (sweep / "report.html", sweep)}


def load(browser, page: Path) -> None:
    browser.get_log("browser")  # drop what an earlier page logged
    browser.get(page.resolve().as_uri())
    deadline = time.monotonic() + 30
    while not browser.execute_script("return document.body && document.body.dataset.rendered"):
        assert time.monotonic() < deadline, "the charts never finished rendering"
        time.sleep(0.05)
    assert browser.execute_script("return document.body.dataset.rendered") == "yes"


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_loads_offline_without_console_errors(browser, pages, kind):
    page, _ = pages[kind]
    load(browser, page)
    problems = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith(("data:", "blob:", "file:")) for name in fetched), fetched


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_the_chart_area_is_not_blank(browser, pages, kind):
    from PIL import Image

    page, _ = pages[kind]
    load(browser, page)
    chart = browser.find_element("css selector", ".chart")
    assert chart.size["height"] > 150 and chart.size["width"] > 300
    import numpy as np

    shot = np.asarray(Image.open(io.BytesIO(chart.screenshot_as_png)).convert("L"))
    inked = float(np.mean(shot < 200))
    assert inked > 0.01, f"only {inked:.2%} of the chart is drawn"
    assert browser.find_elements("css selector", ".chart svg path")  # the lines themselves


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_the_dom_shows_the_metrics_json_values(browser, pages, kind):
    page, folder = pages[kind]
    load(browser, page)
    text = browser.find_element("tag name", "body").text
    runs = [folder] if kind == "run" else [p for p in folder.iterdir() if (p / "metrics.json").is_file()]
    assert len(runs) == (1 if kind == "run" else 4)
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        for split in ("train", "val", "test"):
            for value in metrics[split].values():
                assert number(value) in text, (run.name, split, value)


def column(browser, table, index: int) -> list[str]:
    return [row.find_elements("tag name", "td")[index].text for row in table.find_elements("css selector", "tbody tr")]


@pytest.mark.parametrize("kind,header", [("run", "loss"), ("sweep", "test.loss")])
def test_clicking_a_header_reorders_the_table(browser, pages, kind, header):
    page, _ = pages[kind]
    load(browser, page)
    table = browser.find_element("css selector", "table.sortable")
    headers = [th.text for th in table.find_elements("tag name", "th")]
    j = headers.index(header)
    before = column(browser, table, j)
    th = table.find_elements("tag name", "th")[j]
    th.click()
    ascending = column(browser, table, j)
    assert [float(v) for v in ascending] == sorted(float(v) for v in before)
    th.click()
    descending = column(browser, table, j)
    assert descending == ascending[::-1] and descending != ascending
    assert th.get_attribute("aria-sort") == "descending"


def test_hostile_names_render_as_text(cli, browser, pages, tmp_path):
    _, run = pages["run"]
    evil = "<img src=x onerror=window.pwned=1>"
    copy = shutil.copytree(run, tmp_path / evil)
    meta = json.loads((copy / "meta.json").read_text())
    meta["error"] = "<script>window.pwned=2</script>"
    (copy / "meta.json").write_text(json.dumps(meta))
    assert cli("report", copy, run, "-o", tmp_path / "two.html").exit_code == 0
    assert cli("report", copy).exit_code == 0
    for page in (tmp_path / "two.html", copy / "report.html"):
        load(browser, page)
        assert browser.execute_script("return window.pwned === undefined")
        text = browser.find_element("tag name", "body").text
        assert evil in text
    assert "<script>window.pwned=2</script>" in text
