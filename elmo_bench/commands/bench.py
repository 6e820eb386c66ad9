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
from pathlib import Path

from elmo_bench.devices import add_device_argument
from elmo_bench.runner.benchmark import describe_outcome, failure_details, run_benchmark
from elmo_bench.runner.executors import EXECUTORS
from elmo_bench.runner.presets import PRESETS, resolve_preset
from elmo_bench.settings import parse_assignments

DEFAULT_PRESET = "standard"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _seeds(text: str) -> list[int]:
    try:
        return [int(seed) for seed in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes integers separated by commas, got {text!r}"
        ) from None


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
    parser.add_argument(
        "--preset", default=DEFAULT_PRESET,
        help=f"one of {', '.join(PRESETS)} (default {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="change a preset setting, e.g. pretrain.bilm.overrides.train.max_steps=500 or "
        "task_settings.squad11.options.max_train_questions=2000 (repeatable; values are JSON "
        "when they parse)",
    )
    parser.add_argument("--tasks", type=_names, help="run only these tasks (comma separated)")
    parser.add_argument("--embedders", type=_names, help="run only these embedders (comma separated)")
    parser.add_argument("--seeds", type=_seeds, help="run only these seeds (comma separated)")
    parser.add_argument(
        "--executor", help=f"where cells run: {', '.join(EXECUTORS)} (default: the preset's, local)"
    )
    parser.add_argument("--workers", type=int, help="processes (pool) or jobs in flight (submitit)")
    parser.add_argument(
        "--tasks-dir", action="append", default=[], type=Path,
        help="another folder of task modules (repeatable)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=Path("results"),
        help="cells go to RESULTS_DIR/cells/PRESET/ (default results)",
    )
    add_device_argument(parser, None)
    parser.add_argument("--verbose", action="store_true", help="print each cell's progress lines")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    overrides = parse_assignments(args.overrides, "--set", "pretrain.glove.dim=50")
    if args.executor is not None:
        overrides["executor.name"] = args.executor
    if args.workers is not None:
        overrides["executor.workers"] = args.workers
    if args.device is not None:
        overrides["device"] = args.device
    settings = resolve_preset(args.preset, overrides)
    outcome = run_benchmark(
        settings,
        tasks=args.tasks,
        embedders=args.embedders,
        seeds=args.seeds,
        tasks_dirs=args.tasks_dir,
        results_dir=args.results_dir,
        verbose=args.verbose,
        progress=not args.no_progress,
    )
    if outcome.report_dir is not None:
        print(results_table((outcome.report_dir / "README.md").read_text(encoding="utf-8")))
    print(describe_outcome(outcome))
    if outcome.failed:
        print(failure_details(outcome))
        return 1
    return 0
