"""Linear probe: a softmax classifier per token on frozen word vectors.

A probe asks what a representation encodes *linearly*: nothing but one linear map sits between the
embedder's (mixed or selected) layer and the label, so differences between layers are differences
in the representations, not in what a deeper head could compute from them (Peters et al. 2018,
section 5.3; Liu et al. 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from elmo_bench.heads.scalar_mix_input import EmbeddingInput, WordInputs


class LinearProbe(nn.Module):
    """Predicts one of ``labels`` for every token from its word vector alone (a
    :class:`~elmo_bench.heads.task_head.TaskHead`).

    Args:
        embedding_input: turns the embedders' layers into word vectors ``[B, T, D]``.
        labels: the label names; label index ``i`` is ``labels[i]``.
    """

    def __init__(self, embedding_input: EmbeddingInput, labels: Sequence[str]) -> None:
        super().__init__()
        if not labels:
            raise ValueError("LinearProbe needs at least one label")
        self.labels = list(labels)
        self.embedding_input = embedding_input
        self.classifier = nn.Linear(embedding_input.output_dim, len(self.labels))

    def logits(self, inputs: WordInputs) -> torch.Tensor:
        """``[B, T, n_labels]`` unnormalised label scores (meaningless at padding)."""
        return self.classifier(self.embedding_input(inputs))

    def loss(self, inputs: WordInputs, label_ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the real tokens of ``label_ids [B, T]`` (any value at padding),
        plus the mix regularisation."""
        logits = self.logits(inputs)[inputs.mask]  # [n_tokens, n_labels]
        return functional.cross_entropy(logits, label_ids[inputs.mask]) + (
            self.embedding_input.regularization_loss()
        )

    def predict(self, inputs: WordInputs) -> list[list[str]]:
        """The most probable label of each real token, per sequence."""
        best = self.logits(inputs).argmax(dim=-1).tolist()
        lengths = inputs.lengths.tolist()
        return [[self.labels[i] for i in row[:length]] for row, length in zip(best, lengths)]
