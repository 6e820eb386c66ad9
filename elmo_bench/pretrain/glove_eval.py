"""Small intrinsic checks of word vectors: word similarity, analogies, nearest neighbours.

The built-in sets are evidence that vectors are real, not benchmark numbers: the similarity pairs
are well-known WordSim-353 pairs with human scores (0-10) written down from that set (they may
differ from the official file in the second decimal), and the analogies are in the style of
Mikolov et al.'s question set, restricted to frequent words so that a vocabulary trained on tens of
millions of tokens covers them. Words are cased as they appear in running text.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

WORD_SIMILARITY_PAIRS: tuple[tuple[str, str, float], ...] = (
    ("money", "cash", 9.15), ("journey", "voyage", 9.29), ("midday", "noon", 9.29),
    ("coast", "shore", 9.10), ("football", "soccer", 9.03), ("magician", "wizard", 9.02),
    ("gem", "jewel", 8.96), ("car", "automobile", 8.94), ("boy", "lad", 8.83),
    ("furnace", "stove", 8.79), ("king", "queen", 8.58), ("vodka", "gin", 8.46),
    ("Jerusalem", "Israel", 8.46), ("law", "lawyer", 8.38), ("bank", "money", 8.12),
    ("physics", "proton", 8.12), ("stock", "market", 8.08), ("movie", "theater", 7.92),
    ("baby", "mother", 7.85), ("wood", "forest", 7.73), ("computer", "keyboard", 7.62),
    ("computer", "internet", 7.58), ("tennis", "racket", 7.56), ("food", "fruit", 7.52),
    ("telephone", "communication", 7.50), ("book", "paper", 7.46), ("book", "library", 7.46),
    ("media", "radio", 7.42), ("movie", "star", 7.38), ("bird", "crane", 7.38),
    ("tiger", "cat", 7.35), ("physics", "chemistry", 7.35), ("company", "stock", 7.08),
    ("doctor", "nurse", 7.00), ("drink", "eat", 6.87), ("drug", "abuse", 6.85),
    ("football", "basketball", 6.81), ("student", "professor", 6.81),
    ("television", "radio", 6.77), ("bishop", "rabbi", 6.69), ("football", "tennis", 6.63),
    ("professor", "doctor", 6.62), ("tool", "implement", 6.46), ("train", "car", 6.31),
    ("brother", "monk", 6.27), ("bread", "butter", 6.19), ("king", "rook", 5.92),
    ("journey", "car", 5.85), ("plane", "car", 5.77), ("alcohol", "chemistry", 5.54),
    ("monk", "oracle", 5.00), ("space", "chemistry", 4.88), ("smart", "student", 4.62),
    ("lad", "brother", 4.46), ("coast", "hill", 4.38), ("stock", "live", 3.73),
    ("coast", "forest", 3.15), ("shore", "woodland", 3.08), ("drink", "car", 3.04),
    ("crane", "implement", 2.69), ("drink", "mother", 2.65), ("cemetery", "woodland", 2.08),
    ("glass", "magician", 2.08), ("forest", "graveyard", 1.85), ("stock", "egg", 1.81),
    ("stock", "phone", 1.62), ("drink", "ear", 1.31), ("stock", "jaguar", 0.92),
    ("monk", "slave", 0.92), ("lad", "wizard", 0.92), ("rooster", "voyage", 0.62),
    ("chord", "smile", 0.54), ("noon", "string", 0.54), ("professor", "cucumber", 0.31),
    ("king", "cabbage", 0.23),
)
"""``(word, word, human similarity 0-10)``, from WordSim-353."""

ANALOGY_QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    # capital : country
    ("Paris", "France", "Rome", "Italy"), ("Berlin", "Germany", "Madrid", "Spain"),
    ("Tokyo", "Japan", "Beijing", "China"), ("Moscow", "Russia", "Athens", "Greece"),
    ("Cairo", "Egypt", "Tehran", "Iran"), ("Stockholm", "Sweden", "Oslo", "Norway"),
    ("Ottawa", "Canada", "Canberra", "Australia"), ("Rome", "Italy", "Berlin", "Germany"),
    ("Madrid", "Spain", "Paris", "France"), ("Athens", "Greece", "Tokyo", "Japan"),
    # family
    ("man", "woman", "king", "queen"), ("boy", "girl", "brother", "sister"),
    ("father", "mother", "son", "daughter"), ("he", "she", "his", "her"),
    ("husband", "wife", "uncle", "aunt"), ("king", "queen", "prince", "princess"),
    ("brother", "sister", "father", "mother"), ("son", "daughter", "boy", "girl"),
    # country : nationality
    ("France", "French", "Germany", "German"), ("Italy", "Italian", "Spain", "Spanish"),
    ("China", "Chinese", "Japan", "Japanese"), ("Russia", "Russian", "Germany", "German"),
    ("England", "English", "France", "French"), ("Japan", "Japanese", "Italy", "Italian"),
    # plural
    ("car", "cars", "house", "houses"), ("city", "cities", "country", "countries"),
    ("year", "years", "day", "days"), ("man", "men", "woman", "women"),
    ("book", "books", "song", "songs"), ("child", "children", "man", "men"),
    # comparative and superlative
    ("good", "better", "bad", "worse"), ("big", "bigger", "small", "smaller"),
    ("large", "larger", "long", "longer"), ("good", "best", "bad", "worst"),
    ("high", "higher", "low", "lower"),
    # verb forms
    ("go", "went", "see", "saw"), ("take", "took", "give", "gave"),
    ("play", "playing", "write", "writing"), ("play", "played", "work", "worked"),
    ("know", "knew", "take", "took"),
    # adjective : adverb
    ("quick", "quickly", "slow", "slowly"), ("usual", "usually", "rapid", "rapidly"),
    ("complete", "completely", "final", "finally"),
)
"""``(a, b, c, d)``: a is to b as c is to d."""


@dataclass(frozen=True)
class SimilarityResult:
    """Spearman correlation of cosine similarities with human scores over the covered pairs."""

    spearman: float
    pairs_found: int
    pairs_total: int


@dataclass(frozen=True)
class AnalogyResult:
    """Share of covered questions whose answer is the nearest word (3CosAdd)."""

    accuracy: float
    correct: int
    questions_found: int
    questions_total: int


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 ``[n, dim]`` rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def similarity_spearman(
    words: Sequence[str], vectors: np.ndarray, pairs: Sequence[tuple[str, str, float]]
) -> SimilarityResult:
    """Spearman's rho between cosine similarity and the human scores of ``pairs`` whose two
    words are both in ``words`` (``vectors`` is ``[len(words), dim]``); NaN when fewer than 3."""
    index = {word: row for row, word in enumerate(words)}
    unit = _unit_rows(vectors)
    human, model = [], []
    for first, second, score in pairs:
        if first in index and second in index:
            human.append(score)
            model.append(float(unit[index[first]] @ unit[index[second]]))
    rho = float(spearmanr(human, model).statistic) if len(human) >= 3 else float("nan")
    return SimilarityResult(rho, len(human), len(pairs))


def analogy_accuracy(
    words: Sequence[str],
    vectors: np.ndarray,
    questions: Sequence[tuple[str, str, str, str]],
) -> AnalogyResult:
    """3CosAdd accuracy: for ``a : b :: c : d``, the answer is the word (other than a, b, c)
    whose unit vector is most cosine-similar to ``unit(b) - unit(a) + unit(c)``. Questions with a
    word outside ``words`` are skipped (and counted in ``questions_total`` only)."""
    index = {word: row for row, word in enumerate(words)}
    unit = _unit_rows(vectors)
    found = [question for question in questions if all(word in index for word in question)]
    correct = 0
    for a, b, c, d in found:
        scores = unit @ (unit[index[b]] - unit[index[a]] + unit[index[c]])
        scores[[index[a], index[b], index[c]]] = -np.inf
        correct += int(np.argmax(scores)) == index[d]
    accuracy = correct / len(found) if found else float("nan")
    return AnalogyResult(accuracy, correct, len(found), len(questions))


def nearest_neighbours(
    words: Sequence[str], vectors: np.ndarray, queries: Sequence[str], k: int = 10
) -> list[list[str]]:
    """The ``k`` words most cosine-similar to each query (the query itself excluded).

    Raises:
        KeyError: a query is not in ``words``.
    """
    index = {word: row for row, word in enumerate(words)}
    unit = _unit_rows(vectors)
    k = min(k, len(words) - 1)
    neighbours = []
    for query in queries:
        scores = unit @ unit[index[query]]
        scores[index[query]] = -np.inf
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
        neighbours.append([words[row] for row in top[np.argsort(-scores[top])]])
    return neighbours
