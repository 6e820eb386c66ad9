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
    <key[:2]>/<key>/checksums.json  sha256 of the three files above (not part of the key)

An entry is built in a temporary folder next to its final place and renamed onto it in one step,
so a killed run leaves either no entry or a complete one; the temporary folder a kill leaves
behind (``.<key>.*``) is removed when that entry is written next (the rerun's first step). A
file lock makes a second process wanting the same entry wait instead of computing it again.

Nothing corrupt is used: opening an entry checks its structure (offsets from 0, non-decreasing,
ending at the number of vector rows; shapes and dtype as ``meta.json`` says) and its files against
``checksums.json`` (once per process and file, see :mod:`elmo_bench.checksums`). An entry that
fails is reported with its path and reason, moved aside into ``<root>/corrupt/`` and computed
again. An entry written before checksums existed (no ``checksums.json``) is adopted: after the
structural check and a check that every value is finite, its checksums are computed and written
once, instead of recomputing the vectors.

Size on disk: ``n_layers x dim x 2`` bytes per token, i.e. per million tokens 6.1 GB for the
original ELMo (3 x 1024), 1.5 GB for ELMo small (3 x 256), 0.6 GB for 300-d GloVe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from elmo_bench import paths
from elmo_bench.atomic import building_folder, remove_building_leftovers, write_text_atomically
from elmo_bench.checksums import ALGORITHM, digest_files, verify_files
from elmo_bench.embedders.base import Embedder, OovStats
from elmo_bench.errors import ElmoBenchError

CACHE_FORMAT_VERSION = 1
STORED_DTYPE = np.float16
_FP16_MAX = float(np.finfo(np.float16).max)
ENTRY_FILES = ("vectors.npy", "offsets.npy", "meta.json")
CHECKSUMS_FILE = "checksums.json"
CORRUPT_DIR = "corrupt"
# Rows of vectors checked for finiteness at a time when an entry without checksums is adopted.
_FINITE_CHECK_ROWS = 1 << 16

logger = logging.getLogger(__name__)


class CacheError(ElmoBenchError, ValueError):
    """A cache entry that cannot be written or read as expected."""


class CorruptEntryError(CacheError):
    """A cache entry whose files are unreadable, inconsistent or changed since they were written."""


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
        """The entry under ``key``, checked, or None when there is none.

        Raises:
            CorruptEntryError: the entry fails its structural or checksum check (the message
                names its folder and what is wrong).
        """
        folder = self.entry_dir(key)
        if not folder.is_dir():
            return None
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            offsets = np.load(folder / "offsets.npy")
        except (OSError, ValueError) as error:
            raise CorruptEntryError(f"cache entry {folder} is unreadable ({error})") from error
        problems = _structure_problems(meta, vectors, offsets, key)
        if not problems:
            problems = _checksum_problems(folder, vectors)
        if problems:
            raise CorruptEntryError(f"cache entry {folder} is corrupt: {'; '.join(problems)}")
        return EmbeddedSequences(vectors=vectors, offsets=offsets, key=key, meta=meta)

    def set_aside(self, key: str, reason: BaseException) -> Path:
        """Move the entry under ``key`` into ``<root>/corrupt/`` (kept for inspection, never
        read again) and log why; return where it went."""
        folder = self.entry_dir(key)
        target = self.root / CORRUPT_DIR / f"{key}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
        logger.warning("%s; moved to %s and computed again", reason, target)
        return target

    def get_or_compute(
        self, embedder: Embedder, sequences: Sequence[Sequence[str]], progress: bool = False
    ) -> CacheLookup:
        """The vectors of ``sequences`` under ``embedder``: from the cache, or computed and stored.

        Raises:
            CacheError: a vector does not fit in float16 (its magnitude exceeds 65504).
        """
        started = time.perf_counter()
        key = cache_key(embedder.fingerprint, sequences)
        try:
            entry = self.load(key)
        except CorruptEntryError:
            entry = None  # set aside below, under the lock
        if entry is not None:
            return CacheLookup(entry, hit=True, seconds=time.perf_counter() - started)
        folder = self.entry_dir(key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            try:
                entry = self.load(key)  # another process may have written it while we waited
            except CorruptEntryError as error:
                self.set_aside(key, error)
            if entry is not None:
                return CacheLookup(entry, hit=True, seconds=time.perf_counter() - started)
            remove_building_leftovers(folder)
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
            lookups_before = embedder.oov_stats
            embed_started = time.perf_counter()
            # Closed at once on an error: the embedder's inference mode ends with it.
            with contextlib.closing(
                embedder.iter_embeddings([list(sequence) for sequence in sequences], progress)
            ) as embeddings:
                for index, layers in embeddings:
                    values = layers.permute(1, 0, 2).cpu().numpy()  # [len, n_layers, dim]
                    peak = float(np.abs(values).max()) if values.size else 0.0
                    if not peak <= _FP16_MAX:
                        raise CacheError(_beyond_fp16(embedder, sequences[index], values))
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
                "vocabulary_coverage": _coverage(lookups_before, embedder.oov_stats),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            (staging / CHECKSUMS_FILE).write_text(_checksums_json(staging), encoding="utf-8")


def _beyond_fp16(embedder: Embedder, sequence: Sequence[str], values: np.ndarray) -> str:
    """The message for a sequence whose ``values`` ``[len, n_layers, dim]`` do not fit float16:
    the embedder and its file, the word, its layer and the value."""
    position, layer, column = (int(i) for i in np.argwhere(~(np.abs(values) <= _FP16_MAX))[0])
    source = f" ({embedder.source})" if embedder.source else ""
    return (
        f"embedder {embedder.name}{source}: the vector of {sequence[position]!r} (word "
        f"{position + 1} of {' '.join(sequence[:8])!r}{' ...' if len(sequence) > 8 else ''}) has "
        f"{values[position, layer, column]:g} in layer {layer}, dimension {column}, beyond float16's "
        f"+-{_FP16_MAX:g}; the embedding cache stores float16: rescale or fix that vector"
    )


def _checksum_problems(folder: Path, vectors: np.ndarray) -> list[str]:
    """Problems of the entry's files against ``checksums.json``; an entry without one (written
    before checksums) is adopted when its values are finite: its checksums are written now."""
    try:
        record = json.loads((folder / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        record = None
    except (OSError, ValueError) as error:
        return [f"{CHECKSUMS_FILE} is unreadable ({error})"]
    if record is None:
        if not _all_finite(vectors):
            return ["a vector holds NaN or infinity"]
        try:
            write_text_atomically(folder / CHECKSUMS_FILE, _checksums_json(folder))
        except OSError as error:  # a cache shared read-only: use the entry, checked as it is
            logger.warning("cache entry %s: cannot record its checksums (%s)", folder, error)
            return []
        logger.info("cache entry %s: checksums recorded (entry from before checksums)", folder)
        return []
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return [f"{CHECKSUMS_FILE} is not a checksum record"]
    if set(record["files"]) != set(ENTRY_FILES):
        return [f"{CHECKSUMS_FILE} lists {sorted(record['files'])}, expected {list(ENTRY_FILES)}"]
    return verify_files(folder, record["files"], str(record.get("algorithm")))


def _checksums_json(folder: Path) -> str:
    """The ``checksums.json`` of the entry files in ``folder``."""
    record = {"algorithm": ALGORITHM, "files": digest_files(folder, ENTRY_FILES)}
    return json.dumps(record, indent=1)


def _structure_problems(meta: Any, vectors: np.ndarray, offsets: np.ndarray, key: str) -> list[str]:
    """What is inconsistent between an entry's ``meta.json``, vectors and offsets (empty: none)."""
    if not isinstance(meta, dict):
        return ["meta.json is not an object"]
    problems = []
    if meta.get("key") != key:
        problems.append(f"meta.json names key {meta.get('key')!r}, not its folder's")
    if vectors.dtype != STORED_DTYPE or vectors.ndim != 3:
        problems.append(f"vectors.npy is {vectors.dtype} {vectors.shape}, expected float16 [tokens, layers, dim]")
    elif list(vectors.shape[1:]) != [meta.get("n_layers"), meta.get("dim")]:
        problems.append(
            f"vectors.npy has {vectors.shape[1]} layers of {vectors.shape[2]}, meta.json says "
            f"{meta.get('n_layers')} of {meta.get('dim')}"
        )
    if offsets.dtype != np.int64 or offsets.ndim != 1 or len(offsets) == 0:
        problems.append(f"offsets.npy is {offsets.dtype} {offsets.shape}, expected int64 [sequences + 1]")
        return problems
    if len(offsets) - 1 != meta.get("n_sequences"):
        problems.append(f"offsets.npy holds {len(offsets) - 1} sequences, meta.json says {meta.get('n_sequences')}")
    if offsets[0] != 0:
        problems.append(f"offsets start at {offsets[0]}, not 0")
    decreasing = np.flatnonzero(np.diff(offsets) < 0)
    if decreasing.size:
        problems.append(f"offsets decrease after sequence {decreasing[0]}")
    if vectors.ndim >= 1 and offsets[-1] != vectors.shape[0]:
        problems.append(f"offsets end at {offsets[-1]}, but vectors.npy has {vectors.shape[0]} rows")
    return problems


def _all_finite(vectors: np.ndarray) -> bool:
    """Whether no value of the (memory-mapped) vectors is NaN or infinite, read in blocks."""
    for start in range(0, len(vectors), _FINITE_CHECK_ROWS):
        if not np.isfinite(vectors[start : start + _FINITE_CHECK_ROWS]).all():
            return False
    return True


def _coverage(before: OovStats | None, after: OovStats | None) -> dict[str, int] | None:
    """Tokens, lower-cased matches and out-of-vocabulary tokens of this entry, for embedders that
    count them (:attr:`Embedder.oov_stats`); None for the others."""
    if before is None or after is None:
        return None
    return {
        "tokens": after.tokens - before.tokens,
        "lowercased": after.lowercased - before.lowercased,
        "oov": after.oov - before.oov,
    }

