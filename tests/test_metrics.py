"""Task metrics against hand-computed values: span F1, SQuAD EM/F1, accuracy and macro-F1."""

from __future__ import annotations

import pytest

from elmo_bench.metrics.classification import classification_scores
from elmo_bench.metrics.ner import SpanScores, span_f1
from elmo_bench.metrics.squad import normalize_answer, question_scores, squad_scores, token_f1

# ---------------------------------------------------------------------------------------- NER


def test_span_boundary_error_counts_as_a_miss_and_a_false_alarm() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [
        ["B-PER", "O", "O", "B-LOC"],
        ["B-ORG", "O"],
    ]  # "Peter" instead of "Peter Blackburn"
    scores = span_f1(gold, predicted)
    # 3 gold entities, 3 predicted, 2 exactly right: P = R = F1 = 2/3.
    assert scores.overall == SpanScores(
        precision=pytest.approx(2 / 3),
        recall=pytest.approx(2 / 3),
        f1=pytest.approx(2 / 3),
        support=3,
    )
    assert scores.per_type["PER"] == SpanScores(0.0, 0.0, 0.0, 1)
    assert scores.per_type["LOC"].f1 == 1.0 and scores.per_type["ORG"].f1 == 1.0


def test_span_type_error_and_extra_entity() -> None:
    gold = [["B-PER", "I-PER", "O", "O", "B-LOC"]]
    predicted = [["B-ORG", "I-ORG", "O", "B-MISC", "B-LOC"]]
    overall = span_f1(gold, predicted).overall
    # 1 of 3 predicted is right, 1 of 2 gold is found: P = 1/3, R = 1/2, F1 = 2PR/(P+R) = 0.4.
    assert (overall.precision, overall.recall, overall.f1) == pytest.approx((1 / 3, 1 / 2, 0.4))


def test_invalid_iob2_prediction_is_read_as_conlleval_does() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]
    predicted = [["I-PER", "I-PER", "O", "B-LOC", "I-ORG"]]  # I-PER after nothing; I-ORG after LOC
    overall = span_f1(gold, predicted).overall
    # Entities read: PER[0:2] (right), LOC[3:4] and ORG[4:5] (both wrong): P = 1/3, R = 1/2.
    assert (overall.precision, overall.recall) == pytest.approx((1 / 3, 1 / 2))


@pytest.mark.parametrize(
    ("gold", "predicted", "message"),
    [
        ([["O"]], [["O"], ["O"]], "1 gold sentences but 2 predicted"),
        ([["O", "O"]], [["O"]], "sentence 0: 2 gold tags but 1 predicted"),
        ([["O"]], [["PER"]], "predicted sentence 0: tag 'PER'"),
        ([], [], "no sentences"),
    ],
)
def test_span_f1_rejects_bad_input(gold: list, predicted: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        span_f1(gold, predicted)


# -------------------------------------------------------------------------------------- SQuAD


def test_normalisation_drops_case_punctuation_articles_and_extra_space() -> None:
    assert normalize_answer('  The Denver Broncos\' "win", an upset!') == "denver broncos win upset"
    assert normalize_answer("Theater a-b") == "theater ab"  # only whole-word articles go


@pytest.mark.parametrize(
    ("prediction", "references", "exact", "f1"),
    [
        ("the Denver Broncos.", ["Denver Broncos"], 1.0, 1.0),  # article and punctuation
        ("Denver", ["Denver Broncos"], 0.0, 2 / 3),  # P = 1, R = 1/2
        ("Santa Clara", ["Santa Clara, California", "Levi's Stadium"], 0.0, 0.8),  # P = 1, R = 2/3
        (
            "Levi's Stadium",
            ["Santa Clara, California", "Levis Stadium"],
            1.0,
            1.0,
        ),  # best reference
        ("cat cat the cat", ["a cat"], 0.0, 0.5),  # token bags: 1 shared of 3 predicted
        ("Carolina Panthers", ["Denver Broncos"], 0.0, 0.0),  # no overlap
        ("", ["Denver Broncos"], 0.0, 0.0),  # empty prediction
        ("The", ["an"], 1.0, 0.0),  # both normalise to nothing: EM 1, F1 0 (as in v1.1)
    ],
)
def test_question_scores(prediction: str, references: list[str], exact: float, f1: float) -> None:
    assert question_scores(prediction, references) == (exact, pytest.approx(f1))


def test_squad_scores_average_over_questions() -> None:
    references = {
        "q1": ["Denver Broncos", "The Broncos"],
        "q2": ["Santa Clara, California"],
        "q3": ["1976"],
    }
    predictions = {"q1": "Broncos", "q2": "Santa Clara", "q3": "1976"}
    scores = squad_scores(predictions, references)
    # q1: EM 1 and F1 1 against "The Broncos" (-> "broncos"), though F1 is 2/3 against the other
    # reference; q2: EM 0, F1 0.8; q3: EM 1, F1 1.
    assert scores.exact_match == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx((1 + 0.8 + 1) / 3)
    assert scores.count == 3
    assert token_f1("Broncos", "Denver Broncos") == pytest.approx(2 / 3)


def test_squad_scores_reject_missing_and_unknown_predictions() -> None:
    with pytest.raises(
        ValueError, match=r"miss 1 question\(s\) \(e.g. \['q2'\]\) and have 1 unknown id"
    ):
        squad_scores({"q1": "a", "zz": "b"}, {"q1": ["a"], "q2": ["b"]})
    with pytest.raises(ValueError, match="at least one reference"):
        question_scores("a", [])


# ----------------------------------------------------------------------------- classification


def test_accuracy_and_macro_f1() -> None:
    scores = classification_scores(["a", "b", "b", "c"], ["a", "b", "c", "c"])
    # F1: a = 1; b: P 1, R 1/2 -> 2/3; c: P 1/2, R 1 -> 2/3; macro = (1 + 2/3 + 2/3) / 3.
    assert scores.accuracy == 0.75
    assert scores.macro_f1 == pytest.approx(7 / 9)
    assert scores.count == 4


def test_macro_f1_counts_a_predicted_class_absent_from_gold() -> None:
    scores = classification_scores([0, 0, 1, 1], [0, 0, 1, 2])
    # 0: 1; 1: P 1, R 1/2 -> 2/3; 2 (never gold): 0; macro = (1 + 2/3 + 0) / 3.
    assert scores.macro_f1 == pytest.approx(5 / 9)


def test_classification_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="3 gold labels but 2 predicted"):
        classification_scores([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no examples"):
        classification_scores([], [])
