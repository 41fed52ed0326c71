"""Files the user names. Outputs (`compare --plot`, ...) are written into, never replaced;
inputs are read only when they are regular files, up to a size limit.

A regular file is overwritten in place; a symlink, a directory, a FIFO, a socket or a
device node is refused with exit 2 and left exactly as it was.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from conftest import with_file_size_limit

from dltrain import api
from dltrain.files import (
    OutputPathError,
    UnreadableFile,
    open_regular,
    read_regular,
    regular_file_at,
    write_user_file,
)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = {"name": "or", "dataset": {"name": "or_gate"}, "model": {"type": "logreg"}, "training": {"epochs": 3}}
    return api.run(cfg, runs_dir=root).path


def test_a_new_path_is_created(cli, run_path, tmp_path):
    target = tmp_path / "new.png"
    assert cli("compare", run_path, "--plot", target).exit_code == 0
    assert target.read_bytes()[:8] == PNG and stat.S_IMODE(target.stat().st_mode) & 0o644 == 0o644


def test_a_regular_file_is_overwritten_in_place(cli, run_path, tmp_path):
    target = tmp_path / "old.png"
    target.write_text("old")
    other = tmp_path / "hard.png"
    os.link(target, other)  # the same file under a second name: writing in place keeps them one file
    assert cli("compare", run_path, "--plot", target).exit_code == 0
    assert other.read_bytes()[:8] == PNG and target.stat().st_ino == other.stat().st_ino


@pytest.mark.parametrize("target", ["real.png", "nowhere.png", "/dev/stdout"])
def test_a_symlink_is_refused_and_its_target_left_alone(cli, run_path, tmp_path, target):
    """Written through, a link could name anything: `report -o /dev/stdout >> log` cut the log to the report."""
    real = tmp_path / "real.png"
    real.write_text("old")
    link = tmp_path / "link.png"
    link.symlink_to(target if target.startswith("/") else tmp_path / target)
    result = cli("compare", run_path, "--plot", link)
    assert result.exit_code == 2 and "it is a symbolic link (to " in result.stderr, result.output
    assert link.is_symlink() and real.read_text() == "old" and not (tmp_path / "nowhere.png").exists()


def test_a_directory_is_refused(cli, run_path, tmp_path):
    target = tmp_path / "folder.png"
    target.mkdir()
    result = cli("compare", run_path, "--plot", target)
    assert result.exit_code == 2 and "directory" in result.stderr
    assert target.is_dir() and not any(target.iterdir())


def test_a_fifo_is_refused_without_waiting_for_a_reader(cli, run_path, tmp_path):
    target = tmp_path / "pipe.png"
    os.mkfifo(target)
    result = cli("compare", run_path, "--plot", target)
    assert result.exit_code == 2 and "FIFO" in result.stderr
    assert stat.S_ISFIFO(target.lstat().st_mode)
    # with a reader waiting, the open succeeds, and the writer must still refuse
    reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OutputPathError, match="FIFO"):
            write_user_file(target, PNG)
        assert os.read(reader, 100) == b""
    finally:
        os.close(reader)


def test_a_socket_is_refused(tmp_path):
    target = tmp_path / "s.png"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(target))
        with pytest.raises(OutputPathError, match="socket"):
            write_user_file(target, PNG)
    finally:
        server.close()
    assert stat.S_ISSOCK(target.lstat().st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_a_device_node_is_refused_and_untouched(cli, run_path, tmp_path):
    target = tmp_path / "full"
    os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # the same device as /dev/full
    result = cli("compare", run_path, "--plot", target)
    assert result.exit_code == 2 and "character device" in result.stderr
    assert stat.S_ISCHR(target.lstat().st_mode) and target.lstat().st_rdev == os.makedev(1, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]  # nothing written beside it


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    with pytest.raises(OutputPathError, match="symbolic link"):
        write_user_file(link, PNG)
    assert link.is_symlink()


def test_ctrl_c_during_a_write_waits_until_the_file_is_whole(tmp_path, monkeypatch):
    """An interrupt in the middle left a file of the final name half written (new) or half old."""
    import signal

    write = os.pwrite

    def interrupted(fd, data, offset):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the write
        return write(fd, data[:3], offset)  # a short write: the loop goes on

    monkeypatch.setattr(os, "pwrite", interrupted)
    old = tmp_path / "old.png"
    old.write_bytes(b"o" * 1000)
    for target in (tmp_path / "new.png", old):
        with pytest.raises(KeyboardInterrupt):
            write_user_file(target, PNG * 10)
        assert target.read_bytes() == PNG * 10


def test_a_new_file_a_write_could_not_finish_is_removed(tmp_path, monkeypatch):
    def failing(fd, data, offset):
        raise MemoryError

    monkeypatch.setattr(os, "pwrite", failing)
    with pytest.raises(MemoryError):
        write_user_file(tmp_path / "new.png", PNG)
    assert not (tmp_path / "new.png").exists()


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        write_user_file(tmp_path / "missing" / "x.png", PNG)


def test_reads_take_only_regular_files_up_to_a_limit(tmp_path):
    regular = tmp_path / "a.yaml"
    regular.write_bytes(b"x" * 100)
    link = tmp_path / "link.yaml"
    link.symlink_to(regular)
    assert read_regular(link, 100) == b"x" * 100
    with pytest.raises(UnreadableFile, match="too large"):
        read_regular(regular, 99)
    with pytest.raises(UnreadableFile, match="too large: 100 bytes, at most 99 are read"):
        open_regular(regular, 99)  # refused before a byte is read
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    for path, reason in [
        (fifo, "FIFO"),
        (zero, "character device"),
        (tmp_path, "directory"),
        (tmp_path / "missing", "does not exist"),
        (loop, "symbolic links"),
    ]:
        with pytest.raises(UnreadableFile, match=reason):
            read_regular(path, 1 << 20)


def test_a_write_that_fails_leaves_the_old_file_whole(tmp_path):
    """A full disk or a file size limit mid-write: the user's old file is still there, unchanged
    (it used to be truncated first, then half written)."""
    target = tmp_path / "report.html"
    target.write_text("OLD REPORT\n")
    code = (
        "from dltrain.files import OutputPathError, write_user_file\n"
        "try:\n"
        "    write_user_file(sys.argv[1], b'x' * 5000)\n"
        "except OutputPathError as err:\n"
        "    sys.exit(f'refused: {err}')\n"
    )
    result = with_file_size_limit(1000, code, target)
    assert result.returncode == 1 and "refused: cannot write" in result.stderr, result.stderr
    assert target.read_text() == "OLD REPORT\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left beside it


def test_a_file_system_without_space_reservation_still_gets_the_file(tmp_path, monkeypatch):
    """Where posix_fallocate is not supported (EOPNOTSUPP), the file is written as it is."""
    import errno

    def unsupported(fd, offset, size):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    target = tmp_path / "out.png"
    target.write_bytes(b"old and longer than the new one" * 10)
    write_user_file(target, PNG)
    assert target.read_bytes() == PNG


def test_a_new_file_gets_the_mode_open_gives_a_new_file(tmp_path):
    """Read and write for whom the umask allows, and nothing more: a plot or a report is not executable."""
    umask = os.umask(0o022)
    os.umask(umask)
    target = write_user_file(tmp_path / "new.png", PNG)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_path_given_as_text_is_checked_as_a_path_is(tmp_path):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "real.png")
    with pytest.raises(OutputPathError, match="symbolic link"):
        write_user_file(str(link), PNG)
    assert not (tmp_path / "real.png").exists()


def test_a_path_that_cannot_be_reached_is_refused_naming_why(tmp_path):
    """A symlink loop or a regular file where a folder of the path should be: exit 2 with the
    system's reason, not a traceback."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(OutputPathError, match="Too many levels of symbolic links"):
        write_user_file(loop / "x.png", PNG)
    regular = tmp_path / "regular"
    regular.write_text("old")
    with pytest.raises(OutputPathError) as err:
        write_user_file(regular / "x.png", PNG)
    assert str(err.value) == f"cannot write {regular / 'x.png'}: Not a directory"


def test_a_write_of_exactly_the_file_size_limit_succeeds(tmp_path):
    """The space reserved is the data's, from the first byte: not one byte more."""
    target = tmp_path / "report.html"
    code = "from dltrain.files import write_user_file\nwrite_user_file(sys.argv[1], b'x' * 1000)\n"
    result = with_file_size_limit(1000, code, target)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b"x" * 1000


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts the open files in /proc")
def test_refused_reads_and_writes_leave_no_file_open(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(UnreadableFile):
            read_regular(fifo, 100)
        with pytest.raises(UnreadableFile):
            read_regular(big, 10)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting: opening the FIFO to write succeeds
        try:
            with pytest.raises(OutputPathError):
                write_user_file(fifo, PNG)
        finally:
            os.close(reader)
        write_user_file(tmp_path / "out.png", PNG)
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.skipif(not os.path.isfile("/proc/self/cmdline"), reason="reads /proc")
def test_a_file_longer_than_its_size_says_is_read_whole_up_to_the_limit():
    """/proc's files say they hold 0 bytes and hold more, as a file that grew after its size was taken does."""
    whole = read_regular("/proc/self/cmdline", 1 << 20)
    assert whole == Path("/proc/self/cmdline").read_bytes() and len(whole) > 10
    assert read_regular("/proc/self/cmdline", len(whole)) == whole
    with pytest.raises(UnreadableFile, match="too large: more than 10 bytes"):
        read_regular("/proc/self/cmdline", 10)


@pytest.mark.skipif(not os.path.isfile("/proc/self/mem"), reason="reads /proc")
def test_a_read_that_fails_is_named():
    """/proc/self/mem is a regular file whose first bytes cannot be read (EIO)."""
    with pytest.raises(UnreadableFile, match="cannot read /proc/self/mem: "):
        read_regular("/proc/self/mem", 100)


def test_what_is_at_a_path_is_told_without_opening_it(tmp_path):
    regular = tmp_path / "a.npy"
    regular.write_bytes(b"x")
    link = tmp_path / "link.npy"
    link.symlink_to(regular)
    dangling = tmp_path / "dangling.npy"
    dangling.symlink_to(tmp_path / "nowhere")
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert regular_file_at(regular) is True and regular_file_at(link) is True
    for missing in (tmp_path / "missing.npy", dangling, regular / "x.npy", f"{tmp_path}/nul\0.npy"):
        assert regular_file_at(missing) is False
    for path, reason in [
        (fifo, "is a FIFO"),
        (tmp_path, "is a directory"),
        (loop, "Too many levels of symbolic links"),
    ]:
        with pytest.raises(UnreadableFile, match=reason):
            regular_file_at(path)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_write_from_another_thread_than_the_main_one(tmp_path):
    """Signal handlers can be set only in the main thread: elsewhere the file is written as it is."""
    import threading

    errors = []

    def write():
        try:
            write_user_file(tmp_path / "a.png", PNG)
        except BaseException as err:  # handed to the main thread
            errors.append(err)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == [] and (tmp_path / "a.png").read_bytes() == PNG
