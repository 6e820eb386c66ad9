"""Where elmo-bench reads data and keeps downloads: both settable from the environment."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path | None:
    """The folder of original datasets (``ELMO_BENCH_DATA``), or None when it is not set."""
    value = os.environ.get("ELMO_BENCH_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The download and embedding cache (``ELMO_BENCH_CACHE``, default ``~/.cache/elmo-bench``)."""
    value = os.environ.get("ELMO_BENCH_CACHE")
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "elmo-bench"
    return path
