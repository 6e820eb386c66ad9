"""The ``Elmo`` module: a frozen biLM and one or more learned scalar mixes of its layers."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .bilm import ElmoBiLm, remove_sentence_boundaries
from .mix import ScalarMix
from .weights import load_bilm


class Elmo(nn.Module):
    """ELMo representations as in AllenNLP's ``Elmo`` (ELMO_SPEC.md section 7).

    Args:
        bilm: the biLM (frozen unless ``requires_grad``).
        num_output_representations: independent scalar mixes (e.g. one for a task's input layer
            and one for its output layer).
        requires_grad: fine-tune the biLM weights too.
        do_layer_norm: layer-normalise each biLM layer before mixing.
        dropout: inverted dropout on each representation (active in training mode).
        keep_sentence_boundaries: keep the ``<S>``/``</S>`` positions.
        scalar_mix_parameters: fixed pre-softmax mix weights (then every mix is frozen, gamma 1).
    """

    def __init__(
        self,
        bilm: ElmoBiLm,
        num_output_representations: int = 1,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        dropout: float = 0.5,
        keep_sentence_boundaries: bool = False,
        scalar_mix_parameters: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if num_output_representations < 1:
            raise ValueError(f"Elmo: num_output_representations must be >= 1, got {num_output_representations}")
        self.bilm = bilm.requires_grad_(requires_grad)
        self.keep_sentence_boundaries = keep_sentence_boundaries
        self.dropout = nn.Dropout(p=dropout)
        self.scalar_mixes = nn.ModuleList(
            ScalarMix(
                bilm.n_layers,
                do_layer_norm=do_layer_norm,
                initial_weights=scalar_mix_parameters,
                trainable=scalar_mix_parameters is None,
            )
            for _ in range(num_output_representations)
        )

    @classmethod
    def from_files(cls, options_path: str | Path, weights_path: str | Path, stateful: bool = False, **kwargs) -> "Elmo":
        """Load an official ``options.json`` + ``weights.hdf5`` pair."""
        return cls(load_bilm(options_path, weights_path, stateful=stateful), **kwargs)

    def forward(self, char_ids: torch.Tensor) -> dict[str, list[torch.Tensor] | torch.Tensor]:
        """Compute the representations.

        Args:
            char_ids: int64 ``[batch, time, 50]`` from :func:`~.chars.batch_to_ids`.

        Returns:
            ``{"elmo_representations": [batch, time, 2P] x num_output_representations,
            "mask": [batch, time] bool}`` (``time + 2`` with boundaries kept).
        """
        output = self.bilm(char_ids)
        mask = output.mask
        representations = []
        for mix in self.scalar_mixes:
            mixed = mix(output.layers, output.mask)
            if not self.keep_sentence_boundaries:
                mixed, mask = remove_sentence_boundaries(mixed, output.mask)
            representations.append(self.dropout(mixed))
        return {"elmo_representations": representations, "mask": mask}
