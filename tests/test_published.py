"""Published ELMo names, and their download from a mirror (a local server) into the cache."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest
from test_download import FIXTURES, WEIGHTS, RangeServer, Served

from elmo_bench.download import ChecksumError, DownloadError
from elmo_bench.embedders.elmo.published import PUBLISHED, published_files

OPTIONS = (FIXTURES / "options.json").read_bytes()
SMALL = "/mirror/2x1024_128_2048cnn_1xhighway/elmo_2x1024_128_2048cnn_1xhighway"


@pytest.fixture
def mirror(monkeypatch, tmp_path) -> Iterator[RangeServer]:
    """A server holding the tiny fixture model as the 'small' model; the cache in tmp_path."""
    running = RangeServer()
    running.files[SMALL + "_options.json"] = Served(OPTIONS)
    running.files[SMALL + "_weights.hdf5"] = Served(WEIGHTS)
    monkeypatch.setenv("ELMO_BENCH_ELMO_URL", running.url("/mirror/"))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path))
    yield running
    running.close()


def _small_folder(cache: Path) -> Path:
    return cache / "elmo" / "small"


def _kept_files(folder: Path) -> set[str]:
    """Names of the files in ``folder``, apart from the download locks."""
    return {path.name for path in folder.iterdir() if path.suffix != ".lock"}


def test_published_models_are_the_allennlp_files(monkeypatch):
    monkeypatch.delenv("ELMO_BENCH_ELMO_URL", raising=False)

    assert list(PUBLISHED) == ["small", "medium", "original", "original-5.5B"]
    assert PUBLISHED["small"].weights_url() == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/"
        "elmo_2x1024_128_2048cnn_1xhighway_weights.hdf5"
    )
    assert PUBLISHED["original-5.5B"].options_url() == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x4096_512_2048cnn_2xhighway_5.5B/"
        "elmo_2x4096_512_2048cnn_2xhighway_5.5B_options.json"
    )
    assert [model.output_dim for model in PUBLISHED.values()] == [256, 512, 1024, 1024]
    assert PUBLISHED["original"].approx_weights_mb == 374


@pytest.mark.parametrize(
    ("name", "hint"), [("smal", "did you mean 'small'? "), ("original-5.5b", "did you mean "
                                                                             "'original-5.5B'? "),
                       ("bert", "")])
def test_unknown_name_suggests_the_closest_and_lists_all(name, hint, tmp_path):
    expected = (f"unknown published ELMo model {name!r}; {hint}"
                "the published models are: small, medium, original, original-5.5B")
    with pytest.raises(ValueError, match=re.escape(expected)):
        published_files(name, cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_first_use_downloads_into_the_cache_and_later_uses_make_no_request(mirror, tmp_path):
    options_path, weights_path = published_files("small")

    folder = _small_folder(tmp_path)
    assert options_path == folder / "elmo_2x1024_128_2048cnn_1xhighway_options.json"
    assert weights_path == folder / "elmo_2x1024_128_2048cnn_1xhighway_weights.hdf5"
    assert options_path.read_bytes() == OPTIONS and weights_path.read_bytes() == WEIGHTS
    assert (folder / (weights_path.name + ".sha256")).exists()

    assert published_files("small") == (options_path, weights_path)
    assert len(mirror.requests) == 2


def test_explicit_cache_folder_is_used(mirror, tmp_path):
    _, weights_path = published_files("small", cache=tmp_path / "elsewhere")
    assert weights_path.parent == _small_folder(tmp_path / "elsewhere")


def _missing_dataset_copy(tmp_path: Path) -> bytes:
    damaged = tmp_path / "damaged.hdf5"
    damaged.write_bytes(WEIGHTS)
    with h5py.File(damaged, "r+") as file:
        del file["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0"]
    content = damaged.read_bytes()
    damaged.unlink()
    return content


@pytest.mark.parametrize("damage", ["truncated", "bad signature", "missing dataset"])
def test_served_weights_that_do_not_open_are_rejected_and_not_kept(mirror, tmp_path, damage):
    if damage == "truncated":
        served = WEIGHTS[: len(WEIGHTS) // 2]
    elif damage == "bad signature":
        served = bytes(byte ^ 0xFF for byte in WEIGHTS[:8]) + WEIGHTS[8:]
    else:
        served = _missing_dataset_copy(tmp_path)
    mirror.files[SMALL + "_weights.hdf5"] = Served(served)

    with pytest.raises(DownloadError, match=re.escape(mirror.url(SMALL + "_weights.hdf5"))):
        published_files("small")

    options_name = "elmo_2x1024_128_2048cnn_1xhighway_options.json"
    assert _kept_files(_small_folder(tmp_path)) == {options_name, options_name + ".sha256"}


def test_weights_corrupted_on_disk_after_download_are_detected(mirror, tmp_path):
    _, weights_path = published_files("small")
    flipped = bytearray(weights_path.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    weights_path.write_bytes(bytes(flipped))

    with pytest.raises(ChecksumError, match=re.escape(f"{weights_path} is corrupted")):
        published_files("small")


@pytest.mark.parametrize("served", [b"<html>Access denied</html>", b'{"lstm": {}}'])
def test_options_that_are_not_elmo_options_are_rejected(mirror, tmp_path, served):
    mirror.files[SMALL + "_options.json"] = Served(served)

    with pytest.raises(DownloadError, match=re.escape(mirror.url(SMALL + "_options.json"))
                       + ".*failed its content check.*options"):
        published_files("small")

    assert _kept_files(_small_folder(tmp_path)) == set()
    assert not any(path.endswith("_weights.hdf5") for path, _ in mirror.requests)
