"""Nearest neighbours of a word in context (the idea of the ELMo paper's Table 4).

A contextual embedder gives "play" in "a Broadway play" a vector of its own. Its nearest
neighbours among the same word's occurrences in other sentences (a sample of the corpus the biLM
was trained on, embedded with one biLM layer, by default the top one) show whether the vector
follows the sense: the neighbours of the theatre "play" should be theatre plays. A static embedder
has one vector per word, so the best it can give are the nearest *words* of the vocabulary
(cosine over every vector), the same whatever the sentence.

Corpus sample: :func:`corpus_contexts` reads a pretraining corpus (WikiExtractor or plain-text
files, :mod:`elmo_bench.pretrain.corpus`), tokenizes the paragraphs that contain the word (a cheap
text search first: tokenizing the whole corpus would take minutes), splits them into sentences the
way pretraining did, and draws a seeded sample of the sentences that hold the word as a token.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elmo_bench.analysis.contexts import (
    ContextsError,
    Occurrence,
    marked_sentence,
    occurrence_vectors,
)
from elmo_bench.embedders.base import Embedder
from elmo_bench.embedders.vectors_file import StaticVectors
from elmo_bench.pretrain.corpus import find_file_shards, tokenize_paragraph


@dataclass(frozen=True)
class CorpusSample:
    """Sentences of a corpus that contain a word.

    Attributes:
        corpus: the corpus path.
        sentences: the sampled sentences (corpus order).
        candidates: how many distinct sentences held the word (before sampling).
    """

    corpus: str
    sentences: list[tuple[str, ...]]
    candidates: int


def corpus_contexts(
    corpus: str | Path, word: str, limit: int, max_tokens: int = 60, seed: int = 0
) -> CorpusSample:
    """A seeded sample of at most ``limit`` distinct corpus sentences holding ``word`` as a token.

    Args:
        corpus: a corpus file or folder (read as pretraining reads it).
        word: the token to look for (case-sensitive).
        limit: sentences to keep at most.
        max_tokens: skip longer sentences (they cost time, and long sentences are mostly lists).
        seed: the sampling seed.

    Raises:
        ContextsError: the corpus holds no sentence with ``word``.
        elmo_bench.pretrain.corpus.CorpusError: a missing or malformed corpus (names the file).
    """
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
    found: dict[tuple[str, ...], None] = {}
    for shard in find_file_shards(Path(corpus)):
        for document in shard.documents():
            for paragraph in document.paragraphs:
                if not pattern.search(paragraph):
                    continue
                for sentence in tokenize_paragraph(paragraph):
                    if word in sentence and len(sentence) <= max_tokens:
                        found.setdefault(tuple(sentence), None)
    if not found:
        raise ContextsError(
            f"{corpus}: no sentence of at most {max_tokens} tokens holds the token {word!r}"
        )
    sentences = list(found)
    chosen = sorted(random.Random(seed).sample(range(len(sentences)), min(limit, len(sentences))))
    return CorpusSample(str(corpus), [sentences[index] for index in chosen], len(sentences))


@dataclass(frozen=True)
class ContextNeighbour:
    """An occurrence of the word in a corpus sentence and its similarity to the query."""

    tokens: tuple[str, ...]
    position: int
    similarity: float

    def marked(self) -> str:
        return marked_sentence(self.tokens, self.position)


def _unit_rows(vectors: torch.Tensor) -> torch.Tensor:
    return vectors / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def nearest_in_context(
    embedder: Embedder,
    layer: int,
    queries: Sequence[Occurrence],
    sample: CorpusSample,
    word: str,
    k: int,
) -> list[list[ContextNeighbour]]:
    """For each query occurrence, the ``k`` most similar occurrences of ``word`` in ``sample``.

    Args:
        embedder: a contextual embedder (every sentence is embedded on its own).
        layer: the layer compared.
        queries: occurrences of ``word`` (their sentences are embedded too).
        sample: corpus sentences holding ``word``; a sentence equal to the query's is not its
            neighbour.
        word: the word.
        k: neighbours per query.

    Returns:
        Per query, its neighbours by decreasing cosine similarity (ties in sample order).
    """
    if not 0 <= layer < embedder.n_layers:
        raise ContextsError(f"{embedder.name} has layers 0..{embedder.n_layers - 1}, not {layer}")
    pool = [
        (row, position)
        for row, sentence in enumerate(sample.sentences)
        for position, token in enumerate(sentence)
        if token == word
    ]
    pool_vectors = _unit_rows(occurrence_vectors(embedder, sample.sentences, pool)[layer])
    query_sentences = list(dict.fromkeys(query.tokens for query in queries))
    row_of = {tokens: row for row, tokens in enumerate(query_sentences)}
    query_vectors = _unit_rows(
        occurrence_vectors(
            embedder, query_sentences, [(row_of[q.tokens], q.position) for q in queries]
        )[layer]
    )
    similarity = query_vectors @ pool_vectors.T  # [n_queries, n_pool]
    results = []
    for query, scores in zip(queries, similarity, strict=True):
        neighbours = []
        for index in torch.argsort(scores, descending=True, stable=True).tolist():
            row, position = pool[index]
            if sample.sentences[row] == query.tokens:
                continue
            neighbours.append(ContextNeighbour(sample.sentences[row], position, float(scores[index])))
            if len(neighbours) == k:
                break
        results.append(neighbours)
    return results


def nearest_words(vectors: StaticVectors, word: str, k: int) -> list[tuple[str, float]]:
    """The ``k`` words of the vocabulary closest to ``word`` by cosine (``word`` itself, or its
    lower-cased form when it is missing, excluded).

    Raises:
        ContextsError: neither ``word`` nor its lower-cased form has a vector.
    """
    row = vectors.index.get(word, vectors.index.get(word.lower()))
    if row is None:
        raise ContextsError(f"{word!r} is not in the static vectors' vocabulary")
    table = vectors.vectors.astype(np.float64)
    norms = np.linalg.norm(table, axis=1)
    scores = table @ table[row] / np.maximum(norms * norms[row], 1e-12)
    best = [index for index in np.argsort(-scores, kind="stable") if index != row][:k]
    return [(vectors.words[index], float(scores[index])) for index in best]


@dataclass(frozen=True)
class NeighbourReport:
    """Neighbours in context for each query occurrence, and the static nearest words."""

    embedder: str
    layer: int
    sample: CorpusSample
    queries: list[Occurrence]
    neighbours: list[list[ContextNeighbour]]
    static_embedder: str | None
    static_words: list[tuple[str, float]] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "layer": self.layer,
            "corpus": self.sample.corpus,
            "corpus_sentences_with_word": self.sample.candidates,
            "sampled_sentences": len(self.sample.sentences),
            "queries": [
                {
                    "line": query.line_number,
                    "sense": query.sense,
                    "sentence": query.marked(),
                    "neighbours": [
                        {"sentence": neighbour.marked(), "similarity": round(neighbour.similarity, 6)}
                        for neighbour in neighbours
                    ],
                }
                for query, neighbours in zip(self.queries, self.neighbours, strict=True)
            ],
            "static_embedder": self.static_embedder,
            "static_nearest_words": None
            if self.static_words is None
            else [{"word": w, "similarity": round(s, 6)} for w, s in self.static_words],
        }

    def to_markdown(self, first_per_sense: bool = False) -> str:
        """The neighbours as markdown; ``first_per_sense`` keeps only the first query of each
        sense (a short version for the terminal)."""
        shown = [
            index for index, query in enumerate(self.queries)
            if not first_per_sense
            or all(other.sense != query.sense for other in self.queries[:index])
        ]
        lines = [
            "## Nearest neighbours in context",
            "",
            f"{self.embedder} layer {self.layer}: for each sentence, the closest occurrences of "
            f"the word among {len(self.sample.sentences)} sentences sampled from "
            f"`{self.sample.corpus}` ({self.sample.candidates} hold the word).",
            "",
        ]
        if self.static_words is not None:
            words = ", ".join(f"{word} ({score:.2f})" for word, score in self.static_words)
            lines += [f"{self.static_embedder} nearest words (any context): {words}", ""]
        lines += ["| query | sense | nearest in context | cosine |", "|---|---|---|---|"]
        for index in shown:
            query, neighbours = self.queries[index], self.neighbours[index]
            for rank, neighbour in enumerate(neighbours):
                first = rank == 0
                lines.append(
                    f"| {_cell(query.marked()) if first else ''} | "
                    f"{(query.sense or '') if first else ''} | {_cell(neighbour.marked())} | "
                    f"{neighbour.similarity:.3f} |"
                )
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")
