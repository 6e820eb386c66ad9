"""Per-example outcomes: what each scored example contributes to its split's corpus-level scores.

A cell result stores, for every dev and test example, just enough to recompute the task's scores
on any subset or resample of the examples, which is what a paired significance test needs:

=================  ==============================================================================
kind               per example (arrays in example order)
=================  ==============================================================================
``classification`` ``gold`` and ``predicted``: indices into ``labels`` (the classes in gold or
                   predictions, sorted). Scores: accuracy, macro-F1 over the classes present in
                   the (re)sample's gold or predictions, as scikit-learn averages them.
``entity_spans``   ``true_positive``, ``predicted``, ``gold``: strict entity counts of the sentence.
                   Scores: micro precision, recall, F1 of the summed counts, as seqeval computes
                   them (strict mode).
``squad``          ``exact_match`` (0/1) and ``f1`` (0..1) of the question, best over references.
                   Scores: their means (the official v1.1 script's numbers).
=================  ==============================================================================

Arrays are stored as one string of space-separated decimal numbers each (floats in Python's
shortest round-trip form), so a record is compact and reads back bit for bit.

Each record turns into :class:`ExampleOutcomes`: a matrix of additive counts, one row per example,
and the function from summed counts to scores. Summing rows picked with replacement and applying
the function gives the scores of a bootstrap resample, for many resamples at once.
:func:`checked_outcomes` is the one place that derives a split's score from its record and holds
it to the score the task's scorer reported (the cell that writes a record and the report that
reads it both check it there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elmo_bench.errors import ElmoBenchError
from elmo_bench.metrics.ner import sentence_span_counts
from elmo_bench.metrics.squad import question_scores

ARRAY_ENCODING = "space-separated decimal"
SCORE_TOLERANCE = 1e-9
"""How far the score derived from a record may be from the scorer's: floating-point summation
order, nothing more."""


class OutcomeRecordError(ElmoBenchError, ValueError):
    """A per-example record that is malformed (unknown kind, missing or inconsistent arrays)."""


def encode_numbers(values: Iterable[float]) -> str:
    """``values`` as space-separated decimals; integral values without a fraction (``1``, not
    ``1.0``), others in Python's shortest form that reads back to the same float."""
    return " ".join(
        str(int(value)) if float(value).is_integer() else repr(float(value)) for value in values
    )


def decode_numbers(text: Any, what: str) -> np.ndarray:
    """The float64 array ``[n]`` encoded by :func:`encode_numbers`.

    Raises:
        OutcomeRecordError: ``text`` is not a string of decimal numbers; ``what`` names the array.
    """
    if not isinstance(text, str):
        raise OutcomeRecordError(f"{what}: expected a string of numbers, got {type(text).__name__}")
    try:
        values = np.array([float(token) for token in text.split()], dtype=np.float64)
    except ValueError as error:
        raise OutcomeRecordError(f"{what}: not a list of decimal numbers ({error})") from None
    if not np.all(np.isfinite(values)):
        raise OutcomeRecordError(f"{what}: holds a value that is not finite")
    return values


# ------------------------------------------------------------------------------ building records


def classification_record(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """The ``classification`` record of ``predicted`` labels against ``gold`` (one per example)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predicted")
    labels = sorted(set(gold) | set(predicted))
    index = {label: position for position, label in enumerate(labels)}
    return {
        "kind": "classification",
        "examples": len(gold),
        "labels": labels,
        "gold": encode_numbers(index[label] for label in gold),
        "predicted": encode_numbers(index[label] for label in predicted),
    }


def entity_span_record(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """The ``entity_spans`` record of ``predicted`` IOB2 tag sequences against ``gold``."""
    counts = sentence_span_counts(gold, predicted)
    return {
        "kind": "entity_spans",
        "examples": len(counts),
        "true_positive": encode_numbers(tp for tp, _, _ in counts),
        "predicted": encode_numbers(n_predicted for _, n_predicted, _ in counts),
        "gold": encode_numbers(n_gold for _, _, n_gold in counts),
    }


def squad_record(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The ``squad`` record of ``predictions`` (answer texts) against each question's reference
    answers."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} questions")
    scores = [
        question_scores(prediction, answers)
        for prediction, answers in zip(predictions, references, strict=True)
    ]
    return {
        "kind": "squad",
        "examples": len(scores),
        "exact_match": encode_numbers(em for em, _ in scores),
        "f1": encode_numbers(f1 for _, f1 in scores),
    }


# ------------------------------------------------------------------------------ reading records


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0."""
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _classification_scores(totals: np.ndarray) -> dict[str, np.ndarray]:
    n_classes = (totals.shape[-1] - 2) // 3
    correct, examples = totals[..., 0], totals[..., 1]
    true_positive = totals[..., 2 : 2 + n_classes]
    predicted = totals[..., 2 + n_classes : 2 + 2 * n_classes]
    gold = totals[..., 2 + 2 * n_classes :]
    # scikit-learn's F1 of a class is 2 tp / (2 tp + fp + fn) = 2 tp / (predicted + gold); the
    # macro average runs over the classes in gold or predictions.
    present = (predicted + gold) > 0
    class_f1 = _ratio(2.0 * true_positive, predicted + gold)
    return {
        "accuracy": correct / examples,
        "macro_f1": _ratio(class_f1.sum(axis=-1), present.sum(axis=-1).astype(np.float64)),
    }


def _entity_span_scores(totals: np.ndarray) -> dict[str, np.ndarray]:
    true_positive, predicted, gold = totals[..., 0], totals[..., 1], totals[..., 2]
    precision = _ratio(true_positive, predicted)
    recall = _ratio(true_positive, gold)
    # seqeval's formula and operation order, so that the full set gives its F1 bit for bit.
    denominator = precision + recall
    f1 = 2.0 * precision * recall / np.where(denominator == 0, 1.0, denominator)
    return {"f1": f1, "precision": precision, "recall": recall}


def _squad_scores(totals: np.ndarray) -> dict[str, np.ndarray]:
    return {"exact_match": totals[..., 0] / totals[..., 2], "f1": totals[..., 1] / totals[..., 2]}


@dataclass(frozen=True)
class ExampleOutcomes:
    """One split's per-example outcomes as additive counts.

    Attributes:
        kind: the record kind (``classification``, ``entity_spans``, ``squad``).
        counts: ``[n_examples, n_counts]`` float64; summing rows gives the counts of those
            examples together, from which :meth:`scores` computes the corpus-level scores.
    """

    kind: str
    counts: np.ndarray

    @property
    def n_examples(self) -> int:
        return int(self.counts.shape[0])

    def scores(self, totals: np.ndarray) -> dict[str, np.ndarray]:
        """Scores from summed counts ``[..., n_counts]``; each score has shape ``[...]``."""
        return _SCORERS[self.kind](np.asarray(totals, dtype=np.float64))

    def score(self, name: str, totals: np.ndarray | None = None) -> np.ndarray:
        """Score ``name`` of ``totals`` (default: all examples).

        Raises:
            OutcomeRecordError: this kind of record cannot give ``name``.
        """
        scores = self.scores(self.counts.sum(axis=0) if totals is None else totals)
        if name not in scores:
            raise OutcomeRecordError(
                f"a {self.kind} record gives the scores {', '.join(scores)}, not {name!r}"
            )
        return scores[name]


_SCORERS = {
    "classification": _classification_scores,
    "entity_spans": _entity_span_scores,
    "squad": _squad_scores,
}
_ARRAYS = {
    "classification": ("gold", "predicted"),
    "entity_spans": ("true_positive", "predicted", "gold"),
    "squad": ("exact_match", "f1"),
}


def _arrays(record: Mapping[str, Any], kind: str) -> dict[str, np.ndarray]:
    if "examples" not in record:
        raise OutcomeRecordError(f"{kind} record: no 'examples' count")
    n_examples = record["examples"]
    if not isinstance(n_examples, int) or isinstance(n_examples, bool) or n_examples < 1:
        raise OutcomeRecordError(f"{kind} record: 'examples' must be a positive integer")
    arrays = {}
    for name in _ARRAYS[kind]:
        if name not in record:
            raise OutcomeRecordError(f"{kind} record: no {name!r} array")
        values = decode_numbers(record[name], f"{kind} record {name!r}")
        if len(values) != n_examples:
            raise OutcomeRecordError(
                f"{kind} record: {name!r} has {len(values)} values for {n_examples} examples"
            )
        if name != "f1" and not np.all((values >= 0) & (values == np.round(values))):
            raise OutcomeRecordError(f"{kind} record: {name!r} holds a value that is not a count")
        arrays[name] = values
    return arrays


def _classification_counts(record: Mapping[str, Any], arrays: dict[str, np.ndarray]) -> np.ndarray:
    labels = record.get("labels")
    if not isinstance(labels, list) or not labels:
        raise OutcomeRecordError("classification record: 'labels' must be a non-empty list")
    gold, predicted = arrays["gold"].astype(np.int64), arrays["predicted"].astype(np.int64)
    if max(gold.max(), predicted.max()) >= len(labels):
        raise OutcomeRecordError(
            f"classification record: a label index is beyond the {len(labels)} labels"
        )
    classes = np.arange(len(labels))
    gold_onehot = (gold[:, None] == classes).astype(np.float64)
    predicted_onehot = (predicted[:, None] == classes).astype(np.float64)
    correct = (gold == predicted).astype(np.float64)
    true_positive = gold_onehot * correct[:, None]
    return np.column_stack(
        [correct, np.ones_like(correct), true_positive, predicted_onehot, gold_onehot]
    )


def _entity_span_counts(arrays: dict[str, np.ndarray]) -> np.ndarray:
    counts = np.column_stack([arrays["true_positive"], arrays["predicted"], arrays["gold"]])
    if np.any(counts[:, 0] > np.minimum(counts[:, 1], counts[:, 2])):
        raise OutcomeRecordError(
            "entity_spans record: a sentence has more true positives than predicted or gold spans"
        )
    return counts


def _squad_counts(arrays: dict[str, np.ndarray]) -> np.ndarray:
    exact_match, f1 = arrays["exact_match"], arrays["f1"]
    if np.any(exact_match > 1) or np.any((f1 < 0) | (f1 > 1)):
        raise OutcomeRecordError("squad record: exact_match must be 0/1 and f1 within [0, 1]")
    return np.column_stack([exact_match, f1, np.ones_like(f1)])


def outcomes_from_record(record: Mapping[str, Any]) -> ExampleOutcomes:
    """Parse and check a record made by :func:`classification_record`,
    :func:`entity_span_record` or :func:`squad_record` (extra keys are allowed).

    Raises:
        OutcomeRecordError: the record is malformed; the message says what is wrong.
    """
    if not isinstance(record, Mapping):
        raise OutcomeRecordError(
            f"a per-example record must be an object, got {type(record).__name__}"
        )
    kind = record.get("kind")
    if kind not in _SCORERS:
        raise OutcomeRecordError(
            f"unknown per-example record kind {kind!r}; expected one of {', '.join(_SCORERS)}"
        )
    arrays = _arrays(record, kind)
    if kind == "classification":
        counts = _classification_counts(record, arrays)
    elif kind == "entity_spans":
        counts = _entity_span_counts(arrays)
    else:
        counts = _squad_counts(arrays)
    return ExampleOutcomes(kind=kind, counts=counts)


def checked_outcomes(record: Mapping[str, Any], metric: str, reported: float) -> ExampleOutcomes:
    """:func:`outcomes_from_record`, after checking that the record gives back the score
    ``reported`` for ``metric`` (within :data:`SCORE_TOLERANCE`).

    Raises:
        OutcomeRecordError: the record is malformed, cannot give ``metric``, or gives another
            score; the message says which.
    """
    outcomes = outcomes_from_record(record)
    derived = float(outcomes.score(metric))
    if abs(derived - reported) > SCORE_TOLERANCE:
        raise OutcomeRecordError(
            f"the per-example outcomes give {metric} {derived!r}, but the reported score is "
            f"{reported!r}"
        )
    return outcomes
