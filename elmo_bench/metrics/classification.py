"""Accuracy and macro-averaged F1 for single-label classification (scikit-learn)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from sklearn.metrics import accuracy_score, f1_score


@dataclass(frozen=True)
class ClassificationScores:
    """Accuracy and macro-F1 in [0, 1]; ``count`` is the number of examples."""

    accuracy: float
    macro_f1: float
    count: int


def classification_scores(
    gold: Sequence[Hashable], predicted: Sequence[Hashable]
) -> ClassificationScores:
    """Score ``predicted`` labels against ``gold``.

    Macro-F1 averages over the classes that occur in ``gold`` or in ``predicted`` (scikit-learn's
    default): a class absent from the test set does not count unless it is predicted, in which
    case its F1 is 0.

    Raises:
        ValueError: no examples, or ``gold`` and ``predicted`` of different lengths.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predicted")
    if not gold:
        raise ValueError("no examples to score")
    gold, predicted = list(gold), list(predicted)
    return ClassificationScores(
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, average="macro", zero_division=0)),
        count=len(gold),
    )
