"""Packed pretraining corpus: the round trip keeps every id, and a run from it matches a run from the corpus."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.run import pretrain
from elmo_bench.pretrain.bilm.sources import load_pretraining_source
from elmo_bench.pretrain.bilm_presets import get_preset
from elmo_bench.pretrain.packed import load_packed, pack_source

from test_pretrain_bilm import _write_wiki  # noqa: E402  (tests/ is on sys.path under pytest)


@pytest.fixture()
def source_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataSettings:
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    _write_wiki(tmp_path / "wiki_00", 30, seed=3)
    return DataSettings(str(tmp_path / "wiki_00"), held_out_fraction=0.2, workers=1)


def _preset():
    return get_preset("tiny", {"train": {"eval_every": 0, "max_steps": 3}})


def test_round_trip_keeps_ids_offsets_and_vocabulary(source_settings: DataSettings, tmp_path: Path):
    source = load_pretraining_source(source_settings, _preset().vocab)
    pack_source(source, tmp_path / "packed.npz", max_train_tokens=200)
    loaded = load_packed(tmp_path / "packed.npz", tmp_path / "vocabulary")

    assert loaded.vocabulary.tokens == source.vocabulary.tokens
    assert (tmp_path / "vocabulary" / "vocab.txt").is_file()
    head = source.train.head(200)
    assert 0 < loaded.train.n_tokens <= 200 and loaded.train.n_sentences == head.n_sentences
    for packed_split, original in ((loaded.train, head), (loaded.heldout, source.heldout)):
        start, end = int(original.sentence_offsets[0]), int(original.sentence_offsets[-1])
        assert np.array_equal(packed_split.sentence_offsets, original.sentence_offsets - start)
        assert np.array_equal(packed_split.word_ids, original.word_ids[start:end])
        words = [packed_split.type_string(t) for t in packed_split.token_types]
        assert words == [original.type_string(t) for t in original.token_types[start:end]]


def test_training_from_the_packed_file_equals_training_from_the_corpus(source_settings: DataSettings, tmp_path: Path):
    torch.set_num_threads(1)
    source = load_pretraining_source(source_settings, _preset().vocab)
    pack_source(source, tmp_path / "packed.npz")
    direct = pretrain(_preset(), source_settings, tmp_path / "direct")
    packed = pretrain(_preset(), DataSettings(str(tmp_path / "packed.npz"), packed=str(tmp_path / "packed.npz")),
                      tmp_path / "from-packed")
    for name, value in direct.model.state_dict().items():
        assert torch.equal(value, packed.model.state_dict()[name]), name


def test_a_file_that_is_not_a_packed_corpus_is_named(tmp_path: Path):
    not_packed = tmp_path / "corpus.npz"
    np.savez(not_packed, something=np.zeros(3))
    with pytest.raises(PretrainError, match=f"{not_packed}: not a packed corpus; missing arrays"):
        load_packed(not_packed, tmp_path / "vocabulary")
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("plain text")
    with pytest.raises(PretrainError, match=f"{garbage}: not a readable packed corpus"):
        load_packed(garbage, tmp_path / "vocabulary")
