"""Content checksums of files written once and read many times: embedding-cache entries and the
outputs of pretraining stages.

A writer records the digest of each file it wrote (:func:`digest_files`); a reader compares the
files with that record (:func:`verify_files`) before it uses them, so that bytes changed on disk
after the write (a bit flip, a stray write, a truncation) are found instead of used. The checksum
is kept beside the data, never in the key that names it, so adding it changes no cache key.

The digest is sha256 (``hashlib``, OpenSSL): with the SHA extensions of current x86 and ARM CPUs
it hashes at about 1.9 GB/s on one core here, faster than blake2b (1.2 GB/s);
``benchmarks/cache_checksum.py`` measures both against reading the same bytes. A record names its
algorithm, so another one can be read later. A file is verified once per process for each
(inode, size, modification time): a cell reads its entries many times, an epoch at a time, and an
entry written by this process is not read back to be verified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

ALGORITHM = "sha256"
ALGORITHMS = ("sha256", "blake2b")
"""Digests a record may name (hashlib constructors)."""

_verified: set[tuple[int, int, int, int, str]] = set()


def file_digest(path: str | Path, algorithm: str = ALGORITHM) -> str:
    """Hex digest of the bytes of ``path`` (read in blocks, never whole into memory)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    with open(path, "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()


def digest_files(folder: Path, names: Iterable[str], algorithm: str = ALGORITHM) -> dict[str, str]:
    """``{name: hex digest}`` of the files ``folder / name``, for a record."""
    digests = {name: file_digest(folder / name, algorithm) for name in names}
    for name in digests:
        _remember(folder / name, digests[name])
    return digests


def verify_files(folder: Path, digests: Mapping[str, str], algorithm: str = ALGORITHM) -> list[str]:
    """The problems of ``folder``'s files against their recorded ``digests`` (empty: all match).

    A file already verified in this process, unchanged since (same size and modification time),
    is not read again."""
    if algorithm not in ALGORITHMS:
        return [f"its checksums use {algorithm!r}, which this version does not know"]
    problems = []
    for name, expected in digests.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        if _identity(path, expected) in _verified:
            continue
        found = file_digest(path, algorithm)
        if found != expected:
            problems.append(f"{name} has {algorithm} {found[:16]}..., recorded {expected[:16]}...")
        else:
            _remember(path, found)
    return problems


def _identity(path: Path, digest: str) -> tuple[int, int, int, int, str]:
    """The file as it is now (device, inode, size, modification time) and its digest: a rename
    (a cache entry moved into place) keeps it, a write changes it."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, digest


def _remember(path: Path, digest: str) -> None:
    _verified.add(_identity(path, digest))


def forget_verified() -> None:
    """Verify every file again on its next read (tests; a process that suspects its disk)."""
    _verified.clear()
