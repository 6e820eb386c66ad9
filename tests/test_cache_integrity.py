"""Nothing corrupt is ever used: every kind of damage to a cache entry is found when the entry is
opened, the entry is moved aside and computed again, and a cell's score does not change. Entries
written before checksums existed are adopted, not recomputed. Keys and fingerprints are those of
the code before checksums (a long benchmark reuses them)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from elmo_bench.cache import CHECKSUMS_FILE, CORRUPT_DIR, CorruptEntryError, EmbeddingCache, cache_key
from elmo_bench.checksums import forget_verified
from elmo_bench.runner.identity import cell_fingerprint
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.stage_folders import stage_key
from test_cache import SENTENCES, CountingEmbedder
from test_task_cells import data_dir, glove_file, run_task  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_process_memory():
    """Each test reads entries as a new process would: nothing verified yet."""
    forget_verified()
    yield
    forget_verified()


def test_keys_and_fingerprints_are_those_of_the_code_before_checksums():
    standard = resolve_preset("standard")
    assert cache_key("fp", [["a", "b"], ["Zürich"]]) == (
        "2fe9d3bccd014ba6f0c750d9a8701a414533ea0f510e8a576c42aedaed18f9ae"
    )
    assert stage_key("glove", standard["pretrain"]["glove"], {"corpus": "c" * 64}) == "69aaae91a9eac516"
    assert (
        stage_key("bilm", standard["pretrain"]["bilm"], {"corpus": "c" * 64, "wikitext": None})
        == "c43e8abe50adbefb"
    )
    assert cell_fingerprint(
        "trec6", "glove", 1, {"training": {"max_epochs": 3}}, {"glove": {"vectors": "x"}}, {"train": ["ab"]}
    ) == "a9ba32421be5743dfd6c520f22eacbdb34d99ce66e30ac8e46bcda94c0b14fc1"


def _flip_bytes(folder: Path) -> None:
    data = bytearray((folder / "vectors.npy").read_bytes())
    for position in range(len(data) - 8, len(data)):
        data[position] ^= 0x5A
    (folder / "vectors.npy").write_bytes(bytes(data))


def _overwrite_vector(folder: Path) -> None:
    vectors = np.load(folder / "vectors.npy", mmap_mode="r+")
    vectors[2, 0] = 7.0
    vectors.flush()


def _write_nan(folder: Path) -> None:
    vectors = np.load(folder / "vectors.npy", mmap_mode="r+")
    vectors[0, 0, 0] = np.nan
    vectors.flush()


def _shift_offsets(folder: Path) -> None:
    offsets = np.load(folder / "offsets.npy")
    np.save(folder / "offsets.npy", offsets + 1)


def _reorder_offsets(folder: Path) -> None:
    offsets = np.load(folder / "offsets.npy")
    offsets[1], offsets[2] = offsets[2], offsets[1]
    np.save(folder / "offsets.npy", offsets)


def _truncate_vectors(folder: Path) -> None:
    data = (folder / "vectors.npy").read_bytes()
    (folder / "vectors.npy").write_bytes(data[:-6])


def _other_key(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["key"] = "0" * 64
    (folder / "meta.json").write_text(json.dumps(meta))


def _garble_checksums(folder: Path) -> None:
    (folder / CHECKSUMS_FILE).write_text("{not json")


def _delete_checksums_and_write_nan(folder: Path) -> None:
    (folder / CHECKSUMS_FILE).unlink()
    _write_nan(folder)


def _delete_offsets(folder: Path) -> None:
    (folder / "offsets.npy").unlink()


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "bytes XOR-ed": (_flip_bytes, "vectors.npy has sha256"),
    "a vector overwritten": (_overwrite_vector, "vectors.npy has sha256"),
    "NaN written": (_write_nan, "vectors.npy has sha256"),
    "offsets shifted by one": (_shift_offsets, "offsets start at 1, not 0"),
    "offsets out of order": (_reorder_offsets, "offsets decrease after sequence"),
    "vectors truncated": (_truncate_vectors, "unreadable"),
    "meta.json of another key": (_other_key, "meta.json names key"),
    "checksums garbled": (_garble_checksums, "checksums.json is unreadable"),
    "no checksums and a NaN": (_delete_checksums_and_write_nan, "NaN or infinity"),
    "offsets deleted": (_delete_offsets, "unreadable"),
}


@pytest.mark.parametrize("damage", list(CORRUPTIONS))
def test_a_damaged_entry_is_reported_moved_aside_and_recomputed(tmp_path, damage, caplog):
    corrupt, reason = CORRUPTIONS[damage]
    cache, embedder = EmbeddingCache(tmp_path), CountingEmbedder()
    first = cache.get_or_compute(embedder, SENTENCES)
    expected = np.array(first.entry.vectors)
    folder = cache.entry_dir(first.entry.key)
    del first
    corrupt(folder)
    forget_verified()

    with pytest.raises(CorruptEntryError, match=rf"cache entry {folder} .*{reason}"):
        cache.load(folder.name)
    with caplog.at_level(logging.WARNING, logger="elmo_bench.cache"):
        again = cache.get_or_compute(embedder, SENTENCES)

    assert not again.hit and embedder.embedded_tokens == 16  # embedded a second time
    np.testing.assert_array_equal(np.array(again.entry.vectors), expected)
    set_aside = list((tmp_path / CORRUPT_DIR).iterdir())
    assert len(set_aside) == 1 and set_aside[0].name.startswith(folder.name)
    assert str(folder) in caplog.text and str(set_aside[0]) in caplog.text
    forget_verified()
    assert cache.get_or_compute(embedder, SENTENCES).hit  # the new entry passes its checks


def test_an_entry_from_before_checksums_is_adopted_not_recomputed(tmp_path):
    cache, embedder = EmbeddingCache(tmp_path), CountingEmbedder()
    key = cache.get_or_compute(embedder, SENTENCES).entry.key
    folder = cache.entry_dir(key)
    (folder / CHECKSUMS_FILE).unlink()  # as today's code (before checksums) writes it
    forget_verified()

    lookup = cache.get_or_compute(embedder, SENTENCES)

    assert lookup.hit and embedder.embedded_tokens == 8
    record = json.loads((folder / CHECKSUMS_FILE).read_text())
    assert record["algorithm"] == "sha256"
    assert set(record["files"]) == {"vectors.npy", "offsets.npy", "meta.json"}
    _overwrite_vector(folder)  # from now on a change is caught
    forget_verified()
    with pytest.raises(CorruptEntryError, match="vectors.npy has sha256"):
        cache.load(key)


def test_an_entry_is_hashed_once_per_process(tmp_path, monkeypatch):
    cache, embedder = EmbeddingCache(tmp_path), CountingEmbedder()
    key = cache.get_or_compute(embedder, SENTENCES).entry.key
    reads = []
    import elmo_bench.checksums as checksums

    original = checksums.file_digest
    monkeypatch.setattr(checksums, "file_digest", lambda path, *a: reads.append(path) or original(path, *a))
    for _ in range(3):
        cache.load(key)
    assert reads == []  # verified when it was written, in this process


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_cache import CountingEmbedder
    from elmo_bench.cache import EmbeddingCache

    class Slow(CountingEmbedder):
        def embed(self, sentences):
            print("embedding", flush=True)
            time.sleep(60)

    EmbeddingCache({root!r}).get_or_compute(Slow(), [["a", "b"], ["c"]])
    """
)


def test_a_killed_write_leaves_nothing_after_the_rerun(tmp_path):
    script = _KILLED_WRITER.format(tests=str(REPO / "tests"), root=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    assert writer.stdout.readline().strip() == "embedding"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    hidden = [path for path in tmp_path.rglob(".*") if path.is_dir()]
    assert hidden, "the killed write should have left its temporary folder"

    lookup = EmbeddingCache(tmp_path).get_or_compute(CountingEmbedder(), [["a", "b"], ["c"]])

    assert not lookup.hit
    assert [path for path in tmp_path.rglob(".*") if path.is_dir()] == []
    assert sorted(path.name for path in EmbeddingCache(tmp_path).entry_dir(lookup.entry.key).iterdir()) == [
        CHECKSUMS_FILE, "meta.json", "offsets.npy", "vectors.npy"]


def test_a_corrupted_entry_leaves_the_cell_score_unchanged(tmp_path, data_dir, glove_file):  # noqa: F811
    first = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file))
    entries = [path.parent for path in (tmp_path / "cache" / "embeddings").rglob("vectors.npy")]
    assert entries
    for folder in entries:
        _overwrite_vector(folder)
    forget_verified()

    again = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file))

    embedding = again["timings"]["embedding"]
    assert {embedding[split]["glove"]["cache"] for split in embedding} == {"computed"}
    assert again["scores"] == first["scores"]
    assert len(list((tmp_path / "cache" / "embeddings" / CORRUPT_DIR).iterdir())) == len(entries)
