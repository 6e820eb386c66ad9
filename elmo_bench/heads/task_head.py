"""What every task head offers the task families and the training loop: one small protocol.

A head is an ``nn.Module`` whose first layer is the :class:`EmbeddingInput` it was built on, kept as
``embedding_input`` (a result records its learned mixes). For a batch it is given ``inputs``, what
it reads: a :class:`~elmo_bench.heads.scalar_mix_input.WordInputs` for a head on one token
sequence per example, a :class:`~elmo_bench.heads.span_qa.QuestionAndContext` for the span head,
any structure of them for a head of a task folder (a pair of sentences). It is trained on
``loss(inputs, targets)`` (a scalar, the mix regularisation included; ``targets`` are the batch's
gold answers as a tensor) and asked for ``predict(inputs)``: one prediction per example, in the
head's terms (a label, a tag per token, a token span), which the family turns into the task's.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import torch

from elmo_bench.heads.scalar_mix_input import EmbeddingInput

InputsT = TypeVar("InputsT", contravariant=True)
PredictionT = TypeVar("PredictionT", covariant=True)


class TaskHead(Protocol[InputsT, PredictionT]):
    """A task head reading ``InputsT`` and predicting one ``PredictionT`` per example."""

    embedding_input: EmbeddingInput

    def loss(self, inputs: InputsT, targets: torch.Tensor) -> torch.Tensor:
        """Mean training loss of the batch against ``targets``, plus the mix regularisation."""
        ...

    def predict(self, inputs: InputsT) -> list[PredictionT]:
        """One prediction per example of the batch, in batch order."""
        ...
