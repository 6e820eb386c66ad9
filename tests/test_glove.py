"""GloVe: co-occurrence counting, training (with resume), output format, intrinsic evaluation."""
from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from elmo_bench.embedders.vectors_file import read_vectors
from elmo_bench.pretrain.corpus import CorpusConfig
from elmo_bench.pretrain.glove import (
    GloveConfig,
    config_from_args,
    count_cooccurrences,
    fit_glove,
    save_glove_text,
    train_glove,
    with_unknown_vector,
)
from elmo_bench.pretrain.glove_eval import (
    ANALOGY_QUESTIONS,
    WORD_SIMILARITY_PAIRS,
    analogy_accuracy,
    nearest_neighbours,
    similarity_spearman,
)
from elmo_bench.pretrain.vocab import VocabConfig


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))


def dense(word_ids, offsets, n_words, window, chunk_tokens=1000):
    return count_cooccurrences(
        np.asarray(word_ids), np.asarray(offsets), n_words, window, chunk_tokens
    ).toarray()


def test_counts_are_symmetric_and_weighted_by_inverse_distance():
    # Pairs within 2 of each other: (0,1) at 1 and 2, (1,2) at 1, (0,2) at 1 and 2.
    counts = dense([0, 1, 2, 0], [0, 4], n_words=3, window=2)
    assert np.allclose(counts, [[0, 1.5, 1.5], [1.5, 0, 1.0], [1.5, 1.0, 0]])
    # A word next to itself is counted in both directions, as the GloVe tool does.
    assert dense([0, 0], [0, 2], n_words=1, window=1).tolist() == [[2.0]]


def test_dropped_tokens_close_the_window_and_segments_stop_it():
    # -1 (out of vocabulary) is removed before windowing: 0 and 1 become neighbours.
    assert dense([0, -1, 1], [0, 3], 2, window=1)[0, 1] == 1.0
    # No window crosses a segment (paragraph) boundary.
    assert dense([0, 1, 2], [0, 2, 3], 3, window=5)[1, 2] == 0.0


def test_chunked_counts_equal_a_brute_force_count():
    rng = np.random.default_rng(0)
    word_ids = rng.integers(-1, 30, size=2_000)
    offsets = np.concatenate([[0], np.sort(rng.choice(np.arange(1, 2_000), 60, replace=False)),
                              [2_000]])
    expected = np.zeros((30, 30))
    for start, stop in zip(offsets[:-1], offsets[1:]):
        words = [word for word in word_ids[start:stop] if word >= 0]
        for i, j in itertools.combinations(range(len(words)), 2):
            if j - i <= 4:
                expected[words[i], words[j]] += 1.0 / (j - i)
                expected[words[j], words[i]] += 1.0 / (j - i)
    for chunk_tokens in (7, 500, 10_000):
        assert np.allclose(dense(word_ids, offsets, 30, 4, chunk_tokens), expected)


def test_offsets_must_cover_the_tokens():
    with pytest.raises(ValueError, match="segment_offsets must run from 0 to the 3 tokens"):
        count_cooccurrences(np.array([0, 1, 2]), np.array([0, 2]), 3, 2)


def synthetic_corpus(path: Path, seed: int = 0) -> None:
    """Lines of one target word ``a{i}b{j}`` among 8 context words drawn with probability
    proportional to ``exp(alpha[i, x] + beta[j, x])``: log co-occurrence is then additive in the
    target's two attributes (GloVe's model), so ``a{i}b1 - a{i}b0 + a{k}b0 = a{k}b1`` and words
    sharing attribute ``a`` (the stronger one) are the most similar."""
    rng = np.random.default_rng(seed)
    n_contexts = 40
    alpha = rng.normal(0.0, 1.0, (4, n_contexts))
    beta = rng.normal(0.0, 0.5, (2, n_contexts))
    lines = []
    for a, b in itertools.product(range(4), range(2)):
        probabilities = np.exp(alpha[a] + beta[b])
        probabilities /= probabilities.sum()
        for _ in range(300):
            tokens = [f"c{x}" for x in rng.choice(n_contexts, size=8, p=probabilities)]
            tokens.insert(int(rng.integers(0, 9)), f"a{a}b{b}")
            lines.append(" ".join(tokens))
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def synthetic_config(tmp_path: Path, **overrides) -> GloveConfig:
    corpus_path = tmp_path / "corpus.txt"
    if not corpus_path.exists():
        synthetic_corpus(corpus_path)
    settings = dict(
        corpus=CorpusConfig(path=str(corpus_path), held_out_fraction=0.0, workers=1),
        output_dir=str(tmp_path / "glove"),
        vocab=VocabConfig(max_words=None, min_count=1),
        dim=16, epochs=100, batch_size=512, threads=1,
    )
    return GloveConfig(**{**settings, **overrides})


def test_trained_vectors_recover_the_designed_structure(tmp_path):
    vectors_path = train_glove(synthetic_config(tmp_path))
    vectors = read_vectors(vectors_path)  # also checks the GloVe text format
    assert vectors_path.stat().st_mode & 0o777 == 0o644
    assert vectors.dim == 16
    assert vectors.words[-1] == "<UNK>"
    assert len(vectors.words) == 8 + 40 + 1

    questions = [
        (f"a{i}b{j}", f"a{i}b{1 - j}", f"a{k}b{j}", f"a{k}b{1 - j}")
        for i, k in itertools.permutations(range(4), 2) for j in range(2)
    ]
    analogies = analogy_accuracy(vectors.words, vectors.vectors, questions)
    assert analogies.questions_found == 24
    assert analogies.accuracy >= 0.8

    targets = [f"a{a}b{b}" for a, b in itertools.product(range(4), range(2))]
    pairs = [
        (x, y, 6.0 if x[:2] == y[:2] else 3.0 if x[2:] == y[2:] else 1.0)
        for x, y in itertools.combinations(targets, 2)
    ]
    similarity = similarity_spearman(vectors.words, vectors.vectors, pairs)
    assert similarity.pairs_found == 28
    assert similarity.spearman >= 0.75

    summary = json.loads((vectors_path.parent / "summary.json").read_text(encoding="utf-8"))
    assert summary["vocabulary_words"] == 48
    assert summary["cooccurrence_nonzeros"] > 0
    assert len(summary["epoch_costs"]) == 100
    assert summary["epoch_costs"][-1] < summary["epoch_costs"][0]
    assert (vectors_path.parent / "vocab.txt").read_text().startswith("<S>\n</S>\n<UNK>\n")


def test_resumed_training_equals_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(1)
    counts = scipy.sparse.random(30, 30, density=0.3, random_state=rng) * 50
    counts = scipy.sparse.csr_matrix(counts + counts.T)
    config = synthetic_config(tmp_path, epochs=4, dim=8, batch_size=64)
    straight, straight_costs = fit_glove(counts, config, tmp_path / "straight.pt")
    fit_glove(counts, replace(config, epochs=2), tmp_path / "resumed.pt")
    resumed, resumed_costs = fit_glove(counts, config, tmp_path / "resumed.pt")
    assert np.allclose(resumed, straight, atol=1e-6)
    assert resumed_costs == pytest.approx(straight_costs)
    # A checkpoint of different settings is not resumed.
    other, _ = fit_glove(counts, replace(config, learning_rate=0.1), tmp_path / "straight.pt")
    assert not np.allclose(other, straight)


def test_glove_text_output_and_unknown_vector(tmp_path):
    words = [f"w{index}" for index in range(150)]
    vectors = np.arange(300, dtype=np.float32).reshape(150, 2) / 7
    out_words, out_vectors = with_unknown_vector(words, vectors)
    assert out_words[-1] == "<UNK>"
    assert np.allclose(out_vectors[-1], vectors[50:].mean(axis=0))
    path = tmp_path / "v.txt"
    save_glove_text(path, out_words, out_vectors)
    assert path.read_text(encoding="utf-8").split("\n")[1] == "w1 0.285714 0.428571"
    loaded = read_vectors(path)
    assert loaded.words == out_words
    assert np.allclose(loaded.vectors, out_vectors, atol=1e-6)


def test_similarity_analogy_and_neighbours_on_hand_made_vectors():
    words = ["king", "queen", "man", "woman", "apple"]
    vectors = np.array([[1, 1, 0], [1, -0.5, 0], [0.2, 1, 0], [0.2, -1, 0], [0, 0, 1]], dtype=float)
    similarity = similarity_spearman(
        words, vectors,
        [("king", "man", 9.0), ("king", "queen", 5.0), ("king", "apple", 0.1), ("x", "y", 3.0)],
    )
    assert similarity.spearman == pytest.approx(1.0)
    assert (similarity.pairs_found, similarity.pairs_total) == (3, 4)
    analogies = analogy_accuracy(
        words, vectors, [("man", "woman", "king", "queen"), ("man", "king", "x", "y")]
    )
    assert (analogies.accuracy, analogies.correct, analogies.questions_found) == (1.0, 1, 1)
    assert nearest_neighbours(words, vectors, ["king"], k=2) == [["man", "queen"]]


def test_built_in_evaluation_sets_are_well_formed():
    pairs = {(first, second) for first, second, _ in WORD_SIMILARITY_PAIRS}
    assert len(pairs) == len(WORD_SIMILARITY_PAIRS) >= 30
    assert all(0.0 <= score <= 10.0 for _, _, score in WORD_SIMILARITY_PAIRS)
    assert len(set(ANALOGY_QUESTIONS)) == len(ANALOGY_QUESTIONS) >= 30
    assert all(len(set(question)) == 4 for question in ANALOGY_QUESTIONS)


def test_command_line_builds_the_config():
    config = config_from_args(
        ["--corpus", "wiki", "--out", "run", "--dim", "64", "--max-words", "1000",
         "--min-count", "3", "--epochs", "2", "--x-max", "50"]
    )
    assert config.corpus.path == "wiki"
    assert config.output_dir == "run"
    assert (config.dim, config.epochs, config.x_max) == (64, 2, 50.0)
    assert config.vocab == VocabConfig(max_words=1000, min_count=3)
    assert (config.window, config.alpha, config.learning_rate) == (10, 0.75, 0.05)
