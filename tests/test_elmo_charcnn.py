"""The char-CNN skips trailing padding positions without changing its features or gradients."""
import pytest
import torch

from elmo_bench.embedders.elmo.charcnn import CharCnnEncoder, pooled_char_length
from elmo_bench.embedders.elmo.chars import CHAR_PAD, MAX_CHARS, token_char_ids
from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.pretrain.charcnn_kernel import encode_distinct_tokens

TOKENS = ["a", "of", "<S>", "elephant", "x" * 60, "naïve"]


@pytest.fixture
def encoder() -> CharCnnEncoder:
    torch.manual_seed(0)
    options = ElmoOptions(cell_dim=8, projection_dim=4, n_layers=1, cell_clip=3, proj_clip=3,
                          char_embedding_dim=3, filters=((1, 4), (3, 5), (7, 6)), n_highway=1)
    encoder = CharCnnEncoder(options)
    with torch.no_grad():
        # A large padding embedding: for about half the filters an all-padding window is the
        # maximum, so dropping the last all-padding window would change the features.
        encoder.char_embedding.weight[CHAR_PAD + 1] = torch.tensor([4.0, -3.0, 5.0])
    return encoder


def full_width_features(encoder: CharCnnEncoder, char_ids: torch.Tensor) -> torch.Tensor:
    """The definition: every convolution over all 50 positions, max-pooled. ``[n, 50]`` -> ``[n, F]``."""
    embedded = encoder.char_embedding(char_ids).transpose(1, 2)
    return encoder.activation(torch.cat([conv(embedded).amax(dim=-1) for conv in encoder.convolutions], dim=-1))


def char_ids_of(tokens: list[str]) -> torch.Tensor:
    return torch.tensor([token_char_ids(t) for t in tokens])


def test_pooled_length_keeps_the_widest_filter_past_the_longest_word():
    assert pooled_char_length(char_ids_of(["a", "of"]), max_width=7) == 4 + 7  # <bow> o f <eow>
    assert pooled_char_length(char_ids_of(["a", "x" * 60]), max_width=7) == MAX_CHARS
    assert pooled_char_length(torch.zeros(2, MAX_CHARS, dtype=torch.long), max_width=7) == 7  # missing tokens


def test_features_equal_the_full_width_convolution(encoder):
    char_ids = torch.cat([char_ids_of(TOKENS), torch.zeros(1, MAX_CHARS, dtype=torch.long)])
    with torch.no_grad():
        expected = full_width_features(encoder, char_ids)
        short = char_ids_of(["a", "of"])
        assert torch.allclose(encoder.convolve(short), full_width_features(encoder, short), atol=1e-6)
        assert torch.allclose(encoder.convolve(char_ids), expected, atol=1e-6)
        # The check has teeth: without the trailing all-padding window the maximum changes.
        clipped = short[:, : pooled_char_length(short, 7) - 1]
        embedded = encoder.char_embedding(clipped).transpose(1, 2)
        clipped_features = torch.cat([conv(embedded).amax(-1) for conv in encoder.convolutions], -1)
        assert not torch.allclose(encoder.activation(clipped_features), full_width_features(encoder, short), atol=1e-3)


def test_pretraining_encoder_gradients_equal_the_full_width_ones(encoder):
    char_ids = char_ids_of(TOKENS)
    embedded = encoder.char_embedding(char_ids).transpose(1, 2)
    pooled = torch.cat([conv(embedded).amax(dim=-1) for conv in encoder.convolutions], dim=-1)
    reference = encoder.projection(encoder.highway(encoder.activation(pooled)))
    ours = encode_distinct_tokens(encoder, char_ids)
    assert torch.allclose(ours, reference, atol=1e-5)
    weights = torch.randn_like(reference)
    expected_grads = torch.autograd.grad((reference * weights).sum(), list(encoder.parameters()))
    actual_grads = torch.autograd.grad((ours * weights).sum(), list(encoder.parameters()))
    for expected, actual in zip(expected_grads, actual_grads):
        assert torch.allclose(expected, actual, atol=1e-4, rtol=1e-4)
