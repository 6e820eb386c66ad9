"""``elmo-bench bench``: run every task x embedder x seed of a preset; resumable.

``elmo-bench bench --preset smoke`` runs the whole pipeline on tiny generated data in about a
minute; ``--preset standard`` (the default) pretrains GloVe and a CPU-sized biLM on the Wikipedia
corpus and compares them on the five tasks; ``--preset paper`` is the full protocol for a GPU.
``--tasks``, ``--embedders`` and ``--seeds`` run a part of the grid; ``--set key.path=value``
changes any preset setting (``elmo-bench list`` shows the presets; their settings are in
``elmo_bench/runner/presets.py``). Each cell's result goes to
``<results-dir>/cells/<preset>/<task>.<embedder>.seed<S>.json``; a rerun skips finished cells.
"""

from __future__ import annotations

import argparse
import logging

from elmo_bench.commands.grid_arguments import add_grid_arguments, preset_settings, print_outcomes, run_request
from elmo_bench.runner.benchmark import run_benchmark


def results_table(report_markdown: str) -> str:
    """The first table of the report's README.md (tasks x embedders), with its heading."""
    lines = report_markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    heading = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].startswith("#")), "")
    return "\n".join(([heading, ""] if heading else []) + lines[start:end])


def configure(parser: argparse.ArgumentParser) -> None:
    add_grid_arguments(parser, preset_help="the protocol", default_tasks="the preset's",
                       cells_folder="PRESET", embedders=True)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    outcome = run_benchmark(preset_settings(args), run_request(args))
    if outcome.report_dir is not None:
        print(results_table((outcome.report_dir / "README.md").read_text(encoding="utf-8")))
    return print_outcomes([outcome])
