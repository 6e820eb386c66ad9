"""The project's one word tokenizer: spaCy's blank English tokenizer, with character offsets.

Task data (CoNLL-2003, SST, TREC) is PTB-style tokenized (``was n't``, ``( yet )``). Raw text (SQuAD
contexts and questions, the pretraining corpus) must be split the same way, or the embedders see
token shapes at test time that they never saw in training. ``spacy.blank("en")`` gives PTB-like
splits without downloading a model and reports where each token starts, which SQuAD needs to map
answer characters to tokens. Whitespace tokens (spaCy keeps runs of extra spaces, newlines and
non-breaking spaces as tokens of their own) are dropped: they carry no word.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.tokenizer import Tokenizer
    from spacy.tokens import Doc

TokenWithOffsets = tuple[str, int, int]
"""``(token, start, end)``: the token is ``text[start:end]``."""


@functools.cache
def _tokenizer() -> "Tokenizer":
    """The shared spaCy tokenizer, built once per process (building it takes about 0.3 s; spaCy is
    imported here, on first use, so code that only reads tokenized data runs without it)."""
    import spacy

    return spacy.blank("en").tokenizer


def _words(doc: "Doc") -> list[str]:
    return [token.text for token in doc if not token.is_space]


def _words_with_offsets(doc: "Doc") -> list[TokenWithOffsets]:
    words = []
    for token in doc:
        if not token.is_space:
            start = token.idx
            word = token.text
            words.append((word, start, start + len(word)))
    return words


def tokenize_with_offsets(text: str) -> list[TokenWithOffsets]:
    """Split ``text`` into tokens with their character offsets ``[start, end)`` into ``text``."""
    return _words_with_offsets(_tokenizer()(text))


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens (the tokens of :func:`tokenize_with_offsets`)."""
    return _words(_tokenizer()(text))


def tokenize_many_with_offsets(
    texts: Iterable[str], batch_size: int = 1000
) -> Iterator[list[TokenWithOffsets]]:
    """:func:`tokenize_with_offsets` over many texts, in order, using spaCy's batched ``pipe``."""
    for doc in _tokenizer().pipe(texts, batch_size=batch_size):
        yield _words_with_offsets(doc)


def tokenize_many(texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
    """:func:`tokenize` over many texts, in order, using spaCy's batched ``pipe``."""
    for doc in _tokenizer().pipe(texts, batch_size=batch_size):
        yield _words(doc)
