"""A run's source as its data settings name it: a corpus or a packed corpus, plus WikiText-2."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from elmo_bench.pretrain.bilm.corpus_source import DataSettings, read_corpus_source
from elmo_bench.pretrain.bilm.data import PretrainingSource
from elmo_bench.pretrain.bilm.wikitext import read_wikitext_splits
from elmo_bench.pretrain.packed import load_packed
from elmo_bench.pretrain.vocab import VocabConfig


def load_pretraining_source(settings: DataSettings, vocab_config: VocabConfig) -> PretrainingSource:
    """The packed corpus ``settings.packed`` when given, else the corpus ``settings.corpus``
    (tokenized and cached, vocabulary built or read, both splits encoded); with the WikiText-2
    splits of ``settings.wikitext_dir`` as extra evaluation corpora.

    Raises:
        CorpusError: no corpus files, unreadable files or no text (from the corpus reader).
        VocabularyError: a malformed vocabulary file.
        PretrainError: an unreadable packed corpus, or a WikiText-2 file missing.
    """
    if settings.packed is not None:
        packed = Path(settings.packed)
        source = load_packed(packed, packed.with_name(packed.name + ".vocab"))
        source.description["data"] = asdict(settings)
    else:
        source = read_corpus_source(settings, vocab_config)
    source.extra_eval = read_wikitext_splits(settings.wikitext_dir, source.vocabulary)
    return source
