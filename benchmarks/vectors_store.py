"""Loading a glove.840B.300d-sized vectors file: parsed text (what every cell did) against the
converted, memory-mapped store (first load converts, later loads map), in the same run.

A generated text file of ``--rows`` x ``--dim`` (default 2.2M x 300, like glove.840B.300d.txt:
words ``w<i>``, values with 6 decimals, about 5.5 GB) is written into a temporary folder (default
under /tmp) and deleted at the end. Each measurement runs in a fresh process, which reports its own
wall time, CPU time (user + system: what the work costs, whatever else the machine runs) and peak
resident memory (``ru_maxrss``); the load average before and after each measurement is recorded
beside it, so a reader sees how busy the machine was:

  text      ``read_vectors`` on the whole file: the old load of every cell
  first     the first load: conversion into the store, then the task's lookups
  later     a later load (run twice): open the store, look up a task's vocabulary of ``--words``
            words (half of them absent) and embed them

The store is keyed by the file's sha256, which a published archive's download sidecar provides;
the hashing time of the file (what a load of a plain path adds) is reported on its own.

Usage: python benchmarks/vectors_store.py [--rows 2200000] [--dim 300] [--words 30000]
                                       [--skip-text] [--out results/benchmarks/vectors_store.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from elmo_bench.atomic import write_text_atomically

_BLOCK_LINES = 10_000

# Run in a child process: argv = what, path, cache, sha256, words file. Prints one JSON line.
_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
what, path, cache, sha256, words_file = sys.argv[1:6]
started = time.perf_counter()
if what == "text":
    from elmo_bench.embedders.vectors_file import read_vectors
    rows = len(read_vectors(Path(path)).words)
else:
    from elmo_bench.embedders.static import vectors_store
    words = Path(words_file).read_text(encoding="utf-8").split("\n")
    store = vectors_store(Path(path), None, sha256)
    found = [row for row in map(store.row, words) if row is not None]
    vectors = store.take(np.array(found, dtype=np.int64))
    assert vectors.shape == (len(words) // 2, store.dim) and np.isfinite(vectors).all()
    rows = len(store)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"what": what, "seconds": time.perf_counter() - started, "rows": rows,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_bytes": usage.ru_maxrss * 1024}))
"""


def write_vectors_file(path: Path, rows: int, dim: int, seed: int = 0) -> None:
    """``rows`` lines ``w<i> v1 ... v<dim>``; the values of one block of lines, with 6 decimals,
    repeat in every block (parsing costs the same; generating 660M distinct numbers would not)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((_BLOCK_LINES, dim)).astype(np.float32) * 0.4
    tails = [" " + " ".join(f"{value:.6f}" for value in row) + "\n" for row in values]
    with open(path, "w", encoding="utf-8") as out:
        for start in range(0, rows, _BLOCK_LINES):
            count = min(_BLOCK_LINES, rows - start)
            out.write("".join(f"w{start + index}{tails[index]}" for index in range(count)))


def sha256_of(path: Path) -> tuple[str, float]:
    import hashlib

    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 22):
            digest.update(block)
    return digest.hexdigest(), time.perf_counter() - started


def measure(what: str, path: Path, cache: Path, sha256: str, words_file: Path) -> dict:
    load_before = os.getloadavg()[0]
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(path), str(cache), sha256, str(words_file)],
        check=True, capture_output=True, text=True, env={"ELMO_BENCH_CACHE": str(cache),
                                                         **_environment()},
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    print(f"{what}: {result['seconds']:.1f} s ({result['cpu_seconds']:.1f} s CPU), peak "
          f"{result['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    return result


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "ELMO_BENCH_CACHE"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_200_000)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--words", type=int, default=30_000, help="a task's vocabulary size")
    parser.add_argument("--skip-text", action="store_true", help="skip the text-parse baseline")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp"), help="where the file goes")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/vectors_store.json"))
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="vectors-store-bench-", dir=args.tmp))
    try:
        path = folder / "vectors.txt"
        started = time.perf_counter()
        write_vectors_file(path, args.rows, args.dim)
        file_bytes = path.stat().st_size
        print(f"generated {path}: {path.stat().st_size / 1e9:.2f} GB in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        rng = np.random.default_rng(1)
        present = rng.choice(args.rows, args.words // 2, replace=False)
        words = [f"w{index}" for index in present] + [f"absent{i}" for i in range(args.words // 2)]
        words_file = folder / "words.txt"
        words_file.write_text("\n".join(words), encoding="utf-8")
        sha256, hash_seconds = sha256_of(path)
        print(f"sha256 of the file: {hash_seconds:.1f} s", flush=True)
        cache = folder / "cache"
        runs = {}
        if not args.skip_text:
            runs["text"] = measure("text", path, cache, sha256, words_file)
        runs["first"] = measure("first", path, cache, sha256, words_file)
        later = [measure("later", path, cache, sha256, words_file) for _ in range(2)]
        runs["later"] = min(later, key=lambda run: run["seconds"])
        store_bytes = sum(file.stat().st_size for file in cache.rglob("*") if file.is_file())
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratios = {"first_over_later_seconds": runs["first"]["seconds"] / runs["later"]["seconds"],
              "first_over_later_cpu_seconds": runs["first"]["cpu_seconds"] / runs["later"]["cpu_seconds"],
              "first_over_later_peak_memory": runs["first"]["peak_rss_bytes"]
              / runs["later"]["peak_rss_bytes"]}
    if "text" in runs:
        ratios["text_over_later_seconds"] = runs["text"]["seconds"] / runs["later"]["seconds"]
        ratios["text_over_later_cpu_seconds"] = runs["text"]["cpu_seconds"] / runs["later"]["cpu_seconds"]
        ratios["text_over_later_peak_memory"] = (runs["text"]["peak_rss_bytes"]
                                                 / runs["later"]["peak_rss_bytes"])
        ratios["text_over_first_seconds"] = runs["text"]["seconds"] / runs["first"]["seconds"]
    record = {
        "command": "python benchmarks/vectors_store.py " + " ".join(argv or sys.argv[1:]),
        "niceness": os.nice(0),
        "rows": args.rows, "dim": args.dim, "task_words": args.words,
        "file_bytes": file_bytes,
        "store_bytes": store_bytes, "sha256_seconds": hash_seconds,
        "runs": runs, "later_runs": later, "ratios": ratios, "cpus": os.cpu_count(),
    }
    write_text_atomically(args.out, json.dumps(record, indent=1) + "\n")
    print(json.dumps(ratios, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
