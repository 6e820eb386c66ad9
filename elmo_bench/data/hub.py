"""Rebuilding the original data files from pinned Hugging Face Hub datasets (the fallback source).

When the local data folder is missing, each dataset is loaded once from the Hub with the optional
``datasets`` package and written back in its original file format (CoNLL columns, PTB trees, TREC
label lines, SQuAD JSON) into the cache. The readers then parse these files exactly as they parse
the originals, so there is one parser per format and every split still has a file whose sha256 goes
into the results. ``datasets`` is imported only here, and only when this fallback runs.

The splits are loaded as Parquet files named by a pattern (``conll2003/{split}/*.parquet``), not by
a config name: the Hub's Parquet exports (``refs/convert/parquet``, all that ``datasets`` 3 and
later can load of datasets published as scripts) carry no config metadata, so with a current
``datasets`` a config name fails (``BuilderConfig 'ptb' not found. Available: ['default']``) and no
config mixes the configs' files. The Parquet files keep the features (class-label names) in their
schema. The files are read from ``hf://datasets/<repo>@<revision>/`` or, with
``ELMO_BENCH_HUB_MIRROR`` set, from ``<mirror>/<owner>--<name>@<revision with / as -->/``: a local
copy of the repository at that revision (``huggingface-cli download --repo-type dataset REPO
--revision REV --local-dir ...`` makes one).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from elmo_bench.atomic import write_bytes_atomically
from elmo_bench.data.errors import DataSourceError


@dataclass(frozen=True)
class HubSplit:
    """One split of a Hub dataset: its name on the Hub and the number of rows it must have."""

    name: str
    rows: int


MIRROR_VARIABLE = "ELMO_BENCH_HUB_MIRROR"


@dataclass(frozen=True)
class HubDataset:
    """A Hub dataset pinned to a revision; ``splits`` maps our split names to the Hub's, and
    ``data_files`` is the pattern of a split's Parquet files in the repository (``{split}``: the
    Hub's split name)."""

    repo_id: str
    revision: str
    data_files: str
    splits: Mapping[str, HubSplit]

    def describe(self) -> str:
        return f"Hugging Face Hub dataset {self.repo_id}@{self.revision} ({self.data_files})"

    def root(self) -> str:
        """Where the repository's files are read: the Hub, or the local mirror."""
        mirror = os.environ.get(MIRROR_VARIABLE)
        if mirror:
            folder = f"{self.repo_id.replace('/', '--')}@{self.revision.replace('/', '--')}"
            return str(Path(mirror).expanduser() / folder)
        return f"hf://datasets/{self.repo_id}@{quote(self.revision, safe='')}"

    def split_files(self, hub_split: str) -> str:
        return f"{self.root()}/{self.data_files.format(split=hub_split)}"


def _label_names(rows: Any, column: str) -> list[str]:
    """Names of a ``ClassLabel`` column, or of the ``ClassLabel`` inside a sequence column."""
    feature = rows.features[column]
    return list(getattr(feature, "feature", feature).names)


def _conll2003_file(rows: Any) -> bytes:
    pos_names = _label_names(rows, "pos_tags")
    chunk_names = _label_names(rows, "chunk_tags")
    ner_names = _label_names(rows, "ner_tags")
    lines = []
    for row in rows:
        for token, pos, chunk, ner in zip(
            row["tokens"], row["pos_tags"], row["chunk_tags"], row["ner_tags"], strict=True
        ):
            lines.append(f"{token} {pos_names[pos]} {chunk_names[chunk]} {ner_names[ner]}\n")
        lines.append("\n")
    return "".join(lines).encode("utf-8")


def _sst_trees_file(rows: Any) -> bytes:
    return "".join(f"{row['ptb_tree']}\n" for row in rows).encode("utf-8")


def _trec_file(rows: Any) -> bytes:
    coarse_names = _label_names(rows, "coarse_label")
    fine_names = _label_names(rows, "fine_label")
    lines = []
    for row in rows:
        fine = fine_names[row["fine_label"]]
        # Current versions name fine labels "LOC:city"; older ones only "city".
        label = fine if ":" in fine else f"{coarse_names[row['coarse_label']]}:{fine}"
        lines.append(f"{label} {row['text']}\n")
    return "".join(lines).encode("latin-1")


def _squad_file(rows: Any) -> bytes:
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        questions = articles.setdefault(row["title"], {}).setdefault(row["context"], [])
        answers = [
            {"answer_start": start, "text": text}
            for start, text in zip(
                row["answers"]["answer_start"], row["answers"]["text"], strict=True
            )
        ]
        questions.append({"answers": answers, "question": row["question"], "id": row["id"]})
    data = [
        {
            "title": title,
            "paragraphs": [{"context": context, "qas": qas} for context, qas in paragraphs.items()],
        }
        for title, paragraphs in articles.items()
    ]
    return json.dumps({"data": data, "version": "1.1"}).encode("utf-8")


FILE_WRITERS: Mapping[str, Callable[[Any], bytes]] = {
    "conll2003": _conll2003_file,
    "sst": _sst_trees_file,
    "trec": _trec_file,
    "squad": _squad_file,
}
"""For each dataset name, the function that turns a loaded Hub split into its original file."""


class HubUnreachableError(DataSourceError):
    """The Hugging Face Hub did not answer (no network, a proxy, or the Hub is down)."""


def check_reachable(hub: HubDataset, timeout: float = 10.0) -> None:
    """Ask the Hub once for the pinned revision, so that a machine without network learns it in
    seconds: ``datasets`` retries an unreachable host for minutes before giving up.

    Raises:
        HubUnreachableError: no answer (or ``HF_HUB_OFFLINE`` is set).
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise HubUnreachableError(f"{hub.describe()}: HF_HUB_OFFLINE is set, so the Hub is not asked")
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/datasets/{hub.repo_id}/revision/{quote(hub.revision, safe='')}"
    try:
        requests.head(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException as error:
        reason = ("cannot connect: no network, a proxy or firewall, or the Hub is down"
                  if isinstance(error, requests.ConnectionError) else type(error).__name__)
        raise HubUnreachableError(
            f"{hub.describe()}: the Hugging Face Hub could not be reached at {endpoint} ({reason})"
        ) from error


def materialize(dataset: str, hub: HubDataset, files: Mapping[str, str], target_dir: Path) -> None:
    """Load every split of ``hub`` and write it as ``target_dir / files[split]``.

    Raises:
        ImportError: the ``datasets`` package is not installed.
        HubUnreachableError: the Hub does not answer (checked first, in seconds).
        DataSourceError: a split on the Hub does not have the pinned number of rows.
    """
    datasets = importlib.import_module("datasets")
    if not os.environ.get(MIRROR_VARIABLE):
        check_reachable(hub)
    write_file = FILE_WRITERS[dataset]
    for split, hub_split in hub.splits.items():
        rows = datasets.load_dataset(
            "parquet", data_files={hub_split.name: hub.split_files(hub_split.name)},
            split=hub_split.name,
        )
        if len(rows) != hub_split.rows:
            raise DataSourceError(
                f"{hub.describe()}: split {hub_split.name!r} has {len(rows)} rows, expected "
                f"{hub_split.rows}; the Hub copy changed, so results would not be comparable"
            )
        write_bytes_atomically(target_dir / files[split], write_file(rows))
