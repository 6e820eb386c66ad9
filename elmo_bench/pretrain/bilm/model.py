"""ELMo's bidirectional language model with its training head, and the FLOPs of its forward pass.

A forward and a backward LSTM LM share the char-CNN token encoder and one softmax, as in the
ELMo paper; both directions are the core :class:`~elmo_bench.embedders.elmo.bilm.ElmoBiLm` (its
``token_encoder`` and ``lstm``), so a trained model exports to the AllenNLP / bilm-tf format
unchanged. Every sentence is framed as ``<S> w_1 ... w_n </S>``; the forward top layer at position
``t`` predicts position ``t + 1`` (the words and ``</S>``), the backward top layer at ``t`` predicts
``t - 1`` (the words and ``<S>``). The softmax is torch's adaptive softmax over a word vocabulary
(out-of-vocabulary targets are ``<UNK>``; the inputs are always the real strings, through the
characters). Dropout acts on the LSTM input (the token vectors) and on the top layer's output, in
training only (the core LSTM runs its layers as one unit, so there is no dropout between layers).
Training runs the core modules' parameters through two kernels with a fast backward pass,
:func:`~elmo_bench.pretrain.charcnn_kernel.encode_distinct_tokens` and
:func:`~elmo_bench.pretrain.lstm_kernel.run_full_length_lstm`; tests check both against the core
modules, which the exported model uses at inference.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from elmo_bench.embedders.elmo.bilm import ElmoBiLm
from elmo_bench.embedders.elmo.charcnn import pooled_char_length
from elmo_bench.embedders.elmo.flops import char_cnn_flops, lstm_flops
from elmo_bench.pretrain.bilm.data import LmBatch
from elmo_bench.pretrain.bilm_presets import ModelConfig
from elmo_bench.pretrain.charcnn_kernel import encode_distinct_tokens
from elmo_bench.pretrain.lstm_kernel import run_full_length_lstm


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
