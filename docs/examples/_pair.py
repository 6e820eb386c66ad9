"""Sentence-pair classification (entailment, paraphrase), written outside the package: a task
family and its head in one helper module of a task folder, imported by the task modules beside it
with ``from ._pair import PairClassificationTask, SentencePair``.

The head encodes both sentences with one shared BiLSTM, max-pools each into ``u`` and ``v``, and
classifies ``[u; v; |u - v|; u * v]`` with a one-hidden-layer feed-forward network (InferSent's
matching features). Scores: accuracy and macro-F1; per-example outcomes are ``classification``
records, so the report's paired test runs on pair tasks as on any classification task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from elmo_bench.embedded_split import EmbeddedSplit
from elmo_bench.heads.lstm import bidirectional_lstm, run_lstm
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, WordInputs
from elmo_bench.heads.task_head import TaskHead
from elmo_bench.metrics.classification import classification_scores
from elmo_bench.metrics.per_example import classification_record
from elmo_bench.task import Task


@dataclass(frozen=True)
class SentencePair:
    """Two token sequences and the label of the pair."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    label: str


SentencePairInputs = tuple[WordInputs, WordInputs]
"""What the pair head reads for a batch: the first sentences and the second ones."""


class PairClassifier(nn.Module):
    """Assigns each sentence pair one of ``labels``; a
    :class:`~elmo_bench.heads.task_head.TaskHead` reading :data:`SentencePairInputs`.

    Args:
        embedding_input: turns the embedders' layers into word vectors (kept as
            ``embedding_input``: results record its learned mix).
        labels: the class names; class index ``i`` is ``labels[i]``.
        hidden_size: LSTM units per direction and the feed-forward layer's width.
        dropout: on the matching features and the feed-forward layer.
    """

    def __init__(
        self, embedding_input: EmbeddingInput, labels: Sequence[str], hidden_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if len(labels) < 2:
            raise ValueError(f"PairClassifier needs at least 2 labels, got {list(labels)}")
        self.labels = list(labels)
        self.embedding_input = embedding_input
        self.lstm = bidirectional_lstm(embedding_input.output_dim, hidden_size, 1, 0.0)
        self.feed_forward = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(8 * hidden_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, len(self.labels)),
        )

    def encode(self, inputs: WordInputs) -> torch.Tensor:
        """``[B, 2H]``: the max over time of the BiLSTM states of each sentence."""
        encoded = run_lstm(self.lstm, self.embedding_input(inputs), inputs.mask)  # [B, T, 2H]
        return encoded.masked_fill(~inputs.mask.unsqueeze(-1), float("-inf")).max(dim=1).values

    def logits(self, inputs: SentencePairInputs) -> torch.Tensor:
        """``[B, n_labels]``."""
        first, second = inputs
        u, v = self.encode(first), self.encode(second)
        return self.feed_forward(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))

    def loss(self, inputs: SentencePairInputs, label_ids: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of ``label_ids [B]``, plus the mix regularisation."""
        loss = nn.functional.cross_entropy(self.logits(inputs), label_ids)
        return loss + self.embedding_input.regularization_loss()

    def predict(self, inputs: SentencePairInputs) -> list[str]:
        """The most probable label of each pair."""
        return [self.labels[i] for i in self.logits(inputs).argmax(dim=-1).tolist()]


class PairClassificationTask(Task):
    """Single-label classification of sentence pairs; the classes are those of the training
    split. A task module sets the metadata and ``read`` (returning :class:`SentencePair`)."""

    main_score: ClassVar[str] = "accuracy"
    metric: ClassVar[str] = (
        "accuracy and macro-F1 over classes in gold or predictions (scikit-learn): "
        "elmo_bench.metrics.classification.classification_scores"
    )
    head: ClassVar[dict[str, Any]] = {"hidden_size": 100, "dropout": 0.5}
    subset_strata: ClassVar[str | None] = "label"  # training-data subsets keep each label's share

    def token_sequences(self, example: SentencePair) -> tuple[tuple[str, ...], ...]:
        return (example.first, example.second)

    def build_head(
        self, embedding_input: EmbeddingInput, train_examples: Sequence[SentencePair]
    ) -> PairClassifier:
        labels = sorted({example.label for example in train_examples})
        return PairClassifier(embedding_input, labels, **self.head)

    def _inputs(self, split: EmbeddedSplit, indices: Sequence[int]) -> SentencePairInputs:
        """The embedded first and second sentences of examples ``indices``."""
        first = split.word_inputs([split.sequence_ids[i][0] for i in indices])
        return first, split.word_inputs([split.sequence_ids[i][1] for i in indices])

    def batch_loss(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> torch.Tensor:
        inputs = self._inputs(split, indices)
        label_ids = {label: index for index, label in enumerate(head.labels)}
        targets = torch.tensor(
            [label_ids[split.examples[i].label] for i in indices], device=inputs[0].mask.device
        )
        return head.loss(inputs, targets)

    def predict(self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]) -> list[str]:
        return head.predict(self._inputs(split, indices))

    def score(self, examples: Sequence[SentencePair], predictions: Sequence[str]) -> dict[str, Any]:
        scores = classification_scores([example.label for example in examples], predictions)
        return {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1, "examples": scores.count}

    def per_example(
        self, examples: Sequence[SentencePair], predictions: Sequence[str]
    ) -> dict[str, Any]:
        """Gold and predicted label of every pair: a ``classification`` record, what the paired
        test resamples."""
        return classification_record([example.label for example in examples], predictions)
