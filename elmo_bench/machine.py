"""What the benchmarks measure the machine by: its own matrix-multiply throughput and this
process's resident memory, so that speed and memory figures are ratios taken in the same run."""
from __future__ import annotations

import os
import time

import torch


def matmul_flops_per_second(dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of one ``size`` x ``size`` square product in ``dtype``, best of ``repeats`` (after one
    warm-up product), with torch's current thread count."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def rss_mb() -> float:
    """This process's resident memory now, in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
