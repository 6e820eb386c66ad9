"""Where elmo-bench reads data and keeps downloads, and their defaults from the environment.

:class:`DataFolders` is what travels down the data path (a grid cell, a task, its readers); the
entry points (the command line, the resolution of a preset's folders) make it, from
``ELMO_BENCH_DATA`` and ``ELMO_BENCH_CACHE`` by default (:meth:`DataFolders.from_environment`).
Downloads of published weights and vectors go to :func:`cache_dir`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DataFolders:
    """Where the datasets of tasks are read from.

    Attributes:
        data_dir: the local folder of original datasets, laid out like the shared ``data/``
            folder (docs/data.md); None: there is none, every split comes from the Hub.
        cache_dir: the elmo-bench cache; its ``hub/`` keeps the copies made from the Hub.
    """

    data_dir: Path | None
    cache_dir: Path

    @classmethod
    def from_environment(cls) -> DataFolders:
        """``ELMO_BENCH_DATA`` and ``ELMO_BENCH_CACHE``: the default of an entry point."""
        return cls(data_dir(), cache_dir())
