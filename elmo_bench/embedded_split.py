"""A task split joined to its cached embeddings, and padded batches drawn from it.

Each example of a split has one or more token sequences (a sentence; a question and its context).
The split's distinct sequences are embedded once per source embedder through the
:class:`~elmo_bench.cache.EmbeddingCache` (SQuAD's contexts, shared by about five questions each,
are embedded once); examples refer to them by index. Batches are read from the memory-mapped
fp16 entries and converted to float32 tensors. An unfrozen embedder part (one that trains with the
head) is not cached: its :class:`UnfrozenSequences` computes the batch's layers, with gradients,
every time a batch is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from elmo_bench.cache import CacheLookup, EmbeddedSequences, EmbeddingCache
from elmo_bench.compared import ComparedEmbedder
from elmo_bench.heads.scalar_mix_input import WordInputs


@dataclass(frozen=True)
class UnfrozenSequences:
    """A split's distinct sequences, embedded at every batch by a trainable module.

    Attributes:
        sequences: the distinct token sequences.
        module: ``sentences -> [n_layers, batch, max_len, dim]`` (an
            :class:`~elmo_bench.finetune.unfrozen.UnfrozenElmo`, owned by the head).
    """

    sequences: list[tuple[str, ...]]
    module: torch.nn.Module

    def batch_layers(self, sequence_ids: Sequence[int], lengths: Sequence[int]) -> torch.Tensor:
        """``[n_layers, batch, max(lengths), dim]`` of the sequences cut to ``lengths``."""
        return self.module(
            [self.sequences[i][:length] for i, length in zip(sequence_ids, lengths, strict=True)]
        )


@dataclass(frozen=True)
class EmbeddedSplit:
    """Examples of one split, their sequences' indices, and one cache entry per embedder part.

    Attributes:
        examples: the task's examples.
        sequence_ids: per example, the index of each of its token sequences.
        sequence_lengths: int64 ``[n_sequences]``.
        tables: per embedder part, the cached vectors of all sequences (or, for an unfrozen
            part, the sequences and the module that embeds them).
        layer_selections: per embedder part, the layer indices to read (None: all).
        lookups: per embedder part, how its entry was obtained (hit or computed, seconds; None
            for an unfrozen part).
        device: where batches are put.
    """

    examples: list[Any]
    sequence_ids: list[tuple[int, ...]]
    sequence_lengths: np.ndarray
    tables: tuple[EmbeddedSequences | UnfrozenSequences, ...]
    layer_selections: tuple[tuple[int, ...] | None, ...]
    lookups: tuple[CacheLookup | None, ...]
    device: torch.device

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def n_tokens(self) -> int:
        """Tokens over the split's distinct sequences."""
        return int(self.sequence_lengths.sum())

    def example_lengths(self) -> np.ndarray:
        """``[n_examples]`` tokens per example over all its sequences (for length bucketing)."""
        return np.array(
            [sum(int(self.sequence_lengths[i]) for i in ids) for ids in self.sequence_ids]
        )

    def word_inputs(self, sequence_ids: Sequence[int], max_tokens: int | None = None) -> WordInputs:
        """Padded float32 layers of the given sequences (at most ``max_tokens`` each).

        Returns:
            :class:`WordInputs` with one ``[n_layers_i, batch, time, dim_i]`` tensor per part and
            a ``[batch, time]`` mask.
        """
        lengths = [int(self.sequence_lengths[i]) for i in sequence_ids]
        if max_tokens is not None:
            lengths = [min(length, max_tokens) for length in lengths]
        time = max(lengths)
        mask = torch.zeros(len(sequence_ids), time, dtype=torch.bool)
        for row, length in enumerate(lengths):
            mask[row, :length] = True
        mask = mask.to(self.device)
        layers = []
        for table, selection in zip(self.tables, self.layer_selections, strict=True):
            if isinstance(table, UnfrozenSequences):
                computed = table.batch_layers(sequence_ids, lengths).to(self.device)
                layers.append(computed if selection is None else computed[list(selection)])
                continue
            n_layers = len(selection) if selection is not None else table.n_layers
            padded = np.zeros((len(sequence_ids), time, n_layers, table.dim), dtype=np.float32)
            for row, (sequence_id, length) in enumerate(zip(sequence_ids, lengths, strict=True)):
                vectors = table.sequence(sequence_id)[:length]  # [length, n_layers, dim]
                padded[row, :length] = vectors if selection is None else vectors[:, selection]
            layers.append(
                torch.from_numpy(padded).to(self.device).permute(2, 0, 1, 3)
            )  # [n_layers, B, T, D]
        return WordInputs(tuple(layers), mask)


def embed_split(
    examples: list[Any],
    sequences_of: Any,
    embedder: ComparedEmbedder,
    cache: EmbeddingCache,
    device: str | torch.device = "cpu",
    progress: bool = False,
    unfrozen: Mapping[str, torch.nn.Module] | None = None,
) -> EmbeddedSplit:
    """Embed (or find in ``cache``) the distinct token sequences of ``examples``.

    Args:
        examples: the split's examples.
        sequences_of: ``example -> tuple of token sequences`` (:meth:`Task.token_sequences`).
        embedder: the compared embedder; each of its source embedders is cached separately.
        cache: where vectors are kept.
        device: where batches drawn from the split are put (the cache itself is on disk).
        unfrozen: per source whose part is unfrozen, the trainable module that embeds it.
    """
    index_of: dict[tuple[str, ...], int] = {}
    sequence_ids = []
    for example in examples:
        ids = []
        for sequence in sequences_of(example):
            ids.append(index_of.setdefault(tuple(sequence), len(index_of)))
        sequence_ids.append(tuple(ids))
    sequences = list(index_of)
    unfrozen = unfrozen or {}
    lookups: list[CacheLookup | None] = []
    tables: list[EmbeddedSequences | UnfrozenSequences] = []
    by_source: dict[str, CacheLookup] = {}
    for part in embedder.parts:
        source = part.use.source
        if part.use.adaptation == "unfrozen":
            if source not in unfrozen:
                raise ValueError(f"embed_split: no trainable module given for the unfrozen {source!r}")
            lookups.append(None)
            tables.append(UnfrozenSequences(sequences, unfrozen[source]))
            continue
        # A source read by several parts is looked up once.
        if source not in by_source:
            by_source[source] = cache.get_or_compute(part.embedder, sequences, progress)
        lookups.append(by_source[source])
        tables.append(by_source[source].entry)
    return EmbeddedSplit(
        examples=examples,
        sequence_ids=sequence_ids,
        sequence_lengths=np.array([len(sequence) for sequence in sequences], dtype=np.int64),
        tables=tuple(tables),
        layer_selections=tuple(part.use.layers for part in embedder.parts),
        lookups=tuple(lookups),
        device=torch.device(device),
    )
