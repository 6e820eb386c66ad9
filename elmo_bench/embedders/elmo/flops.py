"""Matrix-product FLOPs of the biLM, to turn tokens/s into an efficiency figure."""
from __future__ import annotations

from .options import ElmoOptions
from .chars import MAX_CHARS


def char_cnn_flops(options: ElmoOptions, n_chars: int = MAX_CHARS) -> int:
    """Multiply-adds x 2 to encode one token: convolutions over ``n_chars`` chars (the model's 50
    by definition; fewer where the encoder skips trailing padding), highway, projection."""
    d, F, P = options.char_embedding_dim, options.n_filters, options.projection_dim
    convolutions = sum(2 * (n_chars - width + 1) * width * d * n for width, n in options.filters)
    return convolutions + options.n_highway * 2 * F * 2 * F + 2 * F * P


def lstm_flops(options: ElmoOptions) -> int:
    """FLOPs of the biLSTM at one position: input, recurrent and projection products, both directions."""
    P, C = options.projection_dim, options.cell_dim
    per_direction_layer = 2 * P * 4 * C + 2 * P * 4 * C + 2 * C * P
    return 2 * options.n_layers * per_direction_layer


def model_flops_per_token(options: ElmoOptions) -> int:
    """The model's FLOPs per token as defined (char-CNN run for every token, plus the biLSTM)."""
    return char_cnn_flops(options) + lstm_flops(options)


def embedding_flops(options: ElmoOptions, tokens: int, distinct: int, sequences: int) -> int:
    """FLOPs the embedder does on ``tokens`` tokens (``distinct`` of them distinct) in
    ``sequences`` sentences: the char-CNN once per distinct token (and the two sentence markers),
    the biLSTM at every position of every sequence, markers included."""
    return char_cnn_flops(options) * (distinct + 2) + lstm_flops(options) * (tokens + 2 * sequences)
