"""The seams between source embedders, compared embedders and the report: each source declared
once by its module, every compared embedder reading declared sources, the comparisons data naming
only compared embedders, published numbers placed by role, and the Embedder base's defaults for
what the cache calls."""

from __future__ import annotations

import pytest
import torch

from elmo_bench import compared, comparisons
from elmo_bench.compared import COMPARED_EMBEDDERS, UnknownEmbedderError
from elmo_bench.embedders.base import Embedder, Layers
from elmo_bench.embedders.registry import DEFAULT_SOURCES, SOURCES, load_embedder, source_settings
from elmo_bench.report.reference import PUBLISHED_SCORES, published_score
from elmo_bench.report.summary import embedder_sort_key
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


def test_the_comparisons_data_names_only_compared_embedders(monkeypatch):
    assert comparisons.named_embedders() <= set(COMPARED_EMBEDDERS)
    monkeypatch.setattr(comparisons, "EMBEDDER_ORDER", (*comparisons.EMBEDDER_ORDER, "elmo+glvoe"))
    with pytest.raises(UnknownEmbedderError, match="'elmo\\+glvoe', which is not a compared embedder"):
        compared._check_comparisons_data()


def test_embedders_the_data_does_not_list_follow_the_listed_ones_alphabetically():
    names = ["zeta", "transformer", "alpha", "elmo+glove", "glove"]
    assert sorted(names, key=embedder_sort_key) == ["glove", "elmo+glove", "transformer", "alpha", "zeta"]


def test_a_published_number_sits_beside_the_embedder_of_its_role():
    assert {score.embedder for score in PUBLISHED_SCORES} == {"glove", "elmo+glove", "elmo"}
    assert published_score("sst2", "elmo", "accuracy").value == 0.902  # ELMo in place of GloVe
    assert published_score("conll2003_ner", "elmo+glove", "f1").value == 0.9222  # ELMo added
    assert published_score("conll2003_ner", "elmo", "f1") is None


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
