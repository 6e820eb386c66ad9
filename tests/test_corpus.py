"""Pretraining corpus: readers, bad input, sentence splitting, held-out split, tokenized cache."""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc

from elmo_bench.data.tokenize import tokenize
from elmo_bench.paths import data_dir
from elmo_bench.pretrain import corpus as corpus_module
from elmo_bench.pretrain.corpus import (
    CorpusConfig,
    CorpusError,
    build_tokenized_corpus,
    find_file_shards,
    is_held_out,
    read_hub_dataset,
    read_text_lines,
    read_wikiextractor,
    split_sentences,
)

WIKI_SHARD = """<doc id="12" url="http://en.wikipedia.org/wiki?curid=12" title="Anarchism">
Anarchism

Anarchism is a political philosophy.<br> It wasn't always so.
History &amp; origins.
</doc>
<doc id="25" url="http://en.wikipedia.org/wiki?curid=25" title="Autism">
Autism

Autism is a disorder (ASD). Mr. Kanner described it in the U.S. in 1943!
</doc>
"""


def write(path: Path, text: str, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))


def test_wikiextractor_reader_drops_title_line_and_leftover_markup(tmp_path):
    documents = list(read_wikiextractor(write(tmp_path / "wiki_00.gz", WIKI_SHARD, compress=True)))
    assert [(doc.doc_id, doc.title) for doc in documents] == [("12", "Anarchism"), ("25", "Autism")]
    assert documents[0].paragraphs == (
        "Anarchism is a political philosophy.  It wasn't always so.",
        "History & origins.",
    )
    assert documents[1].paragraphs == (
        "Autism is a disorder (ASD). Mr. Kanner described it in the U.S. in 1943!",
    )


def test_plain_and_gzip_shards_read_the_same(tmp_path):
    plain = list(read_wikiextractor(write(tmp_path / "a" / "wiki_00", WIKI_SHARD)))
    packed = list(read_wikiextractor(write(tmp_path / "b" / "wiki_00.gz", WIKI_SHARD, True)))
    assert plain == packed


def test_unclosed_document_names_file_and_line(tmp_path):
    path = write(tmp_path / "wiki_00", WIKI_SHARD.rsplit("</doc>", 1)[0])
    with pytest.raises(CorpusError, match=r"wiki_00: the document opened at line 7 \(id 25\)"):
        list(read_wikiextractor(path))


def test_text_outside_a_document_names_the_line(tmp_path):
    path = write(tmp_path / "wiki_00", "stray text\n" + WIKI_SHARD)
    with pytest.raises(CorpusError, match=r"wiki_00: line 1: expected '<doc"):
        list(read_wikiextractor(path))


def test_gz_name_without_gzip_data_is_an_error(tmp_path):
    path = write(tmp_path / "wiki_00.gz", WIKI_SHARD)
    with pytest.raises(CorpusError, match=r"wiki_00\.gz: named \.gz but is not gzip data"):
        list(read_wikiextractor(path))


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "wiki_00.gz"
    path.write_bytes(gzip.compress(WIKI_SHARD.encode())[:60])
    with pytest.raises(CorpusError, match=r"wiki_00\.gz: corrupt or truncated gzip"):
        list(read_wikiextractor(path))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_byte_that_is_not_utf8_is_found_on_its_own_line(tmp_path, compress):
    lines = WIKI_SHARD.encode().split(b"\n")
    lines[5] = lines[5][:3] + b"\xff" + lines[5][3:]  # line 6, byte 4
    data = b"\n".join(lines)
    path = tmp_path / ("wiki_00.gz" if compress else "wiki_00")
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(CorpusError, match=r"wiki_00(\.gz)?: line 6, byte 4: 0xff is not UTF-8; expected UTF-8 text"):
        list(read_wikiextractor(path))


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no corpus files found"):
        find_file_shards(tmp_path / "empty")


def test_corpus_without_text_is_an_error(tmp_path):
    write(tmp_path / "corpus" / "blank.txt", "\n\n   \n")
    write(tmp_path / "corpus" / "titles_only", '<doc id="1" title="T">\nT\n</doc>\n')
    with pytest.raises(CorpusError, match=r"corpus: the corpus has no text .* 2 file"):
        build_tokenized_corpus(CorpusConfig(path=str(tmp_path / "corpus"), workers=1))


def test_format_detection_and_hidden_files(tmp_path):
    write(tmp_path / "c" / "AA" / "wiki_00.gz", WIKI_SHARD, compress=True)
    write(tmp_path / "c" / "lines.txt", "One line.\nAnother.\n")
    write(tmp_path / "c" / ".hidden", "not corpus\n")
    shards = find_file_shards(tmp_path / "c")
    assert [(shard.key, shard.file_format) for shard in shards] == [
        ("AA/wiki_00.gz", "wikiextractor"),
        ("lines.txt", "text"),
    ]


def test_plain_text_lines_are_documents_keyed_by_file_and_line(tmp_path):
    path = write(tmp_path / "lines.txt", "First line.\n\nThird line.\n")
    documents = list(read_text_lines(path, "sub/lines.txt"))
    assert [(doc.doc_id, doc.paragraphs) for doc in documents] == [
        ("sub/lines.txt:1", ("First line.",)),
        ("sub/lines.txt:3", ("Third line.",)),
    ]


def test_hub_reader_without_datasets_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(CorpusError, match=r"needs the optional `datasets` package"):
        list(read_hub_dataset("wikitext", config_name="wikitext-2-raw-v1"))


def test_sentence_splitting_follows_spacy_sentencizer():
    text = (
        'He said "Stop." Then Mr. Smith left the U.S. for good (really!) and wasn\'t back. '
        "Why? Nobody knows... The end"
    )
    tokens = tokenize(text)
    expected = [
        ["He", "said", '"', "Stop", ".", '"'],
        ["Then", "Mr.", "Smith", "left", "the", "U.S.", "for", "good", "(", "really", "!", ")"],
        ["and", "was", "n't", "back", "."],
        ["Why", "?"],
        ["Nobody", "knows", "...", "The", "end"],
    ]
    assert split_sentences(tokens) == expected
    doc = Sentencizer()(Doc(spacy.blank("en").vocab, words=tokens))
    assert [[token.text for token in sentence] for sentence in doc.sents] == expected


def test_held_out_split_is_stable_and_near_the_fraction():
    ids = [str(number) for number in range(20_000)]
    held = [doc_id for doc_id in ids if is_held_out(doc_id, 0.01)]
    assert 140 <= len(held) <= 260
    assert held == [doc_id for doc_id in ids if is_held_out(doc_id, 0.01)]
    assert set(held) <= {doc_id for doc_id in ids if is_held_out(doc_id, 0.05)}
    assert not any(is_held_out(doc_id, 0.0) for doc_id in ids)


def _small_corpus(root: Path) -> Path:
    write(root / "AA" / "wiki_00.gz", WIKI_SHARD, compress=True)
    lines = [f"Sentence number {n} is here. It has a second part!" for n in range(40)]
    write(root / "lines.txt", "\n".join(lines) + "\n")
    return root


def test_tokenized_corpus_round_trip_split_and_cache(tmp_path, monkeypatch):
    root = _small_corpus(tmp_path / "corpus")
    config = CorpusConfig(path=str(root), held_out_fraction=0.3, workers=1)
    corpus = build_tokenized_corpus(config)

    expected = {"train": [], "heldout": []}
    for shard in find_file_shards(root):
        for document in shard.documents():
            split = "heldout" if is_held_out(document.doc_id, 0.3) else "train"
            for paragraph in document.paragraphs:
                expected[split].extend(split_sentences(tokenize(paragraph)))
    assert expected["train"] and expected["heldout"]
    for split in ("train", "heldout"):
        assert list(corpus.sentences(split)) == expected[split]
        data = corpus.split(split)
        assert data.token_types.dtype == np.int32
        assert data.n_tokens == sum(len(sentence) for sentence in expected[split])
        assert data.paragraph_offsets[-1] == data.n_sentences
        assert data.document_offsets[-1] == len(data.paragraph_offsets) - 1

    # Types are ordered by training count; counts are of the training split only.
    train_tokens = [token for sentence in expected["train"] for token in sentence]
    assert list(corpus.type_counts) == sorted(corpus.type_counts, reverse=True)
    assert corpus.type_counts[corpus.types.index(".")] == train_tokens.count(".")

    # A second build is a cache hit; changing a file changes the fingerprint.
    def no_tokenizing(*args):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(corpus_module, "_tokenize_shard", no_tokenizing)
    assert build_tokenized_corpus(config).root == corpus.root
    write(root / "lines.txt", "A new line.\n")
    with pytest.raises(AssertionError, match="tokenized again"):
        build_tokenized_corpus(config)


def test_worker_processes_give_the_same_corpus(tmp_path, monkeypatch):
    root = _small_corpus(tmp_path / "corpus")
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "serial"))
    serial = build_tokenized_corpus(CorpusConfig(path=str(root), held_out_fraction=0.3, workers=1))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "parallel"))
    parallel = build_tokenized_corpus(
        CorpusConfig(path=str(root), held_out_fraction=0.3, workers=2)
    )
    assert serial.fingerprint == parallel.fingerprint
    assert serial.types == parallel.types
    for split in ("train", "heldout"):
        assert np.array_equal(serial.split(split).token_types, parallel.split(split).token_types)
        assert serial.split(split).document_ids == parallel.split(split).document_ids


def test_real_wikipedia_shard_reads_cleanly():
    root = data_dir()
    if root is None:
        pytest.skip("ELMO_BENCH_DATA is not set")
    documents = list(read_wikiextractor(root / "corpus" / "wikipedia" / "AA" / "wiki_00.gz"))
    assert len(documents) == 38
    assert documents[0].title == "Anarchism"
    assert documents[0].paragraphs[0].startswith("Anarchism is a political philosophy")
    assert not any("<doc" in paragraph or "<br>" in paragraph
                   for document in documents for paragraph in document.paragraphs)
