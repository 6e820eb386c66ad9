"""Published GloVe names: their addresses in order, a mirror, a hand-placed archive, and the one-line
errors, against a real HTTP server on 127.0.0.1 serving a small GloVe zip under the real name."""
from __future__ import annotations

import hashlib
import io
import logging
import re
import socket
import zipfile
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from test_download import RangeServer, Served

from elmo_bench.addresses import NotThePublishedFileError, UnreachableError
from elmo_bench.embedders import published_vectors
from elmo_bench.embedders.published_vectors import (
    HUB_REVISION,
    PUBLISHED_VECTORS,
    PublishedVectors,
    fetch_published_vectors,
)
from elmo_bench.embedders.static import StaticEmbedder
from elmo_bench.errors import UsageError

NAME = "glove.840B.300d"
ARCHIVE = "glove.840B.300d.zip"
WORDS = ["the", ",", ".", "Paris", "paris", "cat", ". . .", "at name@domain.com"]


def small_glove_zip(dim: int = 4, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A zip holding ``glove.840B.300d.txt`` with :data:`WORDS` (two of them with spaces, as in
    the real file) and random vectors."""
    vectors = np.random.default_rng(seed).standard_normal((len(WORDS), dim)).astype(np.float32)
    text = "".join(
        word + " " + " ".join(f"{value:.6f}" for value in row) + "\n"
        for word, row in zip(WORDS, vectors)
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.840B.300d.txt", text)
    return buffer.getvalue(), np.array([[float(f"{v:.6f}") for v in row] for row in vectors],
                                       dtype=np.float32)


ZIP_BYTES, VECTORS = small_glove_zip()


@pytest.fixture
def published(monkeypatch, tmp_path) -> PublishedVectors:
    """``glove.840B.300d`` standing for the small zip (its real sha256), the cache in tmp_path."""
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ELMO_BENCH_GLOVE_URL", raising=False)
    entry = PublishedVectors(NAME, ARCHIVE, "glove.840B.300d.txt",
                             hashlib.sha256(ZIP_BYTES).hexdigest(), len(ZIP_BYTES), "test")
    monkeypatch.setitem(PUBLISHED_VECTORS, NAME, entry)
    return entry


@pytest.fixture
def server(monkeypatch) -> Iterator[RangeServer]:
    """A server standing for the Hub (``/hub``) and Stanford's two folders."""
    running = RangeServer()
    monkeypatch.setattr(published_vectors, "HUB_BASE", running.url("/hub"))
    monkeypatch.setattr(published_vectors, "STANFORD_BASES",
                        (running.url("/stanford/wordvecs"), running.url("/stanford")))
    yield running
    running.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_hub_comes_first_then_stanford_and_a_mirror_replaces_both(monkeypatch):
    monkeypatch.delenv("ELMO_BENCH_GLOVE_URL", raising=False)
    assert PUBLISHED_VECTORS[NAME].urls() == [
        f"https://huggingface.co/stanfordnlp/glove/resolve/{HUB_REVISION}/{ARCHIVE}",
        f"https://nlp.stanford.edu/data/wordvecs/{ARCHIVE}",
        f"https://nlp.stanford.edu/data/{ARCHIVE}",
    ]
    assert PUBLISHED_VECTORS["glove.6B.100d"].urls()[0].endswith("/glove.6B.zip")
    monkeypatch.setenv("ELMO_BENCH_GLOVE_URL", "http://mirror.example/glove/")
    assert PUBLISHED_VECTORS[NAME].urls() == [f"http://mirror.example/glove/{ARCHIVE}"]
    assert PUBLISHED_VECTORS[NAME].sha256 == (
        "c06db255e65095393609f19a4cfca20bf3a71e20cc53e892aafa490347e3849f")


def test_a_failing_hub_falls_back_to_stanford_once(server, published, tmp_path):
    hub_path = f"/hub/stanfordnlp/glove/resolve/{HUB_REVISION}/{ARCHIVE}"
    server.files[hub_path] = Served(ZIP_BYTES, status=503)
    server.files[f"/stanford/wordvecs/{ARCHIVE}"] = Served(ZIP_BYTES)

    archive, member = fetch_published_vectors(NAME)
    assert archive == tmp_path / "cache" / "glove" / ARCHIVE
    assert archive.read_bytes() == ZIP_BYTES and member == "glove.840B.300d.txt"
    assert [path for path, _ in server.requests] == [hub_path, f"/stanford/wordvecs/{ARCHIVE}"]

    embedder = StaticEmbedder(NAME)
    layers = embedder.embed([["Paris", "Cat", ". . ."]])
    assert torch.equal(layers.activations[0, 0], torch.from_numpy(VECTORS[[3, 5, 6]]))
    assert len(server.requests) == 2  # the embedder found the archive and converted it


def test_the_mirror_variable_is_used_alone(server, published, monkeypatch):
    server.files[f"/mine/{ARCHIVE}"] = Served(ZIP_BYTES)
    monkeypatch.setenv("ELMO_BENCH_GLOVE_URL", server.url("/mine"))
    fetch_published_vectors(NAME)
    assert server.requests == [(f"/mine/{ARCHIVE}", None)]


def test_no_network_is_one_line_naming_every_address_and_both_remedies(published, monkeypatch,
                                                                       tmp_path):
    port = _free_port()
    monkeypatch.setattr(published_vectors, "HUB_BASE", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(published_vectors, "STANFORD_BASES", (f"http://127.0.0.1:{port}/data",))
    with pytest.raises(UnreachableError) as raised:
        fetch_published_vectors(NAME)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {ARCHIVE} (")
    for url in published.urls():
        assert f"{url} (cannot connect (no network, a proxy or firewall, or the host is down))" in message
    assert "set ELMO_BENCH_GLOVE_URL to a mirror serving <base>/glove.840B.300d.zip" in message
    assert "--set embedder.glove.vectors=PATH" in message
    assert not (tmp_path / "cache" / "glove" / ARCHIVE).exists()


def test_a_hand_placed_published_archive_is_accepted_without_a_request(server, published,
                                                                       tmp_path):
    placed = tmp_path / "cache" / "glove" / ARCHIVE
    placed.parent.mkdir(parents=True)
    placed.write_bytes(ZIP_BYTES)
    assert fetch_published_vectors(NAME)[0] == placed
    assert server.requests == []
    assert (placed.parent / (ARCHIVE + ".sha256")).read_text().split()[0] == published.sha256


def test_a_wrong_hand_placed_archive_says_how_to_check_and_what_to_do(server, published,
                                                                      tmp_path):
    placed = tmp_path / "cache" / "glove" / ARCHIVE
    placed.parent.mkdir(parents=True)
    wrong = small_glove_zip(seed=1)[0]
    placed.write_bytes(wrong)
    with pytest.raises(NotThePublishedFileError) as raised:
        fetch_published_vectors(NAME)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{placed} is not the published {ARCHIVE}")
    assert f"its sha256 is {hashlib.sha256(wrong).hexdigest()}" in message
    assert f"the published file's is {published.sha256} (check with `sha256sum {placed}`)" in message
    assert "Delete it" in message
    assert server.requests == [] and placed.read_bytes() == wrong


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UsageError, match=re.escape("did you mean 'glove.840B.300d'?")):
        fetch_published_vectors("glove.840B.300")


def test_sizes_for_listings():
    assert PUBLISHED_VECTORS["glove.6B.50d"].size_text == "0.86 GB"
    assert PUBLISHED_VECTORS["glove.840B.300d"].size_text == "2.18 GB"


def test_after_conversion_the_archive_is_not_read_again(server, published, tmp_path):
    server.files[f"/hub/stanfordnlp/glove/resolve/{HUB_REVISION}/{ARCHIVE}"] = Served(ZIP_BYTES)
    first = StaticEmbedder(NAME)
    archive = tmp_path / "cache" / "glove" / ARCHIVE
    archive.write_bytes(b"not read any more")  # neither hashed nor parsed by a later load
    second = StaticEmbedder(NAME)
    assert second.fingerprint == first.fingerprint
    assert torch.equal(second.embed([WORDS]).activations, first.embed([WORDS]).activations)
    assert len(server.requests) == 1


def test_download_progress_reaches_the_logs_when_stderr_is_no_terminal(server, published, caplog):
    server.files[f"/hub/stanfordnlp/glove/resolve/{HUB_REVISION}/{ARCHIVE}"] = Served(ZIP_BYTES)
    with caplog.at_level(logging.INFO, logger="elmo_bench"):
        fetch_published_vectors(NAME)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith(f"downloading {ARCHIVE} (") for line in lines)
    assert any(line.startswith(f"{ARCHIVE}: downloading ") for line in lines)
    assert any(line.startswith(f"{ARCHIVE}: ") and "(100%)" in line for line in lines)
