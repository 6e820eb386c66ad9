"""fetch() against a real HTTP server on 127.0.0.1 that honours Range and can misbehave on request.

``RangeServer`` is also used by tests/test_published.py.
"""
from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from elmo_bench.download import ChecksumError, DownloadError, fetch

FIXTURES = Path(__file__).parents[1].parent / "shared" / "fixtures" / "elmo_allennlp_tiny"
WEIGHTS = (FIXTURES / "weights.hdf5").read_bytes()


@dataclass
class Served:
    """What the server answers for one path.

    Attributes:
        body: the file's bytes.
        status: HTTP status for every request (an error status is sent without a body).
        drop_after: on the next response only, close the connection after this many body bytes.
        announced_length: the Content-Length to claim instead of the true one (a lying server).
        honour_range: False makes the server ignore Range and send the whole file with 200.
        range_limit: answer a Range request with at most this many bytes (allowed by HTTP).
        announced_total: the file size to claim in Content-Range instead of the true one.
        etag: the ETag sent with every answer ("auto": a strong one from the body's sha256;
            None: no ETag).
        last_modified: the Last-Modified header to send, if any.
        honour_if_range: False makes the server answer a Range with 206 even when If-Range
            names another version (a broken server or proxy).
    """

    body: bytes
    status: int = 200
    drop_after: int | None = None
    announced_length: int | None = None
    honour_range: bool = True
    range_limit: int | None = None
    announced_total: int | None = None
    etag: str | None = "auto"
    last_modified: str | None = None
    honour_if_range: bool = True

    def validators(self) -> dict[str, str]:
        headers = {}
        if self.etag is not None:
            headers["ETag"] = (
                f'"{hashlib.sha256(self.body).hexdigest()[:16]}"' if self.etag == "auto" else self.etag
            )
        if self.last_modified is not None:
            headers["Last-Modified"] = self.last_modified
        return headers


class RangeServer:
    """A threaded HTTP/1.0 file server; ``requests`` records ``(path, Range header)`` of each GET.

    Hand-written because http.server's SimpleHTTPRequestHandler ignores Range.
    """

    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.if_ranges: list[str | None] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval so that close() returns at once.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                requested_range = self.headers.get("Range")
                server.requests.append((self.path, requested_range))
                server.if_ranges.append(self.headers.get("If-Range"))
                served = server.files.get(self.path)
                if served is None or served.status != 200:
                    self.send_error(404 if served is None else served.status)
                    return
                size = len(served.body)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", requested_range or "")
                if_range = self.headers.get("If-Range")
                validators = served.validators()
                if if_range is not None and served.honour_if_range and if_range not in validators.values():
                    match = None  # another version: RFC 9110 says send the whole file
                if match and served.honour_range:
                    start = int(match.group(1))
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    end = min(size, start + (served.range_limit or size))
                    total = served.announced_total or size
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
                else:
                    end = size
                    self.send_response(200)
                body = served.body[start:end]
                announced = served.announced_length if served.announced_length else len(body)
                self.send_header("Content-Length", str(announced))
                for name, value in validators.items():
                    self.send_header(name, value)
                self.end_headers()
                if served.drop_after is not None:
                    body, served.drop_after = body[: served.drop_after], None
                    self.wfile.write(body)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def server() -> Iterator[RangeServer]:
    running = RangeServer()
    yield running
    running.close()


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def test_first_download_writes_the_file_and_its_sha256_sidecar(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "sub" / "w.hdf5"

    assert fetch(server.url("/w.hdf5"), dest) == dest

    assert dest.read_bytes() == WEIGHTS
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    assert _sidecar(dest).read_text() == f"{digest}  w.hdf5\n"
    assert not _part(dest).exists()


def test_second_call_uses_the_cached_file_without_a_request(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    fetch(server.url("/w.hdf5"), dest)
    server.files.clear()  # any new request would now get a 404

    assert fetch(server.url("/w.hdf5"), dest) == dest
    assert len(server.requests) == 1


def test_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS, drop_after=100_000)
    dest = tmp_path / "w.hdf5"

    with pytest.raises(DownloadError, match=re.escape(server.url("/w.hdf5"))):
        fetch(server.url("/w.hdf5"), dest)
    assert not dest.exists()
    kept = _part(dest).read_bytes()
    assert 0 < len(kept) <= 100_000 and kept == WEIGHTS[: len(kept)]

    fetch(server.url("/w.hdf5"), dest)
    assert dest.read_bytes() == WEIGHTS
    assert server.requests[1] == ("/w.hdf5", f"bytes={len(kept)}-")
    assert not _part(dest).exists()


def _cut_download(server: RangeServer, dest: Path, after: int) -> int:
    """Leave ``dest``'s partial file and its record as a transfer cut after ``after`` bytes does;
    return how many bytes it kept."""
    server.files["/w.hdf5"].drop_after = after
    with pytest.raises(DownloadError):
        fetch(server.url("/w.hdf5"), dest)
    return _part(dest).stat().st_size


def test_server_that_ignores_range_restarts_from_the_first_byte(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    _cut_download(server, dest, 100_000)
    server.files["/w.hdf5"].honour_range = False

    fetch(server.url("/w.hdf5"), dest)

    assert server.requests[1][1] is not None  # it did ask for a range
    assert dest.read_bytes() == WEIGHTS


def test_a_part_file_without_a_record_is_not_resumed(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    _part(dest).write_bytes(b"stale bytes from somewhere else")

    fetch(server.url("/w.hdf5"), dest)

    assert server.requests == [("/w.hdf5", None)]
    assert dest.read_bytes() == WEIGHTS


def test_complete_part_file_with_its_record_is_finished_without_a_request(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    kept = _cut_download(server, dest, 100_000)
    with _part(dest).open("ab") as part:  # as if killed after the last byte, before the rename
        part.write(WEIGHTS[kept:])

    fetch(server.url("/w.hdf5"), dest)

    assert dest.read_bytes() == WEIGHTS
    assert len(server.requests) == 1


def test_part_file_longer_than_the_remote_file_is_replaced(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    _cut_download(server, dest, 100_000)
    _part(dest).write_bytes(WEIGHTS + b"an older, longer version")

    fetch(server.url("/w.hdf5"), dest)

    assert dest.read_bytes() == WEIGHTS
    assert [range_header for _, range_header in server.requests[1:]] == [
        f"bytes={len(WEIGHTS) + 24}-", None]


def test_server_announcing_more_bytes_than_it_sends_is_a_short_read(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS, announced_length=len(WEIGHTS) + 1000)
    dest = tmp_path / "w.hdf5"

    with pytest.raises(DownloadError, match="w.hdf5"):
        fetch(server.url("/w.hdf5"), dest)
    assert not dest.exists()


def test_partial_range_answer_is_kept_and_resumed_by_the_next_call(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS, range_limit=50_000)
    dest = tmp_path / "w.hdf5"
    kept = _cut_download(server, dest, 100_000)
    assert kept > 0

    with pytest.raises(DownloadError, match=f"received {kept + 50_000} of {len(WEIGHTS)} bytes"):
        fetch(server.url("/w.hdf5"), dest)
    assert _part(dest).read_bytes() == WEIGHTS[: kept + 50_000]

    server.files["/w.hdf5"].range_limit = None
    fetch(server.url("/w.hdf5"), dest)
    assert dest.read_bytes() == WEIGHTS


def test_a_resume_whose_announced_size_changed_starts_again(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    kept = _cut_download(server, dest, 100_000)
    server.files["/w.hdf5"].announced_total = len(WEIGHTS) - 10

    fetch(server.url("/w.hdf5"), dest)

    assert [range_header for _, range_header in server.requests[1:]] == [f"bytes={kept}-", None]
    assert dest.read_bytes() == WEIGHTS


def test_wrong_sha256_deletes_the_download(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    wrong = "0" * 64

    with pytest.raises(ChecksumError) as raised:
        fetch(server.url("/w.hdf5"), dest, sha256=wrong)

    message = str(raised.value)
    assert server.url("/w.hdf5") in message
    assert wrong in message and hashlib.sha256(WEIGHTS).hexdigest() in message
    assert not dest.exists() and not _part(dest).exists() and not _sidecar(dest).exists()


def test_right_sha256_is_accepted_in_any_case(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"

    fetch(server.url("/w.hdf5"), dest, sha256=hashlib.sha256(WEIGHTS).hexdigest().upper())

    assert dest.read_bytes() == WEIGHTS


def test_malformed_sha256_is_rejected_before_any_request(server, tmp_path):
    with pytest.raises(ValueError, match="64 hexadecimal digits, got 'abc'"):
        fetch(server.url("/w.hdf5"), tmp_path / "w.hdf5", sha256="abc")
    assert server.requests == []


def test_failed_content_check_deletes_the_download_and_names_the_url(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"

    def reject(path: Path) -> None:
        raise ValueError(f"{path} lacks dataset 'CNN_high_0'")

    with pytest.raises(DownloadError, match=r"/w\.hdf5: .*content check.*CNN_high_0"):
        fetch(server.url("/w.hdf5"), dest, verify=reject)
    assert not dest.exists() and not _part(dest).exists() and not _sidecar(dest).exists()


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_names_the_url_and_status(server, tmp_path, status):
    server.files["/w.hdf5"] = Served(WEIGHTS, status=status)
    dest = tmp_path / "w.hdf5"

    with pytest.raises(DownloadError, match=rf"{re.escape(server.url('/w.hdf5'))}: HTTP {status}"):
        fetch(server.url("/w.hdf5"), dest)
    assert not dest.exists() and not _part(dest).exists()


def test_unreachable_server_names_the_url(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w.hdf5"
    dest = tmp_path / "w.hdf5"

    with pytest.raises(DownloadError, match=re.escape(url)):
        fetch(url, dest, timeout=5)
    assert not dest.exists() and not _part(dest).exists() and not _sidecar(dest).exists()


def test_cached_file_corrupted_on_disk_is_detected(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    fetch(server.url("/w.hdf5"), dest)
    flipped = bytearray(WEIGHTS)
    flipped[len(flipped) // 2] ^= 0xFF
    dest.write_bytes(bytes(flipped))

    with pytest.raises(ChecksumError, match=rf"{re.escape(str(dest))} is corrupted.*delete"):
        fetch(server.url("/w.hdf5"), dest)
    assert len(server.requests) == 1


def test_cached_file_without_sidecar_is_checked_against_the_given_sha256(tmp_path):
    dest = tmp_path / "w.hdf5"
    dest.write_bytes(WEIGHTS)
    unreachable = "http://127.0.0.1:9/never-asked"

    with pytest.raises(ChecksumError, match="expected " + "1" * 64):
        fetch(unreachable, dest, sha256="1" * 64)
    assert not _sidecar(dest).exists()

    digest = hashlib.sha256(WEIGHTS).hexdigest()
    assert fetch(unreachable, dest, sha256=digest) == dest
    assert _sidecar(dest).read_text().split()[0] == digest


NEW_VERSION = bytes(reversed(WEIGHTS))


@pytest.mark.parametrize(
    "validators",
    [{"etag": "auto"}, {"etag": None, "last_modified": "Tue, 01 Dec 2026 10:00:00 GMT"}],
    ids=["etag", "last-modified"],
)
def test_a_cut_download_resumed_from_a_changed_file_is_never_spliced(server, tmp_path, validators):
    server.files["/w.hdf5"] = Served(WEIGHTS, **validators)
    dest = tmp_path / "w.hdf5"
    kept = _cut_download(server, dest, len(WEIGHTS) * 9 // 10)
    changed = {**validators, "last_modified": "Sat, 05 Dec 2026 10:00:00 GMT"} if "last_modified" in validators else validators
    server.files["/w.hdf5"] = Served(NEW_VERSION, **changed)

    fetch(server.url("/w.hdf5"), dest)

    assert server.requests[1] == ("/w.hdf5", f"bytes={kept}-")
    assert server.if_ranges[1] is not None  # the resume named the version it continues
    assert dest.read_bytes() == NEW_VERSION
    assert _sidecar(dest).read_text().split()[0] == hashlib.sha256(NEW_VERSION).hexdigest()
    assert not _part(dest).exists() and not _part(dest).with_name("w.hdf5.part.json").exists()


def test_a_server_that_ignores_if_range_cannot_splice_either(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    kept = _cut_download(server, dest, len(WEIGHTS) * 9 // 10)
    server.files["/w.hdf5"] = Served(NEW_VERSION, honour_if_range=False)

    fetch(server.url("/w.hdf5"), dest)

    assert [range_header for _, range_header in server.requests[1:]] == [
        f"bytes={kept}-", None]  # the 206 of another ETag was refused
    assert dest.read_bytes() == NEW_VERSION


def test_a_server_without_validators_restarts_instead_of_resuming(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS, etag=None)
    dest = tmp_path / "w.hdf5"
    _cut_download(server, dest, 100_000)

    fetch(server.url("/w.hdf5"), dest)

    assert server.requests[1] == ("/w.hdf5", None)
    assert dest.read_bytes() == WEIGHTS


def test_a_weak_etag_is_not_a_validator(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS, etag='W/"weak"')
    dest = tmp_path / "w.hdf5"
    _cut_download(server, dest, 100_000)

    fetch(server.url("/w.hdf5"), dest)

    assert server.requests[1] == ("/w.hdf5", None)


def test_a_cached_file_whose_sidecar_was_deleted_is_an_error_not_a_new_record(server, tmp_path):
    server.files["/w.hdf5"] = Served(WEIGHTS)
    dest = tmp_path / "w.hdf5"
    fetch(server.url("/w.hdf5"), dest, verify=lambda path: None)
    flipped = bytearray(WEIGHTS)
    flipped[100] ^= 0x01
    dest.write_bytes(bytes(flipped))
    _sidecar(dest).unlink()

    with pytest.raises(ChecksumError, match=rf"{re.escape(str(dest))} has no w.hdf5.sha256, so it cannot be "
                                            r"checked .*delete .* to download it again"):
        fetch(server.url("/w.hdf5"), dest, verify=lambda path: None)
    assert not _sidecar(dest).exists() and len(server.requests) == 1
