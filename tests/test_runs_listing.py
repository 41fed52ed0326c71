"""`dltrain runs`: a table that fits the terminal without cutting names, filters, sorting,
the newest N, and deleting with a confirmation."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import claimed_elsewhere

from dltrain import api
from dltrain.cli import list_runs
from dltrain.runs.folder import now_iso
from dltrain.runs.locate import resolve_ref, run_folders

RUNNING = list_runs.RUNNING


def quick(name: str, **changes) -> dict:
    cfg = {
        "name": name,
        "dataset": {"name": "or_gate"},
        "model": {"type": "logreg"},
        "training": {"optimizer": {"name": "gd", "lr": 0.5}, "epochs": 3},
        "output": {"plots": False},
    }
    return {**cfg, **changes}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Three completed runs (two or_gate logregs, one sqrt_mean regression) and a failed one."""
    root = tmp_path_factory.mktemp("listing") / "runs"
    api.run(quick("or-logistic"), runs_dir=root)
    api.run(
        quick("or-logistic", training={"optimizer": {"name": "gd", "lr": 2.0}, "epochs": 3}),
        runs_dir=root,
    )
    api.run(
        quick("tiny-sqrt", dataset={"name": "sqrt_mean", "n": 40, "dim": 2}, model={"type": "mlp", "hidden": [2]}),
        runs_dir=root,
    )
    failed = root / "20200101-000000-broken"
    failed.mkdir()
    (failed / "meta.json").write_text(json.dumps({"status": "failed", "started": "2020-01-01T00:00:00+00:00"}))
    return root


def test_at_80_columns_every_name_is_whole_and_no_line_is_longer(cli, made):
    names = [p.name for p in made.iterdir()]
    out = cli("runs", made, env={"COLUMNS": "80"}, code=0).stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert all(name in out for name in names), out  # never folded mid-word
    assert "when" not in out.splitlines()[1]  # the header: the timestamp is in the name already


def test_a_narrow_terminal_breaks_names_only_after_a_dash(cli, made):
    out = cli("runs", made, env={"COLUMNS": "60"}, code=0).stdout
    assert all(len(line) <= 60 for line in out.splitlines()), out
    lines = out.splitlines()
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("─")) + 1 :]  # after the header's rule
    pieces = [line.split(" ")[0] for line in rows if line and not line.startswith(" ")]
    names, name = {p.name for p in made.iterdir()}, ""
    for piece in pieces:  # each line of a name ends at a dash, until the name is whole
        name += piece
        if name in names:
            names.remove(name)
            name = ""
        else:
            assert piece.endswith("-"), out
    assert not names and not name, out


def test_small_metrics_use_the_compare_number_format(cli, made):
    out = cli("runs", made, "--sort", "test.loss", env={"COLUMNS": "120"}, code=0).stdout
    value = cli("runs", made, "--filter", "dataset=sqrt_mean", "--json", code=0).json[0]["metrics"]["test"]["loss"]
    from dltrain.formatting import number

    assert number(value) in out and "test.loss" in out  # one metric: named in the header


def test_filter_by_status_dataset_model_and_name(cli, made):
    failed = cli("runs", made, "--filter", "status=failed", "--json", code=0).json
    assert [r["status"] for r in failed] == ["failed"]
    or_gate = cli("runs", made, "--filter", "dataset=or_gate", "--json", code=0).json
    assert {r["dataset"] for r in or_gate} == {"or_gate"} and len(or_gate) == 2
    mlp = cli("runs", made, "--filter", "model=mlp", "--json", code=0).json
    assert [r["dataset"] for r in mlp] == ["sqrt_mean"]
    logistic = cli("runs", made, "--filter", "name=*logistic*", "--filter", "status=completed", "--json", code=0).json
    assert len(logistic) == 2


def test_a_name_filter_matches_the_name_a_run_was_given_or_its_folders(cli, made):
    """name=or-logistic: both runs of that config, though their folders are named with their
    timestamps (and the second with -2); a glob or a whole folder name as before."""
    rows = cli("runs", made, "--filter", "name=or-logistic", "--json", code=0).json
    assert [r["given_name"] for r in rows] == ["or-logistic", "or-logistic"]
    assert all(re.fullmatch(r"\d{8}-\d{6}-or-logistic(-2)?", r["name"]) for r in rows)  # the folders: timestamp first
    assert [r["name"] for r in cli("runs", made, "--filter", "name=tiny-*", "--json", code=0).json] == [
        p.name for p in made.iterdir() if p.name.endswith("tiny-sqrt")
    ]
    folder = rows[1]["name"]
    assert [r["name"] for r in cli("runs", made, "--filter", f"name={folder}", "--json", code=0).json] == [folder]
    broken = cli("runs", made, "--filter", "name=*broken", "--json", code=0).json  # no name in its meta.json
    assert [(r["name"], r["given_name"]) for r in broken] == [("20200101-000000-broken", None)]
    assert cli("runs", made, "--filter", "name=or", "--json", code=0).json == []  # a whole name, not a part
    bad = cli("runs", made, "--filter", "colour=red", code=2)
    assert "KEY one of name, status, dataset, model" in bad.stderr


def test_sort_by_a_metric_and_the_last_n(cli, made):
    rows = cli("runs", made, "--filter", "dataset=or_gate", "--sort", "train.loss", "--json", code=0).json
    losses = [r["metrics"]["train"]["loss"] for r in rows]
    assert losses == sorted(losses)
    rows = cli("runs", made, "--sort", "train.accuracy", "--json", code=0).json
    assert [r["dataset"] for r in rows] == ["or_gate", "or_gate", None, "sqrt_mean"]  # no such metric: last, by age
    everything = cli("runs", made, "--json", code=0).json
    assert cli("runs", made, "--last", "2", "--json", code=0).json == everything[-2:]
    assert cli("runs", made, "--sort", "test.speed", code=2).stderr.count("SPLIT.METRIC") == 1


def test_a_mistyped_status_or_metric_is_an_error_with_a_suggestion(cli, made):
    """status=faild listed nothing, as if no run had failed; --sort test.acc gave no suggestion."""
    typo = cli("runs", made, "--filter", "status=faild", "--json", code=2)
    assert "no run has that status (did you mean 'failed'?)" in typo.message and typo.json["status"] == "error"
    assert "(did you mean 'test.accuracy'?)" in cli("runs", made, "--sort", "test.acc", code=2).message
    globbed = cli("runs", made, "--filter", "status=fail*", "--json", code=0).json  # a glob is not checked
    assert [row["status"] for row in globbed] == ["failed"]
    assert cli("runs", made, "--filter", "status=crashed", "--json", code=0).json == []
    assert cli("runs", made, "--filter", "status=pending", "--json", code=0).json == []  # meta.json may say it


def test_delete_needs_a_filter_and_a_confirmation(cli, made, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(made, root)
    before = sorted(p.name for p in root.iterdir())
    assert "--filter or --last" in cli("runs", root, "--delete", "--yes", code=2).output
    declined = cli("runs", root, "--delete", "--filter", "dataset=or_gate", "--json", input="n\n", code=0)
    assert "delete 2 run folders? [y/N]: \n" in declined.stderr  # the answer, piped, is not echoed: the line ends
    shown = cli("runs", root, "--delete", "--filter", "dataset=or_gate", input="no\n", code=0)
    assert "2 run folders to delete in" in shown.stderr and not shown.stdout  # the table is for the person asked
    assert declined.json == {
        "deleted": [],
        "kept_running": [],
        "kept": {},
        "failed": {},
    }  # the prompt wrote nothing on stdout
    unanswered = cli("runs", root, "--delete", "--filter", "dataset=or_gate", "--json", input="", code=2)
    assert '"delete 2 run folders?" got no answer (stdin gave nothing); pass --yes' in unanswered.stderr
    assert unanswered.json["status"] == "error"
    assert sorted(p.name for p in root.iterdir()) == before
    deleted = cli("runs", root, "--delete", "--filter", "dataset=or_gate", "--yes", "--json", code=0)
    assert len(json.loads(deleted.stdout)["deleted"]) == 2
    assert sorted(p.name for p in root.iterdir()) == [n for n in before if "logistic" not in n]
    cli("runs", root, "--delete", "--filter", "status=failed", input="y\n", code=0)
    assert [r["dataset"] for r in cli("runs", root, "--json", code=0).json] == ["sqrt_mean"]


@pytest.mark.parametrize("kind", ["fifo", "huge"])
def test_a_running_runs_history_is_read_with_bounds(tmp_path, kind):
    """A running run shows its latest epoch's metric from history.csv: a FIFO there (which
    blocks whoever opens it to read) or a file far larger than a history is passed over."""
    import os
    import threading

    from dltrain.data.files import MAX_CSV_BYTES
    from dltrain.inspection.listing import summarize
    from dltrain.runs.folder import RunFolder

    path = api.run(
        {"name": "h", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "output": {"plots": False}},
        runs_dir=tmp_path,
    ).path
    (path / "metrics.json").unlink()  # as while it trains
    RunFolder(path).update_meta(status="running", pid=os.getpid(), ended=None, seconds=None)
    assert summarize(path)["metric"] == "train.accuracy"  # from history.csv's last row
    (path / "history.csv").unlink()
    if kind == "fifo":
        os.mkfifo(path / "history.csv")
    else:
        with open(path / "history.csv", "w") as f:
            f.write("epoch,train_loss\n")
            f.truncate(MAX_CSV_BYTES + 1)  # sparse: NULs after the header, one byte over the bound
    rows = []
    reader = threading.Thread(target=lambda: rows.append(summarize(path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if kind == "fifo" and reader.is_alive():
        with open(path / "history.csv", "w"):  # let the blocked reader go before failing
            pass
    assert not reader.is_alive() and rows[0]["metric"] is None and rows[0]["status"] == "running"


def test_a_run_folder_named_with_bytes_that_are_not_utf8_is_listed(cli, made, tmp_path):
    """Shown as 'bad\\xffname' (--json: the real path beside it); a meta.json whose argv holds
    such a path (a run started with --runs-dir in one) is a completed run, not a corrupt one."""
    first = sorted(p for p in made.iterdir() if "or-logistic" in p.name)[0]
    bad = shutil.copytree(first, tmp_path / os.fsdecode(b"bad\xffname"))
    meta = json.loads((bad / "meta.json").read_text())
    meta["argv"] = ["dltrain", "run", "--runs-dir", os.fsdecode(b"rr\xff")]
    meta["name"] = os.fsdecode(b"bad\xffname")  # --name given such bytes
    (bad / "meta.json").write_text(json.dumps(meta))
    assert "bad\\xffname  completed" in cli("runs", tmp_path, code=0).stdout
    (row,) = cli("runs", tmp_path, "--json", code=0).json
    assert row["name"] == "bad\\xffname" and row["status"] == "completed" and os.path.isdir(row["path"])
    assert row["given_name"] == "bad\\xffname"
    for pattern in ("bad\\xffname", os.fsdecode(b"bad\xffname")):  # as shown, or the bytes themselves
        assert len(cli("runs", tmp_path, "--filter", f"name={pattern}", "--json", code=0).json) == 1


def _tiny_sweep(runs_dir: Path) -> Path:
    from dltrain.sweep import run_sweep

    grid, quick = ["training.optimizer.lr=0.1,0.01"], ["training.epochs=2", "output.plots=false"]
    return run_sweep("perceptron_or", grid, overrides=quick, runs_dir=runs_dir).path


def test_delete_never_reaches_through_a_symbolic_link_out_of_the_runs_dir(cli, tmp_path):
    """A link to a sweep elsewhere was listed, and its runs deleted where they really are."""
    elsewhere = _tiny_sweep(tmp_path / "elsewhere")
    before = sorted(p.name for p in elsewhere.iterdir())
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "x").symlink_to(elsewhere)
    result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", "--yes", code=0)
    assert result.stderr.count("through a symbolic link") == 2 and "deleted 0 run folders" in result.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_delete_keeps_a_symbolic_link_to_a_run_in_the_runs_dir_and_deletes_the_run_itself(cli, tmp_path):
    """A link to a run beside it made the deletion fail halfway ("cannot delete ...: Cannot call rmtree
    on a symbolic link"), or say "nothing was deleted" after deleting its target."""
    sweep = _tiny_sweep(tmp_path / "runs")
    first, second = sorted(p for p in sweep.iterdir() if p.is_dir())
    for name, target in (("0-link", first), ("z-link", second), ("sweep-link", sweep)):
        (tmp_path / "runs" / name).symlink_to(target)
    result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", "--yes", "--json", code=0)
    assert sorted(result.json["deleted"]) == sorted(str(p) for p in (first, second))
    assert result.stderr.count("reached through a symbolic link; delete the folder it names") == 4, result.stderr
    assert all((tmp_path / "runs" / name).is_symlink() for name in ("0-link", "z-link", "sweep-link"))


def test_delete_keeps_the_runs_of_a_sweep_still_running_and_looks_again_after_asking(cli, tmp_path, monkeypatch):
    import os

    from dltrain.runs.folder import RunFolder

    sweep = _tiny_sweep(tmp_path / "runs")
    doc = json.loads((sweep / "sweep.json").read_text())
    (sweep / "sweep.json").write_text(json.dumps({**doc, "status": "running", "pid": os.getpid()}))  # resumed
    result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", "--yes", "--json", code=0)
    running = [str(p) for p in sorted(sweep.glob("*/"))]
    assert result.json == {
        "deleted": [],
        "kept_running": running,
        "kept": dict.fromkeys(running, RUNNING),
        "failed": {},
    }

    (sweep / "sweep.json").write_text(json.dumps(doc))
    run = next(p for p in sweep.iterdir() if p.is_dir())

    def resumed_meanwhile(question):  # `dltrain resume RUN` started while the prompt waited
        RunFolder(run).update_meta(status="running", pid=os.getpid())
        return True

    monkeypatch.setattr(list_runs, "confirmed", resumed_meanwhile)
    result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", code=0)
    assert f"kept {run}: it is still running" in result.stderr and run.is_dir()
    assert "deleted 1 run folder" in result.stderr


def test_delete_keeps_a_run_that_a_resume_holds_before_it_writes_running(cli, tmp_path):
    """A resume claims its folder, then reads meta.json (not yet `running`): deleting the folder
    in that moment pulled it from under the resume."""
    sweep = _tiny_sweep(tmp_path / "runs")
    held, other = sorted(p for p in sweep.iterdir() if p.is_dir())
    with claimed_elsewhere(held):
        result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", "--yes", "--json", code=0)
    assert result.json == {
        "deleted": [str(other)],
        "kept_running": [str(held)],
        "kept": {str(held): RUNNING},
        "failed": {},
    }
    assert f"kept {held}: it is still running" in result.stderr and held.is_dir() and not other.exists()


def test_delete_keeps_the_runs_of_a_sweep_that_a_process_holds(cli, tmp_path):
    sweep = _tiny_sweep(tmp_path / "runs")
    runs = sorted(str(p) for p in sweep.iterdir() if p.is_dir())
    with claimed_elsewhere(sweep):  # `sweep --resume` between its look at sweep.json and its writing `running`
        result = cli("runs", tmp_path / "runs", "--filter", "name=*", "--delete", "--yes", "--json", code=0)
    assert result.json == {"deleted": [], "kept_running": runs, "kept": dict.fromkeys(runs, RUNNING), "failed": {}}


def test_delete_keeps_a_live_run_whatever_its_files_say(cli, made, tmp_path):
    """A file of a run in training damaged (its status: corrupt) hid that it was training, and
    `runs --delete --filter status=corrupt` deleted it under the process."""
    root = tmp_path / "runs"
    live = Path(shutil.copytree(next(p for p in made.iterdir() if p.name.endswith("tiny-sqrt")), root / "live"))
    meta = json.loads((live / "meta.json").read_text())
    (live / "meta.json").write_text(json.dumps({**meta, "status": "running", "pid": os.getpid(), "host": None}))
    (live / "metrics.json").write_text("garbage")
    assert [row["status"] for row in cli("runs", root, "--json", code=0).json] == ["corrupt"]
    result = cli("runs", root, "--filter", "status=corrupt", "--delete", "--yes", "--json", code=0)
    assert result.json == {"deleted": [], "kept_running": [str(live)], "kept": {str(live): RUNNING}, "failed": {}}
    assert live.is_dir()


def test_delete_keeps_a_fresh_run_in_training_even_with_its_meta_json_damaged(cli, tmp_path):
    root = tmp_path / "runs"
    command = [sys.executable, "-m", "dltrain", "run", "perceptron_or", "--set", "training.epochs=100000000"]
    training = subprocess.Popen([*command, "--runs-dir", str(root), "--quiet"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until it has written its config.yaml (its meta.json comes with it)
            if list(root.glob("*/meta.json")):
                break
            time.sleep(0.05)
        (live,) = [p.parent for p in root.glob("*/meta.json")]
        (live / "meta.json").write_text("garbage")  # no pid to see: only the process's hold on its folder tells
        result = cli("runs", root, "--filter", "name=*", "--delete", "--yes", "--json", code=0)
        assert result.json == {"deleted": [], "kept_running": [str(live)], "kept": {str(live): RUNNING}, "failed": {}}
        assert live.is_dir() and training.poll() is None
    finally:
        training.kill()
        training.wait()


def test_delete_goes_on_past_a_folder_it_must_keep_and_says_why(cli, made, tmp_path):
    root = tmp_path / "runs"
    runs = [Path(shutil.copytree(p, root / p.name)) for p in sorted(made.iterdir()) if "logistic" in p.name]
    notes = root / "20200101-000000-notes"
    shutil.copytree(runs[0], notes)
    (notes / "notes.txt").write_text("mine")
    asked = cli("runs", root, "--filter", "name=*", "--delete", input="n\n", code=0)  # kept before it is asked
    assert "2 run folders to delete" in asked.stderr and "-notes" not in asked.stderr.split("to delete")[1]
    result = cli("runs", root, "--filter", "name=*", "--delete", "--yes", "--json", code=0)
    why = "it holds 'notes.txt', which no run writes (delete the folder yourself if all it holds may go)"
    assert result.json == {
        "deleted": [str(p) for p in runs],
        "kept_running": [],
        "kept": {str(notes): why},
        "failed": {},
    }
    assert f"kept {notes}: {why}" in result.stderr and (notes / "notes.txt").read_text() == "mine"


def test_delete_names_a_folder_the_system_would_not_let_go_and_deletes_the_others(cli, made, tmp_path, monkeypatch):
    root = tmp_path / "runs"
    runs = [Path(shutil.copytree(p, root / p.name)) for p in sorted(made.iterdir()) if "logistic" in p.name]
    (runs[0] / "predicted_vs_actual.png").write_bytes(b"eval's figure in an earlier dltrain: still a run's")
    real = shutil.rmtree

    def refused(path, *args, **kwargs):
        if Path(path) == runs[1]:
            raise PermissionError(13, "Permission denied")
        real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", refused)
    result = cli("runs", root, "--filter", "name=*", "--delete", "--yes", "--json", code=2)
    why = f"cannot delete {runs[1]}: Permission denied"
    assert result.json == {"deleted": [str(runs[0])], "kept_running": [], "kept": {}, "failed": {str(runs[1]): why}}
    assert f"error: {why}" in result.stderr and not runs[0].exists() and runs[1].is_dir()


def test_a_folder_name_ending_in_a_digit_int_cannot_read_is_listed(cli, made, tmp_path):
    """'x-²': str.isdigit() takes '²', int() does not; the listing ended as an internal error."""
    root = tmp_path / "copy"
    shutil.copytree(made, root)
    shutil.copytree(next(p for p in root.iterdir() if p.is_dir()), root / "x-²")
    rows = cli("runs", root, "--json", code=0).json
    assert "x-²" in [row["name"] for row in rows]


def test_latest_is_the_run_started_last_across_time_zones(tmp_path):
    def run_started(name: str, started: str) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({"status": "completed", "started": started}))

    run_started("20261201-100000-b", "2026-12-01T10:00:00.100+00:00")
    run_started("20261201-100000-a", "2026-12-01T10:00:00.900+00:00")  # later, though its name sorts first
    assert resolve_ref("latest", tmp_path).name == "20261201-100000-a"
    run_started("20261201-120000-c", "2026-12-01T12:00:00+02:00")  # 10:00 UTC: the first of them
    run_started("20261201-090000-d", "2026-12-01T09:00:01-01:00")  # 10:00:01 UTC: the last
    run_started("20261201-000000-e", "no time")  # unreadable: as if it said none, before all
    assert [p.name[16:] for p in run_folders(tmp_path)] == ["e", "c", "b", "a", "d"]


def test_run_times_are_kept_to_the_millisecond_with_their_offset():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", now_iso())


def test_two_runs_in_one_second_are_listed_in_the_order_they_started(tmp_path):
    api.run(quick("zz-first"), runs_dir=tmp_path)
    second = api.run(quick("aa-second"), runs_dir=tmp_path)  # most often in the same second
    assert resolve_ref("latest", tmp_path) == second.path


def test_a_folder_name_with_a_line_break_or_a_tab_is_shown_on_one_line(cli, tmp_path):
    made = api.run(quick("plain"), runs_dir=tmp_path).path
    odd = made.rename(tmp_path / "bad\nname\tx")
    listing = cli("runs", tmp_path, code=0).stdout
    assert listing.split()[:3] == ["1", "run", "in"]
    assert [line.split()[:2] for line in listing.splitlines() if "completed" in line] == [
        ["bad\\nname\\tx", "completed"]
    ]
    assert cli("runs", tmp_path, "--json", code=0).json[0]["path"] == str(odd)  # the real name, for scripts
    assert cli("eval", odd.name, cwd=tmp_path, code=0).stdout.split("\n", 1)[0].split() == ["eval", "bad\\nname\\tx"]
    assert cli("compare", odd, code=0).stdout.startswith("bad\\nname\\tx: completed")
    other = api.run(quick("plain", training={"epochs": 2}), runs_dir=tmp_path / "more").path
    table = cli("compare", odd, other, code=0).stdout
    assert sorted(line.split()[1] for line in table.splitlines() if re.match(r" +[12] {2,}", line)) == [
        other.name,
        "bad\\nname\\tx",
    ]


def test_a_running_run_shows_its_latest_epoch_and_its_time_so_far(tmp_path):
    """No metrics.json yet: the last row of history.csv, and the seconds since it started."""
    from datetime import datetime, timedelta

    from dltrain.inspection.listing import summarize
    from dltrain.runs.folder import RunFolder

    path = api.run(quick("live"), runs_dir=tmp_path).path
    (path / "metrics.json").unlink()  # as while it trains
    (path / "history.csv").write_text("epoch,train_loss,train_accuracy\n1,0.9,0.25\n2,0.6,0.5\n3,0.4,0.75\n")
    started = (datetime.now().astimezone() - timedelta(hours=1)).isoformat(timespec="milliseconds")
    RunFolder(path).update_meta(status="running", pid=os.getpid(), ended=None, seconds=None, started=started)
    row = summarize(path)
    assert (row["status"], row["metric"], row["value"]) == ("running", "train.accuracy", 0.75)
    assert 3600 <= row["seconds"] < 3600 + 600
    RunFolder(path).update_meta(status="failed", seconds=12.5)
    row = summarize(path)
    assert (row["status"], row["metric"], row["value"], row["seconds"]) == ("failed", None, None, 12.5)


def test_the_last_n_are_the_newest_rows():
    from dltrain.inspection.listing import select_runs

    rows = [{"name": name} for name in ("first", "second", "third")]  # oldest first
    assert [row["name"] for row in select_runs(rows, last=1)] == ["third"]
    assert [row["name"] for row in select_runs(rows, last=2)] == ["second", "third"]
    assert select_runs(rows, last=0) == []


def test_a_row_takes_what_meta_json_lacks_from_the_config_and_leaves_out_the_baseline(tmp_path):
    """A meta.json with a model but no dataset reads the config; the baseline's metrics are no
    split of the row; a model without hidden layers has no trailing sizes."""
    from dltrain.inspection.listing import _model_text, summarize

    path = api.run(quick("base", baseline="sklearn"), runs_dir=tmp_path).path
    meta = json.loads((path / "meta.json").read_text())
    assert "baseline" in json.loads((path / "metrics.json").read_text())
    row = summarize(path)
    assert (row["dataset"], row["model"], list(row["metrics"])) == ("or_gate", "logreg", ["train"])
    del meta["dataset"]
    (path / "meta.json").write_text(json.dumps(meta))
    assert (summarize(path)["dataset"], summarize(path)["model"]) == ("or_gate", "logreg")
    assert _model_text("mlp", []) == "mlp" and _model_text("mlp", "64") == "mlp"
    assert _model_text("mlp", [64, 32]) == "mlp 64-32"


def test_a_scan_calls_a_folder_with_a_bad_file_corrupt_and_names_the_file(made, tmp_path):
    """A bad meta.json, metrics.json or config.yaml (a dangling symlink too: it is there, and
    bad) makes the folder corrupt, the first bad file its problem; no meta.json is incomplete."""
    from dltrain.runs.reader import Scan

    good = next(path for path in run_folders(made) if (path / "metrics.json").exists())

    def scan(name: str, **files: str) -> Scan:
        copy = Path(shutil.copytree(good, tmp_path / name, symlinks=True))
        for file, text in files.items():
            (copy / file.replace("_", ".")).unlink()
            if text.startswith("->"):
                (copy / file.replace("_", ".")).symlink_to(copy / text[2:])
            elif text != "missing":
                (copy / file.replace("_", ".")).write_text(text)
        return Scan(copy)

    fine = scan("fine")
    assert (fine.status, fine.problem, fine.config.name, list(fine.metrics)) == (
        "completed",
        None,
        "or-logistic",
        ["train"],
    )
    assert scan("new", meta_json="missing").status == "incomplete"
    bad_config = scan("config", config_yaml="model: [")
    assert bad_config.config is None and bad_config.status == "corrupt" and "config.yaml" in bad_config.problem
    bad_metrics = scan("metrics", metrics_json="{")
    assert bad_metrics.metrics == {} and bad_metrics.status == "corrupt" and "metrics.json" in bad_metrics.problem
    for meta in ("[", "->nowhere"):
        bad_meta = scan(f"meta{len(meta)}", meta_json=meta, metrics_json="{")
        assert bad_meta.meta == {} and bad_meta.metrics == {} and bad_meta.status == "corrupt"
        assert "meta.json" in bad_meta.problem and len(bad_meta.problems) == 2


def test_runs_are_found_from_a_runs_dir_given_as_text_and_latest_needs_one(made, tmp_path):
    """`latest` is the newest run (in expand_refs too, where it is no glob); no runs directory,
    or none in it, is a RunFolderError; a run without a start time sorts first, `run` before `run-1`."""
    from dltrain.errors import RunFolderError
    from dltrain.runs.locate import age_key, expand_refs

    newest = run_folders(made)[-1]
    assert run_folders(str(made)) == run_folders(made) and resolve_ref("latest", str(made)) == newest
    assert expand_refs(["latest"], runs_dir=made) == [newest]
    with pytest.raises(RunFolderError, match="no runs directory at"):
        run_folders(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="'latest': there are no run folders in"):
        resolve_ref("latest", tmp_path / "empty")
    assert age_key("run", None) < age_key("run-1", None) < age_key("run-2", None)
    assert age_key("z", None) < age_key("a", "2020-01-01T00:00:00+00:00")
