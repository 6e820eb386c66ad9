"""Static word vectors (GloVe, word2vec text format) as a one-layer :class:`Embedder`, and the
``glove`` source that settings name.

Files: as :mod:`elmo_bench.embedders.vectors_file` reads them (GloVe or word2vec text, plain, gzip
or a zip archive member), or a published set by name (:mod:`elmo_bench.embedders.published_vectors`).

Lookup: the exact token, then (optionally) its lower-cased form, then the out-of-vocabulary vector
(zeros, or the file's ``<UNK>``/``<unk>`` vector). The embedder counts tokens and OOV tokens.

Large files (from :data:`LARGE_FILE_BYTES`, and every published set) are converted once into a
binary store keyed by the file's sha256 (:mod:`elmo_bench.embedders.vectors_store`): later
loads, in any process, take seconds and read only the rows of the words a task looks up. The
vectors, and the embedder's fingerprint, are the same either way.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from elmo_bench.data.sources import file_sha256
from elmo_bench.embedders.base import Embedder, Layers, OovStats
from elmo_bench.embedders.published_vectors import PUBLISHED_VECTORS, fetch_published_vectors
from elmo_bench.embedders.source import EmbedderSource
from elmo_bench.embedders.vectors_file import (
    StaticVectors,
    VectorsFormatError,
    iter_vector_blocks,
    read_vectors,
)
from elmo_bench.embedders.vectors_store import VectorsStore, open_store, store_folder
from elmo_bench.errors import UsageError
from elmo_bench.paths import cache_dir
from elmo_bench.settings import SettingsError

# Bump when the lookup rules change the vectors a token gets.
STATIC_EMBEDDER_VERSION = 1
UNKNOWN_TOKENS = ("<UNK>", "<unk>")
LARGE_FILE_BYTES = 256 * 1024 * 1024
"""Vectors files from this size on are read through a :mod:`~elmo_bench.embedders.vectors_store`
(converted once, then read in place); smaller ones are parsed in memory, as they always were."""


def _is_large(path: Path) -> bool:
    return path.stat().st_size >= LARGE_FILE_BYTES


def vectors_store(path: Path, member: str | None, sha256: str) -> VectorsStore:
    """The converted binary form of a vectors file (converted on first use)."""
    return open_store(
        cache_dir(), sha256, member,
        lambda: iter_vector_blocks(path, member=member),
        f"{path}:{member}" if member else str(path),
    )


def prepare_vectors(vectors: str | Path, member: str | None = None) -> bool:
    """Download a published set and convert it (or a large file) into its store, without loading
    it: what a run does once before its cells. Returns whether there was anything to prepare.

    Raises:
        FileNotFoundError: no such file. Download errors: as :func:`fetch_published_vectors`.
    """
    if str(vectors) in PUBLISHED_VECTORS:
        vectors_store(*_published_source(str(vectors)))
        return True
    path = Path(vectors)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such vectors file")
    if _is_large(path):
        vectors_store(path, member, file_sha256(path))
        return True
    return False


def _published_source(name: str) -> tuple[Path, str, str]:
    """``(archive, member, archive sha256)`` of a published set, downloaded on first use.

    Once the archive has been converted, its recorded sha256 (the sidecar the download wrote)
    finds the converted store, and the 2 GB archive is not read (nor hashed) again.
    """
    published = PUBLISHED_VECTORS[name]
    archive = cache_dir() / "glove" / published.archive
    sidecar = archive.with_name(archive.name + ".sha256")
    if sidecar.is_file():
        recorded = sidecar.read_text(encoding="ascii").split()[0]
        if recorded == published.sha256 and (
            store_folder(cache_dir(), recorded, published.member) / "meta.json"
        ).is_file():
            return archive, published.member, recorded
    archive, member = fetch_published_vectors(name)
    return archive, member, published.sha256


class StaticEmbedder(Embedder):
    """One layer of fixed word vectors.

    Args:
        vectors: a vectors file path, or a published name (``glove.6B.300d``, ...; see
            :data:`PUBLISHED_VECTORS`), downloaded on first use.
        member: the file inside a zip archive (for a path).
        lowercase_fallback: look up a token's lower-cased form when the token itself is missing.
        oov: "zero" (a zero vector) or "unk" (the file's ``<UNK>`` or ``<unk>`` vector) for tokens
            not found.
        vocabulary: load only the vectors these tokens can reach (they and their lower-cased
            forms), to save memory; it enters the fingerprint.
    """

    name = "static"

    def __init__(
        self,
        vectors: str | Path,
        *,
        member: str | None = None,
        lowercase_fallback: bool = True,
        oov: Literal["zero", "unk"] = "zero",
        vocabulary: Collection[str] | None = None,
    ) -> None:
        if oov not in ("zero", "unk"):
            raise UsageError(f"oov must be 'zero' or 'unk', got {oov!r}")
        if str(vectors) in PUBLISHED_VECTORS:
            path, member, sha256 = _published_source(str(vectors))
        else:
            path = Path(vectors)
            if not path.exists():
                raise FileNotFoundError(
                    f"{path}: no such vectors file (published names: "
                    f"{', '.join(PUBLISHED_VECTORS)})"
                )
            sha256 = file_sha256(path)
        self.source = f"{path}:{member}" if member else str(path)
        self.lowercase_fallback = lowercase_fallback
        self.oov = oov
        self._fingerprint_parts = {
            "vectors_sha256": sha256,
            "member": member,
            "lowercase_fallback": lowercase_fallback,
            "oov": oov,
            "vocabulary_sha256": None if vocabulary is None else hashlib.sha256(
                "\n".join(sorted(set(vocabulary))).encode("utf-8")
            ).hexdigest(),
            "dtype": "float32",
            "version": STATIC_EMBEDDER_VERSION,
        }
        self.vectors: StaticVectors | VectorsStore
        if vocabulary is None and (str(vectors) in PUBLISHED_VECTORS or _is_large(path)):
            self.vectors = vectors_store(path, member, sha256)
        else:
            keep = None
            if vocabulary is not None:
                keep = set(vocabulary) | {token.lower() for token in vocabulary} | set(UNKNOWN_TOKENS)
            self.vectors = read_vectors(path, member=member, vocabulary=keep)
        self._oov_row = self._find_oov_row()
        self._tokens = self._lowercased = self._oov_count = 0

    def _find_oov_row(self) -> int | None:
        if self.oov == "zero":
            return None
        for token in UNKNOWN_TOKENS:
            row = self.vectors.row(token)
            if row is not None:
                return row
        raise VectorsFormatError(
            f"oov='unk' needs a {' or '.join(UNKNOWN_TOKENS)} vector, and the file has neither"
        )

    @property
    def n_layers(self) -> int:
        return 1

    @property
    def dim(self) -> int:
        return self.vectors.dim

    def fingerprint_parts(self) -> dict:
        return dict(self._fingerprint_parts)

    def _lookup(self, token: str) -> tuple[int | None, bool]:
        """``(row or None, whether the lower-cased form was used)``."""
        row = self.vectors.row(token)
        if row is None and self.lowercase_fallback:
            row = self.vectors.row(token.lower())
            return row, row is not None
        return row, False

    def embed(self, sentences: list[list[str]]) -> Layers:
        """Look up every token; only the rows of the tokens seen are read from the vectors.

        Returns:
            :class:`Layers` with activations ``[1, batch, max_len, dim]`` (zeros at padding) and
            mask ``[batch, max_len]``.
        """
        max_len = max((len(sentence) for sentence in sentences), default=0)
        rows = np.full((len(sentences), max_len), -1, dtype=np.int64)  # -1: the OOV vector
        mask = torch.zeros((len(sentences), max_len), dtype=torch.bool)
        for position, sentence in enumerate(sentences):
            for offset, token in enumerate(sentence):
                row, lowercased = self._lookup(token)
                self._lowercased += lowercased
                if row is None:
                    self._oov_count += 1
                else:
                    rows[position, offset] = row
            mask[position, : len(sentence)] = True
            self._tokens += len(sentence)
        if self._oov_row is not None:
            rows[rows == -1] = self._oov_row
        used, inverse = np.unique(rows, return_inverse=True)
        # Row 0 of the table is the OOV vector (zeros) whether or not a token needs it.
        table = np.concatenate([
            np.zeros((1, self.dim), dtype=np.float32), self.vectors.take(used[used >= 0])
        ])
        index = inverse.reshape(rows.shape) + (0 if used.size and used[0] == -1 else 1)
        activations = torch.from_numpy(table)[torch.from_numpy(index)] * mask.unsqueeze(-1)
        return Layers(activations.unsqueeze(0), mask)

    @property
    def oov_stats(self) -> OovStats:
        """Counts over every :meth:`embed` call so far."""
        return OovStats(self._tokens, self._lowercased, self._oov_count)


def static_vectors_source(name: str, label: str) -> EmbedderSource:
    """The declaration of a source of static word vectors named ``name`` (``label`` in messages):
    its settings are ``vectors`` (a file or a published name; required), ``lowercase_fallback``
    and ``oov``, as :class:`StaticEmbedder` takes them."""

    def load(settings: Mapping[str, Any]) -> StaticEmbedder:
        if settings["vectors"] is None:
            raise SettingsError(
                f"{label} needs embedder.{name}.vectors: a GloVe/word2vec text file or a "
                "published name such as 'glove.6B.300d'"
            )
        return StaticEmbedder(
            settings["vectors"],
            lowercase_fallback=settings["lowercase_fallback"],
            oov=settings["oov"],
        )

    def prepare(settings: Mapping[str, Any]) -> str | None:
        if settings["vectors"] is not None and prepare_vectors(settings["vectors"]):
            return f"{label} {settings['vectors']}"
        return None

    return EmbedderSource(
        name, {"vectors": None, "lowercase_fallback": True, "oov": "zero"}, load, prepare
    )


GLOVE = static_vectors_source("glove", "GloVe")
"""``glove``: ``glove.vectors`` (a GloVe/word2vec text file or a published name such as
``glove.6B.300d``), ``glove.lowercase_fallback``, ``glove.oov``."""
