"""The interface every embedder implements: tokens in, a stack of layers out.

Downstream code (the cache, the task heads) sees only this interface, so a task never knows which
embedder produced its vectors, and the embedder never knows which task uses it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from elmo_bench.digest import content_digest


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


class Embedder(ABC):
    """Maps tokenized sentences to one or more layers of word vectors.

    Subclasses set ``name`` and implement :meth:`embed`, :attr:`n_layers`, :attr:`dim` and
    :meth:`fingerprint_parts`. Embedders used by the benchmark are frozen: the same sentence always
    gets the same vectors, so the vectors can be cached under :attr:`fingerprint`.
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
