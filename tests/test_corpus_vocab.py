"""Vocabulary: cut-off, bilm-tf file format, cache, and the corpus encoded with it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from elmo_bench.pretrain.corpus import CorpusConfig
from elmo_bench.pretrain.vocab import (
    SPECIAL_TOKENS,
    VocabConfig,
    Vocabulary,
    VocabularyError,
    build_vocabulary,
    load_pretraining_data,
    vocabulary_from_counts,
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))


TYPES = ["the", ",", "cat", "dog", "<UNK>", "emu", "yak"]
COUNTS = np.array([50, 40, 9, 9, 7, 5, 1], dtype=np.int64)


def test_cut_off_by_count_and_size_keeps_most_frequent_first():
    by_count = vocabulary_from_counts(TYPES, COUNTS, n_sentences=12, config=VocabConfig(None, 5))
    # A literal "<UNK>" in the text is not a second <UNK>.
    assert by_count.tokens == ["<S>", "</S>", "<UNK>", "the", ",", "cat", "dog", "emu"]
    # <S> and </S> count sentences; <UNK> counts every training token left out.
    assert by_count.counts.tolist() == [12, 12, 8, 50, 40, 9, 9, 5]
    by_size = vocabulary_from_counts(TYPES, COUNTS, n_sentences=12, config=VocabConfig(3, 1))
    assert by_size.words == ["the", ",", "cat"]
    assert by_size.counts[by_size.unk_id] == COUNTS.sum() - 99


def test_bilm_tf_file_round_trip(tmp_path):
    vocabulary = vocabulary_from_counts(TYPES, COUNTS, 12, VocabConfig(None, 5))
    path = tmp_path / "vocab.txt"
    vocabulary.save(path)
    assert path.read_text(encoding="utf-8").split("\n")[:5] == ["<S>", "</S>", "<UNK>", "the", ","]
    loaded = Vocabulary.load(path)
    assert loaded.tokens == vocabulary.tokens
    assert loaded.counts.tolist() == vocabulary.counts.tolist()
    assert (loaded.bos_id, loaded.eos_id, loaded.unk_id) == (0, 1, 2)
    assert loaded.encode(["the", "zebra", "dog"]).tolist() == [3, 2, 6]


def test_vocabulary_file_errors_name_the_line(tmp_path):
    duplicated = tmp_path / "dup.txt"
    duplicated.write_text("<S>\n</S>\n<UNK>\nthe\ncat\nthe\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"dup\.txt: line 6: 'the' already on line 4"):
        Vocabulary.load(duplicated)
    no_specials = tmp_path / "plain.txt"
    no_specials.write_text("the\ncat\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=r"plain\.txt: .*lacks the special token"):
        Vocabulary.load(no_specials)


def _corpus(root: Path) -> Path:
    lines = ["The cat sat . The dog sat !", "A cat ran .", "The emu sat .", "Rare words here ."]
    root.mkdir(parents=True)
    (root / "lines.txt").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    return root


def test_encoded_corpus_matches_token_strings_and_is_cached(tmp_path):
    corpus_config = CorpusConfig(path=str(_corpus(tmp_path / "c")), held_out_fraction=0.0,
                                 workers=1)
    vocab_config = VocabConfig(max_words=4, min_count=2)
    data = load_pretraining_data(corpus_config, vocab_config)
    vocabulary = data.vocabulary
    assert vocabulary.words == [".", "The", "sat", "cat"]
    assert data.train.ids.dtype == np.int32
    sentences = list(data.train.sentence_tokens())
    assert sentences[:3] == [["The", "cat", "sat", "."], ["The", "dog", "sat", "!"],
                             ["A", "cat", "ran", "."]]
    for ids, tokens in zip(data.train.sentences(), sentences):
        assert ids.tolist() == vocabulary.encode(tokens).tolist()
    assert data.heldout.n_tokens == 0

    cached = build_vocabulary(data.corpus, vocab_config)
    assert cached.tokens == vocabulary.tokens
    assert (cached.counts == vocabulary.counts).all()
    again = load_pretraining_data(corpus_config, vocab_config)
    assert isinstance(again.train.ids, np.memmap)
    assert np.array_equal(again.train.ids, data.train.ids)


def test_special_tokens_are_the_bilm_tf_ones():
    assert SPECIAL_TOKENS == ("<S>", "</S>", "<UNK>")
    with pytest.raises(VocabularyError, match=r"vocab.max_words must be an integer >= 1 or null, got 0"):
        VocabConfig(max_words=0)
