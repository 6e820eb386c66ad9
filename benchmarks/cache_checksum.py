"""What the embedding cache's checksum costs per GB, as ratios to reading the same bytes.

Writes a cache entry of random float16 vectors (``--gb`` of them, 3 layers of 256 as for ELMo
small) through :class:`elmo_bench.cache.EmbeddingCache`'s own file layout, then, in rounds,
times on the same file (warm in the page cache, as a cell reads an entry the cache just wrote or
read):

  read      reading every byte in 1 MiB blocks (what any verification must at least do)
  sha256    hashlib.file_digest with sha256 (the cache's checksum)
  blake2b   the same with blake2b, the alternative
  finite    numpy's isfinite over the memory-mapped vectors (the check of an adopted entry)
  open      EmbeddingCache.load of the entry: structural check + checksum, first open in a process

Each figure is seconds per GB and a ratio to ``read`` in the same round. Usage:

    python benchmarks/cache_checksum.py [--gb 1] [--rounds 3] [--out results/benchmarks/cache_checksum.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from elmo_bench.atomic import write_text_atomically
from elmo_bench.cache import EmbeddingCache, cache_key
from elmo_bench.checksums import forget_verified
from elmo_bench.embedders.base import Embedder, Layers

N_LAYERS, DIM = 3, 256
_BLOCK = 1 << 20


class RandomEmbedder(Embedder):
    """Random float16-representable vectors for sentences of 25 tokens (nothing but bytes)."""

    name = "random"

    def __init__(self) -> None:
        self.generator = np.random.default_rng(0)

    @property
    def n_layers(self) -> int:
        return N_LAYERS

    @property
    def dim(self) -> int:
        return DIM

    def fingerprint_parts(self) -> dict:
        return {"benchmark": "cache_checksum"}

    def embed(self, sentences):
        import torch

        length = max(len(sentence) for sentence in sentences)
        values = self.generator.standard_normal((N_LAYERS, len(sentences), length, DIM), np.float32)
        return Layers(torch.from_numpy(values), torch.ones(len(sentences), length, dtype=torch.bool))


def _read(path: Path) -> None:
    with path.open("rb") as file:
        while file.read(_BLOCK):
            pass


def _digest(algorithm: str) -> Callable[[Path], None]:
    def run(path: Path) -> None:
        with path.open("rb") as file:
            hashlib.file_digest(file, algorithm)

    return run


def _finite(path: Path) -> None:
    vectors = np.load(path, mmap_mode="r")
    for start in range(0, len(vectors), 1 << 16):
        np.isfinite(vectors[start : start + (1 << 16)]).all()


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.0, help="size of the entry's vectors (default 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="results/benchmarks/cache_checksum.json")
    args = parser.parse_args()
    tokens = int(args.gb * 1e9 / (N_LAYERS * DIM * 2))
    sentences = [[f"w{i}"] * 25 for i in range(tokens // 25)]
    with tempfile.TemporaryDirectory() as root:
        cache = EmbeddingCache(root)
        written = _timed(lambda: cache.get_or_compute(RandomEmbedder(), sentences))
        key = cache_key(RandomEmbedder().fingerprint, sentences)
        vectors = cache.entry_dir(key) / "vectors.npy"
        gigabytes = vectors.stat().st_size / 1e9

        def open_entry() -> None:
            forget_verified()
            cache.load(key)

        measures = {"read": lambda: _read(vectors), "sha256": lambda: _digest("sha256")(vectors),
                    "blake2b": lambda: _digest("blake2b")(vectors), "finite": lambda: _finite(vectors),
                    "open": open_entry}
        rounds = []
        for _ in range(args.rounds):
            seconds = {name: _timed(work) for name, work in measures.items()}
            rounds.append(seconds)
    summary = {}
    for name in measures:
        per_gb = statistics.median(r[name] / gigabytes for r in rounds)
        ratio = statistics.median(r[name] / r["read"] for r in rounds)
        summary[name] = {"seconds_per_gb": round(per_gb, 4), "ratio_to_read": round(ratio, 2)}
        print(f"{name:8s} {per_gb:7.3f} s/GB  {ratio:5.2f} x read  ({1 / per_gb:5.2f} GB/s)")
    print(f"entry of {gigabytes:.2f} GB written (embedding included) in {written:.1f} s")
    document = {
        "what": "cost of the cache checksum per GB, as ratios to reading the same bytes (page cache warm)",
        "gigabytes": gigabytes,
        "rounds": rounds,
        "median": summary,
        "write_seconds_including_embedding": written,
    }
    write_text_atomically(args.out, json.dumps(document, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
