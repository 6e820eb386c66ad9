"""The head's input layer: frozen embedder layers -> one word representation per token.

Every head starts with an :class:`EmbeddingInput`. It receives, for each embedder in the
comparison (ELMo, GloVe, or both), the cached layers ``[n_layers, batch, time, dim]``, learns a
scalar mix over them where the embedder has several (ELMo: softmax weights + gamma, with an L2
penalty on the weights as in the ELMo paper), applies that embedder's dropout, and concatenates the
results. The head owns the mix, so the embedder never knows which task uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from elmo_bench.embedders.elmo.mix import ScalarMix


@dataclass(frozen=True)
class InputSpec:
    """How the head uses one embedder's layers.

    Attributes:
        n_layers: layers the head receives from this embedder.
        dim: their width.
        mix: learn a :class:`ScalarMix` over the layers (required when ``n_layers > 1``).
        dropout: dropout on this embedder's word vectors (after the mix).
        mix_l2: weight of the L2 penalty on the mix's pre-softmax weights.
    """

    n_layers: int
    dim: int
    mix: bool
    dropout: float
    mix_l2: float = 0.0

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.dim < 1:
            raise ValueError(f"InputSpec: n_layers and dim must be positive, got {self}")
        if self.n_layers > 1 and not self.mix:
            raise ValueError(f"InputSpec: {self.n_layers} layers need mix=True to become one")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"InputSpec: dropout must be in [0, 1), got {self.dropout}")
        if self.mix_l2 < 0:
            raise ValueError(f"InputSpec: mix_l2 must be >= 0, got {self.mix_l2}")


@dataclass(frozen=True)
class WordInputs:
    """A batch of token sequences: their tokens, and their layers as the embedders computed them.

    Attributes:
        tokens: the tokens of each sequence (``len(tokens[b])`` real positions of row ``b``), for
            a head that reads more than the embedders' vectors (characters, say).
        layers: one float tensor ``[n_layers_i, batch, time, dim_i]`` per embedder; zeros at
            padding.
        mask: ``[batch, time]`` bool, True at real tokens.
    """

    tokens: list[list[str]]
    layers: tuple[torch.Tensor, ...]
    mask: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.tokens) != self.mask.shape[0]:
            raise ValueError(
                f"WordInputs: {len(self.tokens)} token sequences for a batch of {self.mask.shape[0]}"
            )

    @property
    def lengths(self) -> torch.Tensor:
        """``[batch]`` int64 number of tokens of each sequence."""
        return self.mask.sum(dim=1)


class EmbeddingInput(nn.Module):
    """Mixes, drops out and concatenates the embedders' layers.

    Args:
        specs: one :class:`InputSpec` per embedder, in the order of :attr:`WordInputs.layers`.
    """

    def __init__(self, specs: Sequence[InputSpec]) -> None:
        super().__init__()
        if not specs:
            raise ValueError("EmbeddingInput needs at least one embedder")
        self.specs = tuple(specs)
        self.mixes = nn.ModuleList(
            [ScalarMix(spec.n_layers) if spec.mix else nn.Identity() for spec in self.specs]
        )
        self.dropouts = nn.ModuleList([nn.Dropout(spec.dropout) for spec in self.specs])

    @property
    def output_dim(self) -> int:
        return sum(spec.dim for spec in self.specs)

    def forward(self, inputs: WordInputs) -> torch.Tensor:
        """``[batch, time, output_dim]``; zeros at padded positions."""
        if len(inputs.layers) != len(self.specs):
            raise ValueError(
                f"EmbeddingInput: layers of {len(inputs.layers)} embedders given, "
                f"{len(self.specs)} expected"
            )
        parts = []
        for spec, mix, dropout, layers in zip(
            self.specs, self.mixes, self.dropouts, inputs.layers, strict=True
        ):
            if layers.shape[0] != spec.n_layers or layers.shape[-1] != spec.dim:
                raise ValueError(
                    f"EmbeddingInput: expected layers [{spec.n_layers}, batch, time, {spec.dim}], "
                    f"got {tuple(layers.shape)}"
                )
            words = mix(layers, inputs.mask) if spec.mix else layers[0]
            parts.append(dropout(words))
        return torch.cat(parts, dim=-1) * inputs.mask.unsqueeze(-1)

    def regularization_loss(self) -> torch.Tensor:
        """``sum_i mix_l2_i * ||w_i||^2`` over the mixes' pre-softmax weights (a scalar)."""
        total = torch.zeros(())  # a 0-d CPU tensor adds to tensors on any device
        for spec, mix in zip(self.specs, self.mixes, strict=True):
            if spec.mix and spec.mix_l2 > 0:
                total = total + spec.mix_l2 * mix.scalar_parameters.pow(2).sum()
        return total

    def learned_mixes(self) -> list[dict[str, object] | None]:
        """Per embedder, the learned softmax layer weights and gamma (None where not mixed)."""
        return [
            {
                "layer_weights": [round(float(w), 6) for w in mix.layer_weights().detach()],
                "gamma": round(float(mix.gamma.detach()), 6),
            }
            if spec.mix
            else None
            for spec, mix in zip(self.specs, self.mixes, strict=True)
        ]
