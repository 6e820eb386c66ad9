"""Pretraining ELMo's bidirectional language model on a tokenized corpus, in one process or under DDP.

Model. A forward and a backward LSTM LM share the char-CNN token encoder and one softmax, as in the
ELMo paper; both directions are the core :class:`~elmo_bench.embedders.elmo.bilm.ElmoBiLm` (its
``token_encoder`` and ``lstm``), so a trained model exports to the AllenNLP / bilm-tf format
unchanged. Every sentence is framed as ``<S> w_1 ... w_n </S>``; the forward top layer at position
``t`` predicts position ``t + 1`` (the words and ``</S>``), the backward top layer at ``t`` predicts
``t - 1`` (the words and ``<S>``). The softmax is torch's adaptive softmax over a word vocabulary
(out-of-vocabulary targets are ``<UNK>``; the inputs are always the real strings, through the
characters). Dropout acts on the LSTM input (the token vectors) and on the top layer's output, in
training only (the core LSTM runs its layers as one unit, so there is no dropout between layers).
Training runs the core modules' parameters through two kernels with a fast backward pass,
:func:`encode_distinct_tokens` (here) and :func:`~elmo_bench.pretrain.lstm_kernel.run_full_length_lstm`;
tests check both against the core modules, which the exported model uses at inference.

Data. Sentences longer than ``max_window`` positions are cut into windows overlapping by one
position, so each target is predicted exactly once per direction. Windows are grouped by exact
length and cut into batches of at most ``batch_tokens`` positions (no padding at all); the batch
order of an epoch is a function of ``(seed, epoch)`` only, so a run's data position is just
``(epoch, batch index)``. The char CNN runs once per distinct token of a batch.

Optimisation. Adam with linear warm-up and cosine decay, global-norm clipping (10, as bilm-tf's
``all_clip_norm_val``). Adam rather than bilm-tf's Adagrad(0.2): a CPU hour is only a few hundred
to a few thousand steps, and there Adam converged faster. From one initialisation on the same
``cpu-small`` batches, held-out perplexity after 25/50/75/100 steps was 989/866/845/820 with Adam
(2e-3) and 1647/1192/1051/1034 with Adagrad (0.2) (``benchmarks/pretrain_bilm.py
--compare-optimizers 100``, ``results/benchmarks/pretrain_bilm_optimizers.json``). Adagrad remains
selectable (``train.optimizer=adagrad``).

The loss of a step is the summed negative log-likelihood of every target of the step (all ranks,
all accumulated batches) divided by their number, so ``W`` ranks with one batch each give the same
gradient as one process accumulating the same ``W`` batches.

Units: a *token* is one prediction target per direction (a word or the sentence-end marker); the
perplexities are over this package's vocabulary and tokenizer.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import random
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from elmo_bench.atomic import write_atomically, write_json
from elmo_bench.data.tokenize import tokenize
from elmo_bench.embedders.elmo.bilm import ElmoBiLm
from elmo_bench.embedders.elmo.charcnn import CharCnnEncoder, pooled_char_length
from elmo_bench.embedders.elmo.chars import token_char_ids
from elmo_bench.embedders.elmo.flops import char_cnn_flops, lstm_flops
from elmo_bench.embedders.elmo.weights import export_bilm
from elmo_bench.errors import ElmoBenchError
from elmo_bench.pretrain.bilm_presets import BiLmPreset, ModelConfig, TrainConfig
from elmo_bench.pretrain.lstm_kernel import run_full_length_lstm
from elmo_bench.pretrain.corpus import CorpusConfig, build_tokenized_corpus, split_sentences
from elmo_bench.pretrain.vocab import (
    BOS,
    EOS,
    UNK,
    EncodedCorpus,
    VocabConfig,
    Vocabulary,
    build_vocabulary,
    encode_corpus,
    vocabulary_folder,
)

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
SNAPSHOTS_DIR = "snapshots"


class PretrainError(ElmoBenchError, ValueError):
    """A pretraining run that cannot start or resume (bad checkpoint, mismatched vocabulary, ...)."""


# ----------------------------------------------------------------------------------------------
# Sentences as id arrays


@dataclass
class LmCorpus:
    """Sentences as two aligned id arrays: strings for the char CNN, vocabulary ids for the softmax.

    Attributes:
        token_types: int32 ``[n_tokens]`` index into ``types`` of every token.
        word_ids: int32 ``[n_tokens]`` vocabulary id of every token (``<UNK>`` when unknown).
        sentence_offsets: int64 ``[n_sentences + 1]``; sentence ``i`` is tokens
            ``sentence_offsets[i]:sentence_offsets[i + 1]`` (without ``<S>``/``</S>``).
        types: the token strings.
    """

    token_types: np.ndarray
    word_ids: np.ndarray
    sentence_offsets: np.ndarray
    types: Sequence[str]

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.sentence_offsets[-1] - self.sentence_offsets[0])

    @property
    def sentence_lengths(self) -> np.ndarray:
        """int64 ``[n_sentences]`` words per sentence."""
        return np.diff(self.sentence_offsets)

    @property
    def bos_type(self) -> int:
        """Type id used for ``<S>`` (one past the corpus's types)."""
        return len(self.types)

    @property
    def eos_type(self) -> int:
        return len(self.types) + 1

    def type_string(self, type_id: int) -> str:
        if type_id == self.bos_type:
            return BOS
        if type_id == self.eos_type:
            return EOS
        return self.types[type_id]

    def head(self, max_tokens: int) -> "LmCorpus":
        """The leading whole sentences holding at most ``max_tokens`` words (at least one sentence)."""
        start = self.sentence_offsets[0]
        count = max(1, int(np.searchsorted(self.sentence_offsets - start, max_tokens, side="right")) - 1)
        return LmCorpus(self.token_types, self.word_ids, self.sentence_offsets[: count + 1], self.types)

    @classmethod
    def from_encoded(cls, encoded: EncodedCorpus) -> "LmCorpus":
        """One split of the tokenized pretraining corpus."""
        return cls(encoded.split.token_types, encoded.ids, encoded.sentence_offsets, encoded.corpus.types)

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sequence[str]], vocabulary: Vocabulary) -> "LmCorpus":
        """Token-string sentences (empty ones dropped) encoded with ``vocabulary``."""
        sentences = [sentence for sentence in sentences if sentence]
        type_index: dict[str, int] = {}
        flat = [type_index.setdefault(token, len(type_index)) for sentence in sentences for token in sentence]
        types = list(type_index)
        type_to_word = vocabulary.encode(types)
        token_types = np.asarray(flat, dtype=np.int32)
        lengths = [len(sentence) for sentence in sentences]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(token_types, type_to_word[token_types] if len(flat) else token_types.copy(), offsets, types)


# ----------------------------------------------------------------------------------------------
# Windows and batches


@dataclass(frozen=True)
class Windows:
    """Pieces of framed sentences, each at most ``max_window`` positions.

    Sentence ``i`` framed is ``n_i + 2`` positions (``<S>``, words, ``</S>``); window ``k`` of it
    starts at position ``k (max_window - 1)``, so consecutive windows share one position.

    Attributes:
        sentence: int64 ``[n_windows]`` sentence index.
        start: int64 ``[n_windows]`` first framed position.
        length: int64 ``[n_windows]`` positions (>= 2).
    """

    sentence: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, sentence_lengths: np.ndarray, max_window: int) -> "Windows":
        framed = np.asarray(sentence_lengths, dtype=np.int64) + 2
        per_sentence = -(-(framed - 1) // (max_window - 1))  # ceil((m - 1) / (W - 1))
        sentence = np.repeat(np.arange(len(framed), dtype=np.int64), per_sentence)
        first_window = np.cumsum(per_sentence) - per_sentence
        index_in_sentence = np.arange(len(sentence), dtype=np.int64) - np.repeat(first_window, per_sentence)
        start = index_in_sentence * (max_window - 1)
        length = np.minimum(max_window, framed[sentence] - start)
        return cls(sentence, start, length)

    def __len__(self) -> int:
        return len(self.sentence)


def plan_batches(window_lengths: np.ndarray, batch_tokens: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Group windows of equal length into batches of at most ``batch_tokens`` positions.

    Args:
        window_lengths: int ``[n_windows]``.
        batch_tokens: position budget of a batch.
        rng: shuffles the windows within each length and the order of the batches; None keeps
            corpus order (evaluation).

    Returns:
        Window-index arrays, one per batch; every window appears exactly once.
    """
    batches = []
    for length in np.unique(window_lengths):
        members = np.flatnonzero(window_lengths == length)
        if rng is not None:
            members = rng.permutation(members)
        rows = max(1, batch_tokens // int(length))
        batches.extend(members[i : i + rows] for i in range(0, len(members), rows))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


@dataclass
class LmBatch:
    """Windows of one length, as ids.

    Attributes:
        distinct_types: int64 ``[U]`` the distinct type ids of the batch (``<S>``/``</S>`` included).
        char_ids: int64 ``[U, 50]`` their character ids.
        token_index: int64 ``[B, T]`` index into ``distinct_types`` at every position.
        word_ids: int64 ``[B, T]`` vocabulary ids (the targets).
    """

    distinct_types: torch.Tensor
    char_ids: torch.Tensor
    token_index: torch.Tensor
    word_ids: torch.Tensor

    @property
    def n_targets(self) -> int:
        """Predictions per direction: ``B (T - 1)``."""
        rows, time = self.word_ids.shape
        return rows * (time - 1)

    def to(self, device: torch.device) -> "LmBatch":
        return LmBatch(*(tensor.to(device) for tensor in (self.distinct_types, self.char_ids, self.token_index, self.word_ids)))


def make_batch(corpus: LmCorpus, windows: Windows, members: np.ndarray, bos_word: int, eos_word: int) -> LmBatch:
    """The batch of windows ``members`` (all of one length) of ``corpus``."""
    sentence, start = windows.sentence[members], windows.start[members]
    time = int(windows.length[members[0]])
    position = start[:, None] + np.arange(time)[None, :]  # framed position, [B, T]
    n_words = corpus.sentence_lengths[sentence][:, None]
    token = np.clip(corpus.sentence_offsets[sentence][:, None] + position - 1, 0, max(len(corpus.token_types) - 1, 0))
    is_bos, is_eos = position == 0, position == n_words + 1
    types = np.where(is_bos, corpus.bos_type, np.where(is_eos, corpus.eos_type, corpus.token_types[token]))
    words = np.where(is_bos, bos_word, np.where(is_eos, eos_word, corpus.word_ids[token]))
    distinct, inverse = np.unique(types, return_inverse=True)
    char_ids = torch.tensor([token_char_ids(corpus.type_string(int(t))) for t in distinct], dtype=torch.long)
    return LmBatch(
        torch.from_numpy(distinct.astype(np.int64)),
        char_ids,
        torch.from_numpy(inverse.reshape(types.shape).astype(np.int64)),
        torch.from_numpy(words.astype(np.int64)),
    )


# ----------------------------------------------------------------------------------------------
# The model


@dataclass
class LmLoss:
    """Summed negative log-likelihoods of one batch (natural log)."""

    forward_nll: torch.Tensor
    backward_nll: torch.Tensor
    n_targets: int  # per direction


def effective_cutoffs(cutoffs: Sequence[int], n_words: int) -> list[int]:
    """The adaptive-softmax cut-offs that fit a vocabulary of ``n_words`` (torch needs each below
    ``n_words - 1``)."""
    return [cutoff for cutoff in cutoffs if cutoff < n_words - 1]


class _ConvolutionMaxPool(torch.autograd.Function):
    """``max over positions of conv1d(embedded)`` (with bias) as one matrix product, with a backward
    pass that only routes each filter's gradient to its arg-max window.

    Same result as the core's ``Conv1d`` + ``amax`` (up to float summation order); autograd through
    those takes 3x longer on the CPU here (the ``amax`` backward and the convolution backward
    both work on the dense ``[tokens, filters, positions]`` tensor). On ties (char-padding
    positions give equal scores) the gradient goes to one of the tied positions, where ``amax``
    splits it; both are valid subgradients.
    """

    @staticmethod
    def forward(ctx: Any, embedded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``embedded``: ``[N, chars, d]``; ``weight``: ``[n, d, width]``; ``bias``: ``[n]`` -> ``[N, n]``."""
        n_tokens, n_chars, dim = embedded.shape
        n_filters, _, width = weight.shape
        positions = n_chars - width + 1
        windows = embedded.unfold(1, width, 1).reshape(n_tokens * positions, dim * width)  # [N L, d w]
        kernel = weight.reshape(n_filters, dim * width)
        pooled, where = (windows @ kernel.t()).view(n_tokens, positions, n_filters).max(dim=1)
        ctx.save_for_backward(windows, kernel, where)
        ctx.sizes = (n_tokens, n_chars, dim, width, positions)
        return pooled + bias

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        windows, kernel, where = ctx.saved_tensors
        n_tokens, n_chars, dim, width, positions = ctx.sizes
        n_filters = grad.shape[1]
        grad_scores = grad.new_zeros(n_tokens, positions, n_filters)
        grad_scores.scatter_(1, where[:, None, :], grad[:, None, :])
        grad_scores = grad_scores.view(n_tokens * positions, n_filters)
        grad_weight = (grad_scores.t() @ windows).view(n_filters, dim, width)
        grad_windows = (grad_scores @ kernel).view(n_tokens, positions, dim, width)
        grad_embedded = grad.new_zeros(n_tokens, n_chars, dim)
        for offset in range(width):
            grad_embedded[:, offset : offset + positions] += grad_windows[..., offset]
        return grad_embedded, grad_weight, grad.sum(0)


def encode_distinct_tokens(encoder: CharCnnEncoder, char_ids: torch.Tensor) -> torch.Tensor:
    """:class:`CharCnnEncoder`'s forward with the convolutions of :class:`_ConvolutionMaxPool`.

    Args:
        encoder: the biLM's char CNN (its parameters are used as they are).
        char_ids: int64 ``[U, 50]``.

    Returns:
        ``[U, P]`` token vectors.
    """
    char_ids = char_ids[:, : pooled_char_length(char_ids, encoder.options.max_filter_width)]
    embedded = encoder.char_embedding(char_ids)  # [U, chars <= 50, d]
    pooled = [_ConvolutionMaxPool.apply(embedded, conv.weight, conv.bias) for conv in encoder.convolutions]
    return encoder.projection(encoder.highway(encoder.activation(torch.cat(pooled, dim=-1))))


class BiLanguageModel(nn.Module):
    """ELMo's biLM with its training head: shared char CNN, forward/backward LSTMs, shared softmax.

    Attributes:
        bilm: the exportable part (char CNN + biLSTM), exactly what ELMo embeds with.
        softmax: adaptive softmax over ``n_words`` vocabulary ids, shared by both directions.
    """

    def __init__(self, config: ModelConfig, n_words: int) -> None:
        super().__init__()
        self.config = config
        self.n_words = n_words
        self.bilm = ElmoBiLm(config.elmo_options())
        cutoffs = effective_cutoffs(config.softmax_cutoffs, n_words)
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(
            config.projection_dim, n_words, cutoffs, div_value=config.softmax_div_value
        )
        self.dropout = nn.Dropout(config.dropout)

    def top_layer(self, char_ids: torch.Tensor, token_index: torch.Tensor) -> torch.Tensor:
        """The top biLSTM layer (residual included) of windows of equal length.

        Args:
            char_ids: int64 ``[U, 50]`` character ids of the batch's distinct tokens.
            token_index: int64 ``[B, T]`` index into ``char_ids`` (framed windows).

        Returns:
            ``[B, T, 2P]``: ``[forward; backward]`` states (before the training dropout).
        """
        token_vectors = self.dropout(encode_distinct_tokens(self.bilm.token_encoder, char_ids)[token_index])
        return run_full_length_lstm(self.bilm.lstm, token_vectors)[-1]

    def forward(self, char_ids: torch.Tensor, token_index: torch.Tensor, word_ids: torch.Tensor) -> LmLoss:
        """Summed losses of a batch (see :class:`LmBatch` for the shapes)."""
        P = self.config.projection_dim
        top = self.dropout(self.top_layer(char_ids, token_index))
        forward_states = top[:, :-1, :P].reshape(-1, P)  # position t predicts t + 1
        backward_states = top[:, 1:, P:].reshape(-1, P)  # position t predicts t - 1
        targets = torch.cat([word_ids[:, 1:].reshape(-1), word_ids[:, :-1].reshape(-1)])
        log_probs = self.softmax(torch.cat([forward_states, backward_states]), targets).output
        n_targets = forward_states.shape[0]
        return LmLoss(-log_probs[:n_targets].sum(), -log_probs[n_targets:].sum(), n_targets)


# ----------------------------------------------------------------------------------------------
# FLOPs


def forward_flops(config: ModelConfig, n_words: int, batch: LmBatch) -> dict[str, float]:
    """Matrix-product FLOPs (2 per multiply-add) of one forward pass over ``batch``, by part.

    The char CNN counts once per distinct token (convolutions over the positions it runs, see
    :func:`~elmo_bench.embedders.elmo.charcnn.pooled_char_length`, highway, projection); the LSTM counts its input, recurrent and projection products at every position of
    both directions and all layers; the adaptive softmax counts the head for every target and each
    tail cluster (down-projection and output layer) for the targets that fall in it, as torch
    evaluates it. Element-wise work (gates, activations, log-softmax) is left out.
    """
    options = config.elmo_options()
    P = config.projection_dim
    rows, time = batch.word_ids.shape
    cutoffs = effective_cutoffs(config.softmax_cutoffs, n_words) + [n_words]
    targets = torch.cat([batch.word_ids[:, 1:].reshape(-1), batch.word_ids[:, :-1].reshape(-1)])
    softmax = 2 * P * (cutoffs[0] + len(cutoffs) - 1) * len(targets)
    for k in range(len(cutoffs) - 1):
        hidden = int(P // (config.softmax_div_value ** (k + 1)))
        in_cluster = int(((targets >= cutoffs[k]) & (targets < cutoffs[k + 1])).sum())
        softmax += in_cluster * 2 * (P * hidden + hidden * (cutoffs[k + 1] - cutoffs[k]))
    return {
        "char_cnn": float(
            char_cnn_flops(options, pooled_char_length(batch.char_ids, options.max_filter_width))
            * len(batch.distinct_types)
        ),
        "lstm": float(lstm_flops(options) * rows * time),
        "softmax": float(softmax),
    }


# ----------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Perplexity:
    """Perplexities of the two directions over ``tokens`` targets each; ``mean`` is their
    arithmetic mean, as the ELMo paper reports."""

    forward: float
    backward: float
    tokens: int

    @property
    def mean(self) -> float:
        return (self.forward + self.backward) / 2

    def to_dict(self) -> dict[str, float]:
        return {"forward_ppl": self.forward, "backward_ppl": self.backward, "mean_ppl": self.mean, "tokens": self.tokens}


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()


@torch.no_grad()
def evaluate(
    model: BiLanguageModel,
    corpus: LmCorpus,
    vocabulary: Vocabulary,
    batch_tokens: int,
    max_window: int,
    context: DistributedContext = DistributedContext(),
) -> Perplexity:
    """Forward and backward perplexity of ``corpus`` (eval mode, no dropout; ranks share the work)."""
    windows = Windows.of(corpus.sentence_lengths, max_window)
    batches = plan_batches(windows.length, batch_tokens, rng=None)
    was_training = model.training
    model.eval()
    sums = [0.0, 0.0, 0.0]
    for members in batches[context.rank :: context.world_size]:
        batch = make_batch(corpus, windows, members, vocabulary.bos_id, vocabulary.eos_id).to(context.device)
        loss = model(batch.char_ids, batch.token_index, batch.word_ids)
        sums[0] += loss.forward_nll.item()
        sums[1] += loss.backward_nll.item()
        sums[2] += loss.n_targets
    model.train(was_training)
    forward_nll, backward_nll, n_targets = context.all_reduce_sum(sums)
    if n_targets == 0:
        raise PretrainError("cannot evaluate perplexity on an empty corpus")
    return Perplexity(math.exp(forward_nll / n_targets), math.exp(backward_nll / n_targets), int(n_targets))


# WikiText-2 undoes Moses-style splits that our (spaCy, PTB-like) tokenizer makes differently:
# "3 @.@ 5" -> "3.5", "1 @,@ 200" -> "1,200", "red @-@ tipped" -> "red-tipped", "don 't" -> "don't".
_WIKITEXT_JOINER = re.compile(r" @([-.,])@ ")
_WIKITEXT_CLITIC = re.compile(r"(\w) '(s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_WIKITEXT_UNK = "<unk>"
_UNK_PLACEHOLDER = "XXWIKITEXTUNKXX"  # one alphanumeric word: the tokenizer keeps it whole


def read_wikitext(path: Path) -> list[list[str]]:
    """WikiText-2 text re-tokenized as our corpus is: a list of sentences of tokens.

    Each non-heading line is a paragraph: the ``@x@`` joiners and Moses' split clitics are undone,
    the line is tokenized with :func:`elmo_bench.data.tokenize.tokenize` and cut into sentences
    with the corpus's sentence splitter. Headings (`` = Title = ``) are dropped, as WikiExtractor
    drops them from our corpus. ``<unk>`` (WikiText's own out-of-vocabulary word, whose original
    string is lost) becomes our ``<UNK>``: the target is our unknown-word id and the char CNN reads
    the string ``<UNK>``. Perplexities are therefore over our vocabulary and tokenization and not
    comparable with published WikiText-2 numbers.
    """
    sentences = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        text = line.strip()
        if not text or (text.startswith("=") and text.endswith("=")):
            continue
        text = _WIKITEXT_CLITIC.sub(r"\1'\2", _WIKITEXT_JOINER.sub(r"\1", f" {text} ")).strip()
        tokens = [UNK if token == _UNK_PLACEHOLDER else token for token in tokenize(text.replace(_WIKITEXT_UNK, _UNK_PLACEHOLDER))]
        sentences.extend(split_sentences(tokens))
    return sentences


# ----------------------------------------------------------------------------------------------
# Checkpoints


def rng_states() -> dict[str, Any]:
    """This process's torch, numpy and Python random states."""
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


# ----------------------------------------------------------------------------------------------
# Training


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the peak learning rate for optimizer step ``step`` (0-based): linear
    warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, config: TrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    if config.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    else:  # bilm-tf: Adagrad with initial accumulator 1.0
        optimizer = torch.optim.Adagrad(model.parameters(), lr=config.learning_rate, initial_accumulator_value=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, config))
    return optimizer, scheduler


@dataclass
class TrainingPosition:
    """Where a run is: everything besides weights and optimizer that resuming needs."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0  # targets per direction, all ranks
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PretrainingSource:
    """What a run trains and evaluates on.

    Attributes:
        train: the training sentences.
        heldout: held-out sentences (None or empty: no evaluation).
        vocabulary: the softmax vocabulary.
        vocabulary_path: where it was read from or saved (named in errors).
        extra_eval: further named evaluation corpora (WikiText-2 valid/test), used at the end.
        description: JSON-able record of the corpus and vocabulary settings.
    """

    train: LmCorpus
    heldout: LmCorpus | None
    vocabulary: Vocabulary
    vocabulary_path: Path
    extra_eval: dict[str, LmCorpus] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)


@dataclass
class StopRule:
    """When this invocation stops (besides reaching the schedule's ``max_steps``).

    Attributes:
        stop_after_steps: optimizer steps of this invocation.
        max_minutes: wall-clock budget of this invocation.
        evaluate_on_stop: run the final evaluations also when stopping before ``max_steps``.
    """

    stop_after_steps: int | None = None
    max_minutes: float | None = None
    evaluate_on_stop: bool = False


class BiLmTrainer:
    """Trains a :class:`BiLanguageModel` with checkpoints every ``checkpoint_every`` steps.

    Output folder::

        config.json              the resolved preset and the data description
        vocab.txt                the softmax vocabulary (bilm-tf format)
        checkpoint.pt            model, optimizer, scheduler, data position, RNG states, history
        metrics.json             held-out perplexity curve and final evaluations
        options.json, weights.hdf5   the biLM in AllenNLP / bilm-tf format (written when a run stops)
    """

    def __init__(
        self,
        preset: BiLmPreset,
        source: PretrainingSource,
        output_dir: Path,
        context: DistributedContext = DistributedContext(),
    ) -> None:
        self.preset, self.source, self.output_dir, self.context = preset, source, Path(output_dir), context
        self.config = preset.train
        torch.manual_seed(self.config.seed)
        model = BiLanguageModel(preset.model, len(source.vocabulary)).to(context.device)
        self.model = model
        self.optimizer, self.scheduler = build_optimizer(model, self.config)
        if context.world_size > 1:
            # Tail clusters of the adaptive softmax get no gradient on a rank whose batch has no
            # target in them.
            device_ids = [context.device.index] if context.device.type == "cuda" else None
            self.ddp: nn.Module = DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)
        else:
            self.ddp = model
        # Dropout differs per rank; initialisation (above) and data order do not.
        torch.manual_seed(self.config.seed * 1_000_003 + context.rank + 1)
        np.random.seed(self.config.seed + context.rank)
        random.seed(self.config.seed + context.rank)
        self.position = TrainingPosition()
        self.windows = Windows.of(source.train.sentence_lengths, self.config.max_window)
        self._epoch_plan: tuple[int, list[np.ndarray]] | None = None

    # -- data order ------------------------------------------------------------------------

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch``, in order (a function of the seed and the epoch only)."""
        if self._epoch_plan is None or self._epoch_plan[0] != epoch:
            rng = np.random.default_rng([self.config.seed, epoch])
            self._epoch_plan = (epoch, plan_batches(self.windows.length, self.config.batch_tokens, rng))
        return self._epoch_plan[1]

    def step_batches(self) -> list[np.ndarray]:
        """The window sets of the next optimizer step, all ranks (``world_size * batches_per_step``);
        advances to the next epoch when the current one has too few batches left."""
        per_step = self.context.world_size * self.config.batches_per_step
        batches = self.epoch_batches(self.position.epoch)
        if len(batches) < per_step:
            raise PretrainError(
                f"the training split has {len(batches)} batches per epoch, fewer than one step needs "
                f"({per_step} = world size x batches_per_step); lower train.batch_tokens"
            )
        if self.position.batch_in_epoch + per_step > len(batches):
            self.position.epoch += 1
            self.position.batch_in_epoch = 0
            batches = self.epoch_batches(self.position.epoch)
        start = self.position.batch_in_epoch
        return batches[start : start + per_step]

    # -- one step --------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        """One optimizer step; returns this rank's summed losses and the step's global target count."""
        step_batches = self.step_batches()
        n_step_targets = int(sum(len(m) * (int(self.windows.length[m[0]]) - 1) for m in step_batches)) * 2
        per_rank = self.config.batches_per_step
        mine = step_batches[self.context.rank * per_rank : (self.context.rank + 1) * per_rank]
        scale = self.context.world_size / n_step_targets  # DDP averages gradients over ranks
        sums = {"forward_nll": 0.0, "backward_nll": 0.0, "targets": 0.0}
        for index, members in enumerate(mine):
            batch = make_batch(self.source.train, self.windows, members, self.source.vocabulary.bos_id,
                               self.source.vocabulary.eos_id).to(self.context.device)
            last = index == len(mine) - 1
            sync = contextlib.nullcontext() if last or self.context.world_size == 1 else self.ddp.no_sync()
            with sync:
                loss = self.ddp(batch.char_ids, batch.token_index, batch.word_ids)
                ((loss.forward_nll + loss.backward_nll) * scale).backward()
            sums["forward_nll"] += loss.forward_nll.item()
            sums["backward_nll"] += loss.backward_nll.item()
            sums["targets"] += loss.n_targets
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.position.step += 1
        self.position.batch_in_epoch += len(step_batches)
        self.position.tokens_seen += n_step_targets // 2
        return sums

    # -- checkpoints -----------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / CHECKPOINT_NAME

    def save_checkpoint(self) -> None:
        """Write the checkpoint atomically (rank 0; every rank's RNG states are gathered into it)."""
        states = [rng_states()]
        if self.context.world_size > 1:
            states = [None] * self.context.world_size
            dist.all_gather_object(states, rng_states())
        if not self.context.is_main:
            return
        checkpoint = {
            "version": CHECKPOINT_VERSION,
            "preset": self.preset.to_dict(),
            "vocabulary_fingerprint": self.source.vocabulary.fingerprint,
            "vocabulary_size": len(self.source.vocabulary),
            "world_size": self.context.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "position": self.position.__dict__,
            "rng_states": states,
        }
        write_atomically(self.checkpoint_path, lambda temp: torch.save(checkpoint, temp))

    def load_checkpoint(self) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (after checking it fits this run)."""
        checkpoint = read_checkpoint(self.checkpoint_path)
        vocabulary = self.source.vocabulary
        if checkpoint["vocabulary_fingerprint"] != vocabulary.fingerprint:
            raise PretrainError(
                f"{self.source.vocabulary_path}: this vocabulary ({len(vocabulary)} tokens, fingerprint "
                f"{vocabulary.fingerprint}) does not fit the checkpoint {self.checkpoint_path}, which was "
                f"trained with {checkpoint['vocabulary_size']} tokens (fingerprint "
                f"{checkpoint['vocabulary_fingerprint']}); resume with the vocabulary and corpus of that run"
            )
        if checkpoint["world_size"] != self.context.world_size:
            raise PretrainError(
                f"{self.checkpoint_path}: written by a run with {checkpoint['world_size']} process(es); "
                f"resume it with the same number (now {self.context.world_size}), so that the batch "
                "order and per-rank random states continue exactly"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.position = TrainingPosition(**checkpoint["position"])
        set_rng_states(checkpoint["rng_states"][self.context.rank])

    # -- evaluation and export ------------------------------------------------------------

    def evaluate(self, corpus: LmCorpus) -> Perplexity:
        return evaluate(self.model, corpus, self.source.vocabulary, self.config.batch_tokens,
                        self.config.max_window, self.context)

    def _record_heldout(self, train_loss: float | None) -> None:
        heldout = self.source.heldout
        if heldout is None or heldout.n_sentences == 0:
            return
        result = self.evaluate(heldout.head(self.config.eval_tokens))
        entry = {"step": self.position.step, "tokens_seen": self.position.tokens_seen,
                 "train_seconds": round(self.position.train_seconds, 1), **result.to_dict()}
        if train_loss is not None:
            entry["train_ppl"] = math.exp(train_loss)
        self.position.history.append(entry)
        if self.context.is_main:
            logger.info("step %d: held-out perplexity forward %.1f backward %.1f mean %.1f (%d tokens)",
                        self.position.step, result.forward, result.backward, result.mean, result.tokens)

    def write_metrics(self, final: dict[str, Any] | None = None) -> None:
        if not self.context.is_main:
            return
        path = self.output_dir / "metrics.json"
        metrics = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        metrics.update({"preset": self.preset.name, "curve": self.position.history,
                        "step": self.position.step, "tokens_seen": self.position.tokens_seen,
                        "train_seconds": round(self.position.train_seconds, 1)})
        if final is not None:
            metrics["final"] = final
        write_json(path, metrics)

    def export(self) -> None:
        """Write ``options.json`` + ``weights.hdf5`` (AllenNLP format) and ``vocab.txt``."""
        if self.context.is_main:
            export_bilm(self.model.bilm, self.output_dir / "options.json", self.output_dir / "weights.hdf5")
            self.source.vocabulary.save(self.output_dir / "vocab.txt")

    def export_snapshot(self, train_loss: float | None) -> Path:
        """Export the biLM as it is now to ``snapshots/step-<N>/`` (``options.json``,
        ``weights.hdf5``, ``vocab.txt`` and ``snapshot.json``: step, tokens seen, held-out
        perplexity at this step); the folder is written whole, then renamed into place, so a
        snapshot that exists is complete. Every rank calls this (the held-out evaluation is
        collective); the main rank writes."""
        step = self.position.step
        if self.source.heldout is not None and not (
            self.position.history and self.position.history[-1]["step"] == step
        ):
            self._record_heldout(train_loss)
            self.write_metrics()
        folder = self.output_dir / SNAPSHOTS_DIR / f"step-{step}"
        if not self.context.is_main:
            return folder
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        export_bilm(self.model.bilm, partial / "options.json", partial / "weights.hdf5")
        self.source.vocabulary.save(partial / "vocab.txt")
        heldout = self.position.history[-1] if self.position.history else None
        write_json(partial / "snapshot.json", {
            "step": step, "max_steps": self.config.max_steps, "tokens_seen": self.position.tokens_seen,
            "train_seconds": round(self.position.train_seconds, 1),
            "heldout": heldout if heldout is not None and heldout["step"] == step else None,
        })
        shutil.rmtree(folder, ignore_errors=True)  # one left by a run resumed from before it
        partial.rename(folder)
        logger.info("step %d: snapshot exported to %s", step, folder)
        return folder

    # -- the loop --------------------------------------------------------------------------

    def train(self, stop: StopRule = StopRule()) -> TrainingPosition:
        """Train until the schedule ends or ``stop`` says so; checkpoint, evaluate and export.

        At the end of the schedule the whole held-out split and the extra evaluation corpora are
        evaluated and written to ``metrics.json`` under ``final``.
        """
        config = self.config
        self.model.train()
        progress = _Progress(self.position, config.max_steps)
        saved_step = self.position.step
        if self.position.step == 0 and config.eval_every:
            self._record_heldout(None)
            self.write_metrics()
        while self.position.step < config.max_steps:
            step_start = time.perf_counter()
            progress.add(self.train_step())
            self.position.train_seconds += time.perf_counter() - step_start
            step = self.position.step
            if step % config.log_every == 0 or step == config.max_steps:
                progress.log(self.context, self.scheduler.get_last_lr()[0])
            if config.eval_every and step % config.eval_every == 0 and step < config.max_steps:
                self._record_heldout(progress.last_train_nll)
                self.write_metrics()
            if step in config.snapshot_steps:
                self.export_snapshot(progress.last_train_nll)
            if step % config.checkpoint_every == 0:
                self.save_checkpoint()
                saved_step = step
            if self._should_stop(stop, progress):
                break
        finished = self.position.step >= config.max_steps
        if saved_step != self.position.step:
            self.save_checkpoint()
        final = None
        if finished or stop.evaluate_on_stop:
            self._record_heldout(progress.last_train_nll)
            final = self._final_evaluation()
        self.write_metrics(final)
        self.export()
        return self.position

    def leave_process_group(self) -> None:
        """Drop the DDP wrapper and destroy the process group; the trainer cannot train after this.

        Left to interpreter exit, the group's gloo worker threads can still be releasing the last
        collective's tensor, which needs the GIL while Python finalizes: the process then aborts
        ("terminate called without an active exception") after a successful run. Destroying the
        group once nothing else holds it (the wrapper's reducer does, through a reference cycle,
        hence the collection) joins those threads first.
        """
        self.ddp = self.model
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()

    def _should_stop(self, stop: StopRule, progress: "_Progress") -> bool:
        """Whether this invocation stops now; every rank gets rank 0's answer."""
        answer = stop.stop_after_steps is not None and self.position.step - progress.first_step >= stop.stop_after_steps
        if stop.max_minutes is not None:
            out_of_time = progress.seconds() >= stop.max_minutes * 60
            answer = answer or bool(self.context.all_reduce_sum([float(out_of_time and self.context.is_main)])[0])
        return answer

    def _final_evaluation(self) -> dict[str, Any]:
        """Perplexities of the whole held-out split and of every extra corpus."""
        final: dict[str, Any] = {}
        corpora = dict(self.source.extra_eval)
        if self.source.heldout is not None and self.source.heldout.n_sentences:
            corpora = {"heldout": self.source.heldout, **corpora}
        for name, corpus in corpora.items():
            started = time.perf_counter()
            result = self.evaluate(corpus)
            final[name] = {**result.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
            if self.context.is_main:
                logger.info("final %s perplexity: forward %.1f backward %.1f mean %.1f (%d tokens)",
                            name, result.forward, result.backward, result.mean, result.tokens)
        return final


class _Progress:
    """Loss and speed over the steps since the last progress line, and the time left."""

    def __init__(self, position: TrainingPosition, max_steps: int) -> None:
        self.position, self.max_steps = position, max_steps
        self.first_step, self.started = position.step, time.perf_counter()
        self.last_train_nll: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.sums = [0.0, 0.0, 0.0]
        self.window_start, self.window_tokens = time.perf_counter(), self.position.tokens_seen

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def add(self, sums: dict[str, float]) -> None:
        self.sums[0] += sums["forward_nll"]
        self.sums[1] += sums["backward_nll"]
        self.sums[2] += sums["targets"]

    def log(self, context: DistributedContext, learning_rate: float) -> None:
        forward_nll, backward_nll, targets = context.all_reduce_sum(self.sums)
        elapsed = time.perf_counter() - self.window_start
        tokens_per_second = (self.position.tokens_seen - self.window_tokens) / max(elapsed, 1e-9)
        self.last_train_nll = (forward_nll + backward_nll) / (2 * max(targets, 1))
        steps_done = self.position.step - self.first_step
        seconds_left = self.seconds() / max(steps_done, 1) * (self.max_steps - self.position.step)
        if context.is_main:
            logger.info(
                "step %d/%d epoch %d | %.2fM tokens | %.0f tokens/s | loss fwd %.3f bwd %.3f (ppl %.1f) | "
                "lr %.2e | %s left",
                self.position.step, self.max_steps, self.position.epoch, self.position.tokens_seen / 1e6,
                tokens_per_second, forward_nll / max(targets, 1), backward_nll / max(targets, 1),
                math.exp(self.last_train_nll), learning_rate, _duration(seconds_left),
            )
        self._reset()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :meth:`BiLmTrainer.save_checkpoint`.

    Raises:
        PretrainError: the file is missing, unreadable or not a biLM checkpoint of this version.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError as error:
        raise PretrainError(f"{path}: no checkpoint to resume from") from error
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise PretrainError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("version") != CHECKPOINT_VERSION:
        raise PretrainError(f"{path}: not a biLM checkpoint of version {CHECKPOINT_VERSION}")
    return checkpoint


# ----------------------------------------------------------------------------------------------
# Process setup


def init_distributed(device: str | None = None) -> DistributedContext:
    """The process group of a ``torchrun`` launch (nccl on GPU, gloo on CPU), or one process.

    Reads the ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` variables that torchrun sets.
    ``device``: ``"cpu"`` or ``"cuda"`` (checked by the caller); None: CUDA when available.
    """
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), device)


@dataclass(frozen=True)
class DataSettings:
    """Where a run's text and vocabulary come from.

    Attributes:
        corpus: corpus file or folder (WikiExtractor shards or plain text).
        held_out_fraction: share of documents held out for perplexity.
        workers: tokenizer processes (first run only: the tokenized corpus is cached).
        vocab_file: a bilm-tf vocabulary file to use instead of building one from the corpus.
        wikitext_dir: a folder with WikiText-2 ``valid.txt``/``test.txt`` for the final evaluation.
        packed: a packed corpus file (:mod:`elmo_bench.pretrain.packed`) to read instead of
            ``corpus``; it carries its own vocabulary and held-out split.
    """

    corpus: str
    held_out_fraction: float = 0.01
    workers: int = 2
    vocab_file: str | None = None
    wikitext_dir: str | None = None
    packed: str | None = None


def load_source(settings: DataSettings, vocab_config: VocabConfig) -> PretrainingSource:
    """Tokenize (cached), build or read the vocabulary, encode both splits, read WikiText-2.

    Raises:
        CorpusError: no corpus files, unreadable files or no text (from the corpus reader).
        VocabularyError: a malformed vocabulary file.
        PretrainError: an unreadable packed corpus, or a WikiText-2 file missing.
    """
    if settings.packed is not None:
        from elmo_bench.pretrain.packed import load_packed  # packed.py imports this module

        packed = Path(settings.packed)
        source = load_packed(packed, packed.with_name(packed.name + ".vocab"))
        source.extra_eval = read_wikitext_splits(settings.wikitext_dir, source.vocabulary)
        source.description["data"] = asdict(settings)
        return source
    corpus = build_tokenized_corpus(
        CorpusConfig(path=settings.corpus, held_out_fraction=settings.held_out_fraction, workers=settings.workers)
    )
    if settings.vocab_file is not None:
        vocabulary_path = Path(settings.vocab_file)
        vocabulary = Vocabulary.load(vocabulary_path)
    else:
        vocabulary = build_vocabulary(corpus, vocab_config)
        vocabulary_path = vocabulary_folder(corpus, vocab_config) / "vocab.txt"
    train = LmCorpus.from_encoded(encode_corpus(corpus, vocabulary, "train"))
    heldout = LmCorpus.from_encoded(encode_corpus(corpus, vocabulary, "heldout"))
    extra = read_wikitext_splits(settings.wikitext_dir, vocabulary)
    description = {
        "data": asdict(settings),
        "corpus_fingerprint": corpus.fingerprint,
        "train_tokens": train.n_tokens,
        "train_sentences": train.n_sentences,
        "heldout_tokens": heldout.n_tokens,
        "vocabulary_size": len(vocabulary),
        "vocabulary_fingerprint": vocabulary.fingerprint,
        "vocabulary_path": str(vocabulary_path),
    }
    return PretrainingSource(train, heldout, vocabulary, vocabulary_path, extra, description)


def wikitext_files(folder: str | Path) -> dict[str, Path]:
    """The WikiText-2 files of ``folder`` that a run evaluates on: ``{"valid": <folder>/valid.txt,
    "test": <folder>/test.txt}``.

    Raises:
        PretrainError: one of them is missing.
    """
    files = {split: Path(folder) / f"{split}.txt" for split in ("valid", "test")}
    for split, path in files.items():
        if not path.is_file():
            raise PretrainError(f"{path}: WikiText-2 {split} file not found")
    return files


def read_wikitext_splits(folder: str | None, vocabulary: Vocabulary) -> dict[str, LmCorpus]:
    """WikiText-2 valid and test from ``folder`` (none when ``folder`` is None), tokenized as the corpus."""
    if folder is None:
        return {}
    return {
        f"wikitext2-{split}": LmCorpus.from_sentences(read_wikitext(path), vocabulary)
        for split, path in wikitext_files(folder).items()
    }


def pretrain(
    preset: BiLmPreset | None,
    data: DataSettings | None,
    output_dir: Path,
    resume: bool = False,
    stop: StopRule = StopRule(),
    device: str | None = None,
) -> BiLmTrainer:
    """Start (``preset`` and ``data`` given) or resume (both None, read from ``output_dir``) a run.

    Works in one process or under ``torchrun`` (each rank a process). Returns the trainer after
    it stopped (its ``position``; ``output_dir`` holds the checkpoint, metrics and export). A
    process group it started (under ``torchrun``) it destroys before returning.

    Raises:
        PretrainError: starting over an existing checkpoint, resuming without one, or a
            checkpoint that does not fit the data.
    """
    output_dir = Path(output_dir)
    config_path = output_dir / "config.json"
    owns_process_group = not dist.is_initialized()
    context = init_distributed(device)
    if resume:
        if preset is not None or data is not None:
            raise PretrainError("a resumed run takes its preset and data from its folder; give neither")
        if not (output_dir / CHECKPOINT_NAME).is_file():
            raise PretrainError(f"{output_dir / CHECKPOINT_NAME}: no checkpoint to resume from")
        try:
            saved = json.loads(config_path.read_text(encoding="utf-8"))
            preset, data = BiLmPreset.from_dict(saved["preset"]), DataSettings(**saved["data"])
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
            raise PretrainError(f"{config_path}: cannot read the run's configuration ({error})") from error
    else:
        if preset is None or data is None:
            raise PretrainError("a new run needs a preset and data settings")
        if (output_dir / CHECKPOINT_NAME).exists():
            raise PretrainError(
                f"{output_dir / CHECKPOINT_NAME} exists: pass --resume to continue that run, or choose "
                "another output folder"
            )
    # Rank 0 tokenizes and builds the caches first; the other ranks then read them.
    source = load_source(data, preset.vocab) if context.is_main else None
    if context.world_size > 1:
        dist.barrier()
    if source is None:
        source = load_source(data, preset.vocab)
    if context.is_main and not resume:
        write_json(config_path, {"preset": preset.to_dict(), "data": asdict(data), "source": source.description,
                                 "world_size": context.world_size})
    trainer = BiLmTrainer(preset, source, output_dir, context)
    if resume:
        trainer.load_checkpoint()
        if context.is_main:
            logger.info("resumed %s at step %d (epoch %d, %.2fM tokens)", trainer.checkpoint_path,
                        trainer.position.step, trainer.position.epoch, trainer.position.tokens_seen / 1e6)
    trainer.train(stop)
    if context.world_size > 1 and owns_process_group:
        trainer.leave_process_group()
    return trainer


def write_run_summary(output_dir: Path, summary_path: Path, notes: Sequence[str] = ()) -> dict[str, Any]:
    """Summarise a run folder into ``summary_path`` (JSON) and the perplexity curve beside it (CSV).

    Records the configuration, data sizes, steps, tokens, average training speed, the held-out
    curve, the final perplexities, where the exported model is, and free-text ``notes`` (what the
    figures cannot show, e.g. that the machine was shared).
    """
    output_dir, summary_path = Path(output_dir), Path(summary_path)
    try:
        config = json.loads((output_dir / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PretrainError(f"{output_dir}: not a finished run folder ({error})") from error
    preset = BiLmPreset.from_dict(config["preset"])
    n_parameters = sum(p.numel() for p in BiLanguageModel(preset.model, config["source"]["vocabulary_size"]).parameters())
    summary = {
        "preset": config["preset"],
        "parameters": n_parameters,
        "data": config["source"],
        "world_size": config.get("world_size", 1),
        "steps": metrics["step"],
        "tokens_seen": metrics["tokens_seen"],
        "train_seconds": metrics["train_seconds"],
        "tokens_per_second": round(metrics["tokens_seen"] / max(metrics["train_seconds"], 1e-9), 1),
        "token_unit": "prediction targets per direction (words plus one sentence-end marker per sentence)",
        "curve": metrics["curve"],
        "final": metrics.get("final"),
        "export": {name: str(output_dir / name) for name in ("options.json", "weights.hdf5", "vocab.txt")},
        "notes": list(notes),
    }
    write_json(summary_path, summary)
    columns = ["step", "tokens_seen", "train_seconds", "forward_ppl", "backward_ppl", "mean_ppl", "train_ppl"]

    def cell(value: Any) -> str:
        return "" if value is None else str(value) if isinstance(value, int) else f"{value:.6g}"

    lines = [",".join(columns)] + [",".join(cell(entry.get(column)) for column in columns) for entry in metrics["curve"]]
    csv_text = "\n".join(lines) + "\n"
    write_atomically(summary_path.with_suffix(".csv"),
                     lambda temp: Path(temp).write_text(csv_text, encoding="utf-8"))
    return summary
