"""A run's place among its data-parallel processes: one process, or a rank of a ``torchrun``
launch (DDP over nccl on GPUs, gloo on CPUs)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (float64)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()


def init_distributed(device: str | None = None) -> DistributedContext:
    """The process group of a ``torchrun`` launch (nccl on GPU, gloo on CPU), or one process.

    Reads the ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` variables that torchrun sets.
    ``device``: ``"cpu"`` or ``"cuda"`` (checked by the caller); None: CUDA when available.
    """
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext(0, 1, torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), device)
