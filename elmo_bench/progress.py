"""Download progress that reaches logs too: a bar on a terminal, log lines elsewhere.

tqdm draws nothing when stderr is not a terminal (a batch job, ``nohup``, CI), so a 2 GB download
there was silent for many minutes. :func:`byte_progress` returns tqdm's bar on a terminal and
otherwise a :class:`LoggedProgress`, which logs the bytes received at every tenth of the file and
at least every 30 seconds.
"""
from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

from tqdm import tqdm

logger = logging.getLogger("elmo_bench.download")

_LOG_EVERY_SECONDS = 30.0
_LOG_EVERY_FRACTION = 0.1


def _size(count: float) -> str:
    return f"{count / 2**20:,.1f} MiB"


class LoggedProgress:
    """A byte counter with tqdm's ``update`` and context-manager interface that logs its progress."""

    def __init__(self, total: int | None, initial: int, desc: str) -> None:
        self.total, self.count, self.desc = total, initial, desc
        self._started = self._logged_at = time.monotonic()
        self._next_fraction = _LOG_EVERY_FRACTION
        if total:
            while self._next_fraction <= initial / total:
                self._next_fraction += _LOG_EVERY_FRACTION
        resumed = f", resuming after {_size(initial)}" if initial else ""
        logger.info("%s: downloading %s%s", desc, _size(total) if total else "(size unknown)",
                    resumed)

    def update(self, count: int) -> None:
        self.count += count
        now = time.monotonic()
        fraction = self.count / self.total if self.total else None
        if (fraction is not None and fraction >= self._next_fraction) or (
            now - self._logged_at >= _LOG_EVERY_SECONDS
        ):
            self._log(now)
            while fraction is not None and self._next_fraction <= fraction:
                self._next_fraction += _LOG_EVERY_FRACTION

    def _log(self, now: float) -> None:
        self._logged_at = now
        rate = self.count / max(now - self._started, 1e-9)
        share = f" of {_size(self.total)} ({100 * self.count / self.total:.0f}%)" if self.total else ""
        logger.info("%s: %s%s, %s/s", self.desc, _size(self.count), share, _size(rate))

    def __enter__(self) -> "LoggedProgress":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None and (not self.total or self.count < self.total * (1 - 1e-9)):
            self._log(time.monotonic())


def byte_progress(total: int | None, initial: int, desc: str) -> Any:
    """A progress counter of bytes: tqdm's bar on a terminal, :class:`LoggedProgress` otherwise."""
    if sys.stderr.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True,
                    unit_divisor=1024)
    return LoggedProgress(total, initial, desc)
