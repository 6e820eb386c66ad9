"""The word vocabulary shared by the biLM and GloVe, and the corpus encoded with it.

A :class:`Vocabulary` holds the special tokens ``<S>``, ``</S>``, ``<UNK>`` (ids 0, 1, 2) followed
by the training split's words, most frequent first (ties by text), cut at ``max_words`` and
``min_count``. Saved in bilm-tf's vocabulary file format: one token per line, the specials first.

:func:`encode_corpus` maps one split of a :class:`~elmo_bench.pretrain.corpus.TokenizedCorpus` to
vocabulary ids (``<UNK>`` for words outside the vocabulary) and caches the int32 array next to the
vocabulary, under the tokenized corpus's cache folder::

    <corpus cache>/vocab-<key>/vocab.txt             bilm-tf vocabulary file
    <corpus cache>/vocab-<key>/vocab.txt.counts.npy  int64 [vocab size]: training counts
    <corpus cache>/encoded-<vocab>/<split>.npy       int32 [n_tokens]: the split as vocabulary ids

``<key>`` covers the corpus fingerprint (files, tokenizer, splitting) and the vocabulary settings;
``<vocab>`` is the vocabulary's own fingerprint, so any vocabulary (also one read from a file) can
encode the corpus. Each file is written once, atomically, under a file lock beside it
(``<file>.lock``); the temporary file of a write that was killed is removed by the next one.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from elmo_bench.atomic import remove_temporaries, write_atomically, writing_once
from elmo_bench.digest import content_digest
from elmo_bench.errors import ElmoBenchError
from elmo_bench.pretrain.corpus import (
    CorpusConfig,
    CorpusSplit,
    SplitName,
    TokenizedCorpus,
    build_tokenized_corpus,
)
from elmo_bench.settings import check_fields, integer

BOS = "<S>"
EOS = "</S>"
UNK = "<UNK>"
SPECIAL_TOKENS = (BOS, EOS, UNK)
VOCAB_CACHE_VERSION = 2


class VocabularyError(ElmoBenchError, ValueError):
    """A vocabulary file or setting that cannot be used."""


@dataclass(frozen=True)
class VocabConfig:
    """Vocabulary cut-off.

    Attributes:
        max_words: most words kept (the specials come on top), or None for no limit.
        min_count: least training count of a kept word.
    """

    max_words: int | None = integer(50_000, minimum=1, optional=True)
    min_count: int = integer(5, minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "vocab", VocabularyError)


class Vocabulary:
    """Token <-> id mapping with the bilm-tf special tokens.

    Attributes:
        tokens: token of each id.
        token_to_id: id of each token.
        counts: int64 ``[len(self)]`` training counts (``<S>`` and ``</S>``: number of sentences;
            ``<UNK>``: number of out-of-vocabulary tokens), or None when read from a bare file.
    """

    def __init__(self, tokens: Sequence[str], counts: np.ndarray | None = None) -> None:
        self.tokens = list(tokens)
        self.token_to_id = {token: index for index, token in enumerate(self.tokens)}
        if len(self.token_to_id) != len(self.tokens):
            seen: set[str] = set()
            duplicate = next(token for token in self.tokens if token in seen or seen.add(token))
            raise VocabularyError(f"vocabulary lists {duplicate!r} more than once")
        missing = [token for token in SPECIAL_TOKENS if token not in self.token_to_id]
        if missing:
            raise VocabularyError(f"vocabulary lacks the special token(s) {missing}")
        if counts is not None and len(counts) != len(self.tokens):
            raise VocabularyError(
                f"{len(counts)} counts given for a vocabulary of {len(self.tokens)} tokens"
            )
        self.counts = counts
        self.bos_id = self.token_to_id[BOS]
        self.eos_id = self.token_to_id[EOS]
        self.unk_id = self.token_to_id[UNK]

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_id

    def id(self, token: str) -> int:
        """Id of ``token``, ``<UNK>``'s id when it is not in the vocabulary."""
        return self.token_to_id.get(token, self.unk_id)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """int32 ``[len(tokens)]`` ids."""
        return np.fromiter((self.id(token) for token in tokens), dtype=np.int32, count=len(tokens))

    @property
    def words(self) -> list[str]:
        """The tokens that are not special tokens, in id order."""
        return [token for token in self.tokens if token not in SPECIAL_TOKENS]

    @property
    def fingerprint(self) -> str:
        """Hex digest of the token list (ids depend on nothing else)."""
        return hashlib.sha256("\n".join(self.tokens).encode("utf-8")).hexdigest()[:16]

    def save(self, path: Path) -> None:
        """Write the bilm-tf vocabulary file (and, when counts are known, ``<file>.counts.npy``
        beside it, first: a vocabulary file is never without its counts), atomically."""
        path = Path(path)
        if self.counts is not None:
            _write_npy(_counts_path(path), self.counts)
        text = "".join(token + "\n" for token in self.tokens)
        write_atomically(path, lambda temp: temp.write_text(text, encoding="utf-8"))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """Read a bilm-tf vocabulary file (counts from ``<file>.counts.npy``, if present).

        Raises:
            VocabularyError: an empty line, a token listed twice (with line numbers), or a
                missing special token.
        """
        path = Path(path)
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        first_line: dict[str, int] = {}
        for line_number, token in enumerate(lines, start=1):
            if not token.strip():
                raise VocabularyError(f"{path}: line {line_number}: empty token")
            if token in first_line:
                raise VocabularyError(
                    f"{path}: line {line_number}: {token!r} already on line {first_line[token]}"
                )
            first_line[token] = line_number
        counts_path = _counts_path(path)
        counts = np.load(counts_path) if counts_path.exists() else None
        try:
            return cls(lines, counts)
        except VocabularyError as error:
            raise VocabularyError(f"{path}: {error}") from error


def _counts_path(vocabulary_path: Path) -> Path:
    return vocabulary_path.with_name(vocabulary_path.name + ".counts.npy")


def _write_npy(path: Path, array: np.ndarray) -> None:
    write_atomically(path, lambda temp: np.save(temp, array, allow_pickle=False))


def vocabulary_from_counts(
    types: Sequence[str], type_counts: np.ndarray, n_sentences: int, config: VocabConfig
) -> Vocabulary:
    """The vocabulary of a corpus whose types are sorted by count (descending).

    Args:
        types: token strings, most frequent first.
        type_counts: int64 ``[len(types)]`` training counts, non-increasing.
        n_sentences: training sentences (the count of ``<S>`` and ``</S>``).
        config: the cut-off.
    """
    eligible = int(np.searchsorted(-type_counts, -config.min_count, side="right"))
    words: list[str] = []
    word_counts: list[int] = []
    limit = config.max_words if config.max_words is not None else eligible
    for type_id in range(eligible):
        if len(words) == limit:
            break
        if types[type_id] in SPECIAL_TOKENS:  # a literal "<UNK>" in the text is not a new word
            continue
        words.append(types[type_id])
        word_counts.append(int(type_counts[type_id]))
    n_unknown = int(type_counts.sum()) - sum(word_counts)
    counts = np.asarray([n_sentences, n_sentences, n_unknown, *word_counts], dtype=np.int64)
    return Vocabulary([*SPECIAL_TOKENS, *words], counts)


def vocabulary_folder(corpus: TokenizedCorpus, config: VocabConfig) -> Path:
    """Cache folder of ``config``'s vocabulary of ``corpus``."""
    parts = {"version": VOCAB_CACHE_VERSION, "corpus": corpus.fingerprint, **asdict(config)}
    key = content_digest(parts, 16)
    return corpus.root / f"vocab-{key}"


def build_vocabulary(corpus: TokenizedCorpus, config: VocabConfig) -> Vocabulary:
    """The vocabulary of ``corpus``'s training split, built once (under a lock) and cached
    (bilm-tf format)."""
    path = vocabulary_folder(corpus, config) / "vocab.txt"
    with writing_once(path) as to_build:
        if to_build:
            remove_temporaries(path.parent)  # a killed save's; the folder is this vocabulary's
            vocabulary = vocabulary_from_counts(
                corpus.types, corpus.type_counts, corpus.split("train").n_sentences, config
            )
            vocabulary.save(path)
            return vocabulary
    return Vocabulary.load(path)


@dataclass
class EncodedCorpus:
    """One split of a tokenized corpus as vocabulary ids, aligned with its token strings.

    Attributes:
        ids: int32 ``[n_tokens]`` (memory-mapped) vocabulary id of every token.
        split: the tokenized split (its ``token_types`` give the original strings, which a
            character-level model needs for out-of-vocabulary words).
        corpus: the tokenized corpus (its ``types`` map type ids to strings).
        vocabulary: the vocabulary of ``ids``.
    """

    ids: np.ndarray
    split: CorpusSplit
    corpus: TokenizedCorpus
    vocabulary: Vocabulary

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def sentence_offsets(self) -> np.ndarray:
        """int64 ``[n_sentences + 1]`` token offset of each sentence."""
        return self.split.sentence_offsets

    def sentences(self) -> Iterator[np.ndarray]:
        """Each sentence's int32 ids (views into :attr:`ids`, without ``<S>``/``</S>``)."""
        offsets = self.split.sentence_offsets
        for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
            yield self.ids[start:end]

    def sentence_tokens(self) -> Iterator[list[str]]:
        """Each sentence's token strings (the same sentences as :meth:`sentences`)."""
        types, token_types = self.corpus.types, self.split.token_types
        offsets = self.split.sentence_offsets
        for start, end in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
            yield [types[type_id] for type_id in token_types[start:end].tolist()]


def encode_corpus(
    corpus: TokenizedCorpus, vocabulary: Vocabulary, split: SplitName
) -> EncodedCorpus:
    """``split`` of ``corpus`` as ids of ``vocabulary``, cached under the corpus's folder by the
    vocabulary's fingerprint (encoded once, under a lock)."""
    path = corpus.root / f"encoded-{vocabulary.fingerprint}" / f"{split}.npy"
    data = corpus.split(split)
    with writing_once(path) as to_encode:  # a killed encoding's temporary file is removed by now
        if to_encode:
            type_to_id = np.fromiter(
                (vocabulary.id(token) for token in corpus.types), dtype=np.int32,
                count=len(corpus.types),
            )
            _write_npy(path, type_to_id[data.token_types])
    return EncodedCorpus(np.load(path, mmap_mode="r"), data, corpus, vocabulary)


@dataclass
class PretrainingData:
    """Everything a pretraining run reads: the tokenized corpus, its vocabulary, both splits."""

    corpus: TokenizedCorpus
    vocabulary: Vocabulary
    train: EncodedCorpus
    heldout: EncodedCorpus


def load_pretraining_data(
    corpus_config: CorpusConfig, vocab_config: VocabConfig
) -> PretrainingData:
    """Tokenize the corpus, build the vocabulary and encode both splits (each step cached)."""
    corpus = build_tokenized_corpus(corpus_config)
    vocabulary = build_vocabulary(corpus, vocab_config)
    return PretrainingData(
        corpus,
        vocabulary,
        encode_corpus(corpus, vocabulary, "train"),
        encode_corpus(corpus, vocabulary, "heldout"),
    )
