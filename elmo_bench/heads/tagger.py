"""BiLSTM-CRF sequence tagger (the CoNLL-2003 NER head).

Word vectors -> BiLSTM -> per-tag emission scores -> a linear-chain CRF (``pytorch-crf``) that
scores whole tag sequences: trained on the sequence log-likelihood, decoded with Viterbi.
Transitions are learned, not constrained to valid IOB2; the metric reads a stray ``I-X`` the way
conlleval does (as the start of an entity).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchcrf import CRF

from elmo_bench.heads.lstm import bidirectional_lstm, run_lstm
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, WordInputs


class BiLstmCrfTagger(nn.Module):
    """Tags each token with one of ``labels`` (a :class:`~elmo_bench.heads.task_head.TaskHead`).

    Args:
        embedding_input: turns the embedders' layers into word vectors.
        labels: the tag names; tag index ``i`` is ``labels[i]``.
        hidden_size: LSTM units per direction.
        lstm_layers: stacked BiLSTM layers.
        dropout: dropout between the BiLSTM layers and on the BiLSTM output.
    """

    def __init__(
        self,
        embedding_input: EmbeddingInput,
        labels: Sequence[str],
        hidden_size: int,
        lstm_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if not labels:
            raise ValueError("BiLstmCrfTagger needs at least one label")
        self.labels = list(labels)
        self.embedding_input = embedding_input
        self.lstm = bidirectional_lstm(
            embedding_input.output_dim, hidden_size, lstm_layers, dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.emission = nn.Linear(2 * hidden_size, len(self.labels))
        self.crf = CRF(len(self.labels), batch_first=True)

    def emissions(self, inputs: WordInputs) -> torch.Tensor:
        """``[B, T, n_labels]`` emission scores."""
        words = self.embedding_input(inputs)
        encoded = run_lstm(self.lstm, words, inputs.mask)
        return self.emission(self.dropout(encoded))

    def loss(self, inputs: WordInputs, tags: torch.Tensor) -> torch.Tensor:
        """Mean over sentences of the negative CRF log-likelihood of ``tags [B, T]`` (any value
        at padding), plus the mix regularisation."""
        log_likelihood = self.crf(self.emissions(inputs), tags, mask=inputs.mask, reduction="mean")
        return -log_likelihood + self.embedding_input.regularization_loss()

    def predict(self, inputs: WordInputs) -> list[list[str]]:
        """The best tag sequence of each sentence (Viterbi), as tag names, one per real token."""
        best = self.crf.decode(self.emissions(inputs), mask=inputs.mask)
        return [[self.labels[index] for index in path] for path in best]
