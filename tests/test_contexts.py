"""Context sensitivity: sentence files, sense scores on hand-made similarities, exact ratios for
context-free vectors (GloVe, ELMo layer 0), nearest neighbours in context, and the command's
outputs and one-line errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from elmo_bench.analysis.contexts import (
    BUILTIN_WORDS,
    ContextsError,
    analyse_contexts,
    builtin_sentences,
    cosine_matrix,
    load_context_set,
    read_context_sentences,
    sense_separation,
)
from elmo_bench.analysis.neighbours import corpus_contexts, nearest_in_context, nearest_words
from elmo_bench.commands import contexts as contexts_command
from elmo_bench.embedders.base import Embedder, Layers
from elmo_bench.embedders.elmo.embedder import ElmoEmbedder
from elmo_bench.embedders.static import StaticEmbedder

BANK_FILE = (
    "# two senses of bank\n"
    "river\tthe bank of the river\n"
    "\n"
    "river\twe sat on the bank\n"
    "finance\tthe bank lent money\n"
    "finance\ta bank loan\n"
    "finance\tno word here\n"
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def bank_file(tmp_path):
    path = tmp_path / "bank.tsv"
    path.write_text(BANK_FILE, encoding="utf-8")
    return path


@pytest.fixture()
def glove_file(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text(
        "bank 1 2 0\nbanks 1 2 0.5\nriver 0 1 1\nmoney 3 0 0\nthe 0 0 1\nloan 2 1 0\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def tiny_elmo(tiny_elmo_dir):
    return ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")


def test_reads_senses_and_skips_comments_blank_lines_and_lines_without_the_word(bank_file):
    sentences = read_context_sentences(bank_file)
    assert [(s.line_number, s.sense) for s in sentences] == [
        (2, "river"), (4, "river"), (5, "finance"), (6, "finance"), (7, "finance"),
    ]
    assert sentences[0].tokens == ("the", "bank", "of", "the", "river")
    contexts = load_context_set("bank", bank_file)
    assert [o.position for o in contexts.occurrences] == [1, 4, 1, 1]
    assert contexts.skipped_lines == [7]
    assert contexts.occurrences[1].marked() == "we sat on the [bank]"


def test_built_in_sets_exist_and_are_sense_labelled():
    assert {"bank", "play"} <= set(BUILTIN_WORDS)
    for word in BUILTIN_WORDS:
        contexts = load_context_set(word, builtin_sentences(word))
        senses = {o.sense for o in contexts.occurrences}
        assert len(senses) == 2 and len(contexts.occurrences) >= 8 and not contexts.skipped_lines
    with pytest.raises(ContextsError, match="no built-in sentences for 'zebra'.*bank"):
        builtin_sentences("zebra")


@pytest.mark.parametrize(
    ("text", "word", "group", "message"),
    [
        ("", "bank", True, r"empty\.tsv: no sentences"),
        ("# only a comment\n\n", "bank", True, r"empty\.tsv: no sentences"),
        ("river\tthe Bank of it\nfinance\tBank rates\n", "bank", True,
         r"the word 'bank' does not occur in any of its 2 sentences; it has 'Bank' x2"),
        ("the bank of it\nthe bank rates\n", "bank", True,
         r"empty\.tsv: line 1 has no sense column.*--no-senses"),
        ("river\tthe bank\nthe bank rates\n", "bank", True, r"empty\.tsv:2: no sense column"),
        ("river\tthe bank\nriver\ta bank\n", "bank", True, r"every occurrence has the sense 'river'"),
        ("river\tthe bank\nfinance\ta bank\n", "bank", True, r"no sense occurs twice"),
        ("river\t\n", "bank", True, r"empty\.tsv:1: empty sentence"),
        ("a\tb\tc\n", "bank", True, r"empty\.tsv:1: 2 tabs"),
        ("the bank of it\n", "bank", False, r"'bank' occurs once"),
    ],
)
def test_bad_input_gets_one_clear_message(tmp_path, text, word, group, message):
    path = tmp_path / "empty.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContextsError, match=message) as error:
        load_context_set(word, path, group_by_sense=group)
    assert "\n" not in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ContextsError, match=r"nope\.txt: no such sentence file"):
        read_context_sentences(tmp_path / "nope.txt")


def test_sense_separation_on_a_hand_made_matrix():
    # Occurrences a1, a2 (sense A) and b1 (sense B).
    similarity = np.array([
        [1.0, 0.8, 0.2],
        [0.8, 1.0, 0.4],
        [0.2, 0.4, 1.0],
    ])
    separation = sense_separation(similarity, ["A", "A", "B"])
    assert separation.within == pytest.approx(0.8)
    assert separation.across == pytest.approx(0.3)
    assert separation.ratio == pytest.approx(0.8 / 0.3)
    # a1 -> a2 (same), a2 -> a1 (same), b1 -> a2 (other): 2/3.
    assert separation.nearest_same_sense == pytest.approx(2 / 3)


def test_ties_count_as_the_share_of_same_sense_partners():
    separation = sense_separation(np.ones((4, 4)), ["A", "A", "B", "B"])
    assert separation.ratio == 1.0
    assert separation.nearest_same_sense == pytest.approx(1 / 3)


def test_cosine_is_exactly_one_for_identical_vectors_and_refuses_zero_vectors():
    vectors = np.array([[0.1, 0.7, 0.3]] * 5 + [[0.3, -0.2, 0.9]])
    similarity = cosine_matrix(vectors, "x")
    assert (similarity[:5, :5] == 1.0).all()
    assert similarity[0, 5] == pytest.approx(
        vectors[0] @ vectors[5] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[5])
    )
    with pytest.raises(ContextsError, match="glove layer 0: the word has a zero vector"):
        cosine_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]), "glove layer 0")


def test_context_free_layers_give_ratio_exactly_one_and_elmo_layers_differ(
    bank_file, glove_file, tiny_elmo
):
    contexts = load_context_set("bank", bank_file)
    analysis = analyse_contexts(contexts, {"glove": StaticEmbedder(glove_file), "elmo": tiny_elmo})
    by_layer = {(layer.embedder, layer.layer): layer for layer in analysis.layers}
    assert list(by_layer) == [("glove", 0), ("elmo", 0), ("elmo", 1), ("elmo", 2)]
    for key in (("glove", 0), ("elmo", 0)):
        separation = by_layer[key].separation
        assert separation.within == separation.across == separation.ratio == 1.0
        assert separation.nearest_same_sense == pytest.approx(1 / 3)  # chance: 1 of 3 partners
    contextual = by_layer[("elmo", 2)].similarity
    assert contextual.shape == (4, 4) and (np.diag(contextual) == 1.0).all()
    assert (contextual[~np.eye(4, dtype=bool)] < 1.0 - 1e-6).all()
    table = analysis.table_markdown()
    assert "| glove | 0 | 1.000 | 1.000 | 1.000 | 0.333 |" in table
    record = analysis.to_dict()
    assert record["layers"][0]["ratio"] == 1.0 and record["skipped_lines"] == [7]
    json.dumps(record, allow_nan=False)


class NextTokenEmbedder(Embedder):
    """Layer 0: the token's own one-hot vector; layer 1: the one-hot vector of the token after it
    (a toy contextual embedder whose neighbours are known)."""

    name = "next-token"
    vocabulary = ["<end>", "bank", "river", "money", "the", "of", "a", "loan", "rates", "."]

    @property
    def n_layers(self) -> int:
        return 2

    @property
    def dim(self) -> int:
        return len(self.vocabulary)

    def fingerprint_parts(self) -> dict:
        return {}

    def embed(self, sentences):
        time = max(len(s) for s in sentences)
        activations = torch.zeros(2, len(sentences), time, self.dim)
        mask = torch.zeros(len(sentences), time, dtype=torch.bool)
        for row, sentence in enumerate(sentences):
            for position, token in enumerate(sentence):
                following = sentence[position + 1] if position + 1 < len(sentence) else "<end>"
                activations[0, row, position, self.vocabulary.index(token)] = 1.0
                activations[1, row, position, self.vocabulary.index(following)] = 1.0
                mask[row, position] = True
        return Layers(activations, mask)


def test_nearest_in_context_follows_the_context_and_skips_the_query_sentence(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "the bank river .\nThe banks of the river .\na bank money .\nthe bank river of a loan .\n"
        "a bank rates .\n",
        encoding="utf-8",
    )
    sample = corpus_contexts(corpus, "bank", limit=10, max_tokens=5)
    # "banks" is another token; the 6-token sentence is over max_tokens.
    assert sample.candidates == 3
    assert sample.sentences == [
        ("the", "bank", "river", "."), ("a", "bank", "money", "."), ("a", "bank", "rates", "."),
    ]
    assert len(corpus_contexts(corpus, "bank", limit=2, max_tokens=5).sentences) == 2

    contexts_file = tmp_path / "queries.tsv"
    contexts_file.write_text("river\tthe bank river .\nfinance\ta bank money loan\n")
    queries = load_context_set("bank", contexts_file, group_by_sense=False).occurrences
    neighbours = nearest_in_context(NextTokenEmbedder(), 1, queries, sample, "bank", k=2)
    # The first query's own sentence is in the sample and is skipped.
    assert [n.tokens[2] for n in neighbours[0]] == ["money", "rates"]
    assert neighbours[1][0].marked() == "a [bank] money ." and neighbours[1][0].similarity == 1.0
    with pytest.raises(ContextsError, match="no sentence of at most 5 tokens holds the token 'cat'"):
        corpus_contexts(corpus, "cat", limit=2, max_tokens=5)


def test_static_nearest_words(glove_file):
    vectors = StaticEmbedder(glove_file).vectors
    words = nearest_words(vectors, "bank", 2)
    assert [word for word, _ in words] == ["banks", "loan"]
    assert words[0][1] == pytest.approx(5 / np.sqrt(5 * 5.25))
    with pytest.raises(ContextsError, match="'zebra' is not in"):
        nearest_words(vectors, "zebra", 2)


def parse(arguments):
    parser = argparse.ArgumentParser()
    contexts_command.configure(parser)
    return parser.parse_args(arguments)


def test_command_writes_table_json_heatmaps_and_neighbours(
    tmp_path, tiny_elmo_dir, glove_file, capsys
):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "They walked along the bank of the river .\nThe bank raised its rates .\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = parse([
        "bank", "--elmo-options", str(tiny_elmo_dir / "options.json"),
        "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"), "--glove", str(glove_file),
        "--corpus", str(corpus), "--neighbours", "1", "--out", str(out),
    ])
    assert contexts_command.run(args) == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "bank-elmo.png", "bank-glove.png", "bank.json", "bank.md",
    ]
    record = json.loads((out / "bank.json").read_text())
    assert record["source"] == "built-in: elmo_bench/analysis/examples/bank.tsv"
    assert [layer["ratio"] for layer in record["layers"]][:2] == [1.0, 1.0]
    queries = record["neighbours"]["queries"]
    assert len(queries) == 12 and len(queries[0]["neighbours"]) == 1
    assert record["neighbours"]["static_nearest_words"][0]["word"] == "banks"
    printed = capsys.readouterr().out
    assert "| elmo | 2 |" in printed and "Nearest neighbours in context" in printed


def test_command_errors_are_value_errors_naming_the_input(tmp_path, glove_file):
    sentences = tmp_path / "s.txt"
    sentences.write_text("the bank of it\nthe bank rates\n")
    with pytest.raises(ContextsError, match=r"s\.txt: line 1 has no sense column"):
        contexts_command.run(parse(["bank", "--sentences", str(sentences), "--embedders", "glove",
                                    "--glove", str(glove_file), "--out", str(tmp_path)]))
    with pytest.raises(ContextsError, match="'cell' does not occur"):
        contexts_command.run(parse(["cell", "--sentences", str(sentences), "--no-senses",
                                    "--embedders", "glove", "--glove", str(glove_file)]))
    with pytest.raises(ContextsError, match=r"elmo needs --elmo-options and --elmo-weights"):
        contexts_command.run(parse(["bank", "--embedders", "glove,elmo", "--glove", str(glove_file)]))
    with pytest.raises(ContextsError, match="unknown embedder 'glov' \\(did you mean 'glove'"):
        contexts_command.run(parse(["bank", "--embedders", "glov"]))
