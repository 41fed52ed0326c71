"""`dltrain report` without a browser: what the file holds, bad input, broken runs, escaping.
(tests/test_report_browser.py opens the pages in Chromium.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal

import pytest

from dltrain import api
from dltrain.formatting import number

CONFIG = {
    "name": "rep",
    "seed": 3,
    "dataset": {"name": "digits", "test_size": 0.3, "validation_split": 0.2, "scaling": "minmax"},
    "model": {"type": "logreg"},
    "training": {"optimizer": {"name": "adam", "lr": 0.05}, "epochs": 6},
}
RESOURCE = re.compile(
    r"""(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return api.run(CONFIG, runs_dir=tmp_path_factory.mktemp("runs")).path


def test_a_run_report_is_one_offline_file_with_its_metrics(cli, run):
    result = cli("report", run)
    assert result.exit_code == 0, result.output
    html = (run / "report.html").read_text()
    assert RESOURCE.search(html) is None  # nothing to fetch: scripts, styles and images are inline
    assert "<script src" not in html and "<link" not in html
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        for value in metrics[split].values():
            assert number(value) in html
    assert html.count("data:image/png;base64,") >= 3  # confusion matrix, weights, errors
    assert 'class="sortable"' in html and "resolved config" in html
    started = json.loads((run / "meta.json").read_text())["started"]  # 2026-12-01T19:25:41.123+01:00
    assert f"started: <b>{started[:10]} {started[11:19]}</b>" in html  # to the second, for reading


def test_run_report_flag_and_config_key_write_report_html(cli, tmp_path):
    result = cli("run", "configs/perceptron_or.yaml", "--runs-dir", tmp_path, "--report", "--json")
    assert result.exit_code == 0, result.output
    folder = json.loads(result.stdout)["run"]
    assert "decision regions" in open(f"{folder}/report.html").read()
    quiet = api.run({**CONFIG, "output": {"report": True, "plots": False}}, runs_dir=tmp_path / "b")
    assert (quiet.path / "report.html").is_file() and not list(quiet.path.glob("*.png"))


def test_not_a_run_or_sweep_is_exit_2_with_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for target in (tmp_path / "empty", tmp_path / "missing", tmp_path / "file.txt"):
        result = cli("report", target, "-o", tmp_path / "r.html")
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_an_output_named_for_another_format_is_refused_before_any_run_is_read(cli, tmp_path):
    result = cli("report", tmp_path / "missing", "-o", tmp_path / "r.pdf", code=2)
    assert "-o" in result.message and "cannot write a .pdf file (only .html or .htm)" in result.message
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.parametrize("status", ["running", "crashed", "failed", "interrupted"])
def test_an_unfinished_run_gets_a_report_with_its_status(cli, run, tmp_path, status):
    copy = shutil.copytree(run, tmp_path / f"r-{status}")
    meta = json.loads((copy / "meta.json").read_text())
    meta.update(status="running" if status == "crashed" else status, pid=2**22 + 7, error=f"it {status}")
    if status == "running":
        meta["pid"] = os.getpid()
    (copy / "meta.json").write_text(json.dumps(meta))
    (copy / "metrics.json").unlink()
    result = cli("report", copy)
    assert result.exit_code == 0, result.output
    html = (copy / "report.html").read_text()
    assert f'<span class="status {status}">{status}</span>' in html and "no metrics" in html


def test_missing_and_corrupt_files_are_named(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "broken")
    (copy / "history.csv").write_text('epoch,train_loss\n1,"unterminated\n')
    (copy / "config.yaml").write_text("model: [unclosed\n")
    (copy / "confusion_matrix.png").write_bytes(b"not a png")
    (copy / "weights.npz").unlink()
    result = cli("report", copy)
    assert result.exit_code == 0, result.output
    html = (copy / "report.html").read_text()
    assert "config.yaml" in html and "is not a valid dltrain config" in html
    assert "confusion_matrix.png is not a PNG image" in html and "weights.npz is missing" in html
    assert "Traceback" not in result.output


def test_config_values_and_names_are_escaped(cli, run, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    copy = shutil.copytree(run, tmp_path / evil)
    meta = json.loads((copy / "meta.json").read_text())
    meta["error"] = "<script>alert(2)</script>"
    meta["notes"] = ["</script><script>alert(3)</script>"]
    (copy / "meta.json").write_text(json.dumps(meta))
    result = cli("report", copy, run, "-o", tmp_path / "two.html")
    assert result.exit_code == 0, result.output
    for page in (tmp_path / "two.html", None):
        if page is None:
            assert cli("report", copy).exit_code == 0
            page = copy / "report.html"
        html = page.read_text()
        assert "<img src=x" not in html and "<script>alert" not in html and "</script><script>alert" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html or "\\u003cimg src=x" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in (copy / "report.html").read_text()


def test_several_runs_need_an_output_file(cli, run, tmp_path):
    other = shutil.copytree(run, tmp_path / "other")
    result = cli("report", run, other)
    assert result.exit_code == 2 and "-o FILE" in result.stderr


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_the_default_report_replaces_a_symlink_planted_in_the_folder(cli, run, tmp_path, kind):
    copy = shutil.copytree(run, tmp_path / "sweep" / "point-0")
    folder = copy if kind == "run" else copy.parent
    if kind == "sweep":
        point = {"index": 1, "name": "s-1", "values": {"seed": 3}, "status": "completed", "run": copy.name}
        point.update(metrics={}, seconds=None, epochs=None, error=None)
        doc = {"sweep": "s", "status": "completed", "backend": "local", "started": "2026-01-01T00:00:00+00:00"}
        doc.update(seconds=0.0, grid={"seed": [3]}, points=[point])
        (folder / "sweep.json").write_text(json.dumps(doc))
    (folder / "report.html").unlink(missing_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (folder / "report.html").symlink_to(victim)
    result = cli("report", folder)
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "precious\n"  # the symlink's target is untouched
    assert not (folder / "report.html").is_symlink()
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")


def _with_fields(file, **fields):
    meta = json.loads(file.read_text())
    return json.dumps({**meta, **fields})


@pytest.mark.parametrize(
    "name,damage,named",
    [
        ("config.yaml", lambda f: f.read_text() + 'junk: "' + "x" * (4 << 20) + '"\n', "is too large"),
        ("meta.json", lambda f: _with_fields(f, seconds="abc"), "meta.json is damaged: seconds"),
        ("meta.json", lambda f: "[" * 200_000 + "]" * 200_000, "meta.json is unreadable: not JSON"),
    ],
    ids=["config-over-the-size-limit", "meta-field-of-the-wrong-type", "meta-nested-too-deep"],
)
def test_a_damaged_file_is_read_with_the_checked_readers_and_named(cli, run, tmp_path, name, damage, named):
    copy = shutil.copytree(run, tmp_path / "damaged")
    (copy / name).write_text(damage(copy / name))
    result = cli("report", copy, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert named in html
    assert "xxxxxxxx" not in html and "junk" not in html  # the oversized config is never parsed
    accuracy = json.loads((copy / "metrics.json").read_text())["test"]["accuracy"]
    assert number(accuracy) in html  # the rest of the report is made


HISTORY_HEADER = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds\n"


@pytest.mark.parametrize("epoch", ["nan", "inf", "0", "-1", "1.5", ""])
def test_an_epoch_that_is_not_a_positive_integer_is_named(cli, run, tmp_path, epoch):
    copy = shutil.copytree(run, tmp_path / "damaged")
    (copy / "history.csv").write_text(HISTORY_HEADER + f"{epoch},1,1,1,1,1,1\n")
    result = cli("report", copy, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "history.csv is damaged: epoch" in (tmp_path / "r.html").read_text()


def _specs(html) -> dict[str, dict]:
    """The report's Vega-Lite specs by title; strict JSON (a NaN or Infinity in a spec fails the test)."""
    found = re.findall(r'<script type="application/json" class="spec"[^>]*>(.*?)</script>', html)
    specs = [json.loads(spec, parse_constant=pytest.fail) for spec in found]
    return {spec["title"]: spec for spec in specs}


def test_a_diverged_history_makes_curves_of_its_finite_values(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "diverged")
    (copy / "history.csv").write_text(HISTORY_HEADER + "1,0.9,0.5,1.1,0.5,0.1,0.01\n2,nan,0.5,inf,-inf,0.1,0.01\n")
    result = cli("report", copy, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "history.csv" not in html
    losses = _specs(html)["loss per epoch"]["data"]["values"]
    assert [(v["epoch"], v["loss"]) for v in losses] == [(1, 0.9), (1, 1.1)]


def test_a_figure_over_the_size_limit_is_named_not_read(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "huge-figure")
    os.truncate(copy / "confusion_matrix.png", 64 << 20)  # sparse: nothing is written
    result = cli("report", copy, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "confusion_matrix.png is too large" in html
    assert html.count("data:image/png;base64,") >= 2  # the other figures are shown


def test_a_sweep_report_shows_every_repeat_of_every_point(cli, tmp_path):
    from dltrain.sweep import run_sweep

    sweep = run_sweep(
        "perceptron_or",
        ["training.optimizer.lr=0.1,0.01"],
        overrides=["training.epochs=2", "output.plots=false"],
        repeats=2,
        runs_dir=tmp_path,
    ).path
    result = cli("report", sweep)
    assert result.exit_code == 0, result.output
    html = (sweep / "report.html").read_text()
    runs = [p.name for p in sweep.iterdir() if p.is_dir()]
    assert len(runs) == 4 and all(name in html for name in runs)
    assert "no run folder" not in html


def test_a_sweep_report_ranks_by_the_sweeps_own_metric(cli, tmp_path):
    """A sweep with a validation split ranks its points on it, so that choosing one does not
    tune on the test set: the report's table and charts follow the sweep, not test.accuracy."""
    from dltrain.sweep import run_sweep

    sweep = run_sweep(
        "quickstart",
        ["training.optimizer.lr=0.1,0.01"],
        overrides=["training.epochs=2", "output.plots=false"],
        runs_dir=tmp_path,
    )
    assert json.loads((sweep.path / "sweep.json").read_text())["sort_by"] == "val.accuracy"
    result = cli("report", sweep.path)
    assert result.exit_code == 0, result.output
    html = (sweep.path / "report.html").read_text()
    assert "runs, best val.accuracy first" in html and "val.accuracy against the swept keys" in html
    assert "best test.accuracy first" not in html


def test_a_search_sweep_report_charts_its_metric_against_its_space(cli, tmp_path):
    """A random or Optuna sweep keeps its keys under `space`, not `grid`: the report showed an empty
    'grid:' line and no chart of the metric against the keys."""
    from dltrain.sweep import run_sweep

    space = {"training.optimizer.lr": {"loguniform": [0.003, 0.1]}, "training.batch_size": {"choice": [32, 64]}}
    cfg = {**CONFIG, "training": {"epochs": 2}, "output": {"plots": False}, "sweep": {"space": space}}
    sweep = run_sweep(cfg, search="random", trials=3, runs_dir=tmp_path)
    cli("report", sweep.path, code=0)
    html = (sweep.path / "report.html").read_text()
    assert "random search over: <code>training.optimizer.lr</code>" in html
    assert "against the swept keys" in html and html.count('class="chart"') >= 3 + 2  # curves, then 2 keys
    lr_chart = html[html.index('"title":"val.accuracy against lr"') :]
    lr_chart = lr_chart[: lr_chart.index("</script>")]
    assert '"scale":{"type":"log"}' in lr_chart  # drawn log-uniformly, over less than two decades


def test_a_config_key_named_as_a_run_column_is_shown_whole_in_the_report(cli, tmp_path):
    """The runs table read 'epochs' twice: the epochs each run trained, and the differing training.epochs."""
    for epochs in (3, 5):
        api.run({**CONFIG, "output": {"plots": False}}, overrides=[f"training.epochs={epochs}"], runs_dir=tmp_path)
    cli("report", tmp_path, code=0)
    html = (tmp_path / "report.html").read_text()
    assert "<th>training.epochs</th>" in html.replace(' class="num"', "") or "training.epochs" in html
    assert html.count(">epochs<") == 1


def test_a_sweep_report_whose_metric_no_run_has_ranks_by_the_main_metric(cli, tmp_path):
    from dltrain.sweep import run_sweep

    sweep = run_sweep(
        "perceptron_or",
        ["training.optimizer.lr=0.1,0.01"],
        overrides=["training.epochs=2", "output.plots=false"],
        runs_dir=tmp_path,
    ).path
    doc = json.loads((sweep / "sweep.json").read_text())
    doc["sort_by"] = "val.loss"  # a metric name, but these runs have no validation split
    (sweep / "sweep.json").write_text(json.dumps(doc))
    result = cli("report", sweep)
    assert result.exit_code == 0, result.output
    assert "runs, best train.accuracy first" in (sweep / "report.html").read_text()


def test_a_two_run_report_with_one_damaged_history_names_it(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "damaged")
    (copy / "history.csv").write_text(HISTORY_HEADER + "nan,1,1,1,1,1,1\n")
    result = cli("report", copy, run, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "history.csv is damaged: epoch" in html and "internal error" not in result.output


def test_a_config_that_is_not_valid_still_shows_its_facts(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "unknown-key")
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text() + "no_such_key: 1\n")
    result = cli("report", copy, "-o", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "is not a valid dltrain config" in html and "no_such_key" in html
    assert re.search(r"dataset: <b>digits \(10 classes\)</b>", html), html


def _sweep_missing_a_run_folder(tmp_path, repeats, lose):
    from dltrain.sweep import run_sweep

    sweep = run_sweep(
        "perceptron_or",
        ["training.optimizer.lr=0.1,0.01"],
        overrides=["training.epochs=2", "output.plots=false"],
        repeats=repeats,
        runs_dir=tmp_path,
    ).path
    point = json.loads((sweep / "sweep.json").read_text())["points"][1]
    shutil.rmtree(sweep / (point["repeats"][lose]["run"] if repeats > 1 else point["run"]))
    return sweep, point


@pytest.mark.parametrize("repeats", [1, 2])
def test_a_sweep_report_lists_a_run_folder_that_was_deleted(cli, tmp_path, repeats):
    sweep, point = _sweep_missing_a_run_folder(tmp_path, repeats, lose=1)
    result = cli("report", sweep)
    assert result.exit_code == 0, result.output
    html = (sweep / "report.html").read_text()
    repeat = ", repeat 2" if repeats > 1 else ""
    assert f"point {point['index']} ({point['name']}{repeat}): completed, no run folder" in html
    assert html.count("no run folder") == 1


NOT_UTF8 = os.fsdecode(b"bad\xffname")  # a folder name whose bytes are not UTF-8, as Python holds it


def test_a_run_folder_named_with_bytes_that_are_not_utf8_gets_a_report(cli, run, tmp_path):
    """The name is shown with the byte escaped ('bad\\xffname'); the page is UTF-8."""
    copy = shutil.copytree(run, tmp_path / NOT_UTF8)
    cli("report", copy, code=0)
    cli("report", copy, run, "-o", tmp_path / "two.html", code=0)
    for page in (copy / "report.html", tmp_path / "two.html"):
        html = page.read_bytes().decode("utf-8")
        assert "bad\\xffname" in html and "\\udcff" not in html


def test_a_run_in_a_runs_dir_not_utf8_completes_with_its_report(cli, tmp_path):
    """The command line holds the path (meta.json's argv): the run folder still reads as completed."""
    runs = tmp_path / os.fsdecode(b"rr\xff")
    result = cli("run", "configs/perceptron_or.yaml", "--runs-dir", runs, "--report", "--json", process=True, code=0)
    assert result.json["status"] == "completed"
    (folder,) = runs.iterdir()
    assert "is damaged" not in (folder / "report.html").read_bytes().decode("utf-8")
    assert cli("runs", runs, "--json", code=0).json[0]["status"] == "completed"
    cli("report", folder, code=0)


@pytest.mark.parametrize("planted", ["a FIFO", "/dev/zero"])
def test_a_cached_script_bundle_that_is_no_regular_file_is_built_again(tmp_path, monkeypatch, planted):
    """The cached Vega bundle was read with read_text: a FIFO there hung the report, /dev/zero took all memory."""
    from dltrain.report import assets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    vl_convert = pytest.importorskip("vl_convert")
    cache = assets._cache_file(getattr(vl_convert, "__version__", "unknown"))
    cache.parent.mkdir(parents=True)
    if planted == "a FIFO":
        os.mkfifo(cache)
    else:
        cache.symlink_to(planted)
    assets.vega_bundle.cache_clear()
    hung = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the FIFO was read: it waits for a writer forever"))
    signal.alarm(30)
    try:
        bundle = assets.vega_bundle()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, hung)
        assets.vega_bundle.cache_clear()
    assert "vegaEmbed" in bundle and cache.is_file() and not cache.is_symlink()


def test_the_script_bundle_is_cached_in_a_cache_folder_that_does_not_exist_yet(tmp_path, monkeypatch):
    from dltrain.report import assets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-home" / ".cache"))
    vl_convert = pytest.importorskip("vl_convert")
    assets.vega_bundle.cache_clear()
    try:
        bundle = assets.vega_bundle()
    finally:
        assets.vega_bundle.cache_clear()
    cache = assets._cache_file(getattr(vl_convert, "__version__", "unknown"))
    assert cache.is_file() and "vegaEmbed" in cache.read_text() and "vegaEmbed" in bundle


def test_facts_show_what_the_run_folder_records_and_leave_out_what_it_does_not():
    from pathlib import Path

    from dltrain.report.run_page import Parts, facts

    config = {"seed": 4, "dataset": {"name": "sqrt_mean"}, "model": {"type": "mlp", "hidden": [8, 4]}}
    config["training"] = {"epochs": 5, "loss": "mse"}
    meta = {"epochs_done": 3, "seconds": 12.5, "started": "2026-12-01T19:25:41.123+00:00"}
    assert facts(Parts(Path("r"), config=config, meta=meta)) == (
        '<div class="facts"><span>dataset: <b>sqrt_mean (regression)</b></span><span>model: <b>mlp [8,4]</b></span>'
        "<span>loss: <b>mse</b></span><span>epochs: <b>3 of 5</b></span><span>time: <b>12.50 s</b></span>"
        "<span>started: <b>2026-12-01 19:25:41</b></span><span>seed: <b>4</b></span></div>"
    )
    config = {"dataset": {"name": "digits"}, "model": {"type": "logreg", "hidden": [8]}, "training": "damaged"}
    meta = {"classes": [0, 1, 2], "loss": "cross_entropy", "seconds": 0.0}
    assert facts(Parts(Path("r"), config=config, meta=meta)) == (
        '<div class="facts"><span>dataset: <b>digits (3 classes)</b></span><span>model: <b>logreg</b></span>'
        "<span>loss: <b>cross_entropy</b></span><span>epochs: <b>? of ?</b></span><span>time: <b>0.00 s</b></span></div>"
    )


def test_the_metrics_table_has_a_row_per_split_then_the_baselines():
    from dltrain.report.run_page import metrics_table

    html = metrics_table(
        {
            "train": {"accuracy": 0.5, "loss": 1.0},
            "test": {"accuracy": 0.25},
            "epochs": 3,
            "baseline": {"model": "LogisticRegression", "test": {"accuracy": 0.75}},
        }
    )
    assert re.findall(r"<th[^>]*>(\w+)</th>", html) == ["split", "accuracy", "loss"]
    assert re.findall(r"<tr><td>([\w ]+)</td>", html) == ["train", "test", "sklearn test"]
    assert html.endswith("<p>sklearn: LogisticRegression</p>")
    html = metrics_table({"test": {"loss": 1.0}, "baseline": {"error": "fit failed", "model": "Ridge"}})
    assert re.findall(r"<tr><td>([\w ]+)</td>", html) == ["test"] and html.endswith("<p>sklearn: fit failed</p>")
    assert "sklearn" not in metrics_table({"test": {"loss": 1.0}, "baseline": "none"})


def test_a_folder_holding_one_run_gets_that_runs_own_page(run, tmp_path):
    from dltrain.report.build import report_html

    copy = shutil.copytree(run, tmp_path / "runs" / run.name)
    html = report_html([copy.parent])
    assert f"<title>dltrain run {run.name}</title>" in html and "resolved config" in html
    assert "1 runs" not in html


@pytest.mark.parametrize("ref,named", [("missing", "no run or sweep folder at"), ("file.txt", "is a file, not a run")])
def test_a_report_of_a_missing_path_or_a_file_says_which(tmp_path, ref, named):
    from dltrain.errors import RunFolderError
    from dltrain.report.build import report_html

    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(RunFolderError, match=named) as refused:
        report_html([tmp_path / ref])
    assert str(tmp_path / ref) in str(refused.value).split(" ")  # the path, whole


def _runs_table(html):
    table = html[html.index('id="runs"') : html.index("</table>", html.index('id="runs"'))]
    head, body = table.split("<tbody>")
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]
    return re.findall(r'<th scope="col">(.*?)</th>', head), rows


def test_the_runs_table_ranks_its_metric_first_then_the_changed_keys_then_the_other_metrics(tmp_path):
    from dltrain.report.build import report_html

    config = {**CONFIG, "baseline": "sklearn", "output": {"plots": False}}
    for lr in (0.05, 0.1):
        api.run(config, overrides=[f"training.optimizer.lr={lr}"], runs_dir=tmp_path)
    html = report_html([tmp_path])
    assert "<title>dltrain: 2 runs</title>" in html and "<h1>2 runs</h1>" in html
    assert "kinds" not in html and 'class="problems"' not in html
    headers, rows = _runs_table(html)
    # no baseline.* column: each run's own page has its baseline's metrics
    metrics = ["train.loss", "train.accuracy", "val.loss", "val.accuracy", "test.loss"]
    assert headers == ["#", "run", "status", "test.accuracy", "lr", *metrics, "epochs", "seconds"]
    assert [row[0] for row in rows] == ["1", "2"] and all(len(row) == len(headers) for row in rows)
    same = (
        r"</table></div><p>\d+ config keys are the same in every run and not shown. Click a column header to sort.</p>"
    )
    assert re.search(same, html)
    assert sorted(row[4] for row in rows) == ["0.0500", "0.1000"] and {row[-2] for row in rows} == {"6"}


def test_runs_of_two_kinds_are_named_and_ranked_each_on_its_own(run, tmp_path):
    from dltrain.report.build import report_html

    other = api.run("configs/sqrt_mean.yaml", overrides=["training.epochs=2", "output.plots=false"], runs_dir=tmp_path)
    html = report_html([run, other.path])
    kinds = "classification on digits (1), regression on sqrt_mean (1)"
    assert f'<p class="problems">these runs are of 2 kinds: {kinds}; each is ranked on its own.</p>' in html


def test_a_report_of_runs_none_of_which_reads_says_so(run, tmp_path):
    from dltrain.report.build import report_html

    for name in ("a", "b"):
        copy = shutil.copytree(run, tmp_path / name)
        (copy / "meta.json").write_text("[")
    html = report_html([tmp_path / "a", tmp_path / "b"])
    assert "<p>no run could be read.</p><footer>" in html and "meta.json is unreadable" in html


def _hand_written_sweep(run, folder, **fields):
    """A sweep folder of two copies of `run`, the second with lr 0.1: sweep.json as `dltrain sweep` writes it."""
    points = []
    for index, lr in enumerate((0.05, 0.1), 1):
        copy = shutil.copytree(run, folder / f"point-{index}")
        config = (copy / "config.yaml").read_text()
        (copy / "config.yaml").write_text(config.replace("lr: 0.05", f"lr: {lr}"))
        point = {"index": index, "name": f"s-{index}", "values": {"training.optimizer.lr": lr}, "status": "completed"}
        point.update(run=copy.name, metrics={}, seconds=None, epochs=None, error=None)
        points.append(point)
    doc = {"sweep": "s", "status": "completed", "backend": "local", "started": "2026-01-01T00:00:00+00:00"}
    doc.update(seconds=1.5, grid={"training.optimizer.lr": [0.05, 0.1]}, points=points, **fields)
    (folder / "sweep.json").write_text(json.dumps(doc))
    return folder


def test_a_sweep_report_heads_with_its_facts_and_charts_its_one_key(run, tmp_path):
    from dltrain.report.build import report_html

    html = report_html([_hand_written_sweep(run, tmp_path / "s")])
    assert '<h1>sweep s <span class="status completed">completed</span></h1>' in html
    assert "<span>points: <b>2</b></span><span>backend: <b>local</b></span><span>time: <b>1.50 s</b></span>" in html
    specs = _specs(html)
    points = specs["test.accuracy against lr"]["data"]["values"]
    assert sorted(p["x"] for p in points) == [0.05, 0.1]
    assert "scale" not in specs["test.accuracy against lr"]["encoding"]["x"]
    assert not any("across the swept keys" in title for title in specs)  # one key: no parallel coordinates


def test_a_sweep_report_heads_with_its_counts_its_ranking_metric_and_each_key_of_its_grid(run, tmp_path):
    from dltrain.report.build import report_html

    sweep = _hand_written_sweep(run, tmp_path / "s", counts={"completed": 2, "failed": 0}, sort_by="test.loss")
    doc = json.loads((sweep / "sweep.json").read_text())
    doc["grid"]["seed"] = [3]
    for point in doc["points"]:
        point["values"]["seed"] = 3
    (sweep / "sweep.json").write_text(json.dumps(doc))
    html = report_html([sweep])
    assert "<title>dltrain sweep s</title>" in html
    facts = "<span>points: <b>2</b></span><span>completed: <b>2</b></span><span>backend: <b>local</b></span>"
    facts += "<span>ranked by: <b>test.loss</b></span><span>time: <b>1.50 s</b></span>"
    grid = "<code>training.optimizer.lr</code> = [0.05,0.1]; <code>seed</code> = [3]"
    assert f'</h1><div class="facts">{facts}</div><p>grid: {grid}</p><section>' in html
    assert "runs, best test.loss first" in html
    charts = "".join(f'<div class="chart" id="chart-{i}"></div>' for i in (2, 3, 4))  # lr, seed, both
    assert f'<h2>test.loss against the swept keys</h2><div class="charts">{charts}</div></section>' in html


def test_a_sweep_over_the_run_name_alone_gets_no_chart_against_its_keys(run, tmp_path):
    """The name is no config value that the runs are compared on."""
    from dltrain.report.build import report_html

    sweep = _hand_written_sweep(run, tmp_path / "s")
    doc = json.loads((sweep / "sweep.json").read_text())
    doc["grid"] = {"name": ["first", "second"]}
    for point, name in zip(doc["points"], doc["grid"]["name"]):
        point["values"] = {"name": name}
    (sweep / "sweep.json").write_text(json.dumps(doc))
    html = report_html([sweep])
    assert "<p>grid: <code>name</code> = " in html and 'id="runs"' in html
    assert "against the swept keys" not in html


def test_a_search_sweeps_choice_is_not_drawn_on_a_log_axis(run, tmp_path):
    from dltrain.report.build import report_html

    space = {"training.optimizer.lr": {"choice": [0.05, 0.1]}}
    html = report_html([_hand_written_sweep(run, tmp_path / "s", search="random", space=space)])
    assert "random search over: <code>training.optimizer.lr</code>" in html
    assert "scale" not in _specs(html)["test.accuracy against lr"]["encoding"]["x"]


def test_several_runs_share_a_loss_chart_whose_axis_the_completed_runs_set(run, tmp_path):
    """Each run's loss is the one meta.json names (its config may say `auto`), else its config's;
    a failed run's curve does not set the axis."""
    from dltrain.report.build import report_html

    auto = shutil.copytree(run, tmp_path / "auto")
    (auto / "config.yaml").write_text((auto / "config.yaml").read_text().replace("loss: cross_entropy", "loss: auto"))
    failed = shutil.copytree(run, tmp_path / "failed")
    meta = json.loads((failed / "meta.json").read_text())
    del meta["loss"]
    (failed / "meta.json").write_text(json.dumps({**meta, "status": "failed", "error": "diverged"}))
    (failed / "history.csv").write_text(HISTORY_HEADER + "1,1e6,0.5,2e6,0.5,0.1,0.01\n")
    specs = _specs(report_html([auto, failed]))
    assert [title for title in specs if title.startswith("loss")] == ["loss (cross_entropy)"]
    loss = specs["loss (cross_entropy)"]
    assert len({row["run"] for row in loss["data"]["values"]}) == 2  # both runs, labelled by their differing loss key
    assert max(loss["encoding"]["y"]["scale"]["domain"]) < 100  # the completed run's losses set it
    assert len({row["run"] for row in specs["accuracy"]["data"]["values"]}) == 2


def test_runs_whose_config_leaves_the_loss_to_auto_share_the_chart_of_the_loss_they_trained_on(run, tmp_path):
    from dltrain.report.build import report_html

    for name in ("a", "b"):
        copy = shutil.copytree(run, tmp_path / name)
        config = (copy / "config.yaml").read_text()
        (copy / "config.yaml").write_text(config.replace("loss: cross_entropy", "loss: auto"))
    html = report_html([tmp_path / "a", tmp_path / "b"])
    specs = _specs(html)
    assert list(specs) == ["loss (cross_entropy)", "accuracy"]
    assert [spec["encoding"]["y"]["title"] for spec in specs.values()] == list(specs)
    charts = '<div class="charts"><div class="chart" id="chart-0"></div><div class="chart" id="chart-1"></div></div>'
    assert f"<section><h2>curves (click a legend entry to pick a run)</h2>{charts}</section>" in html


def test_runs_without_a_history_get_no_curves_section(run, tmp_path):
    from dltrain.report.build import report_html

    for name in ("a", "b"):
        (shutil.copytree(run, tmp_path / name) / "history.csv").unlink()
    html = report_html([tmp_path / "a", tmp_path / "b"])
    assert "history.csv is missing: no curves" in html and 'id="runs"' in html
    assert "<h2>curves" not in html and 'class="chart"' not in html


def test_a_run_page_heads_with_the_runs_name_and_names_a_missing_history(run, tmp_path):
    from dltrain.report.build import report_html

    copy = shutil.copytree(run, tmp_path / "no-history")
    (copy / "history.csv").unlink()
    html = report_html([copy])
    assert '<h1>no-history <span class="status completed">completed</span></h1>' in html
    assert "<li>history.csv is missing: no curves</li>" in html and "curves</h2>" not in html


def test_read_parts_refuses_a_folder_that_is_not_a_run(tmp_path):
    from dltrain.errors import RunFolderError
    from dltrain.report.run_page import read_parts

    with pytest.raises(RunFolderError, match="is not a run folder"):
        read_parts(tmp_path)


def test_a_run_page_shows_its_notes_its_curves_and_its_config_as_written(run, tmp_path):
    from dltrain.report.build import report_html

    copy = shutil.copytree(run, tmp_path / "noted")
    (copy / "meta.json").write_text(_with_fields(copy / "meta.json", notes=["lr was lowered"]))
    # losses over six decades: a log axis
    (copy / "history.csv").write_text(HISTORY_HEADER + "1,1000,0.5,1000,0.5,0.1,0.01\n2,0.001,0.9,0.001,0.9,0.1,0.01\n")
    html = report_html([copy])
    assert "<p>note: lr was lowered</p>" in html
    assert '<section><h2>curves</h2><div class="charts"><div class="chart" id="chart-0"></div>' in html
    assert _specs(html)["loss per epoch"]["encoding"]["y"]["scale"] == {"type": "log"}
    config = html[html.index("resolved config") :]
    assert config.index("name: rep") < config.index("seed: 3") < config.index("dataset:")  # not sorted


def test_table_cells_keep_a_finite_numbers_raw_value_for_sorting_and_show_flags_as_text():
    from dltrain.report.page import cell, esc

    escaped = esc("""a "quoted" 'name' <b>""")
    assert escaped == "a &quot;quoted&quot; &#x27;name&#x27; &lt;b&gt;"  # safe in attributes too
    assert cell(0.5) == '<td class="num" data-value="0.5">0.5000</td>'
    assert cell(float("inf")) == '<td class="num" data-value="">inf</td>'
    assert cell(True) == "<td>True</td>" and cell(None) == "<td></td>"


@pytest.mark.parametrize(
    "xdg_cache_home,folder",
    [("cache", "cache"), ("", "home/.cache"), (None, "home/.cache")],
    ids=["set", "empty", "unset"],
)
def test_a_cached_script_bundle_is_read_from_the_users_cache_folder_once_a_process(
    tmp_path, monkeypatch, xdg_cache_home, folder
):
    """$XDG_CACHE_HOME/dltrain, else ~/.cache/dltrain; a '</script' in it cannot end the page's inline script."""
    from dltrain.report import assets

    vl_convert = pytest.importorskip("vl_convert")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg_cache_home is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg_cache_home and str(tmp_path / xdg_cache_home))
    cache = tmp_path / folder / "dltrain" / f"vega-embed-bundle-{vl_convert.__version__}.js"
    cache.parent.mkdir(parents=True)
    cache.write_text('window.vegaEmbed = () => "</script><script>";')
    assets.vega_bundle.cache_clear()
    try:
        assert assets.vega_bundle() == 'window.vegaEmbed = () => "<\\/script><script>";'
        cache.write_text("changed since")
        assert "vegaEmbed" in assets.vega_bundle()
    finally:
        assets.vega_bundle.cache_clear()


def test_a_table_marks_its_best_row_and_an_image_is_inlined_with_its_alt_text():
    from dltrain.report.page import image, table

    assert table(["run", "loss"], [["a", 0.5], ["b", None]], best=1, tid="runs") == (
        '<div class="scroll"><table class="sortable" id="runs"><thead><tr><th scope="col">run</th>'
        '<th scope="col">loss</th></tr></thead><tbody><tr><td>a</td><td class="num" data-value="0.5">0.5000</td></tr>'
        "<tr class=best><td>b</td><td></td></tr></tbody></table></div>"
    )
    assert table(["x"], []) == (
        '<div class="scroll"><table class="sortable"><thead><tr><th scope="col">x</th></tr></thead>'
        "<tbody></tbody></table></div>"
    )
    png = b"\x89PNG"
    assert image(png, 'the "weights"') == '<img alt="the &quot;weights&quot;" src="data:image/png;base64,iVBORw==">'


def test_a_page_holds_its_sections_then_its_chart_specs_then_the_chart_libraries_and_its_script():
    """A spec's JSON has no '<', '>' or '&' left in it: nothing in it can end its <script> element."""
    from dltrain import __version__
    from dltrain.report.assets import SCRIPT, vega_bundle
    from dltrain.report.page import Page, esc

    page = Page("a <title>")
    page.add("<p>first</p>")
    page.section("curves & more", page.chart({"title": "a<b>&c</script>", "values": [1.5]}) + page.chart({"n": 2}))
    html = page.html()
    assert html.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    assert "<title>a &lt;title&gt;</title>" in html
    assert html[html.index("<body>") :].startswith(
        '<body><p>first</p><section><h2>curves &amp; more</h2><div class="chart" id="chart-0"></div>'
        '<div class="chart" id="chart-1"></div></section>'
        f"<footer>dltrain {esc(__version__)} report; works offline, nothing is fetched.</footer>"
        '<script type="application/json" class="spec" data-target="chart-0">'
        '{"title":"a\\u003cb\\u003e\\u0026c\\u003c/script\\u003e","values":[1.5]}</script>'
        '<script type="application/json" class="spec" data-target="chart-1">{"n":2}</script><script>'
    )
    assert html.endswith(f"<script>{vega_bundle()}</script><script>{SCRIPT}</script></body></html>\n")
    spec = html[html.index('data-target="chart-0">') + 22 : html.index("</script>")]
    assert json.loads(spec) == {"title": "a<b>&c</script>", "values": [1.5]}
