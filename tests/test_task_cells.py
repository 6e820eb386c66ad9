"""End to end: `elmo-bench task` trains and scores tiny copies of the real datasets (files written
here in the original formats) with GloVe and ELMo, writes the JSON result, and is deterministic."""

from __future__ import annotations

import json
import random

import pytest

from elmo_bench.cli import main
from elmo_bench.data.squad import parse_squad
from elmo_bench.families.span_qa import answer_text, cap_questions, split_off_articles

QUESTIONS = {
    "HUM:ind": [
        "Who wrote Hamlet ?",
        "Who invented the telephone ?",
        "Who painted the Mona Lisa ?",
        "Who was the first president ?",
        "Who discovered penicillin ?",
        "Who founded Rome ?",
    ],
    "LOC:city": [
        "Where is the Eiffel Tower ?",
        "What city is the capital of France ?",
        "Where was Mozart born ?",
        "What city hosts the Olympics ?",
        "Where is Big Ben ?",
        "Where do penguins live ?",
    ],
    "NUM:date": [
        "When did the war end ?",
        "When was the telephone invented ?",
        "What year did Rome fall ?",
        "When is Christmas ?",
        "When did Mozart die ?",
        "What year was Hamlet written ?",
    ],
}
CONLL_SENTENCES = [
    [("EU", "I-ORG"), ("rejects", "O"), ("German", "I-MISC"), ("call", "O"), (".", "O")],
    [("Peter", "I-PER"), ("Blackburn", "I-PER")],
    [("BRUSSELS", "I-LOC"), ("1996-08-22", "O")],
    [
        ("Germany", "I-LOC"),
        ("'s", "O"),
        ("representative", "O"),
        ("Werner", "I-PER"),
        ("Zwingmann", "I-PER"),
    ],
    [
        ("The", "O"),
        ("European", "I-ORG"),
        ("Commission", "I-ORG"),
        ("said", "O"),
        ("Thursday", "O"),
    ],
    [("Britain", "I-LOC"), ("backed", "O"), ("Fischler", "I-PER"), ("'s", "O"), ("proposal", "O")],
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "trec").mkdir(parents=True)
    lines = [
        f"{label} {question}" for label, questions in QUESTIONS.items() for question in questions
    ]
    (root / "trec" / "train_5500.label").write_text("\n".join(lines) + "\n", encoding="latin-1")
    (root / "trec" / "TREC_10.label").write_text("\n".join(lines[::4]) + "\n", encoding="latin-1")
    (root / "conll2003").mkdir()
    for split, sentences in (
        ("train", CONLL_SENTENCES),
        ("dev", CONLL_SENTENCES[:3]),
        ("test", CONLL_SENTENCES[3:]),
    ):
        text = "-DOCSTART- -X- -X- O\n\n" + "\n".join(
            "".join(f"{token} NN I-NP {tag}\n" for token, tag in sentence) for sentence in sentences
        )
        (root / "conll2003" / f"{split}.txt").write_text(text, encoding="utf-8")
    (root / "squad-v1.1").mkdir()
    (root / "squad-v1.1" / "train-v1.1.json").write_text(
        json.dumps(squad_file(["Denver", "Paris", "Berlin"]))
    )
    (root / "squad-v1.1" / "dev-v1.1.json").write_text(json.dumps(squad_file(["Tokyo"])))
    monkeypatch.setenv("ELMO_BENCH_DATA", str(root))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    return root


def squad_file(cities: list[str]) -> dict:
    articles = []
    for city in cities:
        context = (
            f"{city} is a city. The team of {city} won the game 24-10 in 2016, said the mayor."
        )
        qas = [
            {
                "id": f"{city}-1",
                "question": f"Who won the game in {city}?",
                "answers": [
                    {"text": f"The team of {city}", "answer_start": context.index("The team")}
                ],
            },
            {
                "id": f"{city}-2",
                "question": "What was the score?",
                "answers": [
                    {"text": "24-10", "answer_start": context.index("24")},
                    {"text": "24-10 in 2016", "answer_start": context.index("24")},
                ],
            },
        ]
        articles.append({"title": city, "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "1.1", "data": articles}


@pytest.fixture()
def glove_file(tmp_path):
    rng = random.Random(0)
    words = {token for questions in QUESTIONS.values() for q in questions for token in q.split()}
    words |= {token.lower() for sentence in CONLL_SENTENCES for token, _ in sentence}
    path = tmp_path / "glove.txt"
    path.write_text(
        "".join(
            f"{word} {' '.join(f'{rng.uniform(-1, 1):.4f}' for _ in range(5))}\n"
            for word in sorted(words)
        ),
        encoding="utf-8",
    )
    return path


def run_task(tmp_path, name, embedder, *extra, seed=1) -> dict:
    output = tmp_path / f"{name}.{embedder}.{seed}.{random.random()}.json"
    arguments = [
        "task",
        name,
        "--embedder",
        embedder,
        "--seed",
        str(seed),
        "--output",
        str(output),
        "--quiet",
        "--config",
        "training.max_epochs=2",
        "--config",
        "head.hidden_size=6",
        *extra,
    ]
    assert main(arguments) == 0
    return json.loads(output.read_text())


def elmo_args(tiny_elmo_dir):
    return [
        "--elmo-options",
        str(tiny_elmo_dir / "options.json"),
        "--elmo-weights",
        str(tiny_elmo_dir / "weights.hdf5"),
    ]


def test_trec6_with_glove_writes_a_complete_deterministic_result(
    tmp_path, data_dir, glove_file, capsys
):
    first = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file))
    summary = capsys.readouterr().out
    assert summary.startswith("trec6 glove seed 1: test accuracy")
    assert first["main_score"]["name"] == "accuracy" and 0 <= first["main_score"]["value"] <= 1
    assert first["protocol"]["examples"] == {"train": 16, "dev": 2, "test": 5}
    assert first["scores"]["test"]["examples"] == 5 and set(
        first["scores"]["test"]["per_class"]
    ) == {"HUM", "LOC", "NUM"}
    data = first["protocol"]["data"]
    assert data["test"][0]["sha256"] and data["test"][0]["path"].endswith("TREC_10.label")
    assert first["embedder_details"]["parts"][0]["fingerprint"]
    assert (
        len(first["training"]["epochs"]) == 2 and first["timings"]["training_seconds_per_epoch"] > 0
    )
    glove_costs = first["timings"]["embedding"]["train"]["glove"]
    assert glove_costs["cache"] == "computed"
    assert glove_costs["vocabulary_coverage"] == {
        "tokens": glove_costs["tokens"],
        "lowercased": 0,
        "oov": 0,
    }
    assert first["memory"]["peak_rss_bytes"] > 0 and first["environment"]["versions"]["torch"]
    assert (
        first["settings"]["training"]["max_epochs"] == 2
        and first["settings"]["head"]["hidden_size"] == 6
    )

    again = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file))
    assert again["timings"]["embedding"]["train"]["glove"]["cache"] == "hit"
    assert again["scores"] == first["scores"]
    assert [e["train_loss"] for e in again["training"]["epochs"]] == [
        e["train_loss"] for e in first["training"]["epochs"]
    ]
    other_seed = run_task(tmp_path, "trec6", "glove", "--glove", str(glove_file), seed=2)
    assert [e["train_loss"] for e in other_seed["training"]["epochs"]] != [
        e["train_loss"] for e in first["training"]["epochs"]
    ]


def test_conll2003_ner_with_elmo_scores_spans_per_type(tmp_path, data_dir, tiny_elmo_dir):
    result = run_task(tmp_path, "conll2003_ner", "elmo", *elmo_args(tiny_elmo_dir))
    test_scores = result["scores"]["test"]
    assert result["main_score"]["name"] == "f1"
    assert (
        test_scores["entities"] == 5
    )  # Germany, Werner Zwingmann, European Commission, Britain, Fischler
    assert set(test_scores["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    mix = result["head"]["learned_mixes"][0]
    assert len(mix["layer_weights"]) == 3 and sum(mix["layer_weights"]) == pytest.approx(
        1, abs=1e-5
    )
    assert result["embedder_details"]["parts"][0]["mix_l2"] == 0.001
    assert result["embedder_details"]["parts"][0]["dropout"] == 0.5


def test_squad11_with_elmo_and_glove_maps_spans_to_answer_text(
    tmp_path, data_dir, tiny_elmo_dir, glove_file
):
    result = run_task(
        tmp_path,
        "squad11",
        "elmo+glove",
        *elmo_args(tiny_elmo_dir),
        "--glove",
        str(glove_file),
        "--config",
        "options.selection_questions=1",
    )
    assert result["protocol"]["examples"] == {"train": 4, "dev": 1, "test": 2}
    assert set(result["scores"]["test"]) == {"f1", "exact_match", "questions"}
    assert [part["source"] for part in result["embedder_details"]["parts"]] == ["elmo", "glove"]


def test_elmo_layer0_reuses_the_elmo_cache(tmp_path, data_dir, tiny_elmo_dir):
    run_task(tmp_path, "conll2003_ner", "elmo", *elmo_args(tiny_elmo_dir))
    layer0 = run_task(tmp_path, "conll2003_ner", "elmo-layer0", *elmo_args(tiny_elmo_dir))
    assert layer0["timings"]["embedding"]["train"]["elmo"]["cache"] == "hit"
    assert layer0["head"]["learned_mixes"] == [None] and layer0["embedder_details"]["parts"][0][
        "layers"
    ] == [0]


def test_elmo_unfrozen_trains_the_bilm_with_the_head(tmp_path, data_dir, tiny_pretrain_run):
    run = ["--config", f"embedder.elmo.pretrain_run={tiny_pretrain_run}"]
    frozen = run_task(tmp_path, "trec6", "elmo", *run)
    unfrozen = run_task(tmp_path, "trec6", "elmo-unfrozen", *run)
    assert unfrozen["timings"]["embedding"]["train"]["elmo"]["cache"] == "unfrozen"
    bilm_parameters = unfrozen["embedder_details"]["adaptation"]["elmo"]["trainable_parameters"]
    assert bilm_parameters > 0 and unfrozen["head"]["unfrozen_embedder_parameters"] == bilm_parameters
    assert unfrozen["head"]["trainable_parameters"] == frozen["head"]["trainable_parameters"] + bilm_parameters
    # Same seed, same head initialisation: only the biLM's training changes the losses.
    assert unfrozen["training"]["epochs"][0]["train_loss"] != frozen["training"]["epochs"][0]["train_loss"]
    again = run_task(tmp_path, "trec6", "elmo-unfrozen", *run)
    assert again["scores"] == unfrozen["scores"]


def test_elmo_lm_finetuned_embeds_with_the_adapted_bilm(tmp_path, data_dir, tiny_pretrain_run):
    run = ["--config", f"embedder.elmo.pretrain_run={tiny_pretrain_run}",
           "--config", "embedder.elmo.lm_finetune_steps=3"]
    frozen = run_task(tmp_path, "trec6", "elmo", *run)
    adapted = run_task(tmp_path, "trec6", "elmo-lm-finetuned", *run)
    record = adapted["embedder_details"]["adaptation"]["elmo"]
    assert record["adaptation"] == "lm-finetuned" and record["settings"]["steps"] == 3
    assert record["train_tokens"] == frozen["timings"]["embedding"]["train"]["elmo"]["tokens"]
    fingerprints = [r["embedder_details"]["parts"][0]["fingerprint"] for r in (frozen, adapted)]
    assert fingerprints[0] != fingerprints[1]  # the adapted biLM never reads the frozen cache
    assert run_task(tmp_path, "trec6", "elmo-lm-finetuned", *run)["embedder_details"]["adaptation"][
        "elmo"]["cache"] == "hit"


def test_errors_are_one_clear_line(tmp_path, data_dir, glove_file, tiny_elmo_dir, capsys):
    assert main(["task", "trec", "--embedder", "glove"]) == 2
    assert "unknown task 'trec' (did you mean 'trec6'?)" in capsys.readouterr().err
    assert main(["task", "trec6", "--embedder", "elmo_glove", "--glove", str(glove_file)]) == 2
    assert "did you mean 'elmo+glove'?" in capsys.readouterr().err
    assert (
        main(
            [
                "task",
                "trec6",
                "--embedder",
                "glove",
                "--glove",
                str(glove_file),
                "--config",
                "trainig.max_epochs=1",
            ]
        )
        == 2
    )
    assert "did you mean 'training'?" in capsys.readouterr().err
    assert main(["task", "trec6", "--embedder", "elmo"]) == 2
    assert "ELMo needs embedder.elmo.options" in capsys.readouterr().err
    assert main(["task", "trec6", "--embedder", "elmo-lm-finetuned", *elmo_args(tiny_elmo_dir)]) == 2
    assert "elmo-lm-finetuned needs embedder.elmo.pretrain_run" in capsys.readouterr().err
    assert main(["task", "trec6", "--embedder", "glove", "--config", "embedder.glove.vector=g"]) == 2
    assert "no setting 'vector' (did you mean 'vectors'?)" in capsys.readouterr().err
    (data_dir / "trec" / "TREC_10.label").write_text("\n", encoding="latin-1")
    assert main(["task", "trec6", "--embedder", "glove", "--glove", str(glove_file)]) == 2
    assert "no questions found" in capsys.readouterr().err


def test_answer_text_comes_from_context_characters(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad_file(["Denver", "Paris", "Berlin"])))
    questions = parse_squad(path).questions
    score_question = questions[1]
    answer = score_question.answers[1]
    assert answer_text(score_question, answer.first_token, answer.last_token) == "24-10 in 2016"
    rest, held = split_off_articles(questions, 1, "salt")
    assert len(held) == 1 and len(rest) == 4
    assert {q.paragraph.title for q in rest}.isdisjoint({q.paragraph.title for q in held})


def test_capped_squad_questions_keep_whole_paragraphs(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad_file(["Denver", "Paris", "Berlin", "Rome"])))
    questions = parse_squad(path).questions
    kept = cap_questions(questions, 4, "salt")
    assert len(kept) == 4 and len({q.paragraph.context for q in kept}) == 2
    assert kept == [q for q in questions if q in kept]  # input order
    assert cap_questions(questions, None, "salt") == questions
