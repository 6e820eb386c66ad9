"""Running an LSTM over padded batches without letting padding into its states."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def bidirectional_lstm(input_size: int, hidden_size: int, layers: int, dropout: float) -> nn.LSTM:
    """A batch-first BiLSTM; ``dropout`` between stacked layers (none for one layer)."""
    return nn.LSTM(
        input_size,
        hidden_size,
        num_layers=layers,
        bidirectional=True,
        batch_first=True,
        dropout=dropout if layers > 1 else 0.0,
    )


def run_lstm(lstm: nn.LSTM, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``lstm`` over ``inputs [B, T, D]`` packed by ``mask [B, T]`` (so padding never enters the
    backward direction's state); returns ``[B, T, hidden]`` with zeros at padding. Every row needs
    at least one real token."""
    lengths = mask.sum(dim=1).cpu()
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    output, _ = lstm(packed)
    output, _ = pad_packed_sequence(output, batch_first=True, total_length=inputs.shape[1])
    return output
