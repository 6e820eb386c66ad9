"""A BiDAF-style extractive QA head (Seo et al. 2017): points at the answer's first and last
context token.

Layers, with ``H = hidden_size``, ``T`` context and ``J`` question tokens:

1. word vectors of context ``[B, T, E]`` and question ``[B, J, E]`` (one shared input layer);
2. a shared phrase BiLSTM: ``h [B, T, 2H]``, ``u [B, J, 2H]``;
3. bi-attention on ``S_tj = w . [h_t; u_j; h_t * u_j]``: context-to-question ``u~_t`` (attend over
   the question for each context token) and question-to-context ``h~`` (attend over the context by
   each token's best question match), giving ``G = [h; u~; h * u~; h * h~]  [B, T, 8H]``;
4. a modelling BiLSTM (``modelling_layers`` deep) ``M [B, T, 2H]``;
5. start scores from ``[G; M]``; end scores from ``[G; M2]`` with ``M2`` one more BiLSTM over ``M``.

Training minimises the cross-entropy of the gold start plus that of the gold end. Decoding picks the
span ``i <= j < i + max_answer_tokens`` maximising ``log p_start(i) + log p_end(j)``. BiDAF's
character CNN and highway layers are left out: word representations are what is compared here.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from elmo_bench.heads.lstm import bidirectional_lstm, run_lstm
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, WordInputs


class QuestionAndContext(NamedTuple):
    """What the span head reads for a batch: the questions and their contexts (row ``b`` of one
    with row ``b`` of the other)."""

    question: WordInputs
    context: WordInputs


class BiAttention(nn.Module):
    """BiDAF's attention flow layer for encodings of width ``dim`` (= 2H)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.context_weight = nn.Linear(dim, 1, bias=False)
        self.question_weight = nn.Linear(dim, 1, bias=False)
        self.product_weight = nn.Parameter(torch.empty(dim).uniform_(-(dim**-0.5), dim**-0.5))

    def forward(
        self,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        question: torch.Tensor,
        question_mask: torch.Tensor,
    ) -> torch.Tensor:
        """``context [B, T, d]``, ``question [B, J, d]`` and their masks -> ``G [B, T, 4d]``."""
        similarity = (
            self.context_weight(context)  # [B, T, 1]
            + self.question_weight(question).transpose(1, 2)  # [B, 1, J]
            + torch.bmm(context * self.product_weight, question.transpose(1, 2))  # [B, T, J]
        )
        similarity = similarity.masked_fill(~question_mask.unsqueeze(1), float("-inf"))
        question_attention = torch.softmax(similarity, dim=2)  # [B, T, J]
        attended_question = torch.bmm(question_attention, question)  # [B, T, d]
        best_match = similarity.max(dim=2).values.masked_fill(
            ~context_mask, float("-inf")
        )  # [B, T]
        context_attention = torch.softmax(best_match, dim=1)  # [B, T]
        attended_context = torch.bmm(context_attention.unsqueeze(1), context)  # [B, 1, d]
        return torch.cat(
            [
                context,
                attended_question,
                context * attended_question,
                context * attended_context,
            ],
            dim=-1,
        )


class BidafSpanHead(nn.Module):
    """Scores answer spans of a context for a question (a
    :class:`~elmo_bench.heads.task_head.TaskHead` reading :class:`QuestionAndContext`, predicting
    ``(first, last)`` context tokens).

    Args:
        embedding_input: turns the embedders' layers into word vectors (context and question).
        hidden_size: LSTM units per direction (``H``).
        modelling_layers: depth of the modelling BiLSTM.
        dropout: dropout on every LSTM's output.
        max_answer_tokens: longest span decoding considers.
    """

    def __init__(
        self,
        embedding_input: EmbeddingInput,
        hidden_size: int,
        modelling_layers: int,
        dropout: float,
        max_answer_tokens: int,
    ) -> None:
        super().__init__()
        if max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be >= 1, got {max_answer_tokens}")
        width = 2 * hidden_size
        self.max_answer_tokens = max_answer_tokens
        self.embedding_input = embedding_input
        self.phrase_lstm = bidirectional_lstm(embedding_input.output_dim, hidden_size, 1, 0.0)
        self.attention = BiAttention(width)
        self.modelling_lstm = bidirectional_lstm(4 * width, hidden_size, modelling_layers, dropout)
        self.end_lstm = bidirectional_lstm(width, hidden_size, 1, 0.0)
        self.start_scorer = nn.Linear(5 * width, 1)
        self.end_scorer = nn.Linear(5 * width, 1)
        self.dropout = nn.Dropout(dropout)

    def span_logits(self, inputs: QuestionAndContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Start and end logits ``[B, T]`` over context tokens; ``-inf`` at padding."""
        question, context = inputs
        encoded_context = self.dropout(
            run_lstm(self.phrase_lstm, self.embedding_input(context), context.mask)
        )
        encoded_question = self.dropout(
            run_lstm(self.phrase_lstm, self.embedding_input(question), question.mask)
        )
        merged = self.attention(encoded_context, context.mask, encoded_question, question.mask)
        modelled = self.dropout(run_lstm(self.modelling_lstm, merged, context.mask))
        end_modelled = self.dropout(run_lstm(self.end_lstm, modelled, context.mask))
        start = self.start_scorer(torch.cat([merged, modelled], dim=-1)).squeeze(-1)
        end = self.end_scorer(torch.cat([merged, end_modelled], dim=-1)).squeeze(-1)
        padding = ~context.mask
        return start.masked_fill(padding, float("-inf")), end.masked_fill(padding, float("-inf"))

    def loss(self, inputs: QuestionAndContext, answer_tokens: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the gold start plus that of the gold end (``answer_tokens [B, 2]``:
        the first and last answer token, indices into the context), averaged over the batch, plus
        the mix regularisation."""
        start, end = self.span_logits(inputs)
        loss = nn.functional.cross_entropy(start, answer_tokens[:, 0]) + nn.functional.cross_entropy(
            end, answer_tokens[:, 1]
        )
        return loss + self.embedding_input.regularization_loss()

    def predict(self, inputs: QuestionAndContext) -> list[tuple[int, int]]:
        """``(first, last)`` context token of the best span of each example (both inclusive)."""
        start, end = self.span_logits(inputs)
        scores = start.log_softmax(dim=1).unsqueeze(2) + end.log_softmax(dim=1).unsqueeze(
            1
        )  # [B, T, T]
        length = inputs.context.mask.shape[1]
        offsets = torch.arange(length, device=scores.device)
        span_length = offsets.unsqueeze(0) - offsets.unsqueeze(1)  # [T, T]: last - first
        allowed = (span_length >= 0) & (span_length < self.max_answer_tokens)
        scores = scores.masked_fill(~allowed, float("-inf"))
        best = scores.flatten(1).argmax(dim=1)
        return [(int(index) // length, int(index) % length) for index in best]
