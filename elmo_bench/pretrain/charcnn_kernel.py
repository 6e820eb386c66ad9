"""The char CNN as pretraining runs it: each convolution and its max-pool as one product, with a
hand-written backward pass.

:func:`encode_distinct_tokens` computes what the core
:class:`~elmo_bench.embedders.elmo.charcnn.CharCnnEncoder` computes, with the convolutions of
:class:`_ConvolutionMaxPool`; a test checks it against the core, which the exported model uses at
inference. Its sibling for the biLSTM is :mod:`elmo_bench.pretrain.lstm_kernel`.
"""
from __future__ import annotations

from typing import Any

import torch

from elmo_bench.embedders.elmo.charcnn import CharCnnEncoder, pooled_char_length


class _ConvolutionMaxPool(torch.autograd.Function):
    """``max over positions of conv1d(embedded)`` (with bias) as one matrix product, with a backward
    pass that only routes each filter's gradient to its arg-max window.

    Same result as the core's ``Conv1d`` + ``amax`` (up to float summation order); autograd through
    those takes 3x longer on the CPU here (the ``amax`` backward and the convolution backward
    both work on the dense ``[tokens, filters, positions]`` tensor). On ties (char-padding
    positions give equal scores) the gradient goes to one of the tied positions, where ``amax``
    splits it; both are valid subgradients.
    """

    @staticmethod
    def forward(ctx: Any, embedded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``embedded``: ``[N, chars, d]``; ``weight``: ``[n, d, width]``; ``bias``: ``[n]`` -> ``[N, n]``."""
        n_tokens, n_chars, dim = embedded.shape
        n_filters, _, width = weight.shape
        positions = n_chars - width + 1
        windows = embedded.unfold(1, width, 1).reshape(n_tokens * positions, dim * width)  # [N L, d w]
        kernel = weight.reshape(n_filters, dim * width)
        pooled, where = (windows @ kernel.t()).view(n_tokens, positions, n_filters).max(dim=1)
        ctx.save_for_backward(windows, kernel, where)
        ctx.sizes = (n_tokens, n_chars, dim, width, positions)
        return pooled + bias

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        windows, kernel, where = ctx.saved_tensors
        n_tokens, n_chars, dim, width, positions = ctx.sizes
        n_filters = grad.shape[1]
        grad_scores = grad.new_zeros(n_tokens, positions, n_filters)
        grad_scores.scatter_(1, where[:, None, :], grad[:, None, :])
        grad_scores = grad_scores.view(n_tokens * positions, n_filters)
        grad_weight = (grad_scores.t() @ windows).view(n_filters, dim, width)
        grad_windows = (grad_scores @ kernel).view(n_tokens, positions, dim, width)
        grad_embedded = grad.new_zeros(n_tokens, n_chars, dim)
        for offset in range(width):
            grad_embedded[:, offset : offset + positions] += grad_windows[..., offset]
        return grad_embedded, grad_weight, grad.sum(0)


def encode_distinct_tokens(encoder: CharCnnEncoder, char_ids: torch.Tensor) -> torch.Tensor:
    """:class:`CharCnnEncoder`'s forward with the convolutions of :class:`_ConvolutionMaxPool`.

    Args:
        encoder: the biLM's char CNN (its parameters are used as they are).
        char_ids: int64 ``[U, 50]``.

    Returns:
        ``[U, P]`` token vectors.
    """
    char_ids = char_ids[:, : pooled_char_length(char_ids, encoder.options.max_filter_width)]
    embedded = encoder.char_embedding(char_ids)  # [U, chars <= 50, d]
    pooled = [_ConvolutionMaxPool.apply(embedded, conv.weight, conv.bias) for conv in encoder.convolutions]
    return encoder.projection(encoder.highway(encoder.activation(torch.cat(pooled, dim=-1))))
