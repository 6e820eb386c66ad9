"""BiLSTM + pooling sentence classifier (the SST and TREC head).

Word vectors -> BiLSTM -> masked max- and mean-pooling over time, concatenated -> a one-hidden-layer
feed-forward network -> class logits; trained with cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from elmo_bench.heads.lstm import bidirectional_lstm, run_lstm
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, WordInputs

POOLINGS = ("max", "mean")


class BiLstmPoolingClassifier(nn.Module):
    """Assigns each sequence one of ``labels`` (a :class:`~elmo_bench.heads.task_head.TaskHead`).

    Args:
        embedding_input: turns the embedders' layers into word vectors.
        labels: the class names; class index ``i`` is ``labels[i]``.
        hidden_size: LSTM units per direction (and the feed-forward layer's width).
        lstm_layers: stacked BiLSTM layers.
        dropout: dropout on the pooled vector and the feed-forward layer.
        pooling: any of ``"max"``, ``"mean"``; the pooled vectors are concatenated.
    """

    def __init__(
        self,
        embedding_input: EmbeddingInput,
        labels: Sequence[str],
        hidden_size: int,
        lstm_layers: int,
        dropout: float,
        pooling: Sequence[str] = POOLINGS,
    ) -> None:
        super().__init__()
        if len(labels) < 2:
            raise ValueError(f"BiLstmPoolingClassifier needs at least 2 labels, got {list(labels)}")
        unknown = [name for name in pooling if name not in POOLINGS]
        if not pooling or unknown:
            raise ValueError(
                f"pooling must be a non-empty subset of {POOLINGS}, got {list(pooling)}"
            )
        self.labels = list(labels)
        self.pooling = tuple(pooling)
        self.embedding_input = embedding_input
        self.lstm = bidirectional_lstm(
            embedding_input.output_dim, hidden_size, lstm_layers, dropout
        )
        self.feed_forward = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden_size * len(self.pooling), hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, len(self.labels)),
        )

    def logits(self, inputs: WordInputs) -> torch.Tensor:
        """``[B, n_labels]``."""
        mask = inputs.mask.unsqueeze(-1)  # [B, T, 1]
        encoded = run_lstm(self.lstm, self.embedding_input(inputs), inputs.mask)  # [B, T, 2H]
        pooled = []
        if "max" in self.pooling:
            pooled.append(encoded.masked_fill(~mask, float("-inf")).max(dim=1).values)
        if "mean" in self.pooling:
            pooled.append(encoded.sum(dim=1) / mask.sum(dim=1))
        return self.feed_forward(torch.cat(pooled, dim=-1))

    def loss(self, inputs: WordInputs, label_ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of ``label_ids [B]``, plus the mix regularisation."""
        loss = nn.functional.cross_entropy(self.logits(inputs), label_ids)
        return loss + self.embedding_input.regularization_loss()

    def predict(self, inputs: WordInputs) -> list[str]:
        """The most probable label of each sequence."""
        return [self.labels[index] for index in self.logits(inputs).argmax(dim=-1).tolist()]
