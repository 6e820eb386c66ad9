"""Run a curve (every point an ordinary grid run: resumable, cached, cell files under
``results/cells/<point>/``), plan it without running (cells and estimated cost), and write its
tables and plot under ``results/curves/`` (``results/<preset>/curves/`` for presets other than
``standard``, as the preset's report folder)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from elmo_bench.atomic import write_bytes_atomically
from elmo_bench.curves.definitions import CURVE_TASKS, CurveDefinition
from elmo_bench.curves.estimate import estimate_seconds, reference_costs
from elmo_bench.curves.plots import PLOTS
from elmo_bench.curves.points import CurvePoint, curve_points
from elmo_bench.curves.render import csv_text, json_text, markdown
from elmo_bench.curves.stats import curve_numbers
from elmo_bench.embedders.transformer import minilm_model_dir
from elmo_bench.runner.benchmark import (
    BenchmarkOutcome,
    flat_sources,
    resolve_device,
    run_benchmark,
    run_folders,
)
from elmo_bench.runner.grid import CellSpec, finished_result, plan_cells, select, task_settings
from elmo_bench.runner.request import RunRequest
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.stages import plan_stages
from elmo_bench.task import TaskRegistry, discover_tasks


def curves_dir(settings: dict[str, Any], results_dir: Path) -> Path:
    """Where a preset's curves go: ``<results_dir>/<report_dir>/curves``."""
    return Path(results_dir) / (settings["report_dir"] or settings["preset"]) / "curves"


def curve_tasks(tasks: Sequence[str] | None) -> list[str]:
    return list(tasks) if tasks is not None else list(CURVE_TASKS)


def curve_seeds(settings: dict[str, Any], seeds: Sequence[int] | None) -> list[int]:
    return list(seeds) if seeds is not None else list(settings["seeds"])


def manifest_path(results_dir: Path, definition: CurveDefinition, point: CurvePoint) -> Path:
    return Path(results_dir) / "bench" / "curves" / definition.name / f"{point.cells_name}.json"


def run_curve(
    definition: CurveDefinition,
    settings: dict[str, Any],
    request: RunRequest = RunRequest(),
    *,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> list[BenchmarkOutcome]:
    """Run every point of ``definition`` under the preset ``settings`` (cells done before are
    skipped), then write its tables and plot. Each point is a grid run of ``request`` with the
    curve's tasks (by default :data:`~elmo_bench.curves.definitions.CURVE_TASKS`) and the point's
    embedders. A curve without an axis (the transformer) also rebuilds the preset's report, where
    its rows stand beside the preset's.

    Raises:
        CurveError: the pretraining curve's biLM stage is unfinished or has no snapshots.
        TransformerModelError: the transformer curve without its default model's package.
        PresetError, TaskRegistryError, UnknownEmbedderError, SettingsError: bad settings.
    """
    points = curve_points(definition, settings)
    if "transformer" in definition.embedders and settings["embedder"]["transformer"]["model"] is None:
        minilm_model_dir()  # the default model's package is there, or one line says how to get it
    outcomes = []
    for point in points:
        log(f"curve {definition.name}: point {point.label} -> "
            f"{Path(request.results_dir) / 'cells' / point.cells_name}")
        point_request = replace(
            request, tasks=curve_tasks(request.tasks), embedders=point.embedders,
            seeds=curve_seeds(settings, request.seeds),
        )
        outcomes.append(run_benchmark(
            copy.deepcopy(point.settings), point_request, log=log, report=definition.axis == "none",
            manifest=manifest_path(request.results_dir, definition, point),
        ))
    if not any(outcome.failed for outcome in outcomes):
        write_curve_files(definition, points, settings, request)
    return outcomes


def write_curve_files(
    definition: CurveDefinition,
    points: Sequence[CurvePoint],
    settings: dict[str, Any],
    request: RunRequest = RunRequest(),
    *,
    resamples: int = 10_000,
    bootstrap_seed: int = 0,
) -> list[Path]:
    """``<curve>.md``, ``.csv``, ``.json`` (and ``.png`` for a curve with an axis) from the cell
    files that exist (of ``request``'s tasks and seeds under its results folder); every file is
    rendered before the first is written, each atomically.

    Raises:
        CellFileError: a cell file that is not a valid cell result.
    """
    results_dir = request.results_dir
    numbers = curve_numbers(definition, points, curve_tasks(request.tasks), curve_seeds(settings, request.seeds),
                            results_dir, resamples, bootstrap_seed)
    command = f"elmo-bench curves {definition.name} --preset {settings['preset']}"
    outputs = {
        f"{definition.name}.md": markdown(numbers, settings["preset"], command).encode("utf-8"),
        f"{definition.name}.csv": csv_text(numbers).encode("utf-8"),
        f"{definition.name}.json": json_text(numbers, settings["preset"], command).encode("utf-8"),
    }
    if definition.axis in PLOTS:
        outputs[f"{definition.name}.png"] = PLOTS[definition.axis](numbers)
    folder = curves_dir(settings, results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in outputs.items():
        write_bytes_atomically(folder / name, content)
    return [folder / name for name in outputs]


# ------------------------------------------------------------------------------------------------
# Planning without running


@dataclass(frozen=True)
class PlannedCell:
    """One cell of a curve's plan: ``status`` is ``done`` (a finished file with its fingerprint)
    or ``to run``; ``seconds`` the estimate (None without a reference cell)."""

    point: str
    cells_name: str
    label: str
    status: str
    seconds: float | None
    basis: str

    @property
    def key(self) -> tuple[str, str]:
        """Cells shared between curves (the preset's own) have the same key."""
        return self.cells_name, self.label


def _finished_specs(point: CurvePoint, tasks: list[str], seeds: list[int], results_dir: Path,
                    tasks_dirs: Sequence[Path]) -> list[CellSpec] | None:
    """The point's cell specs when every stage its embedders need is finished; else None."""
    settings = copy.deepcopy(point.settings)
    registry = discover_tasks(tasks_dirs)
    select(settings, registry, tasks, list(point.embedders), seeds)
    cache_dir, stages_dir, data_dir = run_folders(settings)
    if settings["smoke_data"]:
        write_smoke_data(data_dir)  # its corpus's content names the stages' folders
    stages = plan_stages(settings, settings["embedders"], data_dir, stages_dir)
    if not all(stage.done for stage in stages):
        return None
    device = resolve_device(settings["device"])
    sources = flat_sources(settings, device)
    for stage in stages:
        sources.update(stage.sources)
    cells_dir = Path(results_dir) / "cells" / settings["preset"]
    return plan_cells(settings, registry, sources, cells_dir, tasks_dirs, data_dir, cache_dir, device)


def plan_curve(
    definition: CurveDefinition,
    settings: dict[str, Any],
    request: RunRequest = RunRequest(),
) -> tuple[list[CurvePoint], list[PlannedCell]]:
    """Every cell of the curve (of ``request``'s tasks and seeds) with its status and estimated
    seconds, nothing run or trained (points whose biLM is not pretrained yet are listed, all their
    cells to run)."""
    points = curve_points(definition, settings, require_inputs=False)
    tasks_dirs, results_dir = request.tasks_dirs, request.results_dir
    task_names, seed_list = curve_tasks(request.tasks), curve_seeds(settings, request.seeds)
    references = reference_costs(Path(results_dir) / "cells" / settings["preset"])
    registry = discover_tasks(tasks_dirs)
    planned = []
    for point in points:
        specs = _finished_specs(point, task_names, seed_list, results_dir, tasks_dirs) if point.ready else None
        done = {spec.label for spec in specs if finished_result(spec) is not None} if specs else set()
        fraction = point.settings.get("train_fraction") or 1.0
        for task in task_names:
            training = _training_settings(point, registry, task)
            for embedder in point.embedders:
                seconds, basis = estimate_seconds(references, task, embedder, training, fraction)
                for seed in seed_list:
                    label = f"{task}.{embedder}.seed{seed}"
                    status = "done" if label in done else "to run"
                    planned.append(PlannedCell(point.label, point.cells_name, label, status,
                                               None if status == "done" else seconds, basis))
    return points, planned


def _training_settings(point: CurvePoint, registry: TaskRegistry, task: str) -> dict[str, Any]:
    """The task's merged training settings under the point's preset (epoch cap, patience)."""
    settings = copy.deepcopy(point.settings)
    settings["tasks"] = [task]
    return task_settings(settings, registry, "cpu")[task]["training"]
