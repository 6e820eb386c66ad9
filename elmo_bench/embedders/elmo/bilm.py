"""The bidirectional language model that ELMo reads its layers from (AllenNLP's ``_ElmoBiLm``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .chars import BOS_CHAR_IDS, EOS_CHAR_IDS
from .charcnn import CharCnnEncoder
from .lstm import ElmoLstm, LstmState
from .options import ElmoOptions


@dataclass
class BiLmOutput:
    """The biLM's layers, with the ``<S>``/``</S>`` positions.

    Attributes:
        layers: ``[L + 1, batch, time + 2, 2P]``; layer 0 is the token vector duplicated to both
            directions, layers 1..L the biLSTM outputs; zeros at padded positions.
        mask: ``[batch, time + 2]`` bool, True at ``<S>``, the tokens and ``</S>``.
    """

    layers: torch.Tensor
    mask: torch.Tensor


def add_sentence_boundaries(char_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame each row with ``<S>`` and ``</S>`` at its own length.

    Args:
        char_ids: int64 ``[batch, time, 50]``; a token is real when any id is > 0, and real tokens
            are contiguous from the left.

    Returns:
        ``(char_ids [batch, time + 2, 50], lengths [batch])`` with lengths counting the markers.
    """
    batch, time, width = char_ids.shape
    lengths = (char_ids > 0).any(-1).sum(-1)
    framed = char_ids.new_zeros(batch, time + 2, width)
    framed[:, 1:-1] = char_ids
    rows = torch.arange(batch, device=char_ids.device)
    framed[:, 0] = torch.tensor(BOS_CHAR_IDS, device=char_ids.device)
    framed[rows, lengths + 1] = torch.tensor(EOS_CHAR_IDS, device=char_ids.device)
    return framed, lengths + 2


def remove_sentence_boundaries(tensor: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the ``<S>``/``</S>`` positions.

    Args:
        tensor: ``[batch, time + 2, dim]``; mask: ``[batch, time + 2]`` with the markers.

    Returns:
        ``([batch, time, dim], mask [batch, time])``, zeros past each row's tokens.
    """
    lengths = mask.sum(-1) - 2
    time = tensor.shape[1] - 2
    token_mask = torch.arange(time, device=tensor.device)[None, :] < lengths[:, None]
    return tensor[:, 1:-1] * token_mask[..., None].to(tensor.dtype), token_mask


class ElmoBiLm(nn.Module):
    """Char-CNN token encoder + biLSTM, giving ``L + 1`` layers per token.

    Stateless by default: every call starts the LSTMs from zero, so a sentence gets the same
    vectors in any batch. With ``stateful=True`` it carries each batch row's final LSTM state into
    the next call as AllenNLP's ``ElmoLstm`` does (matched by row index; see ELMO_SPEC.md section 5),
    which is only useful for parity with AllenNLP.
    """

    def __init__(self, options: ElmoOptions, stateful: bool = False) -> None:
        super().__init__()
        self.options = options
        self.stateful = stateful
        self.token_encoder = CharCnnEncoder(options)
        self.lstm = ElmoLstm(options)
        self._state: LstmState | None = None

    @property
    def n_layers(self) -> int:
        return self.options.n_layers + 1

    @property
    def output_dim(self) -> int:
        return self.options.output_dim

    def reset_states(self) -> None:
        """Forget the carried-over LSTM state (stateful mode)."""
        self._state = None

    def encode_tokens(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Token vectors, running the char-CNN once per distinct token of the input.

        Args:
            char_ids: int64 ``[..., 50]``.

        Returns:
            ``[..., P]``.
        """
        flat = char_ids.reshape(-1, char_ids.shape[-1])
        distinct, inverse = torch.unique(flat, dim=0, return_inverse=True)
        vectors = self.token_encoder(distinct)[inverse]
        return vectors.reshape(*char_ids.shape[:-1], -1)

    def forward(self, char_ids: torch.Tensor) -> BiLmOutput:
        """``char_ids``: int64 ``[batch, time, 50]`` (as :func:`~.chars.batch_to_ids`)."""
        framed, lengths = add_sentence_boundaries(char_ids)
        return self.forward_token_vectors(self.encode_tokens(framed), lengths)

    def forward_token_vectors(
        self, token_vectors: torch.Tensor, lengths: torch.Tensor, segment_starts: torch.Tensor | None = None
    ) -> BiLmOutput:
        """Run the biLSTM on precomputed token vectors.

        Args:
            token_vectors: ``[batch, time + 2, P]`` including the ``<S>``/``</S>`` vectors.
            lengths: int ``[batch]`` real lengths including the two markers.
            segment_starts: bool ``[batch, time + 2]``: rows packed with several framed sentences,
                each run from a zero state (see :meth:`ElmoLstm.forward`).
        """
        time = token_vectors.shape[1]
        mask = torch.arange(time, device=token_vectors.device)[None, :] < lengths[:, None].to(token_vectors.device)
        initial = self._initial_state(token_vectors.shape[0]) if self.stateful else None
        lstm_layers, final = self.lstm(token_vectors, lengths, initial, segment_starts)
        if self.stateful:
            self._update_state(final)
        layer0 = torch.cat([token_vectors, token_vectors], dim=-1) * mask[..., None].to(token_vectors.dtype)
        return BiLmOutput(torch.stack([layer0, *lstm_layers]), mask)

    def _initial_state(self, batch: int) -> LstmState | None:
        if self._state is None:
            return None
        hidden, memory = self._state.hidden, self._state.memory
        stored = hidden.shape[2]
        if stored >= batch:
            return LstmState(hidden[:, :, :batch], memory[:, :, :batch])
        grow = batch - stored
        return LstmState(
            torch.cat([hidden, hidden.new_zeros(*hidden.shape[:2], grow, hidden.shape[3])], dim=2),
            torch.cat([memory, memory.new_zeros(*memory.shape[:2], grow, memory.shape[3])], dim=2),
        )

    def _update_state(self, final: LstmState) -> None:
        """Store each row's final state; stored rows beyond this batch keep theirs.

        Every row of a batch runs (the ``<S>``/``</S>`` markers give it length >= 2), so all of
        this batch's rows are replaced.
        """
        final = LstmState(final.hidden.detach(), final.memory.detach())
        if self._state is None:
            self._state = final
            return
        hidden, memory = self._state.hidden.clone(), self._state.memory.clone()
        batch = final.hidden.shape[2]
        if hidden.shape[2] < batch:
            hidden = torch.cat([hidden, final.hidden[:, :, hidden.shape[2] :]], dim=2)
            memory = torch.cat([memory, final.memory[:, :, memory.shape[2] :]], dim=2)
        hidden[:, :, :batch] = final.hidden
        memory[:, :, :batch] = final.memory
        self._state = LstmState(hidden, memory)
