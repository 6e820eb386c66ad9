"""Sequence tagging tasks (NER): one tag per token, a BiLSTM-CRF head, strict span F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from elmo_bench.embedded_split import EmbeddedSplit
from elmo_bench.heads.scalar_mix_input import EmbeddingInput
from elmo_bench.heads.tagger import BiLstmCrfTagger
from elmo_bench.heads.task_head import TaskHead
from elmo_bench.metrics.ner import span_f1
from elmo_bench.metrics.per_example import entity_span_record
from elmo_bench.settings import Check
from elmo_bench.task import Task


@dataclass(frozen=True)
class TaggedSentence:
    """Tokens and their IOB2 tags."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.tags)} tags: {self.tokens}")


def padded_label_ids(
    label_sequences: Sequence[Sequence[str]], label_names: Sequence[str], mask: torch.Tensor
) -> torch.Tensor:
    """``[batch, time]`` int64 index in ``label_names`` of each token's label (0 past each
    sequence's end), on ``mask``'s device; ``mask`` is the batch's ``[batch, time]`` token mask."""
    label_ids = {label: index for index, label in enumerate(label_names)}
    targets = torch.zeros(mask.shape, dtype=torch.long, device=mask.device)
    for row, labels in enumerate(label_sequences):
        targets[row, : len(labels)] = torch.tensor([label_ids[label] for label in labels], device=mask.device)
    return targets


class TaggingTask(Task):
    """IOB2 tagging scored by strict entity spans; tags come from the training split."""

    main_score: ClassVar[str] = "f1"
    metric: ClassVar[str] = (
        "strict entity-span micro F1 (seqeval mode=strict, scheme=IOB2, predictions read as "
        "conlleval reads them): elmo_bench.metrics.ner.span_f1"
    )
    head: ClassVar[dict[str, Any]] = {"hidden_size": 200, "lstm_layers": 2, "dropout": 0.5}
    head_checks: ClassVar[dict[str, Check]] = {
        "hidden_size": Check("integer", minimum=1),
        "lstm_layers": Check("integer", minimum=1),
        "dropout": Check("number", minimum=0, below=1),
    }

    def token_sequences(self, example: TaggedSentence) -> tuple[tuple[str, ...], ...]:
        return (example.tokens,)

    def build_head(
        self, embedding_input: EmbeddingInput, train_examples: Sequence[TaggedSentence]
    ) -> BiLstmCrfTagger:
        labels = sorted({tag for example in train_examples for tag in example.tags})
        return BiLstmCrfTagger(embedding_input, labels, **self.head)

    def batch_loss(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> torch.Tensor:
        inputs = split.word_inputs([split.sequence_ids[i][0] for i in indices])
        tags = padded_label_ids([split.examples[i].tags for i in indices], head.labels, inputs.mask)
        return head.loss(inputs, tags)

    def predict(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> list[list[str]]:
        return head.predict(split.word_inputs([split.sequence_ids[i][0] for i in indices]))

    def score(
        self, examples: Sequence[TaggedSentence], predictions: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        scores = span_f1([example.tags for example in examples], predictions)
        return {
            "f1": scores.overall.f1,
            "precision": scores.overall.precision,
            "recall": scores.overall.recall,
            "entities": scores.overall.support,
            "per_type": {
                name: {
                    "f1": s.f1,
                    "precision": s.precision,
                    "recall": s.recall,
                    "entities": s.support,
                }
                for name, s in sorted(scores.per_type.items())
            },
        }

    def per_example(
        self, examples: Sequence[TaggedSentence], predictions: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        """Strict true-positive, predicted and gold entity counts of every sentence (an
        ``entity_spans`` record of :mod:`elmo_bench.metrics.per_example`)."""
        return entity_span_record([example.tags for example in examples], predictions)
