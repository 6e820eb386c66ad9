"""The context-independent token encoder: characters -> CNN -> max-pool -> highway -> projection."""
from __future__ import annotations

import torch
from torch import nn

from .chars import CHAR_PAD, N_CHAR_IDS
from .options import ElmoOptions

# A token's ids after its end-of-word are all the (shifted) char padding id; a missing token is all 0.
_PADDING_IDS = (0, CHAR_PAD + 1)


def pooled_char_length(char_ids: torch.Tensor, max_width: int) -> int:
    """How many leading character positions give the same max-pooled features as all of them.

    Past a token's last real character (its end-of-word id) come padding ids, so every window that
    starts there sees the same input and scores the same. Keeping ``max_width`` positions past the
    longest token of the batch keeps, for every filter width, all windows that touch a real
    character and at least one all-padding window (when the full 50 have one): the maximum over
    positions, and so the result, is unchanged. For words of 5-10 characters this cuts the
    convolutions' work about threefold (the largest part of the char-CNN's).

    Args:
        char_ids: int64 ``[n_tokens, n_chars]`` shifted character ids.
        max_width: the widest filter.

    Returns:
        the number of leading positions to keep, at most ``n_chars``.
    """
    n_chars = char_ids.shape[-1]
    real = (char_ids != _PADDING_IDS[0]) & (char_ids != _PADDING_IDS[1])
    positions = real.any(dim=0).nonzero()
    longest = int(positions.max()) + 1 if len(positions) else 0
    return min(n_chars, longest + max_width)


class Highway(nn.Module):
    """Highway layers in AllenNLP's convention: ``y = g * x + (1 - g) * relu(W_h x + b_h)``.

    Each layer is one ``Linear(F, 2F)`` whose first half is the transform branch and second half the
    carry gate ``g``. The nonlinearity is always ReLU, as in bilm-tf, whatever the CNN activation.
    """

    def __init__(self, dim: int, n_layers: int) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(n_layers))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs``: ``[..., F]`` -> ``[..., F]``."""
        current = inputs
        for layer in self.layers:
            transform, gate = layer(current).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            current = gate * current + (1 - gate) * torch.relu(transform)
        return current


class CharCnnEncoder(nn.Module):
    """Maps the 50 character ids of each token to a ``P``-dim vector (ELMo's layer 0).

    Char embedding (row 0 is the zero padding row) -> one Conv1d per filter width -> max over all
    positions -> activation -> concatenation (``F`` wide) -> highway -> linear projection to ``P``.
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        self.char_embedding = nn.Embedding(N_CHAR_IDS, options.char_embedding_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(
            nn.Conv1d(options.char_embedding_dim, n_filters, width) for width, n_filters in options.filters
        )
        self.activation = torch.relu if options.activation == "relu" else torch.tanh
        self.highway = Highway(options.n_filters, options.n_highway)
        self.projection = nn.Linear(options.n_filters, options.projection_dim)

    def convolve(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Max-pooled CNN features.

        Args:
            char_ids: int64 ``[n_tokens, 50]`` shifted character ids.

        Returns:
            ``[n_tokens, F]``: per filter, activation(max over positions of the convolution).
            Positions that cannot change the maximum are skipped (:func:`pooled_char_length`).
        """
        char_ids = char_ids[:, : pooled_char_length(char_ids, self.options.max_filter_width)]
        embedded = self.char_embedding(char_ids).transpose(1, 2)  # [n_tokens, d, chars <= 50]
        pooled = [conv(embedded).amax(dim=-1) for conv in self.convolutions]
        return self.activation(torch.cat(pooled, dim=-1))

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``char_ids``: int64 ``[..., 50]`` -> token vectors ``[..., P]``."""
        flat = char_ids.reshape(-1, char_ids.shape[-1])
        vectors = self.projection(self.highway(self.convolve(flat)))
        return vectors.reshape(*char_ids.shape[:-1], -1)
