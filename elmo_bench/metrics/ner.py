"""Strict entity-span precision, recall and F1 for IOB2 tag sequences (CoNLL-2003's measure).

An entity counts as found only when type, first and last token all match. Scoring uses seqeval
(``mode="strict"``, ``scheme=IOB2``). Predicted tags are first read the way conlleval reads them:
an ``I-X`` that does not continue an ``X`` entity starts one (:func:`iob1_to_iob2`). On valid IOB2
this changes nothing; without it seqeval's strict mode would silently drop such entities from a
tagger that emits invalid transitions, and scores would no longer be conlleval's.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities

from elmo_bench.data.iob import IOB_TAG, iob1_to_iob2


@dataclass(frozen=True)
class SpanScores:
    """Precision, recall and F1 in [0, 1]; ``support`` is the number of gold entities."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class NerScores:
    """Micro-averaged scores over all entities, and the scores of each entity type."""

    overall: SpanScores
    per_type: dict[str, SpanScores]


def _checked(sequences: Sequence[Sequence[str]], name: str) -> list[list[str]]:
    checked = []
    for index, tags in enumerate(sequences):
        for tag in tags:
            if not isinstance(tag, str) or not IOB_TAG.fullmatch(tag):
                raise ValueError(
                    f"{name} sentence {index}: tag {tag!r} is not 'O' or 'B-'/'I-' plus a type"
                )
        checked.append(list(tags))
    return checked


def _scores(row: dict) -> SpanScores:
    return SpanScores(
        precision=float(row["precision"]),
        recall=float(row["recall"]),
        f1=float(row["f1-score"]),
        support=int(row["support"]),
    )


def _checked_pair(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> tuple[list[list[str]], list[list[str]]]:
    """Validated gold tags and predicted tags read as conlleval reads them (see the module doc)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    if not gold:
        raise ValueError("no sentences to score")
    gold_tags = _checked(gold, "gold")
    predicted_tags = [iob1_to_iob2(tags) for tags in _checked(predicted, "predicted")]
    for index, (gold_sentence, predicted_sentence) in enumerate(
        zip(gold_tags, predicted_tags, strict=True)
    ):
        if len(gold_sentence) != len(predicted_sentence):
            raise ValueError(
                f"sentence {index}: {len(gold_sentence)} gold tags "
                f"but {len(predicted_sentence)} predicted"
            )
    return gold_tags, predicted_tags


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> NerScores:
    """Strict span scores of ``predicted`` against ``gold``, one tag sequence per sentence.

    Raises:
        ValueError: no sentences, a different number of sentences or tags per sentence, or a tag
            that is not ``O``, ``B-TYPE`` or ``I-TYPE``.
    """
    gold_tags, predicted_tags = _checked_pair(gold, predicted)
    with warnings.catch_warnings():
        # Without any entity, seqeval's macro and weighted averages (unused here) warn about an
        # empty mean; the micro average is well defined (all zeros).
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(
            gold_tags, predicted_tags, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
        )
    averages = ("micro avg", "macro avg", "weighted avg")
    return NerScores(
        overall=_scores(report["micro avg"]),
        per_type={name: _scores(row) for name, row in report.items() if name not in averages},
    )


def sentence_span_counts(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> list[tuple[int, int, int]]:
    """Per sentence ``(true positive, predicted, gold)`` strict entity counts.

    The entities are seqeval's (``IOB2`` scheme, predictions read as :func:`span_f1` reads them),
    so summing the counts over any set of sentences gives the numerators and denominators of
    :func:`span_f1`'s micro-averaged precision, recall and F1 on that set.

    Raises:
        ValueError: as :func:`span_f1`.
    """
    gold_tags, predicted_tags = _checked_pair(gold, predicted)
    gold_entities = Entities(gold_tags, IOB2).entities
    predicted_entities = Entities(predicted_tags, IOB2).entities
    return [
        (len(set(gold_spans) & set(predicted_spans)), len(predicted_spans), len(gold_spans))
        for gold_spans, predicted_spans in zip(gold_entities, predicted_entities, strict=True)
    ]
