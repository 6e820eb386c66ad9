"""Static word vectors: file formats, malformed input, vocabulary restriction, the embedder."""
from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from elmo_bench.embedders.static import StaticEmbedder
from elmo_bench.embedders.vectors_file import VectorsFormatError, read_vectors

WORDS = ["the", "Paris", "paris", "cat", "<unk>"]
VECTORS = np.array(
    [[0.1, 0.2, 0.3], [1.0, -1.0, 0.5], [2.0, 2.0, 2.0], [-0.25, 0.0, 1e-3], [9.0, 9.0, 9.0]],
    dtype=np.float32,
)


def glove_text(words=WORDS, vectors=VECTORS) -> str:
    return "".join(
        word + " " + " ".join(repr(float(value)) for value in row) + "\n"
        for word, row in zip(words, vectors)
    )


@pytest.fixture
def glove_file(tmp_path) -> Path:
    path = tmp_path / "vectors.txt"
    path.write_text(glove_text(), encoding="utf-8")
    return path


def assert_reference(vectors) -> None:
    assert vectors.words == WORDS
    assert vectors.dim == 3
    assert np.allclose(vectors.vectors, VECTORS)
    assert vectors.vectors.dtype == np.float32


def test_glove_gzip_zip_and_word2vec_files_read_the_same(tmp_path, glove_file):
    assert_reference(read_vectors(glove_file))

    packed = tmp_path / "vectors.txt.gz"
    packed.write_bytes(gzip.compress(glove_file.read_bytes()))
    assert_reference(read_vectors(packed))

    archive = tmp_path / "glove.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("glove.50d.txt", glove_text())
        out.writestr("glove.100d.txt", "x 1 2 3 4\n")
    assert_reference(read_vectors(archive, member="glove.50d.txt"))
    with pytest.raises(VectorsFormatError, match=r"glove\.zip: the zip archive holds several vectors files \(glove\.50d\.txt, glove\.100d\.txt\); choose one with member="):
        read_vectors(archive)
    with pytest.raises(VectorsFormatError, match=r"no member 'glove\.300d\.txt'"):
        read_vectors(archive, member="glove.300d.txt")

    word2vec = tmp_path / "vectors.w2v.txt"
    word2vec.write_text(f"{len(WORDS)} 3\n" + glove_text(), encoding="utf-8")
    assert_reference(read_vectors(word2vec))


def test_wrong_number_of_values_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(glove_text() + "dog 0.1 0.2\n", encoding="utf-8")
    with pytest.raises(VectorsFormatError,
                       match=r"bad\.txt: line 6: expected a word and 3 numbers, found 2 fields"):
        read_vectors(path)
    path.write_text(glove_text() + "dog 0.1 0.2 0.3 0.4\n", encoding="utf-8")
    with pytest.raises(VectorsFormatError, match=r"bad\.txt: line 6: expected a word and 3"):
        read_vectors(path)


def test_non_number_names_the_value_and_line(tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress((glove_text() + "dog 0.1 zero 0.3\n").encode()))
    with pytest.raises(VectorsFormatError, match=r"bad\.txt\.gz: line 6: 'zero' is not a number"):
        read_vectors(path)


def test_word2vec_header_must_match_the_file(tmp_path):
    path = tmp_path / "short.vec"
    path.write_text("7 3\n" + glove_text(), encoding="utf-8")
    with pytest.raises(VectorsFormatError, match="header announces 7 vectors, the file has 5"):
        read_vectors(path)


def test_gz_name_without_gzip_data_is_an_error(tmp_path):
    path = tmp_path / "vectors.txt.gz"
    path.write_text(glove_text(), encoding="utf-8")
    with pytest.raises(VectorsFormatError, match=r"vectors\.txt\.gz: named \.gz but is not gzip"):
        read_vectors(path)


def test_words_with_spaces_as_in_glove_840b(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(glove_text() + ". . . 0.5 0.5 0.5\n", encoding="utf-8")
    vectors = read_vectors(path)
    assert vectors.words[-1] == ". . ."
    assert np.allclose(vectors.vectors[-1], 0.5)


def test_vocabulary_restriction_keeps_only_listed_words(glove_file):
    vectors = read_vectors(glove_file, vocabulary={"cat", "Paris", "absent"})
    assert vectors.words == ["Paris", "cat"]
    assert np.allclose(vectors.vectors, VECTORS[[1, 3]])


def test_embedder_lookup_lowercase_fallback_padding_and_oov_rate(glove_file):
    embedder = StaticEmbedder(glove_file)
    layers = embedder.embed([["The", "cat", "zebra"], ["Paris"], []])
    assert layers.activations.shape == (1, 3, 3, 3)
    assert layers.mask.tolist() == [[True, True, True], [True, False, False], [False] * 3]
    expected = torch.zeros(3, 3, 3)
    expected[0, 0] = torch.from_numpy(VECTORS[0])  # "The" -> "the"
    expected[0, 1] = torch.from_numpy(VECTORS[3])
    expected[1, 0] = torch.from_numpy(VECTORS[1])  # exact case wins over "paris"
    assert torch.equal(layers.activations[0], expected)  # OOV and padding are zeros
    stats = embedder.oov_stats
    assert (stats.tokens, stats.lowercased, stats.oov) == (4, 1, 1)
    assert stats.oov_rate == 0.25


def test_embedder_unk_vector_and_no_fallback(glove_file):
    embedder = StaticEmbedder(glove_file, oov="unk", lowercase_fallback=False)
    activations = embedder.embed([["The", "zebra"]]).activations[0, 0]
    assert torch.equal(activations, torch.from_numpy(VECTORS[[4, 4]]))
    assert embedder.oov_stats.oov == 2


def test_unk_mode_needs_an_unk_vector(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(glove_text(WORDS[:2], VECTORS[:2]), encoding="utf-8")
    with pytest.raises(VectorsFormatError, match="oov='unk' needs a <UNK> or <unk> vector"):
        StaticEmbedder(path, oov="unk")


def test_fingerprint_follows_file_content_and_settings(tmp_path, glove_file):
    base = StaticEmbedder(glove_file).fingerprint
    assert StaticEmbedder(glove_file).fingerprint == base
    assert StaticEmbedder(glove_file, lowercase_fallback=False).fingerprint != base
    assert StaticEmbedder(glove_file, vocabulary=["cat"]).fingerprint != base
    changed = tmp_path / "changed.txt"
    changed.write_text(glove_text().replace("0.1", "0.11"), encoding="utf-8")
    assert StaticEmbedder(changed).fingerprint != base
    parts = StaticEmbedder(glove_file).fingerprint_parts()
    assert parts["vectors_sha256"] == hashlib.sha256(glove_file.read_bytes()).hexdigest()


def test_restricted_embedder_keeps_lowercase_forms(glove_file):
    embedder = StaticEmbedder(glove_file, vocabulary=["PARIS", "The"])
    assert embedder.vectors.words == ["the", "paris", "<unk>"]  # unknown-word vectors stay
    assert torch.equal(embedder.embed([["PARIS"]]).activations[0, 0, 0],
                       torch.from_numpy(VECTORS[2]))


def test_missing_file_names_the_path_and_published_names(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.txt: no such vectors file"):
        StaticEmbedder(tmp_path / "nope.txt")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


def _bad_crc_zip() -> bytes:
    data = bytearray(_zip({"v.txt": b"the 0.1 0.2 0.3\n" * 50}))
    start = data.index(b"the 0.1")  # stored uncompressed by writestr's default
    data[start] ^= 0x01
    return bytes(data)


GOOD = b"the 0.1 0.2 0.3\ncat 0.4 0.5 0.6\ndog 0.7 0.8 0.9\n"
# name -> (file name, bytes, the message the one-line error must hold)
MALFORMED_VECTORS = {
    "truncated gzip": ("v.txt.gz", gzip.compress(GOOD * 200)[:-30],
                       "the compressed data is truncated or damaged after line"),
    "zip member with a bad CRC": ("v.zip", _bad_crc_zip(), "the compressed data is truncated or damaged"),
    "truncated zip": ("v.zip", _zip({"v.txt": GOOD})[:-40],
                      "starts like a zip archive but has no central directory (truncated or damaged)"),
    "empty zip": ("v.zip", _zip({}), "the zip archive holds no .txt or .vec vectors file (it is empty)"),
    "zip without vectors": ("v.zip", _zip({"README": b"x"}), "holds no .txt or .vec vectors file (it holds README)"),
    "ragged first line": ("v.txt", b"the 0.1 0.2\n" + GOOD[16:], "line 1: expected a word and 3 numbers, found 2"),
    "ragged third line": ("v.txt", GOOD[:32] + b"dog 0.7 0.8\n", "line 3: expected a word and 3 numbers, found 2"),
    "not a number": ("v.txt", GOOD.replace(b"0.5", b"0.x"), "line 2: '0.x' is not a number"),
    "not UTF-8": ("v.txt", GOOD.replace(b"cat", b"c\xfft"), "line 2: not UTF-8"),
    "no numbers": ("v.txt", b"the\ncat\n", "line 1: no numbers after the word"),
    "no vectors": ("v.txt", b"\n\n", "no vectors in the file"),
    "gz name, not gzip": ("v.txt.gz", GOOD, "named .gz but is not gzip data"),
    "word2vec count": ("v.txt", b"4 3\n" + GOOD, "the word2vec header announces 4 vectors, the file has 3"),
}


@pytest.mark.parametrize("case", list(MALFORMED_VECTORS))
def test_every_malformed_vectors_file_is_one_clear_error(tmp_path, case):
    name, data, message = MALFORMED_VECTORS[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(VectorsFormatError) as raised:
        read_vectors(path)
    text = str(raised.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
