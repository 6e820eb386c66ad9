"""``elmo-bench report [--cells DIR] [--out DIR]``: tables, plots and seed-aware significance tests
rebuilt from the cell result files (README.md, results.csv/json/tex, scores.png,
cost_vs_score.png)."""

from __future__ import annotations

import argparse
from pathlib import Path

from elmo_bench.report import REPORT_FILES, build_report
from elmo_bench.report.significance import DEFAULT_RESAMPLES, DEFAULT_SEED

DEFAULT_CELLS_DIR = Path("results") / "cells" / "standard"
DEFAULT_OUT_DIR = Path("results")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cells",
        type=Path,
        default=DEFAULT_CELLS_DIR,
        help=f"folder of cell result files, read recursively (default {DEFAULT_CELLS_DIR})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"report folder (default {DEFAULT_OUT_DIR})",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples per comparison and task (default {DEFAULT_RESAMPLES:,})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"bootstrap seed (default {DEFAULT_SEED})"
    )


def run(args: argparse.Namespace) -> int:
    document = build_report(args.cells, args.out, resamples=args.resamples, seed=args.seed)
    comparisons = document["comparisons"]
    tested = sum(1 for comparison in comparisons if comparison["p_two_sided"] is not None)
    print(
        f"report of {len(document['source']['cell_files'])} cells "
        f"({len(document['scores'])} task x embedder rows, {tested} of "
        f"{len(comparisons)} comparisons tested) -> "
        f"{', '.join(str(args.out / name) for name in REPORT_FILES)}"
    )
    return 0
