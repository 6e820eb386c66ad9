"""GloVe on the pretraining corpus: co-occurrence counts, then weighted least squares.

Counting follows the GloVe tool (``cooccur.c``): a symmetric window of ``window`` words each side,
each pair weighted 1/distance, counted in both directions. Windows run over a paragraph's running
text, across sentence ends, and stop at a paragraph end (the tool resets its window at a line
end; our paragraphs are the corpus lines). Tokens outside the vocabulary are dropped before
windowing, as the tool skips words it has no id for, so the window closes over them. Counting is
chunked: the pairs of ``chunk_tokens`` tokens at a time are summed into a sparse matrix.

Training follows ``glove.c``: minimise ``sum f(X_ij) (w_i . c_j + b_i + b~_j - log X_ij)^2`` with
``f(x) = min(1, (x / x_max)^alpha)`` by AdaGrad as the tool does it (gradients scaled by the
learning rate and clipped per component to ``grad_clip``, accumulators starting at 1, each step
divided by the square root of the accumulator before the step). Unlike the tool, which updates
per entry in Hogwild threads, we update per minibatch of entries with the gradients of a row
summed within the batch (vectorised torch); entries are shuffled once, and the batches visited in
a new order every epoch. Output: ``W + C`` (the tool's ``-model 2``) for the vocabulary's words,
plus ``<UNK>`` = the mean vector of the 100 rarest words (as ``glove.c`` writes ``<unk>``), in the
GloVe text format.

Run: ``python -m elmo_bench.pretrain.glove --corpus DIR --out DIR`` (see ``--help``).
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from elmo_bench.atomic import remove_temporaries, write_atomically, writing_once
from elmo_bench.digest import content_digest
from elmo_bench.errors import ElmoBenchError, run_main
from elmo_bench.pretrain.corpus import CorpusConfig, CorpusError
from elmo_bench.pretrain.glove_eval import (
    ANALOGY_QUESTIONS,
    WORD_SIMILARITY_PAIRS,
    analogy_accuracy,
    nearest_neighbours,
    similarity_spearman,
)
from elmo_bench.pretrain.vocab import UNK, EncodedCorpus, VocabConfig, load_pretraining_data
from elmo_bench.settings import check_fields, integer, number

logger = logging.getLogger(__name__)

COOCCURRENCE_CACHE_VERSION = 1
# glove.c writes the <unk> vector as the mean of this many least frequent words' vectors.
N_RARE_WORDS_FOR_UNK = 100
NEIGHBOUR_QUERIES = ("king", "France", "university", "river", "war", "music", "computer", "good")


class GloveConfigError(ElmoBenchError, ValueError):
    """GloVe settings of the wrong type or out of range (each problem named)."""


@dataclass(frozen=True)
class GloveConfig:
    """One GloVe run: corpus, vocabulary, counting and training settings, output folder.

    Defaults follow the GloVe tool and its demo script (window 10, x_max 100, alpha 0.75, lr 0.05,
    gradient clip 100, 15 epochs) except the vector size (128: our corpus is small). ``threads``
    is torch's intra-op thread count; on a CPU shared with other busy processes, 1 thread can be
    several times faster than 2, because torch's parallel scatter-add stalls when oversubscribed.
    """

    corpus: CorpusConfig
    output_dir: str
    vocab: VocabConfig = field(default_factory=VocabConfig)
    dim: int = integer(128, minimum=1)
    window: int = integer(10, minimum=1)
    epochs: int = integer(15, minimum=1)
    learning_rate: float = number(0.05, above=0)
    x_max: float = number(100.0, above=0)
    alpha: float = number(0.75, above=0)
    grad_clip: float = number(100.0, above=0)
    batch_size: int = integer(32_768, minimum=1)
    seed: int = integer(0, minimum=0)
    threads: int = integer(2, minimum=1)
    chunk_tokens: int = integer(4_000_000, minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "glove", GloveConfigError)

    def training_key(self) -> str:
        """Digest of everything that determines the trained vectors (not the output folder,
        not the thread count), so that a checkpoint is resumed only by the same run."""
        parts = asdict(self)
        for name in ("output_dir", "threads", "epochs", "chunk_tokens"):
            parts.pop(name)
        parts["corpus"].pop("workers")
        return content_digest(parts, 16)


# ----------------------------------------------------------------------------------------------
# Co-occurrence counts


def count_cooccurrences(
    word_ids: np.ndarray,
    segment_offsets: np.ndarray,
    n_words: int,
    window: int,
    chunk_tokens: int = 4_000_000,
) -> scipy.sparse.csr_matrix:
    """Symmetric, 1/distance-weighted co-occurrence counts within segments.

    Args:
        word_ids: int ``[n_tokens]`` word index of every token in ``[0, n_words)``, or -1 for a
            token to drop (it is removed before windowing).
        segment_offsets: int64 ``[n_segments + 1]`` token offsets of the segments (paragraphs);
            no window crosses a segment boundary.
        n_words: number of words (matrix size).
        window: words counted on each side.
        chunk_tokens: tokens whose pairs are summed at once (bounds memory to about
            ``24 * window * chunk_tokens`` bytes).

    Returns:
        float64 CSR ``[n_words, n_words]``, ``X[i, j] = X[j, i] = sum over pairs of i and j at
        distance d <= window of 1/d``.
    """
    if len(segment_offsets) == 0 or segment_offsets[0] != 0 or segment_offsets[-1] != len(word_ids):
        raise ValueError(
            f"segment_offsets must run from 0 to the {len(word_ids)} tokens, got "
            f"{segment_offsets[:1]} ... {segment_offsets[-1:]}"
        )
    segment_ids = np.repeat(
        np.arange(len(segment_offsets) - 1, dtype=np.int32), np.diff(segment_offsets)
    )
    kept = np.asarray(word_ids) >= 0
    words = np.asarray(word_ids)[kept].astype(np.int32)
    segments = segment_ids[kept]
    del segment_ids, kept
    n_tokens = len(words)
    total = scipy.sparse.csr_matrix((n_words, n_words), dtype=np.float64)
    for start in range(0, n_tokens, chunk_tokens):
        stop = min(start + chunk_tokens, n_tokens)
        rows, cols, weights = [], [], []
        for distance in range(1, window + 1):
            length = min(stop, n_tokens - distance) - start
            if length <= 0:
                break
            same_segment = (
                segments[start : start + length]
                == segments[start + distance : start + distance + length]
            )
            rows.append(words[start : start + length][same_segment])
            cols.append(words[start + distance : start + distance + length][same_segment])
            weights.append(np.full(len(rows[-1]), 1.0 / distance))
        if not rows:
            break
        # COO -> CSR sums duplicate (row, col) pairs.
        total = total + scipy.sparse.coo_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_words, n_words),
        ).tocsr()
        logger.info("counted co-occurrences of %d/%d tokens (%d nonzero so far)", stop, n_tokens,
                    total.nnz)
    return (total + total.T).tocsr()


def cooccurrence_matrix(
    train: EncodedCorpus, config: GloveConfig
) -> tuple[scipy.sparse.csr_matrix, str]:
    """The co-occurrence counts of the training split's vocabulary words (rows in the order of
    :attr:`Vocabulary.words`), cached next to the tokenized corpus (counted once, under a lock),
    and their cache key."""
    vocabulary = train.vocabulary
    key_parts = {
        "version": COOCCURRENCE_CACHE_VERSION,
        "corpus": train.corpus.fingerprint,
        "vocabulary": vocabulary.fingerprint,
        "window": config.window,
    }
    key = content_digest(key_parts, 16)
    path = train.corpus.root / f"cooccurrence-{key}.npz"
    with writing_once(path) as to_count:  # a killed count's temporary file is removed by now
        if to_count:
            word_index = np.full(len(vocabulary), -1, dtype=np.int32)
            for index, word in enumerate(vocabulary.words):
                word_index[vocabulary.token_to_id[word]] = index
            matrix = count_cooccurrences(
                word_index[train.ids],
                train.split.paragraph_token_offsets(),
                len(vocabulary.words),
                config.window,
                config.chunk_tokens,
            )
            write_atomically(path, lambda temp: scipy.sparse.save_npz(temp, matrix, compressed=False))
            return matrix, key
    return scipy.sparse.load_npz(path).tocsr(), key


# ----------------------------------------------------------------------------------------------
# Weighted least squares with AdaGrad


@dataclass
class GloveParameters:
    """Model state: word and context vectors and biases with their AdaGrad accumulators.

    Attributes:
        word, context: float32 ``[n_words, dim]``.
        word_bias, context_bias: float32 ``[n_words]``.
        *_sq: AdaGrad accumulators of the same shapes (start at 1, as in glove.c).
    """

    word: torch.Tensor
    context: torch.Tensor
    word_bias: torch.Tensor
    context_bias: torch.Tensor
    word_sq: torch.Tensor
    context_sq: torch.Tensor
    word_bias_sq: torch.Tensor
    context_bias_sq: torch.Tensor

    @classmethod
    def initial(cls, n_words: int, dim: int, seed: int) -> GloveParameters:
        """Uniform in ``[-0.5, 0.5) / dim`` (glove.c), accumulators at 1."""
        generator = torch.Generator().manual_seed(seed)

        def uniform(*shape: int) -> torch.Tensor:
            return (torch.rand(*shape, generator=generator) - 0.5) / dim

        return cls(
            uniform(n_words, dim), uniform(n_words, dim), uniform(n_words), uniform(n_words),
            torch.ones(n_words, dim), torch.ones(n_words, dim), torch.ones(n_words),
            torch.ones(n_words),
        )

    def vectors(self) -> np.ndarray:
        """float32 ``[n_words, dim]``: word + context vectors."""
        return (self.word + self.context).numpy()


@dataclass
class _BatchBuffers:
    """Scratch tensors ``[batch_size, dim]`` reused by every batch: allocating them afresh costs
    page faults that can take longer than the arithmetic."""

    word: torch.Tensor
    context: torch.Tensor
    gradient: torch.Tensor
    summed: torch.Tensor
    step: torch.Tensor

    @classmethod
    def allocate(cls, batch_size: int, dim: int) -> _BatchBuffers:
        return cls(*(torch.empty(batch_size, dim) for _ in range(5)))


def _distinct_rows(index: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, inverse)``: the distinct values of ``index`` ``[batch]`` in increasing order, and
    each entry's position among them; by counting, which is linear and (unlike the parallel sort
    behind ``torch.unique``) does not slow down tenfold when the CPU is oversubscribed."""
    present = torch.bincount(index, minlength=n_rows) > 0
    rows = present.nonzero().squeeze(1)
    position = torch.cumsum(present, 0) - 1
    return rows, position.index_select(0, index)


def _adagrad_step(
    parameter: torch.Tensor,
    accumulator: torch.Tensor,
    rows: torch.Tensor,
    inverse: torch.Tensor,
    gradient: torch.Tensor,
    summed: torch.Tensor,
    step: torch.Tensor,
) -> None:
    """glove.c's AdaGrad step for the distinct ``rows`` ``[n_rows]`` of a batch.

    Args:
        parameter, accumulator: the table and its AdaGrad accumulator, updated in place.
        rows: distinct rows the batch touches.
        inverse: ``[batch]`` position in ``rows`` of each entry's row.
        gradient: ``[batch, ...]`` per-entry gradients, already scaled by the learning rate.
        summed, step: scratch tensors ``[n_rows, ...]``.

    A row's gradients are summed; the row moves by ``-gradient / sqrt(accumulator)``; then the
    accumulator adds ``gradient ** 2``.
    """
    summed.zero_().index_add_(0, inverse, gradient)
    torch.index_select(accumulator, 0, rows, out=step).sqrt_()
    torch.div(summed, step, out=step)
    parameter.index_add_(0, rows, step, alpha=-1.0)
    accumulator.index_add_(0, rows, summed.mul_(summed))


def _train_epoch(
    parameters: GloveParameters,
    rows: torch.Tensor,
    cols: torch.Tensor,
    log_counts: torch.Tensor,
    weights: torch.Tensor,
    config: GloveConfig,
    epoch: int,
) -> float:
    """One pass over all entries in shuffled minibatches; returns the mean weighted cost
    ``0.5 f(X) (w.c + b + b~ - log X)^2`` per entry (as glove.c reports it)."""
    n_entries = len(rows)
    n_batches = (n_entries + config.batch_size - 1) // config.batch_size
    buffers = _BatchBuffers.allocate(min(config.batch_size, n_entries), config.dim)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    clip = config.grad_clip
    total_cost = 0.0
    for batch in torch.randperm(n_batches, generator=generator).tolist():
        start = batch * config.batch_size
        stop = min(start + config.batch_size, n_entries)
        size = stop - start
        word_index = rows[start:stop].long()
        context_index = cols[start:stop].long()
        word = torch.index_select(parameters.word, 0, word_index, out=buffers.word[:size])
        context = torch.index_select(
            parameters.context, 0, context_index, out=buffers.context[:size]
        )
        difference = (
            torch.mul(word, context, out=buffers.gradient[:size]).sum(1)
            + parameters.word_bias.index_select(0, word_index)
            + parameters.context_bias.index_select(0, context_index)
            - log_counts[start:stop]
        )
        weighted = weights[start:stop] * difference
        total_cost += 0.5 * float(torch.dot(weighted, difference))
        scaled = config.learning_rate * weighted

        word_rows, word_inverse = _distinct_rows(word_index, len(parameters.word))
        context_rows, context_inverse = _distinct_rows(context_index, len(parameters.context))
        n_word_rows, n_context_rows = len(word_rows), len(context_rows)
        word_gradient = torch.mul(context, scaled.unsqueeze(1), out=buffers.gradient[:size])
        _adagrad_step(parameters.word, parameters.word_sq, word_rows, word_inverse,
                      word_gradient.clamp_(-clip, clip), buffers.summed[:n_word_rows],
                      buffers.step[:n_word_rows])
        context_gradient = torch.mul(word, scaled.unsqueeze(1), out=buffers.gradient[:size])
        _adagrad_step(parameters.context, parameters.context_sq, context_rows, context_inverse,
                      context_gradient.clamp_(-clip, clip), buffers.summed[:n_context_rows],
                      buffers.step[:n_context_rows])
        _adagrad_step(parameters.word_bias, parameters.word_bias_sq, word_rows, word_inverse,
                      scaled, torch.empty(n_word_rows), torch.empty(n_word_rows))
        _adagrad_step(parameters.context_bias, parameters.context_bias_sq, context_rows,
                      context_inverse, scaled, torch.empty(n_context_rows),
                      torch.empty(n_context_rows))
    return total_cost / n_entries


def fit_glove(
    cooccurrences: scipy.sparse.spmatrix,
    config: GloveConfig,
    checkpoint: Path | None = None,
    data_key: str = "",
) -> tuple[np.ndarray, list[float]]:
    """Fit GloVe to a co-occurrence matrix (with ``config.threads`` torch threads).

    Args:
        cooccurrences: ``[n_words, n_words]`` nonnegative counts (only nonzeros are fitted).
        config: training settings.
        checkpoint: file saved after every epoch; if it holds an unfinished run of the same
            :meth:`GloveConfig.training_key` and ``data_key``, training resumes after its last
            epoch.
        data_key: identity of the counts (e.g. their cache key), so that a checkpoint is not
            resumed on other data.

    Returns:
        ``(vectors, costs)``: float32 ``[n_words, dim]`` word + context vectors and the mean cost
        of every epoch.
    """
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _fit(cooccurrences, config, checkpoint, config.training_key() + data_key)
    finally:
        torch.set_num_threads(threads_before)


def _fit(
    cooccurrences: scipy.sparse.spmatrix, config: GloveConfig, checkpoint: Path | None, key: str
) -> tuple[np.ndarray, list[float]]:
    matrix = scipy.sparse.coo_matrix(cooccurrences)
    n_words = matrix.shape[0]
    if matrix.nnz == 0:
        raise CorpusError(
            "no co-occurrences to fit: the corpus has no two vocabulary words in a window"
        )
    order = np.random.default_rng(config.seed).permutation(matrix.nnz)
    rows = torch.from_numpy(matrix.row[order].astype(np.int32))
    cols = torch.from_numpy(matrix.col[order].astype(np.int32))
    counts = matrix.data[order]
    del order, matrix
    log_counts = torch.from_numpy(np.log(counts).astype(np.float32))
    weights = torch.from_numpy(
        np.minimum(1.0, (counts / config.x_max) ** config.alpha).astype(np.float32)
    )
    del counts

    parameters = GloveParameters.initial(n_words, config.dim, config.seed)
    costs: list[float] = []
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        if (
            state["training_key"] == key
            and state["n_words"] == n_words
            and len(state["costs"]) <= config.epochs
        ):
            parameters = GloveParameters(**state["parameters"])
            costs = list(state["costs"])
            logger.info("resuming GloVe from %s after epoch %d", checkpoint, len(costs))
    for epoch in range(len(costs), config.epochs):
        started = time.perf_counter()
        costs.append(_train_epoch(parameters, rows, cols, log_counts, weights, config, epoch))
        logger.info("epoch %d/%d: cost %.5f (%.0f s)", epoch + 1, config.epochs, costs[-1],
                    time.perf_counter() - started)
        if checkpoint is not None:
            state = {
                "training_key": key,
                "n_words": n_words,
                "costs": costs,
                "parameters": asdict(parameters),
            }
            write_atomically(checkpoint, functools.partial(torch.save, state))
    return parameters.vectors(), costs


# ----------------------------------------------------------------------------------------------
# Output


def save_glove_text(path: Path, words: Sequence[str], vectors: np.ndarray) -> None:
    """Write ``word v1 ... vD`` lines (the GloVe text format, 6 decimals), atomically."""
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words but {len(vectors)} vectors")

    def write(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8") as file:
            for word, row in zip(words, vectors.tolist()):
                file.write(word + " " + " ".join(f"{value:.6f}" for value in row) + "\n")

    write_atomically(Path(path), write)


def with_unknown_vector(words: list[str], vectors: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Append ``<UNK>`` = mean of the last (rarest) ``N_RARE_WORDS_FOR_UNK`` words' vectors."""
    unknown = vectors[-N_RARE_WORDS_FOR_UNK:].mean(axis=0, keepdims=True)
    return [*words, UNK], np.concatenate([vectors, unknown]).astype(np.float32)


def evaluate_vectors(words: Sequence[str], vectors: np.ndarray) -> dict:
    """Built-in word-similarity and analogy scores and nearest neighbours of common words."""
    similarity = similarity_spearman(words, vectors, WORD_SIMILARITY_PAIRS)
    analogies = analogy_accuracy(words, vectors, ANALOGY_QUESTIONS)
    known = set(words)
    queries = [word for word in NEIGHBOUR_QUERIES if word in known]
    return {
        "word_similarity": asdict(similarity),
        "analogies": asdict(analogies),
        "nearest_neighbours": dict(zip(queries, nearest_neighbours(words, vectors, queries, 8))),
    }


def train_glove(config: GloveConfig) -> Path:
    """Tokenize the corpus, count co-occurrences, fit GloVe, write the vectors; each step cached
    or checkpointed, so a rerun resumes. Returns the vectors file
    ``<output_dir>/vectors.txt``; ``summary.json`` beside it records sizes, timings and scores."""
    output_dir = Path(config.output_dir)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    data = load_pretraining_data(config.corpus, config.vocab)
    timings["tokenize_and_vocabulary_s"] = time.perf_counter() - started
    output_dir.mkdir(parents=True, exist_ok=True)  # only once the corpus has been read
    for leftover in remove_temporaries(output_dir):
        logger.info("removed %s, left by a run that was killed while writing it", leftover)
    words = data.vocabulary.words
    logger.info("vocabulary: %d words (+3 special tokens); train split %d tokens, %.2f%% <UNK>",
                len(words), data.train.n_tokens,
                100.0 * float(np.mean(data.train.ids == data.vocabulary.unk_id)))

    started = time.perf_counter()
    cooccurrences, cooccurrence_key = cooccurrence_matrix(data.train, config)
    timings["cooccurrence_s"] = time.perf_counter() - started
    logger.info("co-occurrences: %d nonzero entries (%.0f s)", cooccurrences.nnz,
                timings["cooccurrence_s"])

    started = time.perf_counter()
    vectors, costs = fit_glove(
        cooccurrences, config, output_dir / "checkpoint.pt", data_key=cooccurrence_key
    )
    timings["training_s"] = time.perf_counter() - started

    data.vocabulary.save(output_dir / "vocab.txt")
    out_words, out_vectors = with_unknown_vector(words, vectors)
    vectors_path = output_dir / "vectors.txt"
    save_glove_text(vectors_path, out_words, out_vectors)
    evaluation = evaluate_vectors(words, vectors)
    for query, neighbours in evaluation["nearest_neighbours"].items():
        logger.info("nearest to %s: %s", query, ", ".join(neighbours))
    logger.info("word similarity: %s", evaluation["word_similarity"])
    logger.info("analogies: %s", evaluation["analogies"])
    summary = {
        "config": asdict(config),
        "corpus_fingerprint": data.corpus.fingerprint,
        "train_tokens": data.train.n_tokens,
        "vocabulary_words": len(words),
        "cooccurrence_nonzeros": int(cooccurrences.nnz),
        "epoch_costs": costs,
        "timings_s": {name: round(value, 1) for name, value in timings.items()},
        **evaluation,
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return vectors_path


# ----------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    defaults = GloveConfig(CorpusConfig(path="."), output_dir=".")
    parser = argparse.ArgumentParser(
        prog="python -m elmo_bench.pretrain.glove",
        description="Train GloVe vectors on a corpus (WikiExtractor shards or text files).",
    )
    parser.add_argument("--corpus", required=True, help="corpus file or folder")
    parser.add_argument("--out", required=True, help="output folder (vectors.txt, summary.json)")
    parser.add_argument("--format", default="auto", choices=["auto", "wikiextractor", "text"])
    parser.add_argument("--max-words", type=int, default=defaults.vocab.max_words)
    parser.add_argument("--min-count", type=int, default=defaults.vocab.min_count)
    parser.add_argument("--held-out-fraction", type=float,
                        default=defaults.corpus.held_out_fraction)
    parser.add_argument("--workers", type=int, default=defaults.corpus.workers,
                        help="tokenizer processes")
    for name in ("dim", "window", "epochs", "batch_size", "seed", "threads"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int,
                            default=getattr(defaults, name))
    for name in ("learning_rate", "x_max", "alpha", "grad_clip"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float,
                            default=getattr(defaults, name))
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> GloveConfig:
    """Parse the command line into a :class:`GloveConfig`."""
    args = _parser().parse_args(argv)
    return GloveConfig(
        corpus=CorpusConfig(path=args.corpus, file_format=args.format,
                            held_out_fraction=args.held_out_fraction, workers=args.workers),
        output_dir=args.out,
        vocab=VocabConfig(max_words=args.max_words, min_count=args.min_count),
        dim=args.dim, window=args.window, epochs=args.epochs, batch_size=args.batch_size,
        seed=args.seed, threads=args.threads, learning_rate=args.learning_rate,
        x_max=args.x_max, alpha=args.alpha, grad_clip=args.grad_clip,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run_main(
        "python -m elmo_bench.pretrain.glove", lambda: print(train_glove(config_from_args(argv)))
    )


if __name__ == "__main__":
    raise SystemExit(main())
