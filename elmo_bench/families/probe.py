"""Token probing tasks: a label per token (POS, chunk), a linear probe head, token accuracy.

The family of the layer-wise probes: the frozen embedder's chosen layer (``elmo-layer0``,
``elmo-layer1``, ``elmo-layer2``), its learned mix (``elmo``) or GloVe, read by a linear softmax
classifier per token (:class:`~elmo_bench.heads.linear_probe.LinearProbe`), scored by the share
of test tokens labelled right. The input keeps the benchmark's protocol (dropout 0.5 on ELMo
vectors during training, none on GloVe), as every other head does. Labels come from the training
split; a test label never seen in training counts as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from elmo_bench.embedded_split import EmbeddedSplit
from elmo_bench.families.tagging import padded_label_ids
from elmo_bench.heads.linear_probe import LinearProbe
from elmo_bench.heads.scalar_mix_input import EmbeddingInput
from elmo_bench.heads.task_head import TaskHead
from elmo_bench.task import Task


@dataclass(frozen=True)
class LabelledTokens:
    """A sentence and one label per token."""

    tokens: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.labels):
            raise ValueError(
                f"{len(self.tokens)} tokens but {len(self.labels)} labels: {self.tokens}"
            )


def token_accuracy(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted label equals the gold one.

    Raises:
        ValueError: a sentence with a different number of gold and predicted labels.
    """
    correct = total = 0
    for index, (gold_labels, predicted_labels) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_labels) != len(predicted_labels):
            raise ValueError(
                f"sentence {index}: {len(gold_labels)} gold labels but {len(predicted_labels)} "
                "predicted"
            )
        correct += sum(g == p for g, p in zip(gold_labels, predicted_labels))
        total += len(gold_labels)
    if total == 0:
        raise ValueError("token accuracy of no tokens")
    return correct / total


class TokenProbeTask(Task):
    """Per-token labels read by a linear probe, scored by token accuracy."""

    main_score: ClassVar[str] = "accuracy"
    metric: ClassVar[str] = (
        "token accuracy (share of tokens labelled right): elmo_bench.families.probe.token_accuracy"
    )
    head: ClassVar[dict[str, Any]] = {}
    # A linear map on cached vectors takes seconds an epoch and converges in a few; a larger step
    # than the BiLSTM heads' gets there sooner.
    training: ClassVar[dict[str, Any]] = {
        "max_epochs": 20,
        "patience": 3,
        "batch_size": 32,
        "learning_rate": 0.005,
    }

    def token_sequences(self, example: LabelledTokens) -> tuple[tuple[str, ...], ...]:
        return (example.tokens,)

    def build_head(
        self, embedding_input: EmbeddingInput, train_examples: Sequence[LabelledTokens]
    ) -> LinearProbe:
        labels = sorted({label for example in train_examples for label in example.labels})
        return LinearProbe(embedding_input, labels, **self.head)

    def batch_loss(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> torch.Tensor:
        inputs = split.word_inputs([split.sequence_ids[i][0] for i in indices])
        labels = [split.examples[i].labels for i in indices]
        return head.loss(inputs, padded_label_ids(labels, head.labels, inputs.mask))

    def predict(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> list[list[str]]:
        return head.predict(split.word_inputs([split.sequence_ids[i][0] for i in indices]))

    def score(
        self, examples: Sequence[LabelledTokens], predictions: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        return {
            "accuracy": token_accuracy([example.labels for example in examples], predictions),
            "tokens": sum(len(example.labels) for example in examples),
        }
