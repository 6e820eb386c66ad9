"""Content-addressed cache of frozen embedder outputs, fp16 on disk, read memory-mapped.

A frozen embedder gives a token sequence the same vectors every time, so a split is embedded once
and reused by every epoch, seed and head that reads it. An entry holds the vectors of a list of
token sequences; its key is the sha256 of the embedder's ``fingerprint`` (weights, options, dtype,
code version) and of every token of every sequence, in order. Any
change (another token, another weight file, another lookup rule) is another key, so a stale
vector is never returned; nothing is ever invalidated in place.

Layout under ``root`` (default ``paths.cache_dir() / "embeddings"``; ``ELMO_BENCH_CACHE`` sets
``cache_dir()``)::

    <key[:2]>/<key>/vectors.npy  float16 [total_tokens, n_layers, dim], sequences back to back
    <key[:2]>/<key>/offsets.npy  int64 [n_sequences + 1]; sequence i is rows offsets[i]:offsets[i+1]
    <key[:2]>/<key>/meta.json    fingerprint, counts, shapes, seconds spent embedding

An entry is built in a temporary folder next to its final place and renamed onto it in one step,
so a killed run leaves either no entry or a complete one (plus a stray temporary folder). A file
lock makes a second process wanting the same entry wait instead of computing it again.

Size on disk: ``n_layers x dim x 2`` bytes per token, i.e. per million tokens 6.1 GB for the
original ELMo (3 x 1024), 1.5 GB for ELMo small (3 x 256), 0.6 GB for 300-d GloVe.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock

from elmo_bench import paths
from elmo_bench.atomic import building_folder
from elmo_bench.embedders.base import Embedder

CACHE_FORMAT_VERSION = 1
STORED_DTYPE = np.float16
_FP16_MAX = float(np.finfo(np.float16).max)
# Sentences per embed() call for embedders without a streaming iter_embeddings().
_EMBED_BATCH_SENTENCES = 256


class CacheError(ValueError):
    """A cache entry that cannot be written or read as expected."""


def bytes_per_million_tokens(n_layers: int, dim: int) -> int:
    """Disk size of one million cached tokens: ``n_layers * dim * 2 bytes * 1e6``."""
    return n_layers * dim * np.dtype(STORED_DTYPE).itemsize * 1_000_000


def cache_key(fingerprint: str, sequences: Sequence[Sequence[str]]) -> str:
    """sha256 hex of the fingerprint and the sequences; JSON-encoding each token keeps
    ``["a b"]`` and ``["a", "b"]`` apart."""
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_FORMAT_VERSION, fingerprint]).encode("utf-8"))
    for sequence in sequences:
        digest.update(b"\n")
        digest.update(json.dumps(list(sequence), ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class EmbeddedSequences:
    """The cached vectors of a list of token sequences (memory-mapped, read-only).

    Attributes:
        vectors: float16 ``[total_tokens, n_layers, dim]``.
        offsets: int64 ``[n_sequences + 1]``.
        key: the cache key.
        meta: the entry's ``meta.json``.
    """

    vectors: np.ndarray
    offsets: np.ndarray
    key: str
    meta: dict

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_layers(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[2])

    def length(self, index: int) -> int:
        return int(self.offsets[index + 1] - self.offsets[index])

    def sequence(self, index: int) -> np.ndarray:
        """float16 ``[length, n_layers, dim]`` of sequence ``index`` (a view into the file)."""
        return self.vectors[self.offsets[index] : self.offsets[index + 1]]


@dataclass(frozen=True)
class CacheLookup:
    """How an entry was obtained: ``hit`` (found) or computed now, and the seconds it took."""

    entry: EmbeddedSequences
    hit: bool
    seconds: float
    """Seconds spent in this call (reading on a hit, embedding and writing on a miss)."""


class EmbeddingCache:
    """Embedder outputs by (fingerprint, token sequences); see the module docstring."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.cache_dir() / "embeddings"

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str) -> EmbeddedSequences | None:
        """The entry under ``key``, or None when there is none."""
        folder = self.entry_dir(key)
        if not folder.is_dir():
            return None
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            offsets = np.load(folder / "offsets.npy")
        except (OSError, ValueError) as error:
            raise CacheError(
                f"cache entry {folder} is unreadable ({error}); delete the folder to rebuild it"
            ) from error
        if vectors.shape[0] != offsets[-1] or meta.get("key") != key:
            raise CacheError(
                f"cache entry {folder} is inconsistent; delete the folder to rebuild it"
            )
        return EmbeddedSequences(vectors=vectors, offsets=offsets, key=key, meta=meta)

    def get_or_compute(
        self, embedder: Embedder, sequences: Sequence[Sequence[str]], progress: bool = False
    ) -> CacheLookup:
        """The vectors of ``sequences`` under ``embedder``: from the cache, or computed and stored.

        Raises:
            CacheError: a vector does not fit in float16 (its magnitude exceeds 65504).
        """
        started = time.perf_counter()
        key = cache_key(embedder.fingerprint, sequences)
        entry = self.load(key)
        if entry is not None:
            return CacheLookup(entry, hit=True, seconds=time.perf_counter() - started)
        folder = self.entry_dir(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            entry = self.load(key)  # another process may have written it while we waited
            if entry is not None:
                return CacheLookup(entry, hit=True, seconds=time.perf_counter() - started)
            self._write(embedder, sequences, key, folder, progress)
        entry = self.load(key)
        assert entry is not None
        return CacheLookup(entry, hit=False, seconds=time.perf_counter() - started)

    def _write(
        self,
        embedder: Embedder,
        sequences: Sequence[Sequence[str]],
        key: str,
        folder: Path,
        progress: bool,
    ) -> None:
        lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        with building_folder(folder) as staging:
            vectors = np.lib.format.open_memmap(
                staging / "vectors.npy",
                mode="w+",
                dtype=STORED_DTYPE,
                shape=(int(offsets[-1]), embedder.n_layers, embedder.dim),
            )
            lookups_before = getattr(embedder, "oov_stats", None)
            embed_started = time.perf_counter()
            for index, layers in _embeddings(embedder, sequences, progress):
                values = layers.permute(1, 0, 2).cpu().numpy()  # [len, n_layers, dim]
                peak = float(np.abs(values).max()) if values.size else 0.0
                if not peak <= _FP16_MAX:
                    raise CacheError(
                        f"embedder {embedder.name}: sequence {index} has a value of magnitude "
                        f"{peak:g}, beyond float16's {_FP16_MAX:g}; it cannot be cached in fp16"
                    )
                vectors[offsets[index] : offsets[index + 1]] = values
            embed_seconds = time.perf_counter() - embed_started
            vectors.flush()
            del vectors
            np.save(staging / "offsets.npy", offsets)
            meta = {
                "key": key,
                "format_version": CACHE_FORMAT_VERSION,
                "embedder": embedder.name,
                "fingerprint": embedder.fingerprint,
                "fingerprint_parts": embedder.fingerprint_parts(),
                "n_sequences": len(sequences),
                "n_tokens": int(offsets[-1]),
                "n_layers": embedder.n_layers,
                "dim": embedder.dim,
                "dtype": np.dtype(STORED_DTYPE).name,
                "embed_seconds": embed_seconds,
                "vocabulary_coverage": _coverage(
                    lookups_before, getattr(embedder, "oov_stats", None)
                ),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _coverage(before: Any, after: Any) -> dict[str, int] | None:
    """Tokens, lower-cased matches and out-of-vocabulary tokens of this entry, for embedders that
    count them (static vectors' ``oov_stats``); None for the others."""
    if before is None or after is None:
        return None
    return {
        "tokens": after.tokens - before.tokens,
        "lowercased": after.lowercased - before.lowercased,
        "oov": after.oov - before.oov,
    }


def _embeddings(embedder: Embedder, sequences: Sequence[Sequence[str]], progress: bool):
    """``(index, float [n_layers, len, dim])`` for every sequence, in any order.

    Uses the embedder's streaming ``iter_embeddings`` when it has one (ELMo: dataset-wide length
    sorting, bounded memory); otherwise :meth:`Embedder.embed` on consecutive chunks.
    """
    iterate = getattr(embedder, "iter_embeddings", None)
    if iterate is not None:
        yield from iterate([list(sequence) for sequence in sequences], progress=progress)
        return
    with torch.inference_mode():
        for start in range(0, len(sequences), _EMBED_BATCH_SENTENCES):
            chunk = [
                list(sequence) for sequence in sequences[start : start + _EMBED_BATCH_SENTENCES]
            ]
            layers = embedder.embed(chunk)
            for row, sequence in enumerate(chunk):
                yield start + row, layers.activations[:, row, : len(sequence)].float()
