"""Per-example outcomes recompute the reported scores exactly: on random predictions against the
metric implementations, and in the result files `elmo-bench task` writes."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from elmo_bench.cell import write_result
from elmo_bench.metrics.classification import classification_scores
from elmo_bench.metrics.ner import span_f1
from elmo_bench.metrics.per_example import (
    SCORE_TOLERANCE,
    OutcomeRecordError,
    checked_outcomes,
    classification_record,
    decode_numbers,
    encode_numbers,
    entity_span_record,
    outcomes_from_record,
    squad_record,
)
from elmo_bench.metrics.squad import squad_scores
from elmo_bench.report import build_report
from test_task_cells import data_dir, glove_file, run_task  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_thread")

TAGS = ("O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-MISC")


def random_tags(rng: random.Random, n_sentences: int) -> list[list[str]]:
    return [[rng.choice(TAGS) for _ in range(rng.randint(1, 9))] for _ in range(n_sentences)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entity_span_counts_give_seqeval_strict_scores_bit_for_bit(seed):
    rng = random.Random(seed)
    gold = random_tags(rng, 60)
    # Predictions: gold with some tags changed, so that some entities match; invalid I- starts
    # (read as conlleval reads them) included.
    predicted = [[tag if rng.random() < 0.7 else rng.choice(TAGS) for tag in s] for s in gold]
    expected = span_f1(gold, predicted).overall
    outcomes = outcomes_from_record(entity_span_record(gold, predicted))
    assert outcomes.n_examples == 60
    assert float(outcomes.score("f1")) == expected.f1
    assert float(outcomes.score("precision")) == expected.precision
    assert float(outcomes.score("recall")) == expected.recall
    assert outcomes.counts[:, 2].sum() == expected.support


def test_entity_span_counts_without_any_entity_score_zero():
    outcomes = outcomes_from_record(entity_span_record([["O", "O"]], [["O", "O"]]))
    assert float(outcomes.score("f1")) == span_f1([["O", "O"]], [["O", "O"]]).overall.f1 == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_classification_record_gives_accuracy_and_macro_f1(seed):
    rng = random.Random(seed)
    gold = [rng.choice("abcd") for _ in range(200)]
    # "e" is only ever predicted, "d" never: both count in scikit-learn's macro average.
    predicted = [label if rng.random() < 0.6 else rng.choice("abce") for label in gold]
    expected = classification_scores(gold, predicted)
    record = classification_record(gold, predicted)
    assert record["labels"] == ["a", "b", "c", "d", "e"]
    outcomes = outcomes_from_record(json.loads(json.dumps(record)))
    assert float(outcomes.score("accuracy")) == expected.accuracy
    assert float(outcomes.score("macro_f1")) == pytest.approx(expected.macro_f1, abs=1e-12)


def test_squad_record_gives_exact_match_and_f1():
    rng = random.Random(0)
    words = ["the", "Denver", "Broncos", "won", "24-10", "in", "2016", "a", "game"]
    references = [
        [" ".join(rng.sample(words, rng.randint(1, 4))) for _ in range(rng.randint(1, 3))]
        for _ in range(300)
    ]
    predictions = [
        refs[0] if rng.random() < 0.3 else " ".join(rng.sample(words, rng.randint(1, 5)))
        for refs in references
    ]
    expected = squad_scores(
        {str(i): p for i, p in enumerate(predictions)},
        {str(i): refs for i, refs in enumerate(references)},
    )
    outcomes = outcomes_from_record(squad_record(predictions, references))
    assert float(outcomes.score("f1")) == pytest.approx(expected.f1, abs=1e-12)
    assert float(outcomes.score("exact_match")) == pytest.approx(expected.exact_match, abs=1e-12)


def test_number_encoding_round_trips_floats_bit_for_bit():
    values = np.random.default_rng(0).random(1000)
    values[:3] = [0.0, 1.0, 2 / 3]
    text = encode_numbers(values)
    assert text.startswith("0 1 0.6666666666666666 ")
    assert np.array_equal(decode_numbers(text, "f1"), values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "ranking"}, "unknown per-example record kind 'ranking'"),
        ({"gold": "0 1"}, "'gold' has 2 values for 3 examples"),
        ({"predicted": "0 x 1"}, "not a list of decimal numbers"),
        ({"predicted": "0 1 7"}, "a label index is beyond the 2 labels"),
        ({"gold": "0 1 0.5"}, "'gold' holds a value that is not a count"),
    ],
)
def test_malformed_records_are_rejected_with_the_reason(change, message):
    record = {**classification_record(["a", "b", "a"], ["a", "b", "b"]), **change}
    with pytest.raises(OutcomeRecordError, match=message):
        outcomes_from_record(record)


def test_a_score_the_record_cannot_give_is_an_error():
    outcomes = outcomes_from_record(squad_record(["x"], [["x"]]))
    with pytest.raises(OutcomeRecordError, match="not 'accuracy'"):
        outcomes.score("accuracy")


def test_the_derived_score_is_held_to_the_reported_one():
    record = classification_record(["a", "b", "a", "b"], ["a", "b", "b", "b"])  # accuracy 0.75
    assert checked_outcomes(record, "accuracy", 0.75 + SCORE_TOLERANCE / 2).n_examples == 4
    with pytest.raises(OutcomeRecordError, match=r"give accuracy 0\.75, but the reported score is 0\.5"):
        checked_outcomes(record, "accuracy", 0.5)


def assert_reproduces(result: dict) -> None:
    assert result["format_version"] == 2
    for role in ("dev", "test"):
        record = result["per_example"][role]
        assert len(record["examples_sha256"]) == 64
        outcomes = outcomes_from_record(record)
        assert outcomes.n_examples == result["protocol"]["examples"][role]
        for name, value in result["scores"][role].items():
            if isinstance(value, float):
                assert float(outcomes.score(name)) == pytest.approx(value, abs=1e-12), (role, name)


def test_task_results_hold_per_example_outcomes_that_give_back_every_score(
    tmp_path, data_dir, glove_file, tiny_elmo_dir  # noqa: F811 (fixtures)
):
    trec = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file))
    assert trec["per_example"]["test"]["kind"] == "classification"
    trec_seed2 = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file), seed=2)
    assert (
        trec_seed2["per_example"]["test"]["examples_sha256"]
        == trec["per_example"]["test"]["examples_sha256"]
        != trec["per_example"]["dev"]["examples_sha256"]
    )
    ner_glove = run_task(tmp_path, "conll2003_ner", "glove", "--glove", str(glove_file))
    # Gold entities per test sentence: Germany, Werner Zwingmann | European Commission | Britain,
    # Fischler.
    assert ner_glove["per_example"]["test"]["gold"] == "2 1 2"
    ner_elmo = run_task(
        tmp_path,
        "conll2003_ner",
        "elmo",
        "--elmo-options",
        str(tiny_elmo_dir / "options.json"),
        "--elmo-weights",
        str(tiny_elmo_dir / "weights.hdf5"),
    )
    squad = run_task(
        tmp_path,
        "squad11",
        "glove",
        "--glove",
        str(glove_file),
        "--config",
        "options.selection_questions=1",
    )
    results = [trec, trec_seed2, ner_glove, ner_elmo, squad]
    for result in results:
        assert_reproduces(result)

    # The report pairs them: ELMo against GloVe on NER gets a test over the 3 test sentences;
    # TREC-6 and SQuAD, which ELMo did not run, are skipped.
    cells = tmp_path / "cells"
    for result in results:
        write_result(cells / f"{result['task']}.{result['embedder']}.{result['seed']}.json", result)
    document = build_report(cells, tmp_path / "report", resamples=200)
    ner, squad, trec = document["comparisons"]
    assert [ner[key] for key in ("task", "a", "b", "status")] == [
        "conll2003_ner", "elmo", "glove", "tested"
    ]
    assert ner["n_examples"] == 3 and ner["p_two_sided"] is not None
    assert squad["status"] == trec["status"] == "skipped"
