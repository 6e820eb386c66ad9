"""Entry point of ``make bench``: ``elmo-bench bench`` (default preset ``standard``), then, with
``--with-speed``, the ELMo inference speed benchmark (``benchmarks/elmo_speed.py``).

Takes every ``elmo-bench bench`` argument: ``python run_benchmarks.py --preset smoke``,
``--tasks trec6 --seeds 1``, ``--set pretrain.bilm.overrides.train.max_steps=500``, ...
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from elmo_bench.commands import bench
from elmo_bench.errors import run_main

SPEED_BENCHMARK = "benchmarks/elmo_speed.py"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run_benchmarks.py", description=__doc__)
    bench.configure(parser)
    parser.add_argument(
        "--with-speed", action="store_true", help=f"also run {SPEED_BENCHMARK} after the grid"
    )
    args = parser.parse_args(argv)
    status = run_main("run_benchmarks.py", lambda: bench.run(args))
    if status or not args.with_speed:
        return status
    root = Path(__file__).resolve().parent
    print(f"== {SPEED_BENCHMARK}", flush=True)
    return subprocess.run([sys.executable, SPEED_BENCHMARK], cwd=root).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
