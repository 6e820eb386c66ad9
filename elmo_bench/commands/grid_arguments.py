"""The arguments ``elmo-bench bench`` and ``elmo-bench curves`` share, defined once: the preset and
its ``--set`` changes, a part of the grid, where cells run and go, and what is shown; and the one
path from them to resolved settings, a :class:`~elmo_bench.runner.request.RunRequest`, and the
closing lines of the runs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elmo_bench.devices import add_device_argument
from elmo_bench.runner.benchmark import BenchmarkOutcome, describe_outcome, failure_details
from elmo_bench.runner.executors import EXECUTORS
from elmo_bench.runner.presets import PRESETS, resolve_preset
from elmo_bench.runner.request import RunRequest
from elmo_bench.settings import parse_assignments

DEFAULT_PRESET = "standard"


def comma_names(text: str) -> list[str]:
    """``"a, b,"`` -> ``["a", "b"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def comma_seeds(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``."""
    try:
        return [int(seed) for seed in comma_names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes integers separated by commas, got {text!r}"
        ) from None


def add_grid_arguments(
    parser: argparse.ArgumentParser, *, preset_help: str, default_tasks: str, cells_folder: str,
    embedders: bool,
) -> None:
    """Add the shared arguments (and ``--embedders`` when the command chooses them).

    Args:
        preset_help: what the preset is to this command.
        default_tasks: the tasks run without ``--tasks``, in words.
        cells_folder: the folder under ``RESULTS_DIR/cells/`` that cells go to, in words.
        embedders: whether the command takes ``--embedders``.
    """
    parser.add_argument(
        "--preset", default=DEFAULT_PRESET,
        help=f"{preset_help}: one of {', '.join(PRESETS)} (default {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
        help="change a preset setting, e.g. pretrain.bilm.overrides.train.max_steps=500 or "
        "task_settings.squad11.options.max_train_questions=2000 (repeatable; values are JSON "
        "when they parse)",
    )
    parser.add_argument("--tasks", type=comma_names,
                        help=f"run only these tasks (comma separated; default {default_tasks})")
    if embedders:
        parser.add_argument("--embedders", type=comma_names, help="run only these embedders (comma separated)")
    parser.add_argument("--seeds", type=comma_seeds, help="run only these seeds (comma separated)")
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
        help=f"cells go to RESULTS_DIR/cells/{cells_folder}/ (default results)",
    )
    add_device_argument(parser, None)
    parser.add_argument("--verbose", action="store_true", help="print each cell's progress lines")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def preset_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved preset of the arguments: ``--set`` changes, then ``--executor``,
    ``--workers`` and ``--device`` when given.

    Raises:
        PresetError, SettingsError: an unknown preset or a bad change.
    """
    overrides = parse_assignments(args.overrides, "--set", "pretrain.glove.dim=50")
    for option, setting in (("executor", "executor.name"), ("workers", "executor.workers"), ("device", "device")):
        if getattr(args, option) is not None:
            overrides[setting] = getattr(args, option)
    return resolve_preset(args.preset, overrides)


def run_request(args: argparse.Namespace) -> RunRequest:
    """The part of the grid and the display the arguments ask for."""
    return RunRequest(
        tasks=args.tasks, embedders=getattr(args, "embedders", None), seeds=args.seeds,
        tasks_dirs=args.tasks_dir, results_dir=args.results_dir, verbose=args.verbose,
        progress=not args.no_progress,
    )


def print_outcomes(outcomes: Sequence[BenchmarkOutcome]) -> int:
    """Each run's closing line, and the tracebacks of its failed cells; 1 when a cell failed."""
    status = 0
    for outcome in outcomes:
        print(describe_outcome(outcome))
        if outcome.failed:
            print(failure_details(outcome))
            status = 1
    return status
