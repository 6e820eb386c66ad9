"""Entry point of ``make bench``: runs every benchmark that exists so far and writes ``results/``.

Today that is the ELMo inference speed benchmark (``benchmarks/elmo_speed.py``); the task grid
(every task x embedder x seed) will be run from here once the runner lands.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = [
    ["benchmarks/elmo_speed.py"],
]


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent
    for benchmark in BENCHMARKS:
        print(f"== {' '.join(benchmark)}", flush=True)
        completed = subprocess.run([sys.executable, *benchmark, *argv], cwd=root)
        if completed.returncode:
            return completed.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
