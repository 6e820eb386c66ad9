"""Where a run's text and vocabulary come from, and a run's source read from a corpus."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from elmo_bench.pretrain.bilm.data import LmCorpus, PretrainingSource
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.corpus import CorpusConfig, build_tokenized_corpus
from elmo_bench.pretrain.vocab import (
    VocabConfig,
    Vocabulary,
    build_vocabulary,
    encode_corpus,
    vocabulary_folder,
)
from elmo_bench.settings import check_fields, integer, number


@dataclass(frozen=True)
class DataSettings:
    """Where a run's text and vocabulary come from.

    Attributes:
        corpus: corpus file or folder (WikiExtractor shards or plain text).
        held_out_fraction: share of documents held out for perplexity.
        workers: tokenizer processes (first run only: the tokenized corpus is cached).
        vocab_file: a bilm-tf vocabulary file to use instead of building one from the corpus.
        wikitext_dir: a folder with WikiText-2 ``valid.txt``/``test.txt`` for the final evaluation.
        packed: a packed corpus file (:mod:`elmo_bench.pretrain.packed`) to read instead of
            ``corpus``; it carries its own vocabulary and held-out split.
    """

    corpus: str
    held_out_fraction: float = number(0.01, minimum=0, below=1)
    workers: int = integer(2, minimum=1)
    vocab_file: str | None = None
    wikitext_dir: str | None = None
    packed: str | None = None

    def __post_init__(self) -> None:
        check_fields(self, "data", PretrainError)


def read_corpus_source(settings: DataSettings, vocab_config: VocabConfig) -> PretrainingSource:
    """Tokenize ``settings.corpus`` (cached), build or read the vocabulary, encode both splits
    (no extra evaluation corpora: :func:`~elmo_bench.pretrain.bilm.sources.load_pretraining_source`
    adds WikiText-2).

    Raises:
        CorpusError: no corpus files, unreadable files or no text (from the corpus reader).
        VocabularyError: a malformed vocabulary file.
    """
    corpus = build_tokenized_corpus(
        CorpusConfig(path=settings.corpus, held_out_fraction=settings.held_out_fraction, workers=settings.workers)
    )
    if settings.vocab_file is not None:
        vocabulary_path = Path(settings.vocab_file)
        vocabulary = Vocabulary.load(vocabulary_path)
    else:
        vocabulary = build_vocabulary(corpus, vocab_config)
        vocabulary_path = vocabulary_folder(corpus, vocab_config) / "vocab.txt"
    train = LmCorpus.from_encoded(encode_corpus(corpus, vocabulary, "train"))
    heldout = LmCorpus.from_encoded(encode_corpus(corpus, vocabulary, "heldout"))
    description = {
        "data": asdict(settings),
        "corpus_fingerprint": corpus.fingerprint,
        "train_tokens": train.n_tokens,
        "train_sentences": train.n_sentences,
        "heldout_tokens": heldout.n_tokens,
        "vocabulary_size": len(vocabulary),
        "vocabulary_fingerprint": vocabulary.fingerprint,
        "vocabulary_path": str(vocabulary_path),
    }
    return PretrainingSource(train, heldout, vocabulary, vocabulary_path, {}, description)
