"""``ScalarMix``: a learned, softmax-weighted and scaled sum of the biLM layers (ELMO_SPEC.md s7)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ScalarMix(nn.Module):
    """``gamma * sum_j softmax(w)_j * A_j``, optionally layer-normalising each ``A_j`` first.

    With ``do_layer_norm`` each layer is normalised by one mean and one variance computed over all
    unmasked positions and all features of the whole batch (not per token), as AllenNLP does.

    Args:
        n_layers: number of layers mixed.
        do_layer_norm: normalise each layer before mixing.
        initial_weights: pre-softmax weights (default zeros: a uniform mix).
        initial_gamma: the scale (default 1).
        trainable: learn the weights and gamma (False freezes them).
    """

    def __init__(
        self,
        n_layers: int,
        do_layer_norm: bool = False,
        initial_weights: Sequence[float] | None = None,
        initial_gamma: float = 1.0,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if initial_weights is None:
            initial_weights = [0.0] * n_layers
        if len(initial_weights) != n_layers:
            raise ValueError(f"ScalarMix: {len(initial_weights)} initial weights given for {n_layers} layers")
        self.n_layers = n_layers
        self.do_layer_norm = do_layer_norm
        self.scalar_parameters = nn.Parameter(torch.tensor([float(w) for w in initial_weights]), requires_grad=trainable)
        self.gamma = nn.Parameter(torch.tensor(float(initial_gamma)), requires_grad=trainable)

    def layer_weights(self) -> torch.Tensor:
        """The softmax-normalised weights ``[n_layers]``."""
        return torch.softmax(self.scalar_parameters, dim=0)

    def forward(self, layers: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mix.

        Args:
            layers: ``[n_layers, batch, time, dim]``.
            mask: ``[batch, time]`` bool; required with ``do_layer_norm``.

        Returns:
            ``[batch, time, dim]``.
        """
        if layers.shape[0] != self.n_layers:
            raise ValueError(f"ScalarMix: expected {self.n_layers} layers, got {layers.shape[0]}")
        if self.do_layer_norm:
            if mask is None:
                raise ValueError("ScalarMix: do_layer_norm needs the mask")
            layers = self._normalise(layers, mask)
        weights = self.layer_weights().to(layers.dtype)
        return self.gamma.to(layers.dtype) * torch.einsum("l,lbtd->btd", weights, layers)

    @staticmethod
    def _normalise(layers: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weight = mask.to(layers.dtype)[None, :, :, None]  # [1, B, T, 1]
        count = weight.sum() * layers.shape[-1]
        mean = (layers * weight).sum(dim=(1, 2, 3), keepdim=True) / count
        variance = (((layers - mean) * weight) ** 2).sum(dim=(1, 2, 3), keepdim=True) / count
        return (layers - mean) / torch.sqrt(variance + 1e-13)
