"""Shared CLI rendering (dltrain.cli.tables): one number format and one metrics table for every command."""

import os

import pytest
from conftest import two_class_csv_config
from rich.console import Console

from dltrain.cli.tables import metrics_table
from dltrain.formatting import displayable, displayable_values, number, printable, value_text


def test_number_fixed_point_with_an_exponent_only_where_needed():
    assert [number(v) for v in (0.98333, 0.0, 12.5, 2.5e-05, 1e270, None, 7)] == [
        "0.9833",
        "0.0000",
        "12.5000",
        "2.5e-05",
        "1e+270",
        "",
        "7",
    ]
    assert value_text([64, 32]) == "[64,32]"


def test_metrics_table_adds_the_baseline_rows_of_the_same_splits():
    metrics = {
        "train": {"loss": 0.4, "accuracy": 0.96},
        "test": {"loss": 0.39, "accuracy": 0.98},
        "baseline": {"model": "LogisticRegression()", "test": {"accuracy": 0.97, "log_loss": 0.09}},
    }
    console = Console(width=120, record=True)
    console.print(metrics_table(metrics))
    text = console.export_text()
    assert "sklearn test" in text and "sklearn train" not in text and "sklearn: LogisticRegression()" in text
    assert text.index("loss") < text.index("accuracy") < text.index("log_loss")  # the columns in first-seen order


# --- print_table: big tables laid out without Rich's per-cell layout, character for character as Rich ---


def _styled_chars(console: Console, renderable) -> list[tuple[str, object]]:
    """Each character printed, with the style it is shown in (how Rich cuts it into segments aside)."""
    from rich.style import Style

    segments = console.render(renderable, console.options)
    return [(ch, seg.style or Style.null()) for seg in segments for ch in seg.text]


def _table(names: list[str], box_name: str = "SIMPLE_HEAD", padding=(0, 0, 0, 1)):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="runs", box=getattr(box, box_name), show_edge=False, pad_edge=False, padding=padding)
    table.add_column("run")
    table.add_column("status")
    table.add_column("score", justify="right")
    for i, name in enumerate(names):
        status = Text(("completed", "failed", "running")[i % 3], style=("green", "red", "cyan")[i % 3])
        score = Text(f"{i / 7:.4f}  " if i % 4 else "")  # trailing blanks: a right-justified cell drops them
        if i % 5 == 0:
            score.stylize("bold green", 0, 2)  # spans inside a cell
        table.add_row(Text(name), status, score)
    return table


def test_print_table_shows_what_rich_shows_for_every_character(monkeypatch):
    from dltrain.cli import tables

    names = ["20260301-080000-a", "b-c-d\nwrapped-\nname", "ü-wide-名前", "x"] * 5
    for box_name, padding in (("SIMPLE_HEAD", (0, 0, 0, 1)), ("HEAVY_HEAD", (0, 1)), ("SIMPLE_HEAD", (0, 0))):
        for console in (
            Console(width=100, color_system="truecolor", force_terminal=True, highlight=False),
            Console(width=100, color_system=None, highlight=False),
        ):
            table = _table(names, box_name, padding)
            tables.fit_widths(table, console)
            assert tables._body(table) is not None  # the fast layout is taken...
            printed: list = []
            monkeypatch.setattr(console, "print", printed.append)
            tables.print_table(console, table)
            monkeypatch.undo()
            fast, rich = _styled_chars(console, printed[0]), _styled_chars(console, table)
            assert "".join(c for c, _ in fast) == "".join(c for c, _ in rich)  # ... and shows the same text
            assert fast == rich  # in the same styles


def test_print_table_leaves_what_it_does_not_lay_out_to_rich():
    from rich.console import Console as RichConsole

    from dltrain.cli import tables

    console = RichConsole(width=100)
    table = _table(["a", "b"])
    assert tables._body(table) is None  # widths not fixed
    tables.fit_widths(table, console)
    assert tables._body(table) is not None
    for width_of_its_own in ({"expand": True}, {"width": 60}, {"min_width": 60}):  # Rich would stretch the header
        wide = _table(["a", "b"])
        tables.fit_widths(wide, console)
        for key, value in width_of_its_own.items():
            setattr(wide, key, value)
        assert tables._body(wide) is None, width_of_its_own
    table.columns[1].style = "bold"
    assert tables._body(table) is None  # a column style: Rich's filler lines differ
    narrow = _table(["a-very-long-run-name", "b"])
    tables.fit_widths(narrow, RichConsole(width=12))  # does not fit: Rich folds it
    assert tables._body(narrow) is None


def test_user_text_is_printed_as_it_is(cli, tmp_path):
    """Paths, class labels and file names holding Rich markup ("[/]", "[bold]") or emoji codes
    (":smile:") come out unchanged; "[/]" used to end a run that had saved its folder with
    exit 1 and "internal error: MarkupError"."""
    odd = tmp_path / "odd[/]dir[bold]:smile:"
    odd.mkdir(parents=True)  # "[/]" is also a path separator: folders "odd[" and "]dir[bold]:smile:"
    config = two_class_csv_config(odd, "odd", "[/]", ":smile:")
    runs = odd / "runs"
    run = cli("run", config, "--runs-dir", runs, "-q", code=0)
    (folder,) = runs.iterdir()
    assert f"run folder: {folder}" in " ".join(run.stdout.split())  # a long path may wrap
    table = cli("eval", folder, code=0).stdout  # the per-class table names the classes
    assert "[/]" in table and ":smile:" in table and "😄" not in table
    plot = odd / "cmp[red].png"
    compared = cli("compare", folder, folder, "--plot", plot, code=0)
    assert f"plot: {plot}" in " ".join(compared.stderr.split()) and plot.is_file()
    assert f"no run folders in {odd}" in cli("runs", odd, code=0).stdout


@pytest.mark.filterwarnings("error::UserWarning")  # matplotlib's "Glyph 27 missing" would leak to stderr
def test_control_characters_of_user_text_never_reach_the_terminal(cli, tmp_path):
    """An escape sequence in a data file's class label (a terminal title, a colour) is dropped
    from what dltrain prints, with the label's other characters and the table's columns kept;
    the figures draw it without a warning."""
    config = two_class_csv_config(tmp_path, "esc", "\x1b[31mred", "ok\x1b]0;title\x07", epochs=5)
    cli("run", config, "--runs-dir", tmp_path / "runs", "-q", code=0)
    (folder,) = (tmp_path / "runs").iterdir()
    shown = cli("eval", folder, code=0).stdout
    assert "\x1b" not in shown and "\x07" not in shown
    rows = [line for line in shown.splitlines() if "red" in line or "ok]0;title" in line]
    assert len(rows) == 2 and "[31mred" in rows[0] + rows[1]
    assert len({len(row) for row in rows}) == 1  # the columns still line up


def test_bytes_of_a_name_that_are_not_utf8_are_shown_as_escapes():
    """os.fsdecode holds such bytes as surrogate escapes, which no UTF-8 output can take."""
    assert displayable(os.fsdecode(b"bad\xffname")) == "bad\\xffname"
    assert displayable("lone \ud800, kept é") == "lone \\ud800, kept é"
    assert printable(os.fsdecode(b"a\x1b\xfe")) == "a\\xfe"
    assert displayable_values({os.fsdecode(b"k\xff"): [os.fsdecode(b"v\xff"), 1, None]}) == {
        "k\\xff": ["v\\xff", 1, None]
    }
