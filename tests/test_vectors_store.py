"""The converted binary form of a vectors file: the same vectors as the text reader, bit for
bit; converted once per file content; the embedder's output and fingerprint unchanged by it."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from elmo_bench.embedders import static
from elmo_bench.embedders.static import StaticEmbedder
from elmo_bench.embedders.vectors_file import VectorsFormatError, iter_vector_blocks, read_vectors
from elmo_bench.embedders.vectors_store import VectorsStore, open_store, store_folder


def _text(words, vectors, header=False) -> str:
    lines = [f"{len(words)} {vectors.shape[1]}\n"] if header else []
    lines += [
        word + " " + " ".join(np.format_float_positional(v, precision=9) if i % 3 else
                              f"{v:.5e}" for i, v in enumerate(row)) + "\n"
        for word, row in zip(words, vectors)
    ]
    return "".join(lines)


@pytest.fixture
def big_file(tmp_path):
    """3,000 words in a zip (repeats, words with spaces, unicode, <unk>), values in both notations."""
    rng = np.random.default_rng(0)
    words = [f"w{index}" for index in range(2990)] + [
        "Paris", "paris", "w7", ". . .", "at name@domain.com", "Straße", "<unk>", "naïve", "w7",
        "ελμο",
    ]
    vectors = (rng.standard_normal((len(words), 7)) * rng.choice([1e-4, 1, 30], (len(words), 1))
               ).astype(np.float32)
    path = tmp_path / "vectors.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("vectors.txt", _text(words, vectors))
    return path, words


def _store(tmp_path, path, member=None, calls=None):
    def blocks():
        if calls is not None:
            calls.append(1)
        return iter_vector_blocks(path, member=member, block_rows=500)

    return open_store(tmp_path / "cache", "ab" * 32, member, blocks, str(path))


def test_store_holds_the_text_readers_vectors_bit_for_bit(tmp_path, big_file):
    path, words = big_file
    reference = read_vectors(path)
    store = _store(tmp_path, path)
    assert len(store) == len(words) and store.dim == 7  # repeated words keep their rows
    assert store.meta["repeated_words"] == 2  # "w7" twice more
    for word in set(words):
        row = store.row(word)
        assert store.word(row) == word
        assert np.array_equal(store.take([row])[0].view(np.uint32),
                              reference.vectors[reference.index[word]].view(np.uint32))
    assert store.row("w7") == words.index("w7")  # the first occurrence, as the text reader
    assert store.row("absent") is None and store.row("") is None


def test_conversion_happens_once_per_content(tmp_path, big_file):
    path, _ = big_file
    calls = []
    _store(tmp_path, path, calls=calls)
    second = _store(tmp_path, path, calls=calls)
    assert calls == [1]
    assert second.take([2, 0]).shape == (2, 7)
    with pytest.raises(IndexError):
        second.take([len(second)])
    assert second.folder == store_folder(tmp_path / "cache", "ab" * 32, None)


def test_word2vec_header_and_errors_are_those_of_the_text_reader(tmp_path):
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = tmp_path / "w2v.txt"
    path.write_text(_text(["a", "b"], vectors, header=True))
    blocks = list(iter_vector_blocks(path))
    assert [word for words, _ in blocks for word in words] == ["a", "b"]
    assert np.array_equal(np.concatenate([block for _, block in blocks]), vectors)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2 3\nb 1 x 3\n")
    with pytest.raises(VectorsFormatError, match=r"bad\.txt: line 2: 'x' is not a number"):
        list(iter_vector_blocks(bad))
    short = tmp_path / "short.txt"
    short.write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(VectorsFormatError, match="line 2: expected a word and 3 numbers"):
        list(iter_vector_blocks(short))


@pytest.mark.parametrize("oov", ["zero", "unk"])
def test_embedder_gives_the_same_vectors_and_fingerprint_through_the_store(
    tmp_path, big_file, monkeypatch, oov
):
    path, words = big_file
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    in_memory = StaticEmbedder(path, oov=oov)
    monkeypatch.setattr(static, "LARGE_FILE_BYTES", 0)
    mapped = StaticEmbedder(path, oov=oov)
    assert isinstance(mapped.vectors, VectorsStore) and not isinstance(in_memory.vectors,
                                                                        VectorsStore)
    assert mapped.fingerprint == in_memory.fingerprint
    sentences = [["PARIS", "w7", "unseen", "Straße"], [". . .", "W12"], []]
    expected, found = in_memory.embed(sentences), mapped.embed(sentences)
    assert torch.equal(found.mask, expected.mask)
    assert torch.equal(found.activations.view(torch.int32), expected.activations.view(torch.int32))
    assert mapped.oov_stats == in_memory.oov_stats
    assert (tmp_path / "cache" / "vectors").is_dir()
