"""Dataset readers: formats, IOB conversion, SST trees, TREC dev carving, SQuAD spans, sources."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pytest

from elmo_bench.data import sources
from elmo_bench.data.conll2003 import NerSentence, parse_conll2003, read_conll2003
from elmo_bench.data.errors import DataFormatError, DataSourceError
from elmo_bench.data.iob import iob1_to_iob2
from elmo_bench.data.squad import parse_squad, read_squad
from elmo_bench.data.sst import parse_sst_trees, read_sst, sentiment_examples
from elmo_bench.data.tokenize import tokenize, tokenize_many, tokenize_with_offsets
from elmo_bench.data.trec import parse_trec, read_trec
from elmo_bench.paths import DataFolders


@pytest.fixture
def folders(tmp_path: Path) -> DataFolders:
    """An empty data folder, with the cache (and its Hub copies) also in tmp_path."""
    root = tmp_path / "data"
    root.mkdir()
    return DataFolders(root, tmp_path / "cache")


@pytest.fixture
def data_root(folders: DataFolders) -> Path:
    return folders.data_dir


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------------------------------- IOB


@pytest.mark.parametrize(
    ("iob1", "iob2"),
    [
        ("I-PER I-PER O I-LOC B-LOC", "B-PER I-PER O B-LOC B-LOC"),
        ("I-ORG I-LOC I-LOC O", "B-ORG B-LOC I-LOC O"),
        ("O I-MISC B-MISC I-MISC", "O B-MISC B-MISC I-MISC"),
        ("B-PER I-PER O B-LOC", "B-PER I-PER O B-LOC"),  # already IOB2: unchanged
    ],
)
def test_iob1_to_iob2(iob1: str, iob2: str) -> None:
    assert iob1_to_iob2(iob1.split()) == iob2.split()


# ------------------------------------------------------------------------------------ CoNLL


CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Paris NNP I-NP I-LOC
Rome NNP B-NP B-LOC
"""


def test_conll_reads_sentences_and_converts_to_iob2(tmp_path: Path) -> None:
    sentences = parse_conll2003(write(tmp_path / "eng.train", CONLL))
    assert sentences == [
        NerSentence(
            tokens=("EU", "rejects", "German", "call"),
            pos=("NNP", "VBZ", "JJ", "NN"),
            chunk=("B-NP", "B-VP", "B-NP", "I-NP"),
            ner=("B-ORG", "O", "B-MISC", "O"),
        ),
        NerSentence(
            tokens=("Peter", "Blackburn", "Paris", "Rome"),
            pos=("NNP",) * 4,
            chunk=("B-NP", "I-NP", "I-NP", "B-NP"),
            ner=("B-PER", "I-PER", "B-LOC", "B-LOC"),
        ),
    ]


def test_conll_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.txt", CONLL.replace("rejects VBZ I-VP O", "rejects VBZ O"))
    with pytest.raises(DataFormatError, match=r"broken\.txt:4: expected 4 columns") as error:
        parse_conll2003(path)
    assert error.value.line_number == 4


def test_conll_bad_tag_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "tags.txt", "EU NNP I-NP ORG\n")
    with pytest.raises(DataFormatError, match=r"tags\.txt:1: NER tag 'ORG'"):
        parse_conll2003(path)


def test_empty_split_file_is_an_error(data_root: Path, folders: DataFolders) -> None:
    write(data_root / "conll2003" / "dev.txt", "-DOCSTART- -X- O O\n\n")
    with pytest.raises(DataFormatError, match="dev.txt: no sentences"):
        read_conll2003("dev", folders)


# -------------------------------------------------------------------------------------- SST

SST_TREES = (
    "(3 (2 (2 The) (2 film)) (3 (3 (4 rocks) (2 \\/)) (2 (2 -LRB-) (2 (2 ``) (2 yes))))) \n"
    "(1 (2 The) (1 (2 film) (0 sucks)))\n"
    "(2 (2 2\u00a01\\/2) (2 (2 stars) (2 '')))\n"
)
FIRST_WORDS = ("The", "film", "rocks", "/", "(", '"', "yes")


def test_sst_roots_and_ptb_unescaping(tmp_path: Path) -> None:
    trees = parse_sst_trees(write(tmp_path / "train.txt", SST_TREES))
    assert [(e.tokens, e.label) for e in sentiment_examples(trees)] == [
        (FIRST_WORDS, 3),
        (("The", "film", "sucks"), 1),
        (("2\u00a01/2", "stars", '"'), 2),  # a non-breaking space does not split a word
    ]
    assert sentiment_examples(trees, unescape_ptb=False)[0].tokens == (
        "The",
        "film",
        "rocks",
        "\\/",
        "-LRB-",
        "``",
        "yes",
    )


def test_sst2_drops_neutral_and_binarises(tmp_path: Path) -> None:
    trees = parse_sst_trees(write(tmp_path / "train.txt", SST_TREES))
    assert [e.label for e in sentiment_examples(trees, classes=2)] == [1, 0]
    with pytest.raises(ValueError, match="classes must be 5"):
        sentiment_examples(trees, classes=3)


def test_sst_phrases_keep_each_distinct_phrase_once(tmp_path: Path) -> None:
    trees = parse_sst_trees(write(tmp_path / "train.txt", SST_TREES))
    phrases = [(e.tokens, e.label) for e in sentiment_examples(trees[:2], phrases=True)]
    assert phrases == [
        (FIRST_WORDS, 3),
        (("The", "film"), 2),
        (("The",), 2),
        (("film",), 2),
        (FIRST_WORDS[2:], 3),
        (("rocks", "/"), 3),
        (("rocks",), 4),
        (("/",), 2),
        (("(", '"', "yes"), 2),
        (("(",), 2),
        (('"', "yes"), 2),
        (('"',), 2),
        (("yes",), 2),
        (("The", "film", "sucks"), 1),  # "The" and "film" again: not repeated
        (("film", "sucks"), 1),
        (("sucks",), 0),
    ]
    binary = sentiment_examples(trees[:2], classes=2, phrases=True)
    assert [(e.tokens, e.label) for e in binary][:4] == [
        (FIRST_WORDS, 1),
        (FIRST_WORDS[2:], 1),
        (("rocks", "/"), 1),
        (("rocks",), 1),
    ]


@pytest.mark.parametrize(
    ("tree", "problem"),
    [
        ("(3 (2 a) (2 b)", "1 unclosed '('"),
        ("(7 (2 a) (2 b))", "expected a label 0-4 after '(', got '7'"),
        ("(3 (2 a) b)", "word 'b' next to subtrees"),
        ("(2 a b)", "second word 'b' in one node"),
        ("(2 a))", "')' without a matching '('"),
        ("(2 a) (3 b)", "text after the end of the tree"),
        ("(2 a (2 b))", "a node holds both a word and subtrees"),
        ("(2)", "a node with neither a word nor subtrees"),
        ("word", "word 'word' outside brackets"),
    ],
)
def test_sst_malformed_tree_names_file_and_line(tmp_path: Path, tree: str, problem: str) -> None:
    path = write(tmp_path / "dev.txt", f"(2 (2 fine) (2 tree))\n{tree}\n")
    with pytest.raises(DataFormatError) as error:
        parse_sst_trees(path)
    assert str(error.value).startswith(f"{path}:2: column ")
    assert problem in str(error.value)


# ------------------------------------------------------------------------------------- TREC


def test_trec_reads_latin1_and_both_granularities(tmp_path: Path) -> None:
    path = write(
        tmp_path / "TREC_10.label",
        "HUM:ind Who is Andr\u00e9 Previn ?\nLOC:city Which sister\u00f0city ?\n",
        encoding="latin-1",
    )
    questions = parse_trec(path)
    assert [(q.tokens, q.coarse, q.fine) for q in questions] == [
        (("Who", "is", "Andr\u00e9", "Previn", "?"), "HUM", "HUM:ind"),
        (("Which", "sister\u00f0city", "?"), "LOC", "LOC:city"),
    ]


@pytest.mark.parametrize("line", ["FOO:bar What ?", "HUM What ?", "HUM:ind"])
def test_trec_bad_line_names_file_and_line(tmp_path: Path, line: str) -> None:
    path = write(tmp_path / "train_5500.label", f"NUM:date When ?\n{line}\n")
    with pytest.raises(DataFormatError, match=r"train_5500\.label:2: "):
        parse_trec(path)


def test_trec_dev_is_a_deterministic_tenth_of_train(data_root: Path, folders: DataFolders) -> None:
    lines = [f"NUM:count How many q{index} ?" for index in range(40)]
    lines += ["DESC:def What is a repeated question ?"] * 3
    write(data_root / "trec" / "train_5500.label", "\n".join(lines) + "\n", encoding="latin-1")
    write(data_root / "trec" / "TREC_10.label", "HUM:ind Who ?\n", encoding="latin-1")

    train, dev = read_trec("train", folders), read_trec("dev", folders, granularity="fine")
    assert len(dev) >= 4 and len(train) + len(dev) == 43
    assert {e.tokens for e in train}.isdisjoint(e.tokens for e in dev)
    assert read_trec("dev", folders) == [dataclasses.replace(e, label=e.label.split(":")[0]) for e in dev]
    # Independent of file order: the reversed file gives the same dev questions.
    write(
        data_root / "trec" / "train_5500.label", "\n".join(lines[::-1]) + "\n", encoding="latin-1"
    )
    assert sorted(e.tokens for e in read_trec("dev", folders)) == sorted(e.tokens for e in dev)
    assert [e.label for e in read_trec("test", folders, granularity="fine")] == ["HUM:ind"]
    with pytest.raises(ValueError, match="unknown TREC split 'valid'"):
        read_trec("valid", folders)


# ------------------------------------------------------------------------------ tokenization


def test_tokenizer_is_ptb_like_with_offsets() -> None:
    text = 'He wasn\'t  there\n(yet), "U.S." 24\u201310.'
    tokens = tokenize_with_offsets(text)
    expected = 'He was n\'t there ( yet ) , " U.S. " 24\u201310 .'
    assert [token for token, _, _ in tokens] == expected.split()
    assert all(text[start:end] == token for token, start, end in tokens)
    assert tokenize(text) == [token for token, _, _ in tokens]
    assert list(tokenize_many([text, "a b"])) == [tokenize(text), ["a", "b"]]


# ------------------------------------------------------------------------------------ SQuAD

CONTEXT = "The Broncos wasn't beaten (24\u201310) in  Santa Clara, California."


def squad_json(answers: list[dict], question_id: str = "q1") -> str:
    qas = [{"id": question_id, "question": "Who wasn't beaten?", "answers": answers}]
    return json.dumps(
        {
            "version": "1.1",
            "data": [{"title": "T", "paragraphs": [{"context": CONTEXT, "qas": qas}]}],
        }
    )


def test_squad_maps_answer_characters_to_tokens(tmp_path: Path) -> None:
    answers = [
        {"text": "The Broncos", "answer_start": 0},
        {"text": "Santa Clara, California", "answer_start": CONTEXT.index("Santa")},
        {"text": "Bronco", "answer_start": 4},  # ends inside "Broncos"
        {"text": "10) in", "answer_start": CONTEXT.index("10)")},  # starts inside "24-10"
    ]
    split = parse_squad(write(tmp_path / "dev-v1.1.json", squad_json(answers)))
    (question,) = split.questions
    paragraph = question.paragraph
    expected_tokens = "The Broncos was n't beaten ( 24\u201310 ) in Santa Clara , California ."
    assert paragraph.tokens == tuple(expected_tokens.split())
    assert question.question_tokens == ("Who", "was", "n't", "beaten", "?")
    spans = [(a.first_token, a.last_token, a.aligned) for a in question.answers]
    assert spans == [(0, 1, True), (9, 12, True), (1, 1, False), (6, 8, False)]
    assert (split.answer_count, split.misaligned_answer_count) == (4, 2)
    first, last = question.answers[1].first_token, question.answers[1].last_token
    assert (
        CONTEXT[paragraph.token_starts[first] : paragraph.token_ends[last]]
        == "Santa Clara, California"
    )


def test_squad_answer_not_at_its_start_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train-v1.1.json", squad_json([{"text": "Broncos", "answer_start": 3}], "x7")
    )
    with pytest.raises(
        DataFormatError, match=r"train-v1\.1\.json: question 'x7': answer 'Broncos' is not at"
    ):
        parse_squad(path)


def test_squad_repeated_question_id_is_an_error(tmp_path: Path) -> None:
    document = json.loads(squad_json([{"text": "The", "answer_start": 0}], "q9"))
    qas = document["data"][0]["paragraphs"][0]["qas"]
    qas.append(dict(qas[0]))
    path = write(tmp_path / "dev-v1.1.json", json.dumps(document))
    with pytest.raises(DataFormatError, match=r"question ids occur more than once: \['q9'\]"):
        parse_squad(path)


def _squad_with(change) -> str:
    document = json.loads(squad_json([{"text": "The", "answer_start": 0}]))
    change(document)
    return json.dumps(document)


def _set(path: tuple, value):
    def change(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


QA = ("data", 0, "paragraphs", 0, "qas", 0)
# case -> (the change to a valid file, the one-line message it must give)
MALFORMED_SQUAD = {
    "paragraphs missing": (lambda d: d["data"][0].pop("paragraphs"),
                           "data[0].paragraphs must be a list, found nothing (missing or null)"),
    "context a number": (_set(("data", 0, "paragraphs", 0, "context"), 12345),
                         "data[0].paragraphs[0].context must be a string, found 12345"),
    "question id a list": (_set((*QA, "id"), [1, 2]), "data[0].paragraphs[0].qas[0].id must be a string, found [1, 2]"),
    "qas an object": (_set(("data", 0, "paragraphs", 0, "qas"), {"q": 1}),
                      'data[0].paragraphs[0].qas must be a list, found {"q": 1}'),
    "data an object": (_set(("data",), {"title": "T"}), "'data' must be a list of articles, found {\"title\": \"T\"}"),
    "no data": (lambda d: d.pop("data"), "'data' must be a list of articles, found nothing"),
    "answer_start text": (_set((*QA, "answers", 0, "answer_start"), "0"),
                          'data[0].paragraphs[0].qas[0].answers[0].answer_start must be an integer, found "0"'),
    "answer_start true": (_set((*QA, "answers", 0, "answer_start"), True),
                          "answers[0].answer_start must be an integer, found true"),
    "article a string": (_set(("data", 0), "T"), 'data[0] must be an object, found "T"'),
    "answer not at its start": (_set((*QA, "answers", 0), {"text": "The", "answer_start": 4}),
                                "question 'q1': answer 'The' is not at answer_start 4"),
    "no answers": (_set((*QA, "answers"), []), "question 'q1': no answers"),
}


@pytest.mark.parametrize("case", list(MALFORMED_SQUAD))
def test_every_malformed_squad_file_is_one_clear_error(tmp_path: Path, case: str) -> None:
    change, message = MALFORMED_SQUAD[case]
    path = write(tmp_path / "dev-v1.1.json", _squad_with(change))
    with pytest.raises(DataFormatError) as raised:
        parse_squad(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


# ---------------------------------------------------------------------------------- sources


def test_no_source_error_says_what_was_tried_and_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DataSourceError) as error:
        read_sst("dev", DataFolders(None, tmp_path))
    message = str(error.value)
    assert "sst/trees/dev.txt: ELMO_BENCH_DATA is not set" in message
    assert (
        "stanfordnlp/sst@refs/convert/parquet" in message
        and "`datasets` package is not installed" in message
    )
    assert "set ELMO_BENCH_DATA" in message and "elmo-bench[hub]" in message


def test_missing_local_file_is_named(
    data_root: Path, folders: DataFolders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    expected = re.escape(
        f"local file {data_root / 'squad-v1.1' / 'dev-v1.1.json'} (from ELMO_BENCH_DATA="
    )
    with pytest.raises(DataSourceError, match=expected):
        read_squad("dev", folders)
    with pytest.raises(ValueError, match="unknown split 'validation' for dataset 'squad'"):
        read_squad("validation", folders)


def test_file_sha256_follows_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "f.txt", "one")
    assert sources.file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    write(path, "three")
    os.utime(path, ns=(1, 1))
    assert sources.file_sha256(path) == hashlib.sha256(b"three").hexdigest()


# ------------------------------------------------------------------------ real data (if set)

REAL_DATA = DataFolders.from_environment()
real_data = pytest.mark.skipif(REAL_DATA.data_dir is None, reason="ELMO_BENCH_DATA is not set")


@real_data
def test_real_conll2003_counts() -> None:
    counts = {split: len(read_conll2003(split, REAL_DATA)) for split in ("train", "dev", "test")}
    assert counts == {"train": 14041, "dev": 3250, "test": 3453}
    test_entities = [
        tag[2:]
        for sentence in read_conll2003("test", REAL_DATA)
        for tag in sentence.ner
        if tag.startswith("B-")
    ]
    assert {kind: test_entities.count(kind) for kind in ("LOC", "ORG", "PER", "MISC")} == {
        "LOC": 1668,
        "ORG": 1661,
        "PER": 1617,
        "MISC": 702,
    }


@real_data
def test_real_sst_counts() -> None:
    counts = {}
    for split in ("train", "dev", "test"):
        trees = parse_sst_trees(sources.split_file("sst", split, REAL_DATA).path)
        counts[split] = (len(sentiment_examples(trees)), len(sentiment_examples(trees, classes=2)))
    assert counts == {"train": (8544, 6920), "dev": (1101, 872), "test": (2210, 1821)}


@real_data
def test_real_trec_counts() -> None:
    train, dev, test = (read_trec(split, REAL_DATA, granularity="fine") for split in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (4907, 545, 500)
    assert len({e.label for e in train}) == 50
    assert {e.label.split(":")[0] for e in test} == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}


@real_data
def test_real_squad_dev_counts_and_checksum() -> None:
    split = read_squad("dev", REAL_DATA)
    assert (len(split.questions), split.answer_count) == (10570, 34726)
    assert split.misaligned_answer_count < 0.02 * split.answer_count
    digest = sources.split_file("squad", "dev", REAL_DATA).sha256()
    assert digest.startswith("95aa6a52") and digest.endswith("966972c9")  # the official file
