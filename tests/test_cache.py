"""Embedding cache: hits, misses on any change of input or embedder, fp16 round trip, atomic
entries, and the ELMo embedder's vectors coming back from the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from elmo_bench.cache import CacheError, EmbeddingCache, bytes_per_million_tokens, cache_key
from elmo_bench.embedders.base import Embedder, Layers


class CountingEmbedder(Embedder):
    """Vector of token t in layer l: [hash-based value + l] * dim; counts embedded tokens."""

    name = "counting"

    def __init__(self, version: int = 1, fail_after: int | None = None, scale: float = 1.0) -> None:
        self.version = version
        self.fail_after = fail_after
        self.scale = scale
        self.embedded_tokens = 0

    @property
    def n_layers(self) -> int:
        return 2

    @property
    def dim(self) -> int:
        return 3

    def fingerprint_parts(self) -> dict:
        return {"version": self.version, "scale": self.scale}

    def vector(self, token: str, layer: int) -> float:
        return self.scale * ((sum(map(ord, token)) % 97) / 10 + layer + self.version)

    def embed(self, sentences):
        if self.fail_after is not None and self.embedded_tokens >= self.fail_after:
            raise RuntimeError("killed while embedding")
        length = max((len(s) for s in sentences), default=0)
        values = torch.zeros(2, len(sentences), length, 3)
        mask = torch.zeros(len(sentences), length, dtype=torch.bool)
        for row, sentence in enumerate(sentences):
            for position, token in enumerate(sentence):
                for layer in range(2):
                    values[layer, row, position] = self.vector(token, layer)
                mask[row, position] = True
            self.embedded_tokens += len(sentence)
        return Layers(values, mask)


SENTENCES = [["The", "cat", "sat"], ["Zürich"], ["a", "b", "c", "d"]]


def test_miss_then_hit_returns_the_same_vectors(tmp_path):
    cache, embedder = EmbeddingCache(tmp_path), CountingEmbedder()
    first = cache.get_or_compute(embedder, SENTENCES)
    assert not first.hit and embedder.embedded_tokens == 8
    second = cache.get_or_compute(embedder, SENTENCES)
    assert second.hit and embedder.embedded_tokens == 8  # nothing embedded again
    entry = second.entry
    assert len(entry) == 3 and entry.n_layers == 2 and entry.dim == 3
    assert entry.vectors.dtype == np.float16 and isinstance(entry.vectors, np.memmap)
    zurich = entry.sequence(1)  # [len, n_layers, dim]
    assert zurich.shape == (1, 2, 3)
    np.testing.assert_allclose(zurich[0, 1], [embedder.vector("Zürich", 1)] * 3, rtol=1e-3)
    np.testing.assert_allclose(entry.sequence(2)[3, 0], [embedder.vector("d", 0)] * 3, rtol=1e-3)


def test_changed_embedder_is_a_miss(tmp_path):
    cache = EmbeddingCache(tmp_path)
    old = cache.get_or_compute(CountingEmbedder(version=1), SENTENCES).entry
    new_embedder = CountingEmbedder(version=2)
    new = cache.get_or_compute(new_embedder, SENTENCES)
    assert not new.hit and new.entry.key != old.key
    np.testing.assert_allclose(
        new.entry.sequence(0)[0, 0], [new_embedder.vector("The", 0)] * 3, rtol=1e-3
    )


@pytest.mark.parametrize(
    "changed",
    [
        [["The", "cat", "sat"], ["Zurich"], ["a", "b", "c", "d"]],  # one token
        [["The", "cat", "sat"], ["a", "b", "c", "d"], ["Zürich"]],  # order
        [["The", "cat", "sat", "Zürich"], ["a", "b", "c", "d"]],  # boundaries
        [["The cat", "sat"], ["Zürich"], ["a", "b", "c", "d"]],  # token boundaries
    ],
)
def test_changed_tokens_are_a_miss(tmp_path, changed):
    cache, embedder = EmbeddingCache(tmp_path), CountingEmbedder()
    cache.get_or_compute(embedder, SENTENCES)
    lookup = cache.get_or_compute(embedder, changed)
    assert not lookup.hit
    assert cache_key(embedder.fingerprint, changed) != cache_key(embedder.fingerprint, SENTENCES)


def test_killed_write_leaves_no_entry(tmp_path):
    cache = EmbeddingCache(tmp_path)
    many = [[f"w{i}"] for i in range(600)]  # three embed() chunks of 256
    with pytest.raises(RuntimeError, match="killed"):
        cache.get_or_compute(CountingEmbedder(fail_after=300), many)
    key = cache_key(CountingEmbedder().fingerprint, many)
    assert cache.load(key) is None
    assert [
        p.name for p in cache.entry_dir(key).parent.iterdir() if p.is_dir()
    ] == []  # no partial folder
    # A run killed outright (no cleanup) leaves only a staging folder, never read as an entry.
    (cache.entry_dir(key).parent / f".{key}.stale").mkdir()
    (cache.entry_dir(key).parent / f".{key}.stale" / "vectors.npy").write_bytes(b"garbage")
    assert cache.load(key) is None
    lookup = cache.get_or_compute(CountingEmbedder(), many)  # a later run computes it whole
    assert not lookup.hit and len(lookup.entry) == 600


def test_value_beyond_fp16_is_an_error(tmp_path):
    with pytest.raises(CacheError, match="beyond float16"):
        EmbeddingCache(tmp_path).get_or_compute(CountingEmbedder(scale=1e5), SENTENCES)


def test_a_static_vector_beyond_fp16_is_named_with_its_file_and_word(tmp_path):
    from elmo_bench.embedders.static import StaticEmbedder

    vectors = tmp_path / "glove.txt"
    vectors.write_text("the 0.1 0.2\ncat 1e6 0.3\n", encoding="utf-8")
    with pytest.raises(CacheError) as raised:
        EmbeddingCache(tmp_path / "cache").get_or_compute(StaticEmbedder(vectors), [["the", "cat"]])
    assert str(raised.value) == (
        f"embedder static ({vectors}): the vector of 'cat' (word 2 of 'the cat') has 1e+06 in layer 0, "
        "dimension 0, beyond float16's +-65504; the embedding cache stores float16: rescale or fix that vector"
    )


def test_size_per_million_tokens():
    assert bytes_per_million_tokens(3, 1024) == 6_144_000_000  # original ELMo: 6.1 GB
    assert bytes_per_million_tokens(1, 300) == 600_000_000  # 300-d GloVe


def test_elmo_vectors_round_trip_through_the_cache(tmp_path, tiny_elmo_dir):
    from elmo_bench.embedders.elmo.embedder import ElmoEmbedder

    embedder = ElmoEmbedder.from_files(
        tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5"
    )
    sentences = [["The", "cat", "sat", "."], ["Hello"], ["A", "longer", "one", "here", "too"]]
    entry = EmbeddingCache(tmp_path).get_or_compute(embedder, sentences).entry
    expected = embedder.embed(sentences)
    for index, sentence in enumerate(sentences):
        cached = torch.from_numpy(entry.sequence(index).astype(np.float32)).permute(1, 0, 2)
        reference = expected.activations[:, index, : len(sentence)]
        torch.testing.assert_close(cached, reference, atol=2e-3, rtol=1e-3)  # fp16 storage


def test_another_elmo_weight_file_is_a_miss(tmp_path, tiny_elmo_dir):
    import shutil

    import h5py

    from elmo_bench.embedders.elmo.embedder import ElmoEmbedder

    changed = tmp_path / "weights.hdf5"
    shutil.copy(tiny_elmo_dir / "weights.hdf5", changed)
    float_datasets = []

    def collect(name, item):
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f":
            float_datasets.append(name)

    with h5py.File(changed, "r+") as handle:
        handle.visititems(collect)
        handle[float_datasets[0]][...] = handle[float_datasets[0]][()] + 0.5
    cache = EmbeddingCache(tmp_path / "cache")
    sentences = [["The", "cat"], ["sat"]]
    original = ElmoEmbedder.from_files(
        tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5"
    )
    modified = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", changed)
    first = cache.get_or_compute(original, sentences)
    second = cache.get_or_compute(modified, sentences)
    assert not second.hit and second.entry.key != first.entry.key
    assert not np.array_equal(first.entry.vectors, second.entry.vectors)


def test_a_folder_is_published_whole_or_not_at_all(tmp_path):
    from elmo_bench.atomic import building_folder

    target = tmp_path / "entries" / "abc"
    with pytest.raises(RuntimeError, match="killed"):
        with building_folder(target) as building:
            (building / "vectors.npy").write_bytes(b"half")
            raise RuntimeError("killed")
    assert not target.exists() and list(target.parent.iterdir()) == []  # no temporary left
    with building_folder(target) as building:
        (building / "meta.json").write_text("{}")
    assert (target / "meta.json").read_text() == "{}" and oct(target.stat().st_mode)[-3:] == "755"
    with building_folder(target) as building:  # built meanwhile by another process: kept
        (building / "meta.json").write_text('{"second": true}')
    assert (target / "meta.json").read_text() == "{}" and len(list(target.parent.iterdir())) == 1
