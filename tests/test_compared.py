"""The seams between source embedders and compared embedders: each source declared once by its
module, every compared embedder reading declared sources, and the Embedder base's defaults for
what the cache calls."""

from __future__ import annotations

import pytest
import torch

from elmo_bench.compared import COMPARED_EMBEDDERS
from elmo_bench.embedders.base import Embedder, Layers
from elmo_bench.embedders.registry import DEFAULT_SOURCES, SOURCES, load_embedder, source_settings
from elmo_bench.settings import SettingsError


def test_each_source_is_declared_once_and_every_compared_embedder_reads_declared_sources():
    names = [source.name for source in SOURCES]
    assert len(set(names)) == len(names) == len(DEFAULT_SOURCES)
    assert {use.source for uses in COMPARED_EMBEDDERS.values() for use in uses} <= set(names)


def test_defaults_are_read_only_and_overrides_name_known_settings():
    with pytest.raises(TypeError):
        DEFAULT_SOURCES["glove"]["vectors"] = "mine.txt"  # type: ignore[index]
    assert source_settings({"glove.vectors": "g.txt"})["glove"]["vectors"] == "g.txt"
    with pytest.raises(SettingsError, match="did you mean 'vectors'"):
        source_settings({"glove.vector": "g.txt"})
    with pytest.raises(SettingsError, match="unknown embedder source 'glov'.*did you mean 'glove'"):
        load_embedder("glov", {})


class _Plain(Embedder):
    """Two layers of 3; the token at position p gets ord(its first letter) + p everywhere."""

    name = "plain"

    @property
    def n_layers(self) -> int:
        return 2

    @property
    def dim(self) -> int:
        return 3

    def fingerprint_parts(self) -> dict:
        return {}

    def embed(self, sentences):
        length = max((len(s) for s in sentences), default=0)
        values = torch.zeros(2, len(sentences), length, 3)
        mask = torch.zeros(len(sentences), length, dtype=torch.bool)
        for row, sentence in enumerate(sentences):
            for position, token in enumerate(sentence):
                values[:, row, position] = ord(token[0]) + position
            mask[row, : len(sentence)] = True
        return Layers(values, mask)


def test_the_base_streams_through_embed_and_counts_no_lookups():
    embedder = _Plain()
    sentences = [["a", "b"], [], ["c"], ["d", "e", "f"]] * 100  # more than one chunk of embed() calls
    rows = dict(embedder.iter_embeddings(sentences, progress=False))
    assert sorted(rows) == list(range(len(sentences)))
    expected = embedder.embed(sentences).activations
    for index, sentence in enumerate(sentences):
        assert rows[index].shape == (2, len(sentence), 3)
        assert torch.equal(rows[index], expected[:, index, : len(sentence)])
    assert embedder.oov_stats is None
