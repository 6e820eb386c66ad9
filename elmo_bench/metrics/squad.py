"""SQuAD v1.1 exact match and F1, as defined by the official evaluation script (v1.1).

Hand-written on purpose: the official script is the definition of these numbers, and no well-kept
offline package exposes it without pulling in a training framework (torchmetrics brings Lightning
utilities, HF ``evaluate`` downloads the script at run time). The rules, all from that script:
answers are normalised (lower case, punctuation removed, the articles a/an/the removed, whitespace
collapsed); EM is 1 when the normalised prediction equals a normalised reference; F1 is computed on
the bags of normalised tokens; each question takes its best score over its references. Like v1.1
(unlike v2.0) an empty prediction gets F1 0 even against an empty reference.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class SquadScores:
    """Mean exact match and F1 in [0, 1] (the official script prints them times 100)."""

    exact_match: float
    f1: float
    count: int


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(character for character in text.lower() if character not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalised answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """F1 between the bags of normalised tokens of ``prediction`` and ``reference``."""
    prediction_tokens = normalize_answer(prediction).split()
    reference_tokens = normalize_answer(reference).split()
    overlap = sum(
        (collections.Counter(prediction_tokens) & collections.Counter(reference_tokens)).values()
    )
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def question_scores(prediction: str, references: Sequence[str]) -> tuple[float, float]:
    """``(exact match, F1)`` of one prediction: the best over the question's references."""
    if not references:
        raise ValueError("a question needs at least one reference answer")
    return (
        max(exact_match(prediction, reference) for reference in references),
        max(token_f1(prediction, reference) for reference in references),
    )


def squad_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> SquadScores:
    """Mean EM and F1 over all questions in ``references`` (question id -> reference answers).

    Raises:
        ValueError: no questions, or ``predictions`` (question id -> answer text) misses a question
            or has ids that are not questions. The official script scores a missing answer 0 and
            ignores extra ids; both mean the wrong split or a lost batch, so they are errors here.
    """
    if not references:
        raise ValueError("no questions to score")
    missing = references.keys() - predictions.keys()
    unknown = predictions.keys() - references.keys()
    if missing or unknown:
        raise ValueError(
            f"predictions miss {len(missing)} question(s) (e.g. {sorted(missing)[:3]}) and have "
            f"{len(unknown)} unknown id(s) (e.g. {sorted(unknown)[:3]})"
        )
    scores = [
        question_scores(predictions[question_id], answers)
        for question_id, answers in references.items()
    ]
    return SquadScores(
        exact_match=sum(em for em, _ in scores) / len(scores),
        f1=sum(f1 for _, f1 in scores) / len(scores),
        count=len(scores),
    )
