"""Where each dataset split is read from, and the sha256 that records which file it was.

A split is read from the local data folder (:attr:`~elmo_bench.paths.DataFolders.data_dir`, by
default ``ELMO_BENCH_DATA``, laid out like the project's shared ``data/`` folder) when the file is
there. Otherwise it comes from a pinned Hugging Face Hub dataset, rewritten once into the cache in
the original file format (see :mod:`elmo_bench.data.hub`). When neither works, one
:class:`DataSourceError` lists what was tried and how to fix it.

Hub pins: ``rajpurkar/squad`` is pinned to a commit. The other three were published as loading
scripts, which ``datasets`` 3 and later no longer run; their Hub-made Parquet export
(``refs/convert/parquet``) is what can still be loaded. That is a branch, not a commit, so each
split's row count is pinned as well and checked on download.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.data import hub
from elmo_bench.data.errors import DataSourceError
from elmo_bench.data.hub import HubDataset, HubSplit
from elmo_bench.errors import UsageError
from elmo_bench.paths import DataFolders

logger = logging.getLogger(__name__)

LOCAL = "local"
"""The ``origin`` of a split read from the local data folder."""


@dataclass(frozen=True)
class DatasetSource:
    """Where one dataset lives: ``files`` maps each split to its path inside the data folder."""

    name: str
    files: Mapping[str, str]
    hub: HubDataset


SOURCES: Mapping[str, DatasetSource] = {
    source.name: source
    for source in (
        DatasetSource(
            name="conll2003",
            files={
                "train": "conll2003/train.txt",
                "dev": "conll2003/dev.txt",
                "test": "conll2003/test.txt",
            },
            hub=HubDataset(
                repo_id="eriktks/conll2003",
                revision="refs/convert/parquet",
                data_files="conll2003/{split}/*.parquet",
                splits={
                    "train": HubSplit("train", 14041),
                    "dev": HubSplit("validation", 3250),
                    "test": HubSplit("test", 3453),
                },
            ),
        ),
        DatasetSource(
            name="sst",
            files={
                "train": "sst/trees/train.txt",
                "dev": "sst/trees/dev.txt",
                "test": "sst/trees/test.txt",
            },
            hub=HubDataset(
                repo_id="stanfordnlp/sst",
                revision="refs/convert/parquet",
                data_files="ptb/{split}/*.parquet",
                splits={
                    "train": HubSplit("train", 8544),
                    "dev": HubSplit("validation", 1101),
                    "test": HubSplit("test", 2210),
                },
            ),
        ),
        DatasetSource(
            name="trec",
            files={"train": "trec/train_5500.label", "test": "trec/TREC_10.label"},
            hub=HubDataset(
                repo_id="CogComp/trec",
                revision="refs/convert/parquet",
                data_files="default/{split}/*.parquet",
                splits={"train": HubSplit("train", 5452), "test": HubSplit("test", 500)},
            ),
        ),
        DatasetSource(
            name="squad",
            files={"train": "squad-v1.1/train-v1.1.json", "dev": "squad-v1.1/dev-v1.1.json"},
            hub=HubDataset(
                repo_id="rajpurkar/squad",
                revision="7b6d24c440a36b6815f21b70d25016731768db1f",
                data_files="plain_text/{split}-*.parquet",
                splits={"train": HubSplit("train", 87599), "dev": HubSplit("validation", 10570)},
            ),
        ),
    )
}


@dataclass(frozen=True)
class SplitFile:
    """The file a split was read from; ``origin``: ``"local"`` or the Hub dataset it came from."""

    dataset: str
    split: str
    path: Path
    origin: str

    def sha256(self) -> str:
        return file_sha256(self.path)

    def provenance(self) -> dict[str, str]:
        """What a result records about its data: dataset, split, origin, path and sha256."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": self.sha256(),
        }


def dataset_source(dataset: str, split: str) -> DatasetSource:
    """The source of ``dataset``, after checking that it has ``split``."""
    if dataset not in SOURCES:
        raise UsageError(f"unknown dataset {dataset!r}; expected one of {', '.join(SOURCES)}")
    source = SOURCES[dataset]
    if split not in source.files:
        raise UsageError(
            f"unknown split {split!r} for dataset {dataset!r}; "
            f"expected one of {', '.join(source.files)}"
        )
    return source


def _hub_cache_dir(hub_dataset: HubDataset, cache_dir: Path) -> Path:
    revision = hub_dataset.revision.replace("/", "--")
    return cache_dir / "hub" / f"{hub_dataset.repo_id.replace('/', '--')}@{revision}"


def split_file(dataset: str, split: str, folders: DataFolders) -> SplitFile:
    """Find in ``folders.data_dir`` (or fetch from the Hub into ``folders.cache_dir``) the file
    holding ``split`` of ``dataset``.

    Raises:
        ValueError: unknown dataset or split.
        DataSourceError: neither the local folder nor the Hub could provide the file.
    """
    source = dataset_source(dataset, split)
    relative_path = source.files[split]
    tried = []

    data_dir = folders.data_dir
    if data_dir is not None:
        local_path = data_dir / relative_path
        if local_path.is_file():
            return SplitFile(dataset, split, local_path, LOCAL)
        tried.append(f"local file {local_path} (from ELMO_BENCH_DATA={data_dir}): not found")
    else:
        tried.append(f"local file <ELMO_BENCH_DATA>/{relative_path}: ELMO_BENCH_DATA is not set")

    hub_dir = _hub_cache_dir(source.hub, folders.cache_dir)
    hub_path = hub_dir / relative_path
    missing_package = False
    if not hub_path.is_file():
        try:
            hub.materialize(dataset, source.hub, source.files, hub_dir)
        except ImportError:
            missing_package = True
            tried.append(f"{source.hub.describe()}: the `datasets` package is not installed")
        except DataSourceError as error:  # the Hub copy changed
            tried.append(str(error))
        except Exception as error:  # network, authentication, missing revision or files...
            tried.append(f"{source.hub.describe()}: could not be loaded from "
                         f"{source.hub.root()} ({_short(error)})")
    if hub_path.is_file():
        if data_dir is not None:
            logger.warning(
                "%s not found under %s; using the Hub copy %s", relative_path, data_dir, hub_path
            )
        return SplitFile(dataset, split, hub_path, source.hub.describe())

    hub_fix = (
        "install the Hub extra (pip install 'elmo-bench[hub]') to load it from the Hugging Face Hub"
        if missing_package else
        f"on a machine that reaches huggingface.co the Hub copy is made once; or set "
        f"{hub.MIRROR_VARIABLE} to a local copy of the Hub repositories"
    )
    raise DataSourceError(
        f"no data for the {split!r} split of {dataset!r}. Tried:\n"
        + "".join(f"  - {attempt}\n" for attempt in tried)
        + f"Fix: set ELMO_BENCH_DATA to a folder holding {relative_path} (the layout of every "
        f"dataset, where to get it and its licence: docs/data.md); or {hub_fix}."
    )


def _short(error: Exception) -> str:
    """The first line of an error, with its type, cut to 200 characters."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@functools.lru_cache(maxsize=256)
def _sha256_of(resolved_path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(resolved_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, computed once per (path, modification time, size)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _sha256_of(str(resolved), stat.st_mtime_ns, stat.st_size)
