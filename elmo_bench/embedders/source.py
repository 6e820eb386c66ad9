"""How an embedder module declares a *source* embedder to :mod:`elmo_bench.embedders.registry`.

A source is an embedder that settings can name and load (``elmo``, ``glove``, ``transformer``):
its module declares one :class:`EmbedderSource` (its name, every setting it reads with its default,
its constructor from those settings, and what a run prepares once before loading it), and the
registry lists the declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from elmo_bench.embedders.base import Embedder


def nothing_to_prepare(settings: Mapping[str, Any]) -> None:
    """The preparation of a source that downloads and converts nothing."""
    return None


@dataclass(frozen=True)
class EmbedderSource:
    """One source embedder, as its module declares it.

    Attributes:
        name: the source's name and the prefix of its settings (``glove`` in
            ``embedder.glove.vectors=...``).
        defaults: every setting the source reads, with its default (None where it must be given).
        load: the constructor: the embedder from the complete settings (``defaults`` updated
            with the run's overrides).
        prepare: what a run does once before its cells, without loading the embedder (download
            published files, convert large ones), so that a failure stops it with one message
            there; returns what was prepared (``"GloVe glove.840B.300d"``), or None.
    """

    name: str
    defaults: Mapping[str, Any]
    load: Callable[[Mapping[str, Any]], Embedder]
    prepare: Callable[[Mapping[str, Any]], str | None] = nothing_to_prepare

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
