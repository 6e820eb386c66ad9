"""Where models run, chosen on purpose: ``--device`` for every command, and what a cell records.

``auto`` picks the first CUDA GPU when torch can use one, else the CPU, and says which it chose and
why. Asking for CUDA where torch cannot use it is one line naming the torch build and what to do
(install a CUDA build, or a driver that supports it), not a traceback from deep inside a model.
"""
from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from typing import Any

import torch

from elmo_bench.settings import SettingsError

CHOICES = ("auto", "cpu", "cuda")
CUDA_INSTALL = "https://pytorch.org/get-started/locally/"


class DeviceError(SettingsError):
    """A device that this torch cannot use (one line: the build, and what to install)."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _torch_build() -> str:
    cuda = torch.version.cuda
    return f"torch {torch.__version__} ({f'built for CUDA {cuda}' if cuda else 'a CPU-only build'})"


def _why_no_cuda() -> str:
    if torch.version.cuda is None:
        return (f"this is {_torch_build()}; install a CUDA build of torch ({CUDA_INSTALL}, e.g. "
                "pip install torch --index-url https://download.pytorch.org/whl/cu128)")
    return (f"{_torch_build()} sees no GPU: no NVIDIA driver, a driver too old for CUDA "
            f"{torch.version.cuda}, or CUDA_VISIBLE_DEVICES hides the GPUs (check nvidia-smi)")


def resolve_device(device: str, log: Callable[[str], None] | None = _stderr,
                   what: str = "--device") -> str:
    """``auto`` -> ``cuda`` when torch can use a GPU, else ``cpu`` (said through ``log``); other
    names are checked and passed through.

    Raises:
        DeviceError: ``cuda``/``cuda:N`` where torch has no usable GPU, or an unknown device.
    """
    if device == "auto":
        if torch.cuda.is_available():
            chosen, reason = "cuda", torch.cuda.get_device_name(0)
        else:
            chosen, reason = "cpu", _why_no_cuda().split(";")[0]
        if log is not None:
            log(f"{what} auto: using {chosen} ({reason})")
        return chosen
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"{what} {device}: {_why_no_cuda()}; or use {what} cpu")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceError(f"{what} {device}: torch sees {torch.cuda.device_count()} GPU(s), "
                              f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return device
    raise DeviceError(f"{what} {device!r} is not a device; use one of {', '.join(CHOICES)} "
                      "(or cuda:N)")


def add_device_argument(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--device`` (auto, cpu, cuda, cuda:N) for ELMo, the transformer and the heads together."""
    parser.add_argument(
        "--device", default=default,
        help="where ELMo, the transformer and the heads run: auto (a GPU when torch can use one; "
        "prints its choice), cpu, cuda or cuda:N" + (f" (default {default})" if default else
                                                     " (default: the preset's)"),
    )


def start_peak_memory(device: str) -> None:
    """Start counting the GPU's peak memory for a cell (nothing on the CPU)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def device_record(device: str) -> dict[str, Any]:
    """What a cell records about where it ran: the device, its name and (GPU) peak memory."""
    if device.startswith("cuda"):
        target = torch.device(device)
        return {
            "device": device,
            "name": torch.cuda.get_device_name(target),
            "gpu_peak_memory_bytes": int(torch.cuda.max_memory_allocated(target)),
            "torch_cuda": torch.version.cuda,
        }
    return {"device": device, "name": _cpu_name(), "gpu_peak_memory_bytes": None,
            "torch_cuda": torch.version.cuda}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
