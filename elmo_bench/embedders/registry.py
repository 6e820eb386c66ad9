"""The source embedders that settings name, by name.

Each embedder module declares its source (an :class:`~elmo_bench.embedders.source.EmbedderSource`:
name, default settings, constructor, preparation); :data:`SOURCES` lists the declarations. A new
source is its module plus one line here. Settings override a default as
``embedder.SOURCE.KEY=value`` (``embedder.glove.vectors=glove.6B.300d``); see each declaration
for its settings. How a compared embedder (``elmo+glove``, ``elmo-layer0``, ...) reads its sources
is not the embedders' business: :mod:`elmo_bench.compared`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elmo_bench.embedders.base import Embedder
from elmo_bench.embedders.elmo.embedder import ELMO
from elmo_bench.embedders.source import EmbedderSource
from elmo_bench.embedders.static import GLOVE
from elmo_bench.embedders.transformer import TRANSFORMER
from elmo_bench.settings import SettingsError, did_you_mean, merge_settings

SOURCES: tuple[EmbedderSource, ...] = (ELMO, GLOVE, TRANSFORMER)
"""Every source embedder, in the order settings and messages list them."""

DEFAULT_SOURCES: Mapping[str, Mapping[str, Any]] = {source.name: source.defaults for source in SOURCES}
"""Each source's default settings, by source name (see :func:`source_settings`)."""


def _source(name: str) -> EmbedderSource:
    """The declaration of source ``name``.

    Raises:
        SettingsError: no such source (with the closest name).
    """
    for source in SOURCES:
        if source.name == name:
            return source
    raise SettingsError(
        f"unknown embedder source {name!r}{did_you_mean(name, DEFAULT_SOURCES)}; expected one "
        f"of {', '.join(DEFAULT_SOURCES)}"
    )


def source_settings(overrides: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """:data:`DEFAULT_SOURCES` updated with ``{"elmo.weights": path, ...}`` overrides.

    Raises:
        SettingsError: an unknown source or setting.
    """
    grouped: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        source, _, key = dotted.partition(".")
        if source not in DEFAULT_SOURCES or not key:
            raise SettingsError(
                f"embedder setting {dotted!r} is not 'SOURCE.KEY' with SOURCE one of "
                f"{', '.join(DEFAULT_SOURCES)}{did_you_mean(source, DEFAULT_SOURCES)}"
            )
        grouped.setdefault(source, {})[key] = value
    return {
        source: merge_settings(defaults, grouped.get(source), f"embedder source {source!r}")
        for source, defaults in DEFAULT_SOURCES.items()
    }


def load_embedder(source: str, settings: Mapping[str, Any]) -> Embedder:
    """The embedder of source ``source`` (``"elmo"``, ``"glove"``, ...), built from its complete
    settings (one value of :func:`source_settings`).

    Raises:
        SettingsError: an unknown source, or settings that name no files (or both files and a
            published name).
    """
    return _source(source).load(settings)


def prepare_source(source: str, settings: Mapping[str, Any]) -> str | None:
    """Download the published files that a source's settings name (ELMo by ``model``, GloVe by a
    published name) and convert large vectors files, without loading the embedder; what a run
    does once, before its cells, so that a download failure stops it with one message there.

    Returns:
        What was prepared (e.g. ``"GloVe glove.840B.300d"``), or None when nothing needed it.

    Raises:
        elmo_bench.addresses.UnreachableError, NotThePublishedFileError: a file could not be had.
    """
    return _source(source).prepare(settings)
