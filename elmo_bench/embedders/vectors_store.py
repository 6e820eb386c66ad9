"""A word-vectors file converted once into a binary form read in place, keyed by its content.

Parsing the text of a large vectors file (``glove.840B.300d``: 2.2M lines, 5.6 GB of text inside a
2 GB zip) costs minutes and, held as Python objects, gigabytes; a grid of cells would pay that in
every cell. :func:`open_store` pays it once: the first call converts the file into a folder
``<cache>/vectors/<sha256 of the file>-<member>-v<version>/`` and every later call, in any
process, reads that folder's small index and only the matrix rows of the words it looks up:

``matrix.f32``
    float32 ``[rows, dim]``, C order, the vectors in file order (repeated words included).
``words.utf8`` and ``offsets.i64``
    the words' UTF-8 bytes back to back; word ``r`` is ``words[offsets[r]:offsets[r + 1]]``.
``hashes.u64`` and ``hash_rows.i64``
    a 64-bit BLAKE2b hash of every word, sorted (stably, so the first occurrence of a repeated word
    comes first), and the row each belongs to: a lookup is a binary search plus a comparison of
    the word's bytes, so two words with one hash are still told apart.
``meta.json``
    the source's sha256 and member, ``rows``, ``dim``, the number of repeated words and the format
    version; written last, so a folder with it is complete (the folder is built beside its place
    and renamed, see :func:`elmo_bench.atomic.building_folder`).

The folder is keyed by the source file's sha256, so a changed file gets a new store, and the same
file at another path finds the old one. What a word's vector is stays defined by the text reader
(:mod:`elmo_bench.embedders.vectors_file`), which feeds :func:`write_store` and which a test holds
the store to, value for value.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

from elmo_bench.atomic import building_folder
from elmo_bench.errors import ElmoBenchError

logger = logging.getLogger(__name__)


class StoreError(ElmoBenchError, ValueError):
    """A store folder that is not the converted form of the file it is keyed by."""

STORE_FORMAT_VERSION = 1
_META = "meta.json"


def _word_hash(word_bytes: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(word_bytes, digest_size=8).digest(), "little")


def store_folder(cache: Path, sha256: str, member: str | None) -> Path:
    """Where the store of the file with content ``sha256`` (and zip ``member``) lives."""
    label = (member or "file").replace("/", "_")
    return Path(cache) / "vectors" / f"{sha256}-{label}-v{STORE_FORMAT_VERSION}"


def write_store(
    folder: Path, blocks: Iterable[tuple[Sequence[str], np.ndarray]], source: dict
) -> None:
    """Build the store in ``folder`` (atomically) from ``(words, float32 [len(words), dim])``
    blocks in file order; ``source`` (sha256, member, name) goes into ``meta.json``."""
    with building_folder(folder) as building:
        offsets = array("q", [0])
        hashes = array("Q")
        dim = None
        with open(building / "matrix.f32", "wb") as matrix, open(building / "words.utf8", "wb") as blob:
            for words, vectors in blocks:
                dim = vectors.shape[1] if dim is None else dim
                matrix.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
                for word in words:
                    encoded = word.encode("utf-8")
                    blob.write(encoded)
                    offsets.append(offsets[-1] + len(encoded))
                    hashes.append(_word_hash(encoded))
        hash_values = np.frombuffer(hashes, dtype=np.uint64)
        order = np.argsort(hash_values, kind="stable")
        sorted_hashes = hash_values[order]
        sorted_hashes.tofile(building / "hashes.u64")
        order.astype(np.int64).tofile(building / "hash_rows.i64")
        np.frombuffer(offsets, dtype=np.int64).tofile(building / "offsets.i64")
        rows = len(offsets) - 1
        meta = {
            "format_version": STORE_FORMAT_VERSION,
            **source,
            "rows": rows,
            "dim": dim,
            "repeated_words": _count_repeats(building, sorted_hashes, order),
        }
        (building / _META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def _count_repeats(folder: Path, sorted_hashes: np.ndarray, order: np.ndarray) -> int:
    """How many rows repeat the word of an earlier row (runs of equal hashes, words compared)."""
    if len(sorted_hashes) < 2:
        return 0
    blob = np.memmap(folder / "words.utf8", dtype=np.uint8, mode="r")
    offsets = np.fromfile(folder / "offsets.i64", dtype=np.int64)
    repeats = 0
    for start in np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1]):
        first, second = order[start], order[start + 1]
        if bytes(blob[offsets[first]:offsets[first + 1]]) == bytes(
            blob[offsets[second]:offsets[second + 1]]
        ):
            repeats += 1
    return repeats


class VectorsStore:
    """A converted vectors file: look words up, read their rows.

    The index (hashes, rows, word offsets and bytes: about 32 bytes a word, 70 MB for 2.2M words)
    is read into memory in four sequential reads; a lookup then touches no disk. The matrix stays
    on disk and :meth:`take` reads just the rows asked for (``pread``, no memory map: mapping the
    pages of scattered rows maps their neighbours too, and a task's 15,000 rows then brought
    1.4 GB of the 2.6 GB matrix into the process).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / _META).read_text(encoding="utf-8"))
        self._blob = (self.folder / "words.utf8").read_bytes()
        self._offsets = np.fromfile(self.folder / "offsets.i64", dtype=np.int64)
        self._hashes = np.fromfile(self.folder / "hashes.u64", dtype=np.uint64)
        self._hash_rows = np.fromfile(self.folder / "hash_rows.i64", dtype=np.int64)
        self._row_bytes = 4 * self.dim
        self._found: dict[str, int | None] = {}

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def __len__(self) -> int:
        return int(self.meta["rows"])

    def word(self, row: int) -> str:
        """The word of ``row``."""
        return self._blob[self._offsets[row]:self._offsets[row + 1]].decode("utf-8")

    def row(self, word: str) -> int | None:
        """The row of the first occurrence of ``word`` in the file, or None (remembered)."""
        if word in self._found:
            return self._found[word]
        encoded = word.encode("utf-8")
        key = np.uint64(_word_hash(encoded))
        position = int(np.searchsorted(self._hashes, key))
        found = None
        while position < len(self._hashes) and self._hashes[position] == key:
            candidate = int(self._hash_rows[position])
            if self._blob[self._offsets[candidate]:self._offsets[candidate + 1]] == encoded:
                found = candidate
                break
            position += 1
        self._found[word] = found
        return found

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 ``[len(rows), dim]``: the given rows, read from the matrix file."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"{self.folder}: rows must be in [0, {len(self)}), got {rows.min()}..{rows.max()}")
        order = np.argsort(rows, kind="stable")  # ascending offsets: the disk reads in order
        with open(self.folder / "matrix.f32", "rb", buffering=0) as matrix:
            descriptor = matrix.fileno()
            for index in order:
                data = os.pread(descriptor, self._row_bytes, int(rows[index]) * self._row_bytes)
                out[index] = np.frombuffer(data, dtype=np.float32)
        return out


def open_store(
    cache: Path,
    sha256: str,
    member: str | None,
    blocks: Callable[[], Iterable[tuple[Sequence[str], np.ndarray]]],
    name: str,
) -> VectorsStore:
    """The store of the file with content ``sha256``, converting it first when there is none.

    Args:
        cache: the cache folder (the store goes under ``vectors/``).
        sha256, member: the source file's content digest and zip member (the store's key).
        blocks: called only to convert: yields the file's ``(words, vectors)`` blocks.
        name: how log lines name the file.
    """
    folder = store_folder(cache, sha256, member)
    if not (folder / _META).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        # One process converts; the others (pool workers, ranks) wait and then open its result.
        with FileLock(str(folder) + ".lock"):
            if not (folder / _META).is_file():
                logger.info("converting %s into %s (once; later loads map it)", name, folder)
                started = time.perf_counter()
                write_store(folder, blocks(), {"sha256": sha256, "member": member, "name": name})
                logger.info("converted %s in %.1f s", name, time.perf_counter() - started)
                repeats = json.loads((folder / _META).read_text(encoding="utf-8"))["repeated_words"]
                if repeats:
                    logger.warning("%s: %d repeated words; the first vector of each is used",
                                   name, repeats)
    store = VectorsStore(folder)
    if store.meta.get("format_version") != STORE_FORMAT_VERSION or store.meta.get("sha256") != sha256:
        raise StoreError(
            f"{folder}: not a store of {name} (meta.json says {store.meta.get('sha256')!r}, "
            f"format {store.meta.get('format_version')!r}); delete the folder to convert again"
        )
    return store
