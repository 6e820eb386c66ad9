"""Our ELMo against arrays computed by AllenNLP's own code on a tiny random model."""
import json

import numpy as np
import pytest
import torch

from elmo_bench.embedders.elmo.bilm import add_sentence_boundaries, remove_sentence_boundaries
from elmo_bench.embedders.elmo.chars import batch_to_ids
from elmo_bench.embedders.elmo.elmo import Elmo
from elmo_bench.embedders.elmo.weights import load_bilm

ATOL = 2e-5


@pytest.fixture(scope="module")
def expected(tiny_elmo_dir):
    return dict(np.load(tiny_elmo_dir / "expected.npz"))


@pytest.fixture(scope="module")
def tokens(tiny_elmo_dir):
    return json.loads((tiny_elmo_dir / "sentences.json").read_text(encoding="utf-8"))["tokens"]


def close(actual: torch.Tensor, reference: np.ndarray) -> None:
    assert tuple(actual.shape) == reference.shape
    np.testing.assert_allclose(actual.detach().numpy(), reference, atol=ATOL, rtol=0)


def test_char_ids_match_batch_to_ids(tokens, expected):
    ids = batch_to_ids(tokens)
    np.testing.assert_array_equal(ids.numpy(), expected["char_ids"])
    np.testing.assert_array_equal((ids > 0).any(-1).numpy(), expected["mask"])


def test_token_encoder_stages(tiny_elmo_dir, tokens, expected):
    bilm = load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    framed, lengths = add_sentence_boundaries(batch_to_ids(tokens))
    np.testing.assert_array_equal((framed > 0).any(-1).numpy(), expected["mask_with_bos_eos"])
    encoder = bilm.token_encoder
    with torch.no_grad():
        cnn = encoder.convolve(framed.view(-1, 50)).view(*framed.shape[:2], -1)
        close(cnn, expected["charcnn_with_bos_eos"])
        highway = encoder.highway(cnn)
        close(highway, expected["highway_with_bos_eos"])
        close(encoder.projection(highway), expected["token_embedding_with_bos_eos"])
        close(bilm.encode_tokens(framed), expected["token_embedding_with_bos_eos"])


def test_bilm_layers_first_and_second_stateful_call(tiny_elmo_dir, tokens, expected):
    bilm = load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5", stateful=True)
    ids = batch_to_ids(tokens)
    with torch.no_grad():
        first = bilm(ids)
        second = bilm(ids)
    np.testing.assert_array_equal(first.mask.numpy(), expected["mask_with_bos_eos"])
    for layer in range(3):
        close(first.layers[layer], expected[f"bilm_layer{layer}_with_bos_eos"])
        without, mask = remove_sentence_boundaries(first.layers[layer], first.mask)
        close(without, expected[f"bilm_layer{layer}"])
        np.testing.assert_array_equal(mask.numpy(), expected["mask"])
    for layer in (1, 2):
        close(remove_sentence_boundaries(second.layers[layer], second.mask)[0], expected[f"bilm_call2_layer{layer}"])


@pytest.mark.parametrize("layer_norm, prefix", [(False, "elmo_rep"), (True, "elmo_ln_rep")])
def test_elmo_representations(tiny_elmo_dir, tokens, expected, layer_norm, prefix):
    elmo = Elmo.from_files(
        tiny_elmo_dir / "options.json",
        tiny_elmo_dir / "weights.hdf5",
        num_output_representations=2,
        dropout=0.0,
        do_layer_norm=layer_norm,
    )
    with torch.no_grad():
        for k, mix in enumerate(elmo.scalar_mixes):
            mix.scalar_parameters.copy_(torch.from_numpy(expected["scalar_mix_weights"][k]))
            mix.gamma.copy_(torch.tensor(float(expected["scalar_mix_gamma"][k])))
        output = elmo(batch_to_ids(tokens))
    np.testing.assert_array_equal(output["mask"].numpy(), expected["mask"])
    for k in range(2):
        close(output["elmo_representations"][k], expected[f"{prefix}{k}"])
