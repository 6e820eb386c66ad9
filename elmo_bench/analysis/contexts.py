"""Context sensitivity: one word in many sentences, its vectors compared layer by layer.

For every occurrence of a word in a set of sentences, each embedder gives one vector per layer
(ELMo: layer 0 = the context-free char-CNN token vector, layers 1..L = the biLSTM layers; GloVe:
its one layer). The cosine similarities between occurrences form a matrix per layer. When the
sentences are labelled with the word's sense (``river`` / ``finance`` for "bank"), each layer gets

- ``within``: the mean similarity over pairs of distinct occurrences with the same sense;
- ``across``: the mean over pairs with different senses;
- ``ratio = within / across`` (None when ``across <= 0``): 1 for a context-free vector (every
  occurrence of the word is the same vector, so every similarity is 1), above 1 when the layer
  separates the senses;
- ``nearest_same_sense``: for each occurrence, the share of its most similar other occurrences
  (all of them when tied) that have its sense, averaged: leave-one-out 1-nearest-neighbour sense
  accuracy, at chance level (the share of same-sense partners) for a context-free vector.

Sentence files: UTF-8, one whitespace-tokenized sentence a line, either ``sentence`` or
``SENSE<TAB>sentence`` (all lines the same way). Blank lines and lines starting with ``#`` are
skipped. Occurrences are tokens equal to the word (case-sensitive, as both embedders are);
sentences without the word are skipped and listed in the result. Built-in sets
(:data:`BUILTIN_WORDS`) live in ``examples/<word>.tsv`` beside this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.lines import numbered_lines
from elmo_bench.embedders.base import Embedder
from elmo_bench.errors import ElmoBenchError

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
BUILTIN_WORDS = tuple(sorted(path.stem for path in EXAMPLES_DIR.glob("*.tsv")))
"""Words with a built-in, sense-labelled sentence set."""

# Sentences per embed() call: bounds the padded [n_layers, batch, time, dim] tensor.
_EMBED_BATCH_SENTENCES = 256


class ContextsError(ElmoBenchError, ValueError):
    """Input that the context analysis cannot use: the message names the file, line or word."""


@dataclass(frozen=True)
class ContextSentence:
    """One line of a sentence file.

    Attributes:
        line_number: 1-based line in the file.
        tokens: the sentence's tokens.
        sense: the sense label, or None for a file without the sense column.
    """

    line_number: int
    tokens: tuple[str, ...]
    sense: str | None


@dataclass(frozen=True)
class Occurrence:
    """The word at ``tokens[position]`` of one sentence."""

    line_number: int
    tokens: tuple[str, ...]
    position: int
    sense: str | None

    def marked(self) -> str:
        return marked_sentence(self.tokens, self.position)


def marked_sentence(tokens: Sequence[str], position: int) -> str:
    """The sentence with one token in brackets: ``sat on the [bank] of``."""
    return " ".join(f"[{token}]" if index == position else token for index, token in enumerate(tokens))


def builtin_sentences(word: str) -> Path:
    """The built-in sentence file of ``word``.

    Raises:
        ContextsError: ``word`` has no built-in set (the message lists those that do).
    """
    path = EXAMPLES_DIR / f"{word}.tsv"
    if word not in BUILTIN_WORDS:
        raise ContextsError(
            f"no built-in sentences for {word!r} (built-in: {', '.join(BUILTIN_WORDS)}); give a "
            "file of sentences, one a line, optionally 'SENSE<TAB>sentence'"
        )
    return path


def read_context_sentences(path: str | Path) -> list[ContextSentence]:
    """Read a sentence file (see the module docstring for the format).

    Raises:
        ContextsError: the file is missing or has no sentences; a line has an empty sense or
            sentence or more than one tab; some lines have a sense column and others do not.
            Messages start with ``file:line:``.
    """
    path = Path(path)
    if not path.is_file():
        raise ContextsError(f"{path}: no such sentence file")
    sentences: list[ContextSentence] = []
    try:
        for line_number, line in numbered_lines(path, "utf-8"):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) > 2:
                raise ContextsError(
                    f"{path}:{line_number}: {len(fields) - 1} tabs; expected 'SENSE<TAB>sentence' "
                    "or a sentence without tabs"
                )
            sense = fields[0].strip() if len(fields) == 2 else None
            tokens = tuple(fields[-1].split())
            if sense == "" or not tokens:
                missing = "sense" if sense == "" else "sentence"
                raise ContextsError(f"{path}:{line_number}: empty {missing} in {line!r}")
            if sentences and (sense is None) != (sentences[0].sense is None):
                first = sentences[0]
                raise ContextsError(
                    f"{path}:{line_number}: {'no' if sense is None else 'a'} sense column, but "
                    f"line {first.line_number} has {'none' if first.sense is None else 'one'}; "
                    "label every line 'SENSE<TAB>sentence' or none"
                )
            sentences.append(ContextSentence(line_number, tokens, sense))
    except DataFormatError as error:
        raise ContextsError(str(error)) from error
    if not sentences:
        raise ContextsError(f"{path}: no sentences (the file is empty or holds only comments)")
    return sentences


def _find_occurrences(
    sentences: Sequence[ContextSentence], word: str, source: str | Path
) -> tuple[list[Occurrence], list[int]]:
    """Every token equal to ``word``, and the line numbers of sentences without it.

    Raises:
        ContextsError: ``word`` occurs nowhere (names ``source`` and any other-case forms found).
    """
    occurrences = [
        Occurrence(sentence.line_number, sentence.tokens, position, sentence.sense)
        for sentence in sentences
        for position, token in enumerate(sentence.tokens)
        if token == word
    ]
    if not occurrences:
        other_case = Counter(
            token for sentence in sentences for token in sentence.tokens
            if token.lower() == word.lower()
        )
        hint = (
            f"; it has {', '.join(f'{form!r} x{count}' for form, count in other_case.items())} "
            "(tokens are matched case-sensitively)" if other_case else ""
        )
        raise ContextsError(
            f"{source}: the word {word!r} does not occur in any of its {len(sentences)} "
            f"sentences{hint}"
        )
    found = {occurrence.line_number for occurrence in occurrences}
    skipped = [sentence.line_number for sentence in sentences if sentence.line_number not in found]
    return occurrences, skipped


def _check_senses(occurrences: Sequence[Occurrence], source: str | Path) -> None:
    """Grouping by sense needs a sense on every occurrence, two senses, and a sense seen twice.

    Raises:
        ContextsError: naming ``source`` and what is missing.
    """
    if occurrences[0].sense is None:
        raise ContextsError(
            f"{source}: line {occurrences[0].line_number} has no sense column; grouping by sense "
            "needs every line as 'SENSE<TAB>sentence' (or turn grouping off: --no-senses)"
        )
    counts = Counter(occurrence.sense for occurrence in occurrences)
    if len(counts) < 2:
        raise ContextsError(
            f"{source}: every occurrence has the sense {next(iter(counts))!r}; comparing senses "
            "needs at least two"
        )
    if max(counts.values()) < 2:
        raise ContextsError(
            f"{source}: no sense occurs twice ({dict(counts)}); the within-sense similarity "
            "needs two occurrences of one sense"
        )


@dataclass(frozen=True)
class ContextSet:
    """The occurrences of one word in a sentence file, checked and ready to embed.

    Attributes:
        word: the word.
        source: where the sentences came from (names it in messages and results).
        occurrences: in file order.
        skipped_lines: lines whose sentence does not contain the word.
        grouped: whether the occurrences are compared by sense.
    """

    word: str
    source: str
    occurrences: list[Occurrence]
    skipped_lines: list[int]
    grouped: bool


def load_context_set(word: str, path: str | Path, group_by_sense: bool = True) -> ContextSet:
    """Read ``path`` and find ``word``'s occurrences, checking everything the analysis needs.

    Raises:
        ContextsError: an unreadable or empty file, no occurrence of ``word`` (or only one),
            senses missing or too few when grouping. Messages name the file and the word.
    """
    sentences = read_context_sentences(path)
    occurrences, skipped = _find_occurrences(sentences, word, path)
    if group_by_sense:
        _check_senses(occurrences, path)
    if len(occurrences) < 2:
        raise ContextsError(f"{path}: {word!r} occurs once; comparing contexts needs two")
    return ContextSet(word, _source_name(Path(path)), occurrences, skipped, group_by_sense)


def _source_name(path: Path) -> str:
    """How results name a sentence file: built-in sets by their place in the package (the same
    on every machine), other files by the path given."""
    resolved = path.resolve()
    if resolved.parent == EXAMPLES_DIR:
        return f"built-in: elmo_bench/analysis/examples/{resolved.name}"
    return str(path)


def occurrence_vectors(
    embedder: Embedder, sentences: Sequence[Sequence[str]], positions: Sequence[tuple[int, int]]
) -> torch.Tensor:
    """The vectors of chosen tokens, from every layer.

    Args:
        embedder: any :class:`Embedder`.
        sentences: tokenized sentences.
        positions: ``(sentence index, token index)`` of each wanted token.

    Returns:
        float32 ``[n_layers, len(positions), dim]``.
    """
    wanted: dict[int, list[tuple[int, int]]] = {}
    for row, (sentence, position) in enumerate(positions):
        wanted.setdefault(sentence, []).append((row, position))
    vectors = torch.zeros(embedder.n_layers, len(positions), embedder.dim)
    indices = sorted(wanted)
    for start in range(0, len(indices), _EMBED_BATCH_SENTENCES):
        chunk = indices[start : start + _EMBED_BATCH_SENTENCES]
        layers = embedder.embed([list(sentences[index]) for index in chunk]).activations
        for batch_row, index in enumerate(chunk):
            for row, position in wanted[index]:
                vectors[:, row] = layers[:, batch_row, position]
    return vectors


def cosine_matrix(vectors: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    """float64 ``[n, n]`` cosine similarities of ``vectors [n, dim]`` (identical vectors: exactly 1).

    Raises:
        ContextsError: a zero vector (an out-of-vocabulary word), whose cosine is undefined;
            ``what`` names the embedder and layer in the message.
    """
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    if np.any(norms == 0):
        raise ContextsError(
            f"{what}: the word has a zero vector (out of the vocabulary?), so its cosine "
            "similarities are undefined"
        )
    unit = matrix / norms[:, None]
    similarity = np.clip(unit @ unit.T, -1.0, 1.0)
    # Identical vectors (a context-free layer) are exactly 1: the matrix product may round them
    # to 1 +- 1e-16 depending on where BLAS blocks the product.
    identical = (matrix[:, None, :] == matrix[None, :, :]).all(axis=-1)
    similarity[identical] = 1.0
    return similarity


@dataclass(frozen=True)
class SenseSeparation:
    """How well one layer's similarities separate the senses (see the module docstring)."""

    within: float
    across: float
    ratio: float | None
    nearest_same_sense: float


def sense_separation(similarity: np.ndarray, senses: Sequence[str]) -> SenseSeparation:
    """Within- and across-sense mean similarity, their ratio, and 1-NN sense accuracy.

    Args:
        similarity: ``[n, n]`` similarities of ``n`` occurrences.
        senses: the sense of each occurrence (two senses at least, one of them twice).
    """
    labels = np.asarray(senses)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    within = float(similarity[same & off_diagonal].mean())
    across = float(similarity[~same].mean())
    shares = []
    for row in range(len(labels)):
        others = off_diagonal[row]
        best = similarity[row][others].max()
        nearest = others & (similarity[row] == best)
        shares.append(same[row][nearest].mean())
    return SenseSeparation(
        within=within,
        across=across,
        ratio=within / across if across > 0 else None,
        nearest_same_sense=float(np.mean(shares)),
    )


@dataclass(frozen=True)
class LayerSimilarity:
    """One embedder layer: the occurrences' similarity matrix and what it says about senses.

    Attributes:
        embedder: the embedder's name (``elmo``, ``glove``).
        layer: the layer index.
        similarity: float64 ``[n_occurrences, n_occurrences]``.
        mean_similarity: mean over pairs of distinct occurrences.
        separation: by sense, or None when the occurrences are not grouped.
    """

    embedder: str
    layer: int
    similarity: np.ndarray
    mean_similarity: float
    separation: SenseSeparation | None


@dataclass
class ContextsAnalysis:
    """Everything :func:`analyse_contexts` found, plus optional nearest neighbours.

    Attributes:
        contexts: the occurrences compared.
        layers: one entry per (embedder, layer), embedders in the order given.
        fingerprints: embedder name -> its fingerprint.
        neighbours: a :class:`~elmo_bench.analysis.neighbours.NeighbourReport`, when asked.
    """

    contexts: ContextSet
    layers: list[LayerSimilarity]
    fingerprints: dict[str, str]
    neighbours: Any = field(default=None)

    @property
    def word(self) -> str:
        return self.contexts.word

    @property
    def occurrences(self) -> list[Occurrence]:
        return self.contexts.occurrences

    @property
    def grouped(self) -> bool:
        return self.contexts.grouped

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (similarity matrices as nested lists, 6 decimals)."""
        return {
            "word": self.word,
            "source": self.contexts.source,
            "occurrences": [
                {
                    "line": occurrence.line_number,
                    "sense": occurrence.sense,
                    "position": occurrence.position,
                    "sentence": occurrence.marked(),
                }
                for occurrence in self.occurrences
            ],
            "skipped_lines": self.contexts.skipped_lines,
            "embedders": self.fingerprints,
            "layers": [
                {
                    "embedder": layer.embedder,
                    "layer": layer.layer,
                    "mean_similarity": layer.mean_similarity,
                    **(
                        {
                            "within_sense": layer.separation.within,
                            "across_sense": layer.separation.across,
                            "ratio": layer.separation.ratio,
                            "nearest_same_sense": layer.separation.nearest_same_sense,
                        }
                        if layer.separation is not None
                        else {}
                    ),
                    "similarity": np.round(layer.similarity, 6).tolist(),
                }
                for layer in self.layers
            ],
            "neighbours": None if self.neighbours is None else self.neighbours.to_dict(),
        }

    def table_markdown(self) -> str:
        """The per-layer table as markdown."""
        if self.grouped:
            header = (
                "| embedder | layer | within-sense | across-sense | ratio | 1-NN same sense |\n"
                "|---|---|---|---|---|---|\n"
            )
            rows = [
                f"| {layer.embedder} | {layer.layer} | {layer.separation.within:.3f} | "
                f"{layer.separation.across:.3f} | "
                f"{'n/a' if layer.separation.ratio is None else f'{layer.separation.ratio:.3f}'} | "
                f"{layer.separation.nearest_same_sense:.3f} |"
                for layer in self.layers
            ]
        else:
            header = "| embedder | layer | mean similarity |\n|---|---|---|\n"
            rows = [
                f"| {layer.embedder} | {layer.layer} | {layer.mean_similarity:.3f} |"
                for layer in self.layers
            ]
        return header + "\n".join(rows) + "\n"

    def to_markdown(self, short: bool = False) -> str:
        """A report: what was compared, the per-layer table, the neighbours when present (for
        the first sentence of each sense only when ``short``)."""
        senses = Counter(occurrence.sense for occurrence in self.occurrences)
        counts = (
            ", ".join(f"{sense} {count}" for sense, count in senses.items())
            if self.grouped
            else f"{len(self.occurrences)}"
        )
        lines = [
            f"# Context sensitivity of \"{self.word}\"",
            "",
            f"Sentences: `{self.contexts.source}`; occurrences: {counts}. Cosine similarity between the "
            "word's vectors in different sentences, per embedder layer (ELMo layer 0 is the "
            "context-free char-CNN vector).",
        ]
        if self.grouped:
            lines.append(
                "ratio = mean within-sense / mean across-sense similarity (1 = blind to the "
                "sense); 1-NN same sense = share of occurrences whose most similar other "
                "occurrence has the same sense."
            )
        lines += ["", self.table_markdown()]
        if self.neighbours is not None:
            lines += [self.neighbours.to_markdown(first_per_sense=short)]
        return "\n".join(lines)


def analyse_contexts(contexts: ContextSet, embedders: Mapping[str, Embedder]) -> ContextsAnalysis:
    """Embed every occurrence with each embedder and compare the occurrences layer by layer.

    Args:
        contexts: from :func:`load_context_set`.
        embedders: name -> embedder; every layer of each is analysed.

    Raises:
        ContextsError: a zero vector (the word unknown to a static embedder).
    """
    occurrences = contexts.occurrences
    unique = list(dict.fromkeys(occurrence.tokens for occurrence in occurrences))
    row_of = {tokens: row for row, tokens in enumerate(unique)}
    positions = [(row_of[occurrence.tokens], occurrence.position) for occurrence in occurrences]
    senses = [occurrence.sense for occurrence in occurrences]
    off_diagonal = ~np.eye(len(occurrences), dtype=bool)
    layers = []
    for name, embedder in embedders.items():
        vectors = occurrence_vectors(embedder, unique, positions)
        for layer in range(embedder.n_layers):
            similarity = cosine_matrix(
                vectors[layer], f"{name} layer {layer}, word {contexts.word!r}"
            )
            layers.append(
                LayerSimilarity(
                    embedder=name,
                    layer=layer,
                    similarity=similarity,
                    mean_similarity=float(similarity[off_diagonal].mean()),
                    separation=sense_separation(similarity, senses) if contexts.grouped else None,
                )
            )
    return ContextsAnalysis(
        contexts=contexts,
        layers=layers,
        fingerprints={name: embedder.fingerprint for name, embedder in embedders.items()},
    )
