"""ELMo with its biLM unfrozen: the layers of a batch computed with gradients, inside the head.

A frozen embedder's layers are computed once and cached; an unfrozen biLM changes at every step, so
its layers are computed for every batch, training and evaluation, and the task's loss trains the
char-CNN and the biLSTM along with the head (at the lower learning rate
``training.embedder_learning_rate``). The head owns the module (as ``unfrozen_embedder``), so the
optimizer, gradient clipping and the best-epoch state restore cover it with the head.

The char-CNN runs once per distinct token of a batch through the pretraining kernel
(:func:`~elmo_bench.pretrain.charcnn_kernel.encode_distinct_tokens`, whose backward is 3x faster than
autograd through the core modules); the biLSTM is the core
:class:`~elmo_bench.embedders.elmo.lstm.ElmoLstm`, which handles rows of different lengths.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from elmo_bench.embedders.elmo.bilm import ElmoBiLm
from elmo_bench.embedders.elmo.chars import BOS_TOKEN, EOS_TOKEN, token_char_ids
from elmo_bench.embedders.elmo.embedder import framed_token_index
from elmo_bench.pretrain.charcnn_kernel import encode_distinct_tokens


class UnfrozenElmo(nn.Module):
    """A trainable float32 copy of a biLM that embeds batches of token sequences.

    Args:
        bilm: the pretrained biLM (copied; the original stays as it is).
    """

    def __init__(self, bilm: ElmoBiLm) -> None:
        super().__init__()
        if bilm.stateful:
            raise ValueError("UnfrozenElmo needs a stateless biLM (stateful=False)")
        self.bilm = copy.deepcopy(bilm).float().requires_grad_(True)

    def forward(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[L + 1, batch, max_len, 2P]`` layers of non-empty ``sentences`` (boundaries removed,
        zeros past each sentence's end)."""
        if not sentences or any(len(sentence) == 0 for sentence in sentences):
            raise ValueError("UnfrozenElmo: every sentence needs at least one token")
        device = next(self.parameters()).device
        row_of: dict[str, int] = {BOS_TOKEN: 0, EOS_TOKEN: 1}
        for sentence in sentences:
            for token in sentence:
                row_of.setdefault(token, len(row_of))
        char_ids = torch.tensor([token_char_ids(token) for token in row_of], device=device)
        vectors = encode_distinct_tokens(self.bilm.token_encoder, char_ids)  # [U, P]
        index, lengths = framed_token_index(sentences, row_of)
        output = self.bilm.forward_token_vectors(vectors[index.to(device)], lengths)
        mask = output.mask[:, 2:].to(output.layers.dtype)  # [B, max_len]: True up to each length
        return output.layers[:, :, 1:-1] * mask[None, :, :, None]
