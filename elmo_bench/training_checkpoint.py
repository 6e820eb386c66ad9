"""A head's training saved after every epoch, so that a killed cell resumes after its last finished
epoch and ends exactly as an uninterrupted one (the same losses, dev scores, kept epoch and
predictions).

The file holds what the next epoch depends on: the head's and the optimizer's states, the kept
(best) head state, the epochs so far, the batch-order generator and the process's random states
(:mod:`elmo_bench.random_states`; dropout draws from torch's). It is written atomically, so a kill
leaves the previous epoch's file whole. A file that cannot be read, is of another version or belongs
to another cell is moved aside (``*.corrupt-<time>``) with a warning and training starts at epoch 1:
it is never used.

:func:`elmo_bench.runner.grid.run_cell_spec` gives every cell one, named by the cell's settings
fingerprint under the cache's ``training/`` folder, and removes it once the cell's result is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from elmo_bench.atomic import corrupt_suffix, write_atomically

CHECKPOINT_VERSION = 1
TRAINING_CHECKPOINTS_DIR = "training"
"""The cache's subfolder of the head-training checkpoints."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochCheckpoint:
    """One cell's head-training checkpoint.

    Attributes:
        path: the file.
        cell: what the file must belong to (task, embedder, seed, settings fingerprint); a file
            saved for anything else is not used.
    """

    path: Path
    cell: dict[str, Any]

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (tensors, dicts, lists, numbers) with this cell's identity, atomically."""
        payload = {"version": CHECKPOINT_VERSION, "cell": self.cell, **state}
        write_atomically(self.path, lambda temporary: torch.save(payload, temporary))

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none or it cannot be used (then it is moved aside
        with a warning)."""
        if not self.path.is_file():
            return None
        try:
            # Our own file in the user's cache (it holds NumPy's generator state, which the
            # weights-only unpickler refuses).
            payload = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as error:  # a damaged pickle raises many types; none of them is usable
            problem = f"unreadable ({type(error).__name__}: {error})"
        else:
            if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
                problem = f"not a head-training checkpoint of version {CHECKPOINT_VERSION}"
            elif payload.get("cell") != self.cell:
                problem = f"saved for {payload.get('cell')}, not for {self.cell}"
            else:
                return payload
        aside = self.path.with_name(self.path.name + corrupt_suffix())
        self.path.rename(aside)
        logger.warning("training checkpoint %s: %s; moved aside (%s), the head trains from epoch 1",
                       self.path, problem, aside.name)
        return None

    def remove(self) -> None:
        """Delete the file (the cell's result is written; nothing will resume from it)."""
        self.path.unlink(missing_ok=True)
