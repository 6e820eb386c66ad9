"""The interface every embedder implements: tokens in, a stack of layers out.

Downstream code (the cache, the task heads) sees only this interface, so a task never knows which
embedder produced its vectors, and the embedder never knows which task uses it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from elmo_bench.digest import content_digest

EMBED_BATCH_SENTENCES = 256
"""Sentences per :meth:`Embedder.embed` call of the default :meth:`Embedder.iter_embeddings`."""


@dataclass(frozen=True)
class Layers:
    """Word-level representations of a batch of sentences.

    Attributes:
        activations: ``[n_layers, batch, time, dim]`` float tensor; zeros at padded positions.
        mask: ``[batch, time]`` bool tensor, True at real tokens.
    """

    activations: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.activations.dim() != 4:
            raise ValueError(
                f"Layers.activations must be [n_layers, batch, time, dim], got shape "
                f"{tuple(self.activations.shape)}"
            )
        if tuple(self.mask.shape) != tuple(self.activations.shape[1:3]):
            raise ValueError(
                f"Layers.mask must be [batch, time] = {tuple(self.activations.shape[1:3])}, got "
                f"{tuple(self.mask.shape)}"
            )


def pad_sentence_layers(
    sentences: Sequence[Sequence[str]], n_layers: int, dim: int, rows: Iterable[tuple[int, torch.Tensor]]
) -> Layers:
    """Assemble per-sentence outputs, in any order, into one padded :class:`Layers`.

    Args:
        sentences: the batch (its size and lengths give the shapes).
        rows: ``(index, [n_layers, len, dim])`` per sentence, as an embedder's streaming
            ``iter_embeddings`` yields them.

    Returns:
        :class:`Layers` with activations ``[n_layers, batch, max_len, dim]``.
    """
    max_len = max((len(s) for s in sentences), default=0)
    activations = torch.zeros(n_layers, len(sentences), max_len, dim)
    mask = torch.zeros(len(sentences), max_len, dtype=torch.bool)
    for index, layers in rows:
        activations[:, index, : layers.shape[1]] = layers
        mask[index, : layers.shape[1]] = True
    return Layers(activations, mask)


@dataclass(frozen=True)
class OovStats:
    """How an embedder with a vocabulary found the tokens it embedded so far.

    Attributes:
        tokens: tokens embedded.
        lowercased: tokens found only by their lower-cased form.
        oov: tokens not found (given the out-of-vocabulary vector).
    """

    tokens: int
    lowercased: int
    oov: int

    @property
    def oov_rate(self) -> float:
        return self.oov / self.tokens if self.tokens else 0.0


class Embedder(ABC):
    """Maps tokenized sentences to one or more layers of word vectors.

    Subclasses set ``name`` and implement :meth:`embed`, :attr:`n_layers`, :attr:`dim` and
    :meth:`fingerprint_parts`; an embedder that can stream a whole dataset faster than batch by
    batch overrides :meth:`iter_embeddings`, and one with a vocabulary counts its lookups in
    :attr:`oov_stats`. Embedders used by the benchmark are frozen: the same sentence always gets
    the same vectors, so the vectors can be cached under :attr:`fingerprint`
    (:mod:`elmo_bench.cache` calls every method declared here).
    """

    name: str = "embedder"
    source: str = ""
    """The file the vectors come from, for messages ("" when none); not part of the fingerprint."""

    @property
    @abstractmethod
    def n_layers(self) -> int:
        """Number of layers :meth:`embed` returns."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of every layer."""

    @abstractmethod
    def embed(self, sentences: list[list[str]]) -> Layers:
        """Embed a batch of tokenized sentences.

        Args:
            sentences: ``batch`` lists of tokens (an empty list is allowed).

        Returns:
            :class:`Layers` with activations ``[n_layers, batch, max_len, dim]``.
        """

    @abstractmethod
    def fingerprint_parts(self) -> dict:
        """JSON-serialisable description of everything that changes the vectors (weights hash,
        options, dtype, code version)."""

    @property
    def fingerprint(self) -> str:
        """A hex digest that changes whenever the vectors could change: the cache key prefix."""
        return content_digest({"name": self.name, **self.fingerprint_parts()}, 32)

    def iter_embeddings(
        self, sentences: Sequence[list[str]], progress: bool = True
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Embed many sentences, yielding ``(index, float32 layers [n_layers, len, dim])`` once for
        every sentence, in any order (``index`` says which input it is).

        The default calls :meth:`embed` on consecutive chunks of :data:`EMBED_BATCH_SENTENCES`
        sentences, in input order, and shows no progress; ELMo and the transformer stream instead
        (length-sorted batches over the whole input, bounded memory, a progress bar when
        ``progress``).
        """
        with torch.inference_mode():
            for start in range(0, len(sentences), EMBED_BATCH_SENTENCES):
                chunk = list(sentences[start : start + EMBED_BATCH_SENTENCES])
                layers = self.embed(chunk)
                for row, sentence in enumerate(chunk):
                    yield start + row, layers.activations[:, row, : len(sentence)].float()

    @property
    def oov_stats(self) -> OovStats | None:
        """Lookup counts over every :meth:`embed` call so far, for an embedder with a vocabulary
        (static word vectors); None for one that has a vector for every token (ELMo's characters,
        a transformer's word pieces)."""
        return None
