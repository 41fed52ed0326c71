"""Downloads for real, against an HTTP server on 127.0.0.1 serving generated files.

MNIST mirrors and the sign-digits archive URL are redirected with the environment
variables DLTRAIN_MNIST_MIRRORS / DLTRAIN_SIGN_DIGITS_URL; the checksums and photo counts
of the small generated data are patched in. No traffic leaves the machine: every test
starts with both variables pointing at a closed loopback port.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import stat
import struct
import threading
import tracemalloc
import warnings
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import time_limit
from PIL import Image

from dltrain.atomic import SHARED_MODE
from dltrain.data import catalog, mnist, sign_digits, sign_photos
from dltrain.data.download import fetch_file
from dltrain.data.mnist import Mnist
from dltrain.data.registry import DATASETS
from dltrain.data.sign_digits import SignDigits
from dltrain.errors import DataError

# ---------------------------------------------------------------- loopback server


class Server:
    """Serves `routes` (URL path -> bytes); paths listed in `lie_about_length` send half the body
    under a Content-Length for all of it, then hang up; those in `no_length` send no Content-Length.
    Every requested path is logged."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.lie_about_length: set[str] = set()
        self.no_length: set[str] = set()  # sent without a Content-Length, the connection closed at its end
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if self.path in server.no_length:
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.lie_about_length:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once, as when offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Point every download at a closed loopback port unless a test says otherwise."""
    monkeypatch.setenv(mnist.MIRRORS_ENV, closed_port_url())
    monkeypatch.setenv(sign_digits.ARCHIVE_URL_ENV, closed_port_url() + "archive.zip")


def leftovers(folder: Path) -> list[str]:
    """Everything in `folder` (temporary files included), as sorted names."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- generated MNIST


def idx_gz(array: np.ndarray, magic: int) -> bytes:
    """An IDX file as MNIST ships it: big-endian magic and dims, uint8 data, gzipped."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


class RecordingBar:
    """A progress bar as pooch drives it, recording what it was told."""

    def __init__(self, description: str, bars: list) -> None:
        self.description, self.total, self.closed = description, None, 0
        bars.append(self)

    def update(self, n: int) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def bars(monkeypatch) -> list[RecordingBar]:
    """Every progress bar the downloads draw while the test runs, in order."""
    from dltrain.data import download

    monkeypatch.setattr(download, "_progress_bar", None)  # restored afterwards
    drawn: list[RecordingBar] = []
    download.show_download_progress(lambda description: RecordingBar(description, drawn))
    return drawn


@pytest.fixture
def tiny_mnist(server, monkeypatch):
    """50 train / 20 test random images served at <server>/m/, with their checksums patched in.

    Returns (arrays by file name, bytes by file name)."""
    rng = np.random.default_rng(0)
    arrays = {
        mnist.TRAIN_IMAGES: rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        mnist.TRAIN_LABELS: np.arange(50, dtype=np.uint8) % 10,
        mnist.TEST_IMAGES: rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        mnist.TEST_LABELS: np.arange(20, dtype=np.uint8)[::-1] % 10,
    }
    blobs = {name: idx_gz(a, mnist.IMAGE_MAGIC if a.ndim == 3 else mnist.LABEL_MAGIC) for name, a in arrays.items()}
    for name, blob in blobs.items():
        server.routes[f"/m/{name}"] = blob
    monkeypatch.setattr(mnist, "FILES", {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()})
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{server.url}/m/")
    return arrays, blobs


def test_mnist_downloads_verifies_and_parses(tmp_path, server, tiny_mnist):
    arrays, _ = tiny_mnist
    data = Mnist().load(tmp_path)
    assert data.X.shape == (50, 28, 28) and data.X.dtype == np.uint8 and data.pixels
    np.testing.assert_array_equal(data.X, arrays[mnist.TRAIN_IMAGES])  # the bytes, read as / 255 by the splits
    np.testing.assert_array_equal(data.y, arrays[mnist.TRAIN_LABELS])
    X_test, y_test = data.test
    assert X_test.shape == (20, 28, 28)
    np.testing.assert_array_equal(y_test, arrays[mnist.TEST_LABELS])
    assert leftovers(tmp_path / "mnist") == sorted(mnist.FILES)
    for name in mnist.FILES:  # as a file dltrain writes itself: pooch's temporary file was 0600
        assert stat.S_IMODE((tmp_path / "mnist" / name).stat().st_mode) == SHARED_MODE
    # The cache is used from now on: no second request.
    served = len(server.requests)
    Mnist(scale=False).load(tmp_path)
    assert len(server.requests) == served == 4


def test_mnist_subsets_may_be_as_large_as_the_official_splits_and_no_larger():
    from pydantic import ValidationError

    whole = Mnist(n_train=60000, n_test=10000)
    assert (whole.n_train, whole.n_test) == (60000, 10000)
    for too_many in ({"n_train": 60001}, {"n_test": 10001}):
        with pytest.raises(ValidationError, match="less than or equal to"):
            Mnist(**too_many)


def mnist_folder(data_dir: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """`data_dir`/mnist holding `images` and `labels` as both the training and the test files."""
    folder = data_dir / "mnist"
    folder.mkdir(parents=True)
    for name in (mnist.TRAIN_IMAGES, mnist.TEST_IMAGES):
        (folder / name).write_bytes(idx_gz(images, mnist.IMAGE_MAGIC))
    for name in (mnist.TRAIN_LABELS, mnist.TEST_LABELS):
        (folder / name).write_bytes(idx_gz(labels, mnist.LABEL_MAGIC))
    return data_dir


def test_mnist_images_of_another_size_are_refused(tmp_path):
    mnist_folder(tmp_path, np.zeros((2, 27, 27)), np.array([0, 1]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz holds \(27, 27\) images, not 28x28"):
        Mnist().load(tmp_path)


def test_an_mnist_label_past_9_is_refused(tmp_path):
    mnist_folder(tmp_path, np.zeros((3, 28, 28)), np.array([0, 10, 1]))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz holds label 10; MNIST labels are 0..9"):
        Mnist().load(tmp_path)


def test_an_mnist_subset_may_take_every_image_of_its_classes(tmp_path):
    """Labels 0..8 only (no 9 to be found), and n_train as large as what the classes have."""
    images = np.arange(12 * 784).reshape(12, 28, 28) % 251
    mnist_folder(tmp_path, images, np.array([3, 0, 8, 3, 1, 3] * 2))
    data = Mnist(classes=[3, 8], n_train=8, n_test=8, scale=False).load(tmp_path)
    np.testing.assert_array_equal(data.X, images[[0, 2, 3, 5, 6, 8, 9, 11]])  # all eight, each once, in file order
    assert data.y.tolist() == [0, 1, 0, 0] * 2
    with pytest.raises(DataError, match="dataset.n_train is 9 but only 8 images of digits"):
        Mnist(classes=[3, 8], n_train=9).load(tmp_path)


def test_mnist_train_and_test_subsets_are_drawn_independently(tmp_path):
    """The same seed draws train and test rows from two streams: the same files give different picks."""
    images = np.arange(12 * 784).reshape(12, 28, 28) % 251
    mnist_folder(tmp_path, images, np.arange(12) % 2)  # the training files are the test files
    data = Mnist(classes=[0, 1], n_train=3, n_test=3, scale=False).load(tmp_path)
    assert not np.array_equal(data.X, data.test[0])


def test_an_mnist_image_becomes_a_sample_like_the_loaded_ones():
    light = Image.new("L", (56, 56), 255)
    np.testing.assert_array_equal(Mnist().image_to_sample(light, (28, 28)), np.ones((28, 28)))
    np.testing.assert_array_equal(Mnist(scale=False).image_to_sample(light, (28, 28)), np.full((28, 28), 255.0))
    np.testing.assert_array_equal(Mnist().image_to_sample(light, (28, 28), invert=True), np.zeros((28, 28)))


def test_mnist_downloads_show_their_progress(tmp_path, server, tiny_mnist, bars):
    Mnist().load(tmp_path)
    assert sorted(bar.description.split(" from ")[0] for bar in bars) == sorted(mnist.FILES)


def test_second_mirror_is_used_when_the_first_answers_404(tmp_path, server, tiny_mnist, monkeypatch):
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{server.url}/gone/, {server.url}/m")
    data = Mnist().load(tmp_path)
    assert len(data.X) == 50
    first = mnist.TRAIN_IMAGES
    assert server.requests[:2] == [f"/gone/{first}", f"/m/{first}"]


def test_checksum_mismatch_leaves_no_file(tmp_path, server, tiny_mnist, monkeypatch):
    monkeypatch.setitem(mnist.FILES, mnist.TRAIN_IMAGES, "0" * 64)
    with pytest.raises(DataError) as err:
        Mnist().load(tmp_path)
    message = str(err.value)
    assert mnist.TRAIN_IMAGES in message and "checksum mismatch" in message
    _, blobs = tiny_mnist
    assert f"checksum mismatch (got {hashlib.sha256(blobs[mnist.TRAIN_IMAGES]).hexdigest()})" in message
    assert f"{server.url}/m/{mnist.TRAIN_IMAGES}" in message
    assert str(tmp_path / "mnist") in message  # where to put the file by hand
    assert leftovers(tmp_path / "mnist") == []


def test_404_on_every_mirror(tmp_path, server, tiny_mnist, monkeypatch):
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{server.url}/a/ {server.url}/b/")
    with pytest.raises(DataError) as err:
        Mnist().load(tmp_path)
    message = str(err.value)
    assert message.count("HTTP 404") == 2
    assert f"{server.url}/a/{mnist.TRAIN_IMAGES}" in message and f"{server.url}/b/{mnist.TRAIN_IMAGES}" in message
    assert "put the four files" in message
    assert leftovers(tmp_path / "mnist") == []


def test_a_failed_download_leaves_none_of_the_folders_it_made(tmp_path, server, tiny_mnist, monkeypatch):
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{server.url}/a/")
    with pytest.raises(DataError, match="HTTP 404"):
        Mnist().load(tmp_path / "new" / "data")
    assert leftovers(tmp_path) == []
    (tmp_path / "empty").mkdir()  # the user's, reached through a folder the download makes
    with pytest.raises(DataError, match="HTTP 404"):
        Mnist().load(tmp_path / "new" / ".." / "empty")
    assert leftovers(tmp_path) == ["empty"] and leftovers(tmp_path / "empty") == []
    (tmp_path / "empty").rmdir()
    (tmp_path / "mnist").mkdir()  # a folder that held something before stays, as it was
    (tmp_path / "mnist" / mnist.TRAIN_LABELS).write_bytes(tiny_mnist[1][mnist.TRAIN_LABELS])
    with pytest.raises(DataError, match="HTTP 404"):
        Mnist().load(tmp_path)
    assert leftovers(tmp_path / "mnist") == [mnist.TRAIN_LABELS]


def test_transfer_cut_short_leaves_no_file(tmp_path, server, tiny_mnist):
    server.lie_about_length.add(f"/m/{mnist.TRAIN_IMAGES}")
    with pytest.raises(DataError) as err:
        Mnist().load(tmp_path)
    assert "truncated" in str(err.value) and mnist.TRAIN_IMAGES in str(err.value)
    assert leftovers(tmp_path / "mnist") == []


def test_short_file_with_honest_length_fails_the_checksum(tmp_path, server, tiny_mnist):
    _, blobs = tiny_mnist
    server.routes[f"/m/{mnist.TRAIN_LABELS}"] = blobs[mnist.TRAIN_LABELS][:-10]
    with pytest.raises(DataError, match="checksum mismatch"):
        Mnist().load(tmp_path)
    assert mnist.TRAIN_LABELS not in leftovers(tmp_path / "mnist")


def test_truncated_gzip_that_passes_a_patched_checksum_is_not_cached(tmp_path, server, tiny_mnist, monkeypatch):
    _, blobs = tiny_mnist
    cut = blobs[mnist.TEST_IMAGES][: len(blobs[mnist.TEST_IMAGES]) // 2]
    server.routes[f"/m/{mnist.TEST_IMAGES}"] = cut
    monkeypatch.setitem(mnist.FILES, mnist.TEST_IMAGES, hashlib.sha256(cut).hexdigest())
    with pytest.raises(DataError) as err:
        Mnist().load(tmp_path)
    assert mnist.TEST_IMAGES in str(err.value) and "gzip" in str(err.value)
    # The file that does not parse is dropped, so the next run fetches it afresh; the others stay.
    assert leftovers(tmp_path / "mnist") == sorted(set(mnist.FILES) - {mnist.TEST_IMAGES})


def test_a_users_file_that_does_not_parse_costs_no_download(tmp_path, server, tiny_mnist):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / mnist.TRAIN_IMAGES).write_bytes(b"mine, and no gzip")
    with pytest.raises(DataError, match=f"{mnist.TRAIN_IMAGES}.*gzip"):
        Mnist().load(tmp_path)
    assert leftovers(tmp_path / "mnist") == sorted(mnist.FILES)  # three downloads, checked: kept
    assert (tmp_path / "mnist" / mnist.TRAIN_IMAGES).read_bytes() == b"mine, and no gzip"


def test_offline_error_says_which_files_go_where(tmp_path):
    with pytest.raises(DataError) as err:
        Mnist().load(tmp_path)
    message = str(err.value)
    assert "could not connect" in message
    assert all(name in message for name in mnist.FILES)
    assert f"into {tmp_path / 'mnist'}/" in message
    assert leftovers(tmp_path / "mnist") == []


def test_present_file_with_matching_checksum_is_not_downloaded(tmp_path, server):
    (tmp_path / "f.bin").write_bytes(b"cached")
    (tmp_path / "f.bin").chmod(0o600)  # the user's choice, kept
    digest = hashlib.sha256(b"cached").hexdigest()
    path = fetch_file("f.bin", [f"{server.url}/f.bin"], tmp_path, sha256=digest, max_bytes=6, manual_hint="")
    assert path.read_bytes() == b"cached" and server.requests == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_mirror_sending_more_than_the_file_can_hold_is_cut_off_and_the_next_one_tried(tmp_path, server):
    """A body without a Content-Length (a stream that may never end) is cut off at max_bytes, and nothing kept."""
    endless = server.url + "/endless"
    server.routes["/endless"] = bytes(1 << 20)
    server.routes["/good"] = b"0123456789"
    server.no_length.add("/endless")
    digest = hashlib.sha256(b"0123456789").hexdigest()
    with pytest.raises(DataError) as err:
        fetch_file("f.bin", [endless], tmp_path, sha256=digest, max_bytes=1000, manual_hint="", progress=False)
    assert f"{endless}: sent more than 1,000 bytes, more than the file can be" in str(err.value)
    assert leftovers(tmp_path) == []
    for sha256 in (digest, None):
        path = fetch_file(
            "f.bin", [endless, f"{server.url}/good"], tmp_path, sha256=sha256, max_bytes=10, manual_hint=""
        )
        assert path.read_bytes() == b"0123456789" and leftovers(tmp_path) == ["f.bin"]
        path.unlink()


def test_unwritable_data_dir_is_a_data_error(tmp_path, server, tiny_mnist):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(DataError, match="data directory|Could not"):
        Mnist().load(blocker)


def test_a_local_write_error_is_named_at_once_and_no_other_mirror_tried(tmp_path, server):
    """A folder that cannot be written is the user's to fix: the next mirror would fail the same way."""
    server.routes["/a/f.bin"] = server.routes["/b/f.bin"] = b"0123456789"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    urls = [f"{server.url}/a/f.bin", f"{server.url}/b/f.bin"]
    with pytest.raises(DataError, match=r"Could not write f.bin into .*not-a-folder.*--data-dir") as err:
        fetch_file("f.bin", urls, blocker, sha256=None, max_bytes=10, manual_hint="Put it there.", progress=False)
    assert str(err.value).endswith("Put it there.")
    assert server.requests == []  # refused before any transfer, the second mirror never asked


def test_a_data_folder_given_as_text_is_taken(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"cached")
    digest = hashlib.sha256(b"cached").hexdigest()
    path = fetch_file("f.bin", [closed_port_url()], str(tmp_path), sha256=digest, max_bytes=6, manual_hint="")
    assert path == tmp_path / "f.bin"


def test_the_data_folder_is_the_flag_else_the_environment_else_the_user_cache(tmp_path, monkeypatch):
    import platformdirs

    from dltrain.data.paths import resolve_data_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DLTRAIN_DATA_DIR", "~/env")
    assert resolve_data_dir("~/flag") == tmp_path / "flag"  # a folder given as text, its ~ expanded
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.setenv("DLTRAIN_DATA_DIR", "")  # set but empty: as if unset
    assert resolve_data_dir() == Path(platformdirs.user_cache_dir("dltrain"))


def test_a_mirror_that_never_answers_is_named_as_timed_out_and_the_next_one_tried(tmp_path, server):
    server.routes["/f.bin"] = b"0123456789"
    with socket.socket() as silent:  # accepts connections (the kernel does), never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = f"http://127.0.0.1:{silent.getsockname()[1]}/f.bin"
        with pytest.raises(DataError, match=f"{mute}: the server did not answer in time"):
            fetch_file("f.bin", [mute], tmp_path, sha256=None, max_bytes=10, manual_hint="", timeout=0.2)
        path = fetch_file(
            "f.bin", [mute, f"{server.url}/f.bin"], tmp_path, sha256=None, max_bytes=10, manual_hint="", timeout=0.2
        )
    assert path.read_bytes() == b"0123456789"


def test_a_url_no_download_can_follow_is_named_with_its_own_error(tmp_path):
    """Not every ValueError is a checksum mismatch: an unsupported scheme says what it is."""
    with pytest.raises(DataError) as err:
        fetch_file("f.bin", ["ftp://127.0.0.1/f.bin"], tmp_path, sha256="0" * 64, max_bytes=10, manual_hint="")
    message = str(err.value)
    assert "ftp://127.0.0.1/f.bin: InvalidSchema: No connection adapters" in message
    assert "checksum" not in message


def test_every_mirror_tried_draws_its_bar_and_closes_it(tmp_path, server, bars):
    server.routes["/good/f.bin"] = b"0123456789"
    host = server.url.split("/")[2]
    path = fetch_file(
        "f.bin",
        [f"{server.url}/gone/f.bin", f"{server.url}/good/f.bin"],
        tmp_path,
        sha256=None,
        max_bytes=10,
        manual_hint="",
    )
    assert path.read_bytes() == b"0123456789"
    assert [bar.description for bar in bars] == [f"f.bin from {host}"] * 2  # progress is shown unless told
    assert all(bar.closed for bar in bars)  # the failed mirror's bar too
    assert bars[1].total == 10


def test_pooch_logs_nothing_of_a_download_and_keeps_its_log_level(tmp_path, server):
    import logging

    import pooch

    server.routes["/f.bin"] = b"0123456789"
    logger = pooch.get_logger()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    before = logger.level
    logger.setLevel(logging.INFO)  # a caller's own choice
    try:
        fetch_file("f.bin", [f"{server.url}/f.bin"], tmp_path, sha256=None, max_bytes=10, manual_hint="")
        level = logger.level
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    assert [r.getMessage() for r in records if r.levelno < logging.WARNING] == []  # the bar says it
    assert level == logging.INFO  # given back as it was


def test_pooch_checking_whether_a_file_is_there_goes_straight_through():
    """pooch's check_only call (a HEAD request) writes nothing: the bound is not in its way."""
    from dltrain.data.download import _bounded

    calls = []

    def downloader(url, output_file, pooch, check_only=False):
        calls.append((url, output_file, check_only))
        return "available"

    assert _bounded(downloader, 10)("http://host/f", "/nonexistent/f", None, check_only=True) == "available"
    assert calls == [("http://host/f", "/nonexistent/f", True)]


@pytest.mark.parametrize(
    "magic, dims, message",
    [
        (mnist.LABEL_MAGIC, (10,), r"declares label dimensions \(10,\) \(10 bytes of data\) but holds more"),
        (mnist.IMAGE_MAGIC, (100000, 28, 28), r"declares image dimensions \(100000, 28, 28\), which no MNIST file has"),
        (mnist.LABEL_MAGIC, (-2,), r"declares label dimensions \(-2,\), which no MNIST file has \(negative"),
    ],
)
def test_an_idx_file_is_inflated_no_further_than_its_header_declares(tmp_path, magic, dims, message):
    """32 MiB of zeros after the header (32 KiB gzipped): neither a few labels nor a header over MNIST's size reads them."""
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(struct.pack(f">I{len(dims)}i", magic, *dims) + bytes(32 << 20))  # dims are signed
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=message):
            mnist.read_idx(path, magic)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_an_idx_file_holding_only_its_magic_number_is_too_short(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(struct.pack(">I", mnist.LABEL_MAGIC)))
    with pytest.raises(DataError, match=r"short.gz is too short \(4 bytes\) to be an IDX label file"):
        mnist.read_idx(path, mnist.LABEL_MAGIC)


@pytest.mark.parametrize("magic, size", [(mnist.LABEL_MAGIC, 7), (mnist.IMAGE_MAGIC, 15)])
def test_an_idx_header_one_byte_short_is_too_short(tmp_path, magic, size):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(struct.pack(">I", magic) + bytes(size - 4)))
    with pytest.raises(DataError, match=rf"short.gz is too short \({size} bytes\) to be an IDX"):
        mnist.read_idx(path, magic)


def test_an_idx_header_with_one_negative_dimension_is_refused(tmp_path):
    path = tmp_path / "neg.gz"
    path.write_bytes(gzip.compress(struct.pack(">I3i", mnist.IMAGE_MAGIC, -1, 28, 28)))
    with pytest.raises(DataError, match=r"declares image dimensions \(-1, 28, 28\), which no MNIST file has"):
        mnist.read_idx(path, mnist.IMAGE_MAGIC)


def test_an_idx_file_of_no_labels_is_read_as_empty(tmp_path):
    path = tmp_path / "none.gz"
    path.write_bytes(gzip.compress(struct.pack(">II", mnist.LABEL_MAGIC, 0)))
    labels = mnist.read_idx(path, mnist.LABEL_MAGIC)
    assert labels.shape == (0,) and labels.dtype == np.uint8


def test_an_idx_header_may_declare_the_largest_size_read_and_no_more(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "MAX_IDX_BYTES", 100)
    path = tmp_path / "labels.gz"
    for count, message in ((100, r"\(100 bytes of data\) but holds 0"), (101, r"\(101,\), which no MNIST file has")):
        path.write_bytes(gzip.compress(struct.pack(">II", mnist.LABEL_MAGIC, count)))
        with pytest.raises(DataError, match=message):
            mnist.read_idx(path, mnist.LABEL_MAGIC)


def put(path: Path, kind: str) -> None:
    """Something that is not a regular file at `path`: "a directory", "a FIFO" or "a character device"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    {
        "a directory": path.mkdir,
        "a FIFO": lambda: os.mkfifo(path),
        "a character device": lambda: path.symlink_to("/dev/zero"),
    }[kind]()


KINDS = ["a directory", "a FIFO", "a character device"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_mnist_file_that_is_not_a_regular_file_is_named_not_downloaded(tmp_path, kind):
    """Not missing either: a download would not replace it (and /dev/zero, read, never ends)."""
    put(tmp_path / "mnist" / mnist.TEST_LABELS, kind)
    for name in (mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, mnist.TEST_IMAGES):
        (tmp_path / "mnist" / name).write_bytes(b"never read")
    with (
        pytest.raises(DataError, match=f"{mnist.TEST_LABELS} is {kind}, not a regular file. Delete it"),
        time_limit(10),
    ):
        Mnist().load(tmp_path)


@pytest.mark.parametrize("kind", ["a FIFO", "a character device"])
def test_read_idx_names_a_file_that_is_not_a_regular_file_without_reading_it(tmp_path, kind):
    """Checked by read_idx itself, not only by the download step: a FIFO would block it, /dev/zero never end."""
    path = tmp_path / mnist.TEST_LABELS
    put(path, kind)
    errors = []

    def read():
        try:
            mnist.read_idx(path, mnist.LABEL_MAGIC)
        except DataError as err:
            errors.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if kind == "a FIFO" and reader.is_alive():
        with open(path, "wb"):  # let the blocked reader go before failing
            pass
    assert not reader.is_alive()
    assert len(errors) == 1 and f"{mnist.TEST_LABELS} is {kind}, not a regular file" in str(errors[0])


def test_the_cli_names_an_mnist_file_that_is_not_a_regular_file(cli, tmp_path):
    put(tmp_path / "mnist" / mnist.TEST_LABELS, "a character device")
    result = cli("gradcheck", "logreg_mnist", "--data-dir", tmp_path, timeout=10)
    assert result.exit_code == 2 and "is a character device, not a regular file" in result.stderr, result.output


# ---------------------------------------------------------------- generated sign-digit photos

ROOT = f"Sign-Language-Digits-Dataset-{sign_photos.COMMIT}"
COUNTS = {d: 2 + d % 2 for d in range(10)}  # 2 or 3 photos per digit


def photo(seed: int) -> bytes:
    """A small distinct RGB JPG (20x20): a hand-like bright blob on a dark-to-light gradient."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def photos() -> dict[str, bytes]:
    """Archive member name -> JPG bytes, laid out like the GitHub archive, added out of name order."""
    members = {f"{ROOT}/Examples/example_0.JPG": photo(999), f"{ROOT}/README.md": b"readme"}
    for digit, n in COUNTS.items():
        for k in reversed(range(n)):
            members[f"{ROOT}/Dataset/{digit}/IMG_{digit}{k}.JPG"] = photo(10 * digit + k)
    return members


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def unpacked(members: dict[str, bytes], folder: Path) -> None:
    """Write `members` (path in the archive: bytes) under `folder`, as unzipping the archive would."""
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


@pytest.fixture
def archive_server(server, photos, monkeypatch):
    """The generated archive served at <server>/archive.zip, its photo counts patched in
    (into the builder, which checks the photos, and the loader, which checks the arrays)."""
    server.routes["/archive.zip"] = zipped(photos)
    monkeypatch.setattr(sign_photos, "EXPECTED_COUNTS", COUNTS)
    monkeypatch.setattr(sign_digits, "EXPECTED_COUNTS", COUNTS)
    monkeypatch.setenv(sign_digits.ARCHIVE_URL_ENV, f"{server.url}/archive.zip")
    return server


def expected_rows(photos: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """What the builder must produce: Kaggle column order, file-name order within a digit."""
    X, Y = [], []
    for column, digit in enumerate(sign_photos.KAGGLE_COLUMNS):
        for name in sorted(n for n in photos if f"/Dataset/{digit}/" in n):
            X.append(sign_photos.preprocess(Image.open(io.BytesIO(photos[name]))))
            Y.append(np.eye(10)[column])
    return np.stack(X), np.stack(Y)


def test_builder_from_zip_gives_kaggle_layout(tmp_path, photos):
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    X, Y = sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
    n = sum(COUNTS.values())
    assert X.shape == (n, 64, 64) and X.dtype == np.float32
    assert Y.shape == (n, 10) and Y.dtype == np.float64
    assert ((Y == 0) | (Y == 1)).all() and (Y.sum(axis=1) == 1).all()
    columns = Y.argmax(axis=1)
    assert (np.diff(columns) >= 0).all()  # one contiguous block per column, in column order
    assert [int(c) for c in np.bincount(columns)] == [COUNTS[d] for d in sign_photos.KAGGLE_COLUMNS]
    X_expected, Y_expected = expected_rows(photos)
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(Y, Y_expected)
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_builder_from_unpacked_folder_matches_zip(tmp_path, photos):
    unpacked(photos, tmp_path)
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    from_zip = sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
    for source in (tmp_path / ROOT, tmp_path / ROOT / "Dataset"):
        from_folder = sign_photos.build_arrays(source, COUNTS)
        np.testing.assert_array_equal(from_folder[0], from_zip[0])
        np.testing.assert_array_equal(from_folder[1], from_zip[1])


def test_a_folder_too_big_or_too_deep_to_hold_the_photos_is_refused_before_it_is_walked_whole(
    cli, tmp_path, photos, monkeypatch
):
    """`--from /` walked the whole file system (minutes) before saying it found no photos."""
    unpacked(photos, tmp_path / "big")
    for i in range(40):
        (tmp_path / "big" / f"other-{i}").touch()
    monkeypatch.setattr(sign_photos, "MAX_FOLDER_ENTRIES", 40)
    with pytest.raises(DataError, match=r"big holds more than 40 files and folders; pass the downloaded .*\.zip"):
        sign_photos.build_arrays(tmp_path / "big", COUNTS)
    deep = tmp_path / "deep" / "/".join("d" * 17)
    deep.mkdir(parents=True)
    with pytest.raises(DataError, match="deep has folders more than 16 levels deep"):
        sign_photos.build_arrays(tmp_path / "deep", COUNTS)
    (deep.parent / "x").touch()  # 16 levels and files in them are walked
    (deep / "up").symlink_to(tmp_path)  # a link is listed, neither followed nor a level
    with pytest.raises(DataError, match="photos, per digit"):
        sign_photos.build_arrays(tmp_path / "deep" / "d", COUNTS)
    monkeypatch.setattr(sign_photos, "MAX_FOLDER_ENTRIES", 2_000)
    result = cli("datasets", "fetch", "sign_digits", "--data-dir", tmp_path / "data", "--from", "/", code=2)
    assert "/ holds more than 2,000 files and folders" in result.message
    assert "internal error" not in result.stderr and not result.stdout


class FileEntry:
    """What os.scandir yields for a plain file."""

    def __init__(self, path: str):
        self.path = path

    def is_dir(self, follow_symlinks: bool = True) -> bool:
        return False


def flat_listing(files: int, listed: list[int]):
    """A stand-in for os.scandir: every folder holds `files` plain files, each noted in `listed` as it is listed."""

    class Listing:
        def __init__(self, folder):
            self.folder = folder

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __iter__(self):
            entry = FileEntry(f"{self.folder}/a.txt")  # the same name each time: only the count matters
            for i in range(files):
                listed.append(i)
                yield entry

    return Listing


def test_a_folder_listing_is_counted_as_it_comes(tmp_path, monkeypatch):
    """A flat folder of a million files was listed whole (5 s, 350 MB) before it was counted."""
    listed: list[int] = []
    monkeypatch.setattr(sign_photos, "MAX_FOLDER_ENTRIES", 1_000)
    monkeypatch.setattr(sign_photos.os, "scandir", flat_listing(10_000, listed))
    with pytest.raises(DataError, match="holds more than 1,000 files and folders"):
        sign_photos.build_arrays(tmp_path, COUNTS)
    assert len(listed) == 1_001


def test_a_photo_folder_of_more_than_100_000_files_and_folders_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sign_photos.os, "scandir", flat_listing(100_001, []))
    with pytest.raises(DataError, match="holds more than 100,000 files and folders"):
        sign_photos.build_arrays(tmp_path, COUNTS)


def test_preprocess_stretches_contrast_and_inverts():
    dark_left = np.full((100, 100, 3), 200, dtype=np.uint8)
    dark_left[:, :50] = 40
    X = sign_photos.preprocess(Image.fromarray(dark_left, "RGB"))
    assert X.shape == (64, 64) and X.dtype == np.float32
    # Stretched to 0..255, then inverted: the dark half becomes 1, the light half 0.
    assert X[:, :20].min() == 1.0 and X[:, -20:].max() == 0.0
    assert (sign_photos.preprocess(Image.new("RGB", (10, 10), (90, 90, 90))) == 1.0).all()


def test_a_photo_of_a_hand_becomes_a_sample_like_the_built_ones():
    from PIL import ImageOps

    dark_left = np.full((100, 100, 3), 200, dtype=np.uint8)
    dark_left[:, :50] = 40
    image = Image.fromarray(dark_left, "RGB")
    sample = SignDigits().image_to_sample(image, (64, 64))
    np.testing.assert_array_equal(sample, sign_photos.preprocess(image))
    inverted = SignDigits().image_to_sample(image, (64, 64), invert=True)
    np.testing.assert_array_equal(inverted, sign_photos.preprocess(ImageOps.invert(image.convert("L"))))
    assert inverted[:, :20].max() == 0.0 and inverted[:, -20:].min() == 1.0  # the light half is now the hand


def test_builder_rejects_wrong_photo_counts(tmp_path, photos):
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    with pytest.raises(DataError, match="photos, per digit"):
        sign_photos.build_arrays(tmp_path / "a.zip")  # the real counts: 2062 photos


@pytest.mark.parametrize("kind", ["a FIFO", "a character device"])
def test_a_photo_source_that_is_not_a_regular_file_is_named_not_read(tmp_path, kind):
    """`--from` a FIFO waited forever for a writer; `--from /dev/zero` was read until memory ran out."""
    put(tmp_path / "photos.zip", kind)
    with (
        pytest.raises(DataError, match=f"photos.zip is {kind}, not a regular file; pass the downloaded"),
        time_limit(10),
    ):
        sign_photos.build_cache(tmp_path / "photos.zip", tmp_path / "data", COUNTS)


def test_a_photo_is_inflated_no_further_than_the_bound_checked_from_the_zip_directory(tmp_path, photos):
    """32 MiB of deflated zeros (32 KiB in the archive) as one photo: refused from its directory entry,
    before anything is inflated (it was read whole, then found to be no image)."""
    name = next(n for n in photos if "/Dataset/9/" in n)
    (tmp_path / "a.zip").write_bytes(zipped({**photos, name: bytes(32 << 20)}, zipfile.ZIP_DEFLATED))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"a.zip: member '.*/Dataset/9/.*' is too large: 33,554,432 bytes"):
            sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_an_archive_whose_zip_directory_is_too_large_is_refused_before_it_is_read(tmp_path, photos, monkeypatch):
    """zipfile makes an object of every directory entry before any can be checked: the directory's size is bounded."""
    archive = zipped(photos)
    monkeypatch.setattr(sign_photos, "MAX_DIRECTORY_BYTES", 1000)  # the test archive's is a few thousand
    (tmp_path / "a.zip").write_bytes(archive)
    with pytest.raises(DataError, match=r"a.zip: its zip directory is [\d,]+ bytes; at most 1,000 are read"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)


def zip_directory_end(directory_bytes: int) -> bytes:
    """A zip archive's end-of-directory record alone, declaring a directory of `directory_bytes`."""
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, directory_bytes, 0, 0)


def test_a_photo_archive_may_have_a_zip_directory_of_8_mib_and_no_more(tmp_path):
    (tmp_path / "a.zip").write_bytes(zip_directory_end(8 << 20))
    with pytest.raises(DataError, match=r"a.zip is not a readable zip archive"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
    (tmp_path / "a.zip").write_bytes(zip_directory_end((8 << 20) + 1))
    with pytest.raises(DataError, match=r"a.zip: its zip directory is 8,388,609 bytes; at most 8,388,608 are read"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)


def test_a_photo_archive_of_more_than_256_mib_is_refused_unread(tmp_path):
    with open(tmp_path / "a.zip", "wb") as f:
        f.truncate(256 << 20)  # sparse: no disk space taken
    with pytest.raises(DataError, match=r"a.zip is not a readable zip archive"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
    with open(tmp_path / "a.zip", "r+b") as f:
        f.truncate((256 << 20) + 1)
    with pytest.raises(
        DataError, match=r"a.zip is too large: 268,435,457 bytes, at most 268,435,456 are read; pass the downloaded"
    ):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)


def test_a_photo_source_that_does_not_exist_is_named_with_the_archive_to_pass(tmp_path):
    with pytest.raises(DataError) as err:
        sign_photos.build_arrays(tmp_path / "photos.zip", COUNTS)
    assert str(err.value) == (
        f"{tmp_path / 'photos.zip'} does not exist; pass the downloaded {ROOT}.zip or its unpacked folder."
    )


def test_the_photos_are_downloaded_from_githubs_archive_of_the_pinned_commit(monkeypatch):
    monkeypatch.delenv(sign_digits.ARCHIVE_URL_ENV)
    assert sign_photos.COMMIT == "4b09433ef9d5c60602e8805bb54b8aa2428527f8"
    assert sign_digits.archive_urls() == [
        "https://github.com/ardamavi/Sign-Language-Digits-Dataset/archive/4b09433ef9d5c60602e8805bb54b8aa2428527f8.zip"
    ]


def test_an_archive_needing_a_newer_zip_version_is_named_not_an_internal_error(tmp_path, photos):
    raw = bytearray(zipped(photos))
    raw[raw.index(b"PK\x01\x02") + 6] = 64  # the first entry's version needed to extract: 6.4
    (tmp_path / "a.zip").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"a.zip is not a readable zip archive \(zip file version 6.4\)"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)


def test_preprocess_maps_every_gray_level_linearly_rounding_half_up():
    """Each level v of a photo spanning lo..hi becomes 1 - round_half_up((v - lo) * 255 / (hi - lo)) / 255."""
    levels = np.arange(40, 201, dtype=np.int64)  # lo 40, hi 200: a span of 160, every step a multiple of 1/32
    pixels = np.resize(levels, (64, 64)).astype(np.uint8)  # 64x64: no resizing, each pixel as it is
    X = sign_photos.preprocess(Image.fromarray(pixels, "L"))
    stretched = np.floor((pixels.astype(np.int64) - 40) * 255 / 160 + 0.5)
    np.testing.assert_array_equal(X, 1 - stretched.astype(np.float32) / np.float32(255))


def test_preprocess_of_a_constant_photo_divides_by_no_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero and invalid-cast warnings
        X = sign_photos.preprocess(Image.new("RGB", (10, 10), (90, 90, 90)))
    assert (X == 1.0).all()


def test_every_photo_of_an_archive_is_checked_from_its_directory_before_any_is_read(tmp_path, photos, monkeypatch):
    """A photo too large, among those read last (digit 5, Kaggle's last column), is refused before the first is read."""
    name = next(n for n in photos if "/Dataset/5/" in n)
    (tmp_path / "a.zip").write_bytes(zipped({**photos, name: bytes(32 << 20)}, zipfile.ZIP_DEFLATED))
    read = []
    real_read_member = sign_photos.read_member
    monkeypatch.setattr(
        sign_photos, "read_member", lambda *args: read.append(args[1].filename) or real_read_member(*args)
    )
    with pytest.raises(DataError, match=r"a.zip: member '.*/Dataset/5/.*' is too large: 33,554,432 bytes"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)
    assert read == []


def test_a_photo_that_is_no_image_is_named_as_corrupt(tmp_path, photos):
    unpacked(photos, tmp_path)
    (tmp_path / ROOT / "Dataset" / "9" / "IMG_90.JPG").write_bytes(b"no JPG at all")
    with pytest.raises(DataError, match=r"Photo 9/IMG_90.JPG in .* cannot be decoded \(.*\); the download is corrupt"):
        sign_photos.build_arrays(tmp_path / ROOT, COUNTS)


def test_a_photo_failing_its_zip_checksum_is_a_data_error(tmp_path, photos):
    name = f"{ROOT}/Dataset/9/IMG_90.JPG"
    raw = bytearray(zipped(photos))
    at = bytes(raw).index(photos[name]) + len(photos[name]) // 2
    raw[at] ^= 0xFF  # stored, so the photo's bytes are there as they are: its CRC-32 no longer matches
    (tmp_path / "a.zip").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"a.zip could not be read \(Bad CRC-32 .*\); download .* again"):
        sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)


def test_a_source_given_as_text_is_taken(tmp_path, photos):
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    X, Y = sign_photos.build_arrays(str(tmp_path / "a.zip"), COUNTS)
    assert len(X) == len(Y) == sum(COUNTS.values())


def test_a_source_of_no_photos_expected_gives_empty_arrays_of_the_kaggle_shapes(tmp_path):
    X, Y = sign_photos.build_arrays(tmp_path, {d: 0 for d in range(10)})
    assert X.shape == (0, 64, 64) and X.dtype == np.float32 and Y.shape == (0, 10) and Y.dtype == np.float64


def test_the_cache_is_built_into_a_data_folder_yet_to_be_made(tmp_path, photos):
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    folder = sign_photos.build_cache(tmp_path / "a.zip", tmp_path / "new" / "data", COUNTS)
    assert folder == tmp_path / "new" / "data" / "sign_digits"
    np.testing.assert_array_equal(np.load(folder / "X.npy"), sign_photos.build_arrays(tmp_path / "a.zip", COUNTS)[0])
    assert np.load(folder / "Y.npy").shape == (sum(COUNTS.values()), 10)


def test_a_data_folder_the_cache_cannot_be_written_into_is_a_data_error(tmp_path, photos):
    (tmp_path / "a.zip").write_bytes(zipped(photos))
    (tmp_path / "data").write_text("a file where the data folder should be")
    with pytest.raises(DataError, match=r"Could not write X.npy / Y.npy into .*data/sign_digits .*--data-dir"):
        sign_photos.build_cache(tmp_path / "a.zip", tmp_path / "data", COUNTS)


def png_header(width: int, height: int) -> bytes:
    """A PNG of `width` x `height` pixels in 57 bytes: its header and an empty IDAT chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_an_image_past_pillows_own_bound_is_refused_without_its_warning():
    """10000x10000 pixels: past Pillow's MAX_IMAGE_PIXELS (it warns), short of twice it (it raises)."""
    from dltrain.data.images import open_image

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning included
        with pytest.raises(DataError, match=r"big.png is too large an image \(10000x10000 pixels\)"):
            with open_image(io.BytesIO(png_header(10000, 10000)), "big.png"):
                pass


def test_an_image_of_exactly_the_most_pixels_is_opened(monkeypatch):
    from dltrain.data import images

    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with images.open_image(io.BytesIO(png_header(10, 10)), "ok.png") as image:
        assert image.size == (10, 10)
    with pytest.raises(DataError, match=r"big.png is too large an image \(10x11 pixels\)"):
        with images.open_image(io.BytesIO(png_header(10, 11)), "big.png"):
            pass


def test_an_image_is_shrunk_by_averaging_and_grown_bilinearly():
    from dltrain.data.images import grayscale_pixels

    blocks = Image.fromarray(np.kron([[0, 200], [100, 40]], np.ones((2, 2))).astype(np.uint8), "L")
    blocks.paste(255, (0, 0, 1, 1))  # one pixel of the first 2x2 block: averaged in, not skipped
    shrunk = grayscale_pixels(blocks, (2, 2))
    np.testing.assert_array_equal(shrunk, [[64, 200], [100, 40]])  # (255 + 0 + 0 + 0) / 4, rounded
    for shape in ((2, 4), (4, 2)):  # shrunk one way, kept the other: still averaged
        expected = np.asarray(blocks.resize(shape[::-1], Image.Resampling.BOX), dtype=np.float64)
        assert not np.array_equal(expected, np.asarray(blocks.resize(shape[::-1], Image.Resampling.BILINEAR)))
        np.testing.assert_array_equal(grayscale_pixels(blocks, shape), expected)
    small = Image.fromarray(np.array([[0, 200], [100, 40]], np.uint8), "L")
    for shape in ((4, 4), (4, 1), (1, 4)):  # grown, or grown one way and shrunk the other
        expected = np.asarray(small.resize(shape[::-1], Image.Resampling.BILINEAR), dtype=np.float64)
        np.testing.assert_array_equal(grayscale_pixels(small, shape), expected)
    np.testing.assert_array_equal(grayscale_pixels(small, (2, 2)), [[0, 200], [100, 40]])  # as it is
    np.testing.assert_array_equal(grayscale_pixels(small, (2, 2), invert=True), [[255, 55], [155, 215]])


@pytest.mark.parametrize(
    "size, content, message",
    [
        pytest.param(
            None,
            png_header(15000, 15000),
            r"9/IMG_90.JPG in .* is too large an image \(more pixels than Pillow",
            id="bomb",
        ),
        pytest.param(
            None, png_header(8000, 8000), r"9/IMG_90.JPG in .* is too large an image \(8000x8000 pixels\)", id="64 MP"
        ),
        pytest.param(9 << 20, b"", r"IMG_90.JPG is too large: 9,437,184 bytes, at most 8,388,608", id="9 MiB"),
    ],
)
def test_a_photo_too_large_is_named_before_it_is_decoded(tmp_path, photos, size, content, message):
    """A photo's file size and its header's pixel count are checked before it is read or decoded
    (a 15000x15000 PNG was Pillow's DecompressionBombError, an internal error)."""
    unpacked(photos, tmp_path)
    bad = tmp_path / ROOT / "Dataset" / "9" / "IMG_90.JPG"
    bad.write_bytes(content)
    if size is not None:
        os.truncate(bad, size)  # sparse: no disk taken
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning included
        with pytest.raises(DataError, match=message):
            sign_photos.build_arrays(tmp_path / ROOT, COUNTS)


def test_the_cli_names_a_photo_too_large_in_one_line(cli, tmp_path, photos, monkeypatch):
    monkeypatch.setattr(sign_photos, "EXPECTED_COUNTS", COUNTS)
    unpacked(photos, tmp_path)
    (tmp_path / ROOT / "Dataset" / "9" / "IMG_90.JPG").write_bytes(png_header(15000, 15000))
    result = cli("datasets", "fetch", "sign_digits", "--data-dir", tmp_path / "data", "--from", tmp_path / ROOT, code=2)
    assert "IMG_90.JPG in" in result.message and "is too large an image" in result.message
    assert "internal error" not in result.stderr and not result.stdout


def test_sign_digits_downloads_builds_and_caches(tmp_path, archive_server, photos, monkeypatch):
    data = SignDigits(classes=[1, 0]).load(tmp_path)
    X_all, _ = expected_rows(photos)
    # Digit 1 is Kaggle column 4, digit 0 column 1; rows come out in `classes` order.
    columns = sign_digits.KAGGLE_COLUMNS
    start = {d: sum(COUNTS[c] for c in columns[: columns.index(d)]) for d in (0, 1)}
    block = {d: X_all[start[d] : start[d] + COUNTS[d]] for d in (0, 1)}
    np.testing.assert_array_equal(data.X, np.concatenate([block[1], block[0]]))
    assert data.y.tolist() == [0] * COUNTS[1] + [1] * COUNTS[0] and data.classes == [1, 0]
    assert leftovers(tmp_path / "sign_digits") == ["X.npy", "Y.npy"]  # archive and temporaries gone
    umask = os.umask(0)
    os.umask(umask)
    for name in ("X.npy", "Y.npy"):  # readable by others, as a shared data directory needs
        assert (tmp_path / "sign_digits" / name).stat().st_mode & 0o777 == 0o666 & ~umask
    # From now on the cache alone is enough.
    monkeypatch.setenv(sign_digits.ARCHIVE_URL_ENV, closed_port_url())
    again = SignDigits(classes=[1, 0], per_class=2).load(tmp_path)
    np.testing.assert_array_equal(again.X, np.concatenate([data.X[:2], data.X[COUNTS[1] : COUNTS[1] + 2]]))
    assert archive_server.requests == ["/archive.zip"]


def test_sign_digits_are_built_into_a_data_folder_yet_to_be_made_and_show_their_progress(
    tmp_path, archive_server, bars
):
    data = SignDigits(classes=[0, 1]).load(tmp_path / "new" / "data")
    assert len(data.X) == COUNTS[0] + COUNTS[1]
    assert [bar.description.split(" from ")[0] for bar in bars] == [sign_photos.ARCHIVE_NAME]
    (tmp_path / "empty" / "sign_digits").mkdir(parents=True)  # left by an attempt that failed: built into
    assert len(SignDigits(classes=[0, 1]).load(tmp_path / "empty").X) == len(data.X)


def test_sign_digits_in_a_data_folder_that_cannot_be_made_is_a_data_error(tmp_path, archive_server):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(DataError, match=r"Cannot create .*not-a-folder/sign_digits to build .*--data-dir"):
        SignDigits().load(blocker)
    assert archive_server.requests == []


def test_sign_digits_offline_says_what_to_put_where(tmp_path):
    with pytest.raises(DataError) as err:
        SignDigits().load(tmp_path)
    message = str(err.value)
    assert "X.npy and Y.npy" in message and f"{tmp_path / 'sign_digits'}/" in message
    assert sign_digits.KAGGLE_COMMAND in message and sign_digits.ARCHIVE_URL in message
    assert leftovers(tmp_path / "sign_digits") == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_sign_digits_array_that_is_not_a_regular_file_is_named(tmp_path, kind):
    (tmp_path / "sign_digits").mkdir()
    np.save(tmp_path / "sign_digits" / "Y.npy", np.eye(10))
    put(tmp_path / "sign_digits" / "X.npy", kind)
    with pytest.raises(DataError, match=f"X.npy is {kind}, not a regular file. Replace it"):
        SignDigits().load(tmp_path)


def test_sign_digits_truncated_archive_caches_nothing(tmp_path, archive_server):
    archive_server.routes["/archive.zip"] = archive_server.routes["/archive.zip"][:-300]
    with pytest.raises(DataError, match="zip|read"):
        SignDigits().load(tmp_path)
    assert leftovers(tmp_path / "sign_digits") == []


def test_sign_digits_archive_cut_mid_transfer(tmp_path, archive_server):
    archive_server.lie_about_length.add("/archive.zip")
    with pytest.raises(DataError, match="truncated"):
        SignDigits().load(tmp_path)
    assert leftovers(tmp_path / "sign_digits") == []


# ---------------------------------------------------------------- `dltrain datasets`


def test_cli_lists_and_fetches(cli, tmp_path, tiny_mnist, archive_server, photos):
    listed = cli("datasets", "--data-dir", tmp_path, "--json")
    assert listed.exit_code == 0 and '"available": false' in listed.output
    odd = tmp_path / "data\x1b[2J"  # an escape sequence in the data directory's name is printed, not obeyed
    fetched = cli("datasets", "fetch", "mnist", "--data-dir", odd, code=0)
    assert fetched.stderr.endswith(f"\nmnist is ready in {tmp_path / 'data[2J' / 'mnist'}\n") and not fetched.stdout
    assert cli("datasets", "fetch", "mnist", "--data-dir", tmp_path).exit_code == 0
    (tmp_path / "photos.zip").write_bytes(zipped(photos))
    zip_path = str(tmp_path / "photos.zip")
    built = cli("datasets", "fetch", "sign_digits", "--data-dir", tmp_path, "--from", zip_path)
    assert built.exit_code == 0, built.output
    assert archive_server.requests.count("/archive.zip") == 0  # built from the local zip
    table = cli("datasets", "--data-dir", tmp_path)
    assert table.exit_code == 0 and "no (downloaded" not in table.output


def test_cli_fetch_offline_exits_2_with_a_message(cli, tmp_path):
    result = cli("datasets", "fetch", "mnist", "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert "Could not download" in result.output and "Traceback" not in result.output
    unknown = cli("datasets", "fetch", "cifar", "--data-dir", tmp_path)
    assert unknown.exit_code == 2 and "not a known dataset" in unknown.output


def test_datasets_lists_every_registered_dataset_once_the_built_in_ones_as_available(tmp_path):
    rows = catalog.describe(tmp_path)
    assert sorted(row["name"] for row in rows) == sorted(DATASETS)
    built_in = [row for row in rows if row["kind"] == "built-in"]
    assert {row["name"] for row in built_in} == set(DATASETS) - {"mnist", "sign_digits"}
    assert all(row["available"] and row["size_bytes"] is None and row["path"] is None for row in built_in)


def test_datasets_lists_the_downloadable_ones_with_their_folder_and_the_bytes_present(tmp_path):
    (tmp_path / "sign_digits").mkdir()
    (tmp_path / "sign_digits" / "X.npy").write_bytes(b"x" * 5)
    (tmp_path / "sign_digits" / "Y.npy").write_bytes(b"y" * 7)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / mnist.TEST_LABELS).write_bytes(b"z" * 3)
    rows = {row["name"]: row for row in catalog.describe(tmp_path)}
    assert rows["sign_digits"] == {
        "name": "sign_digits",
        "kind": "download",
        "available": True,
        "size_bytes": 12,
        "path": str(tmp_path / "sign_digits"),
    }
    assert rows["mnist"] == {
        "name": "mnist",
        "kind": "download",
        "available": False,
        "size_bytes": 3,
        "path": str(tmp_path / "mnist"),
    }


def test_fetching_a_dataset_that_is_built_in_or_unknown_names_those_that_can_be_fetched(tmp_path):
    for name, kind in (("digits", "built into dltrain and needs no download"), ("cifar", "not a known dataset")):
        with pytest.raises(DataError) as err:
            catalog.fetch(name, tmp_path)
        assert str(err.value) == f"'{name}' is {kind}; the datasets that can be fetched are mnist, sign_digits."


def test_fetching_mnist_from_a_local_source_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"--from is only for sign_digits; .* copy the four .gz files into .*mnist/ \."):
        catalog.fetch("mnist", tmp_path, source=tmp_path / "photos.zip")


def test_fetching_sign_digits_downloads_the_archive_and_builds_the_arrays(tmp_path, archive_server):
    folder = catalog.fetch("sign_digits", tmp_path / "data", progress=False)
    assert folder == tmp_path / "data" / "sign_digits"
    assert leftovers(folder) == ["X.npy", "Y.npy"] and archive_server.requests == ["/archive.zip"]


def test_a_failed_archive_download_leaves_none_of_the_folders_it_made(tmp_path, archive_server, monkeypatch):
    monkeypatch.setenv(sign_digits.ARCHIVE_URL_ENV, f"{archive_server.url}/gone.zip")
    with pytest.raises(DataError, match="HTTP 404"):
        catalog.fetch("sign_digits", tmp_path / "new" / "data", progress=False)
    assert leftovers(tmp_path) == []


def test_the_download_bar_shows_a_bracketed_host_as_it_is():
    """The bar's text is 'FILE from HOST'; an IPv6 mirror's host ([fe80::1]) is not Rich markup."""
    from rich.console import Console

    from dltrain.cli.download_bar import RichDownloadBar

    bar = RichDownloadBar("train-images.gz from [fe80::1]:8000")
    screen = Console(record=True, width=200, file=io.StringIO())
    screen.print(bar._progress.get_renderable())
    assert "train-images.gz from [fe80::1]:8000" in screen.export_text()
