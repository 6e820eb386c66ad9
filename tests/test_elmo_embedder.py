"""The ELMo embedder: stateless, batch-independent, and equal to the reference biLM."""
import pytest
import torch

from elmo_bench.embedders.elmo.bilm import remove_sentence_boundaries
from elmo_bench.embedders.elmo.chars import batch_to_ids
from elmo_bench.embedders.elmo.embedder import ElmoEmbedder, packed_rows
from elmo_bench.embedders.elmo.weights import load_bilm

SENTENCES = [
    "The quick brown fox jumps over the lazy dog .".split(),
    "Yes".split(),
    [],
    "I ate an apple in Zürich yesterday .".split(),
    "The quick brown fox jumps over the lazy dog .".split(),
    "<S> literal markers </S>".split(),
]


@pytest.fixture(scope="module")
def embedder(tiny_elmo_dir):
    return ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5", max_batch_tokens=24)


@pytest.mark.parametrize("max_batch_tokens, max_batch_size", [(24, 512), (40, 2), (400, 1)])
def test_matches_the_plain_bilm_forward(tiny_elmo_dir, max_batch_tokens, max_batch_size):
    """Alone, a row each (24 tokens, 512 rows: too short to share a row) and packed several to a
    row (40 tokens over 2 rows: rows of up to 20; 400 over 1: every sentence in one row)."""
    bilm = load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    with torch.no_grad():
        output = bilm(batch_to_ids(SENTENCES))
    reference = torch.stack([remove_sentence_boundaries(layer, output.mask)[0] for layer in output.layers])
    embedder = ElmoEmbedder(bilm, max_batch_tokens=max_batch_tokens, max_batch_size=max_batch_size)
    layers = embedder.embed(SENTENCES)
    assert layers.activations.shape == (3, len(SENTENCES), 10, 32)
    torch.testing.assert_close(layers.activations, reference, atol=1e-5, rtol=0)
    assert layers.mask.sum(1).tolist() == [len(s) for s in SENTENCES]


def test_stateless_same_vectors_in_any_batch_and_on_repeat(embedder):
    alone = embedder.embed([SENTENCES[3]]).activations[:, 0]
    again = embedder.embed([SENTENCES[3]]).activations[:, 0]
    in_batch = embedder.embed(SENTENCES).activations[:, 3, : len(SENTENCES[3])]
    torch.testing.assert_close(alone, again, atol=0, rtol=0)
    torch.testing.assert_close(alone, in_batch, atol=1e-5, rtol=0)
    duplicated = embedder.embed(SENTENCES)
    torch.testing.assert_close(duplicated.activations[:, 0], duplicated.activations[:, 4], atol=1e-5, rtol=0)


def test_char_cnn_in_chunks_gives_the_same_vectors(embedder, monkeypatch):
    """New tokens go through the char-CNN in chunks (bounded memory on long documents)."""
    whole = embedder.embed(SENTENCES).activations
    monkeypatch.setattr(ElmoEmbedder, "CHAR_CNN_CHUNK", 3)
    chunked = embedder.embed(SENTENCES).activations
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)


def test_iter_embeddings_covers_every_sentence_once(embedder):
    seen = {}
    for index, layers in embedder.iter_embeddings(SENTENCES, progress=False):
        assert index not in seen
        seen[index] = layers
    assert sorted(seen) == list(range(len(SENTENCES)))
    assert all(seen[i].shape == (3, len(SENTENCES[i]), 32) for i in seen)


def test_fingerprint_depends_on_weights_and_dtype(embedder, tiny_elmo_dir):
    same = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    assert same.fingerprint == embedder.fingerprint
    bf16 = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5", dtype="bfloat16")
    assert bf16.fingerprint != embedder.fingerprint
    changed = load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    with torch.no_grad():
        changed.lstm.biases[0][0, 0] += 1e-3
    assert ElmoEmbedder(changed).fingerprint != ElmoEmbedder(load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")).fingerprint


@pytest.mark.parametrize("dtype, tolerance", [("bfloat16", 0.05), ("float16", 0.01)])
def test_reduced_precision_close_to_float32(embedder, tiny_elmo_dir, dtype, tolerance):
    reduced = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5", dtype=dtype)
    reference = embedder.embed(SENTENCES).activations
    output = reduced.embed(SENTENCES).activations
    assert output.dtype == torch.float32
    relative = (output - reference).abs().max() / reference.abs().max()
    assert 0 < relative < tolerance


def test_compiled_cell_gives_the_same_vectors_without_recompiling(embedder, tiny_elmo_dir):
    """The fused step is compiled once, up front: rows that end, rows that restart and calls of
    different sizes must not compile it again in the middle of a run."""
    compiled = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5", compile=True)
    assert compiled.fingerprint == embedder.fingerprint
    with torch._dynamo.config.patch(error_on_recompile=True):
        for max_batch_tokens, max_batch_size in [(24, 512), (40, 2), (400, 1)]:
            compiled.max_batch_tokens, compiled.max_batch_size = max_batch_tokens, max_batch_size
            torch.testing.assert_close(compiled.embed(SENTENCES).activations, embedder.embed(SENTENCES).activations, atol=1e-5, rtol=0)


def test_compiled_cell_in_bfloat16_matches_eager_without_recompiling(tiny_elmo_dir):
    """With bfloat16 matrix products the fused step takes bfloat16 gates and returns a bfloat16
    output (the casts inside the kernel): it is compiled for that dtype up front."""
    files = (tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    eager = ElmoEmbedder.from_files(*files, dtype="bfloat16")
    compiled = ElmoEmbedder.from_files(*files, dtype="bfloat16", compile=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        output = compiled.embed(SENTENCES).activations
    reference = eager.embed(SENTENCES).activations
    assert (output - reference).abs().max() <= 1e-2 * reference.abs().max()


def test_packed_rows_fill_calls_with_rows_of_equal_length():
    lengths = [30, 12] + [2, 3, 4, 5, 6] * 40  # framed lengths, 842 tokens
    calls = packed_rows(lengths, max_batch_tokens=120, max_batch_size=8)  # rows of 15 at least
    placed = [i for call in calls for row in call for i in row]
    assert sorted(placed) == list(range(len(lengths)))
    assert calls[0][0] == [0]  # the longest sets the first call's rows: 4 of 30
    loads = [[sum(lengths[i] for i in row) for row in call] for call in calls]
    assert all(len(call) <= 8 and len(call) * max(load) <= 120 for call, load in zip(calls, loads))
    assert len(calls) <= 842 // 120 + 2  # nearly full calls
    assert all(max(load) - min(load) <= 1 for load in loads[:-1])  # rows end together
