"""What a pretraining run's checkpoint holds besides weights and optimizer (its position, the random
states), its file name and version, and reading it back."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from elmo_bench.pretrain.bilm.errors import PretrainError

CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainingPosition:
    """Where a run is: everything besides weights and optimizer that resuming needs."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0  # targets per direction, all ranks
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by
    :meth:`~elmo_bench.pretrain.bilm.trainer.BiLmTrainer.save_checkpoint`.

    Raises:
        PretrainError: the file is missing, unreadable or not a biLM checkpoint of this version.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError as error:
        raise PretrainError(f"{path}: no checkpoint to resume from") from error
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise PretrainError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("version") != CHECKPOINT_VERSION:
        raise PretrainError(f"{path}: not a biLM checkpoint of version {CHECKPOINT_VERSION}")
    return checkpoint
