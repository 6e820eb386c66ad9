"""The biLM's data: sentences as id arrays, what a run trains on, windows and batches.

Sentences longer than ``max_window`` positions are cut into windows overlapping by one
position, so each target is predicted exactly once per direction. Windows are grouped by exact
length and cut into batches of at most ``batch_tokens`` positions (no padding at all); the batch
order of an epoch is a function of ``(seed, epoch)`` only, so a run's data position is just
``(epoch, batch index)``. The char CNN runs once per distinct token of a batch.

Units: a *token* is one prediction target per direction (a word or the sentence-end marker).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elmo_bench.embedders.elmo.chars import token_char_ids
from elmo_bench.pretrain.vocab import BOS, EOS, EncodedCorpus, Vocabulary


@dataclass
class LmCorpus:
    """Sentences as two aligned id arrays: strings for the char CNN, vocabulary ids for the softmax.

    Attributes:
        token_types: int32 ``[n_tokens]`` index into ``types`` of every token.
        word_ids: int32 ``[n_tokens]`` vocabulary id of every token (``<UNK>`` when unknown).
        sentence_offsets: int64 ``[n_sentences + 1]``; sentence ``i`` is tokens
            ``sentence_offsets[i]:sentence_offsets[i + 1]`` (without ``<S>``/``</S>``).
        types: the token strings.
    """

    token_types: np.ndarray
    word_ids: np.ndarray
    sentence_offsets: np.ndarray
    types: Sequence[str]

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.sentence_offsets[-1] - self.sentence_offsets[0])

    @property
    def sentence_lengths(self) -> np.ndarray:
        """int64 ``[n_sentences]`` words per sentence."""
        return np.diff(self.sentence_offsets)

    @property
    def bos_type(self) -> int:
        """Type id used for ``<S>`` (one past the corpus's types)."""
        return len(self.types)

    @property
    def eos_type(self) -> int:
        return len(self.types) + 1

    def type_string(self, type_id: int) -> str:
        if type_id == self.bos_type:
            return BOS
        if type_id == self.eos_type:
            return EOS
        return self.types[type_id]

    def head(self, max_tokens: int) -> "LmCorpus":
        """The leading whole sentences holding at most ``max_tokens`` words (at least one sentence)."""
        start = self.sentence_offsets[0]
        count = max(1, int(np.searchsorted(self.sentence_offsets - start, max_tokens, side="right")) - 1)
        return LmCorpus(self.token_types, self.word_ids, self.sentence_offsets[: count + 1], self.types)

    @classmethod
    def from_encoded(cls, encoded: EncodedCorpus) -> "LmCorpus":
        """One split of the tokenized pretraining corpus."""
        return cls(encoded.split.token_types, encoded.ids, encoded.sentence_offsets, encoded.corpus.types)

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sequence[str]], vocabulary: Vocabulary) -> "LmCorpus":
        """Token-string sentences (empty ones dropped) encoded with ``vocabulary``."""
        sentences = [sentence for sentence in sentences if sentence]
        type_index: dict[str, int] = {}
        flat = [type_index.setdefault(token, len(type_index)) for sentence in sentences for token in sentence]
        types = list(type_index)
        type_to_word = vocabulary.encode(types)
        token_types = np.asarray(flat, dtype=np.int32)
        lengths = [len(sentence) for sentence in sentences]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(token_types, type_to_word[token_types] if len(flat) else token_types.copy(), offsets, types)


@dataclass
class PretrainingSource:
    """What a run trains and evaluates on.

    Attributes:
        train: the training sentences.
        heldout: held-out sentences (None or empty: no evaluation).
        vocabulary: the softmax vocabulary.
        vocabulary_path: where it was read from or saved (named in errors).
        extra_eval: further named evaluation corpora (WikiText-2 valid/test), used at the end.
        description: JSON-able record of the corpus and vocabulary settings.
    """

    train: LmCorpus
    heldout: LmCorpus | None
    vocabulary: Vocabulary
    vocabulary_path: Path
    extra_eval: dict[str, LmCorpus] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Windows:
    """Pieces of framed sentences, each at most ``max_window`` positions.

    Sentence ``i`` framed is ``n_i + 2`` positions (``<S>``, words, ``</S>``); window ``k`` of it
    starts at position ``k (max_window - 1)``, so consecutive windows share one position.

    Attributes:
        sentence: int64 ``[n_windows]`` sentence index.
        start: int64 ``[n_windows]`` first framed position.
        length: int64 ``[n_windows]`` positions (>= 2).
    """

    sentence: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, sentence_lengths: np.ndarray, max_window: int) -> "Windows":
        framed = np.asarray(sentence_lengths, dtype=np.int64) + 2
        per_sentence = -(-(framed - 1) // (max_window - 1))  # ceil((m - 1) / (W - 1))
        sentence = np.repeat(np.arange(len(framed), dtype=np.int64), per_sentence)
        first_window = np.cumsum(per_sentence) - per_sentence
        index_in_sentence = np.arange(len(sentence), dtype=np.int64) - np.repeat(first_window, per_sentence)
        start = index_in_sentence * (max_window - 1)
        length = np.minimum(max_window, framed[sentence] - start)
        return cls(sentence, start, length)

    def __len__(self) -> int:
        return len(self.sentence)


def plan_batches(window_lengths: np.ndarray, batch_tokens: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Group windows of equal length into batches of at most ``batch_tokens`` positions.

    Args:
        window_lengths: int ``[n_windows]``.
        batch_tokens: position budget of a batch.
        rng: shuffles the windows within each length and the order of the batches; None keeps
            corpus order (evaluation).

    Returns:
        Window-index arrays, one per batch; every window appears exactly once.
    """
    batches = []
    for length in np.unique(window_lengths):
        members = np.flatnonzero(window_lengths == length)
        if rng is not None:
            members = rng.permutation(members)
        rows = max(1, batch_tokens // int(length))
        batches.extend(members[i : i + rows] for i in range(0, len(members), rows))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


@dataclass
class LmBatch:
    """Windows of one length, as ids.

    Attributes:
        distinct_types: int64 ``[U]`` the distinct type ids of the batch (``<S>``/``</S>`` included).
        char_ids: int64 ``[U, 50]`` their character ids.
        token_index: int64 ``[B, T]`` index into ``distinct_types`` at every position.
        word_ids: int64 ``[B, T]`` vocabulary ids (the targets).
    """

    distinct_types: torch.Tensor
    char_ids: torch.Tensor
    token_index: torch.Tensor
    word_ids: torch.Tensor

    @property
    def n_targets(self) -> int:
        """Predictions per direction: ``B (T - 1)``."""
        rows, time = self.word_ids.shape
        return rows * (time - 1)

    def to(self, device: torch.device) -> "LmBatch":
        return LmBatch(*(tensor.to(device) for tensor in (self.distinct_types, self.char_ids, self.token_index, self.word_ids)))


def make_batch(corpus: LmCorpus, windows: Windows, members: np.ndarray, bos_word: int, eos_word: int) -> LmBatch:
    """The batch of windows ``members`` (all of one length) of ``corpus``."""
    sentence, start = windows.sentence[members], windows.start[members]
    time = int(windows.length[members[0]])
    position = start[:, None] + np.arange(time)[None, :]  # framed position, [B, T]
    n_words = corpus.sentence_lengths[sentence][:, None]
    token = np.clip(corpus.sentence_offsets[sentence][:, None] + position - 1, 0, max(len(corpus.token_types) - 1, 0))
    is_bos, is_eos = position == 0, position == n_words + 1
    types = np.where(is_bos, corpus.bos_type, np.where(is_eos, corpus.eos_type, corpus.token_types[token]))
    words = np.where(is_bos, bos_word, np.where(is_eos, eos_word, corpus.word_ids[token]))
    distinct, inverse = np.unique(types, return_inverse=True)
    char_ids = torch.tensor([token_char_ids(corpus.type_string(int(t))) for t in distinct], dtype=torch.long)
    return LmBatch(
        torch.from_numpy(distinct.astype(np.int64)),
        char_ids,
        torch.from_numpy(inverse.reshape(types.shape).astype(np.int64)),
        torch.from_numpy(words.astype(np.int64)),
    )
