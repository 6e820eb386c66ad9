"""One benchmark run: data, pretraining stages, then the grid of cells; what ``elmo-bench bench`` does.

:func:`run_benchmark` takes resolved preset settings (:func:`~elmo_bench.runner.presets.resolve_preset`)
and, in order: writes the smoke data when the preset asks for it; locates and reads every split of
every selected task (a task that cannot read its data fails here); runs (or finds done) the
pretraining stages the selected embedders need; plans the cells; runs the unfinished ones with the
chosen executor; and writes ``<results_dir>/bench/<preset>.json``, the run's resolved settings,
stages and cell outcomes (the protocol behind the cell files, which stay the source of truth).
"""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from elmo_bench import paths
from elmo_bench.atomic import write_json
from elmo_bench.compared import sources_of
from elmo_bench.devices import resolve_device
from elmo_bench.embedders.registry import prepare_source, source_settings
from elmo_bench.runner.executors import make_executor
from elmo_bench.runner.grid import GridReport, check_tasks_data, plan_cells, run_grid, select
from elmo_bench.report import build_report
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.presets import check_run_settings
from elmo_bench.runner.request import RunRequest
from elmo_bench.runner.plan import measured_stage_seconds, plan_lines
from elmo_bench.runner.stages import StageOutcome, check_stages, plan_stages, run_stages
from elmo_bench.task import discover_tasks


@dataclass
class BenchmarkOutcome:
    """A finished benchmark run: where its cells are, its stages and the grid's report."""

    cells_dir: Path
    manifest: Path
    stages: list[StageOutcome]
    grid: GridReport
    report_dir: Path | None

    @property
    def failed(self) -> int:
        return len(self.grid.with_status("failed"))


def flat_sources(settings: dict[str, Any], device: str) -> dict[str, Any]:
    """``settings["embedder"]`` as ``{"elmo.weights": ..., "glove.vectors": ...}``, with
    ``elmo.device`` None replaced by ``device``."""
    sources = {
        f"{source}.{key}": value
        for source, values in settings["embedder"].items()
        for key, value in values.items()
    }
    if sources.get("elmo.device") is None:
        sources["elmo.device"] = device
    # The transformer is no setting of the presets: it runs where the heads do.
    sources.setdefault("transformer.device", device)
    return sources


def run_folders(settings: dict[str, Any]) -> tuple[Path, Path, Path | None]:
    """``(cache_dir, stages_dir, data_dir)`` of a run with ``settings`` (data_dir None: no data
    folder is set; with ``smoke_data``, where the smoke data is written)."""
    cache_dir = paths.cache_dir()
    stages_dir = Path(settings["stages_dir"] or cache_dir / "stages").expanduser()
    data_dir = settings["data_dir"] or (
        stages_dir / "smoke-data" if settings["smoke_data"] else paths.data_dir()
    )
    data_dir = None if data_dir is None else Path(data_dir).expanduser().resolve()
    return cache_dir, stages_dir, data_dir


def prepare_files(sources: dict[str, Any], embedders: Sequence[str], log: Callable[[str], None]) -> None:
    """Fetch (and convert) every published file the selected embedders read, once, before any
    cell: a failure stops the run here with one message instead of failing every cell."""
    by_source = source_settings(sources)
    needed = sorted(sources_of(embedders))
    for source in needed:
        started = time.perf_counter()
        prepared = prepare_source(source, by_source[source])
        if prepared is not None:
            log(f"{prepared}: ready in {time.perf_counter() - started:.1f} s")


def run_benchmark(
    settings: dict[str, Any],
    request: RunRequest = RunRequest(),
    *,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    report: bool = True,
    manifest: Path | None = None,
) -> BenchmarkOutcome:
    """Run the (selected part of the) grid of ``settings``; see the module docstring.

    Args:
        settings: resolved preset settings (modified: the selection is applied to them).
        request: the part of the grid, where cells go (``<results_dir>/cells/<preset>/``), extra
            task folders, and what is shown while running.
        log: where stage and setup lines go.
        report: build the preset's report once every cell is done (a curve's points do not:
            :mod:`elmo_bench.curves` draws their tables).
        manifest: where the run's record goes (default ``<results_dir>/bench/<preset>.json``).

    Raises:
        PresetError, TaskRegistryError, UnknownEmbedderError, SettingsError: bad settings or names
            (before any work starts).
        TaskDataError: a selected task cannot locate or read a split (before any work starts).
    """
    check_run_settings(settings)
    tasks_dirs, results_dir = request.tasks_dirs, request.results_dir
    registry = discover_tasks(tasks_dirs)
    select(settings, registry, request.tasks, request.embedders, request.seeds)
    device = resolve_device(settings["device"], log=log, what="--device")
    cache_dir, stages_dir, data_dir = run_folders(settings)
    if settings["smoke_data"]:
        write_smoke_data(data_dir)
        log(f"smoke data in {data_dir}")

    executor_settings = settings["executor"]
    submitit_settings = dict(executor_settings["submitit"])
    if submitit_settings["gpus_per_node"] is None and device.startswith("cuda"):
        # submitit hides every GPU from a job (CUDA_VISIBLE_DEVICES="") unless it asks for one.
        submitit_settings["gpus_per_node"] = 1
    submitit_folder = Path(submitit_settings["folder"] or cache_dir / "submitit" / settings["preset"])
    executor = make_executor(
        executor_settings["name"], executor_settings["workers"], submitit_settings, submitit_folder
    )
    sources = flat_sources(settings, device)
    # Read every split and plan once before the stages, so that a task that cannot read its
    # data or has bad settings fails before hours of pretraining; then say what will run and for
    # about how long.
    for name, counts in check_tasks_data(settings, registry, data_dir, cache_dir, device).items():
        log(f"{name}: " + ", ".join(f"{role} {count} examples" for role, count in counts.items()))
    cells_dir = Path(results_dir) / "cells" / settings["preset"]
    check_stages(settings)
    stage_plans = plan_stages(settings, settings["embedders"], data_dir, stages_dir)
    manifest = manifest or Path(results_dir) / "bench" / f"{settings['preset']}.json"
    planned = plan_cells(
        settings, registry, {**sources, **{k: v for plan in stage_plans for k, v in plan.sources.items()}},
        cells_dir, tasks_dirs, data_dir, cache_dir, device,
    )
    stage_seconds = {plan.name: measured_stage_seconds(manifest, plan.name, plan.config) for plan in stage_plans}
    workers = executor_settings["workers"] if executor.name != "local" else 1
    for line in plan_lines(settings["preset"], stage_plans, stage_seconds, planned, workers):
        log(line)
    prepare_files(sources, settings["embedders"], log)
    stages = run_stages(settings, settings["embedders"], data_dir, stages_dir, log)
    for stage in stages:
        sources.update(stage.sources)
    provenance = {
        "stages": {
            stage.name: {"folder": str(stage.folder), "config": stage.record["config"],
                         "cost": stage.record["cost"]}
            for stage in stages
        }
    }
    specs = plan_cells(
        settings, registry, sources, cells_dir, tasks_dirs, data_dir, cache_dir, device,
        provenance, request.verbose,
    )
    log(f"{len(specs)} cells ({len(settings['tasks'])} tasks, {len(settings['embedders'])} "
        f"embedders, {len(settings['seeds'])} seeds) -> {cells_dir}, executor {executor.name}")
    grid = run_grid(specs, executor, progress=request.progress)
    report_dir = None
    if report and not grid.with_status("failed"):
        report_dir = Path(results_dir) / (settings["report_dir"] or settings["preset"])
        build_report(cells_dir, report_dir, caveat=settings["report_caveat"])

    write_json(manifest, {
        "preset": settings["preset"],
        "settings": settings,
        "device": device,
        "data_dir": None if data_dir is None else str(data_dir),
        "sources": sources,
        "stages": provenance["stages"],
        "cells_dir": str(cells_dir),
        "cells": [asdict(outcome) for outcome in grid.outcomes],
        "grid_seconds": grid.seconds,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    return BenchmarkOutcome(cells_dir, manifest, stages, grid, report_dir)


def describe_outcome(outcome: BenchmarkOutcome) -> str:
    """One closing line: cells done, skipped and failed, time, where the files are."""
    grid = outcome.grid
    counts = {status: len(grid.with_status(status)) for status in ("done", "skipped", "failed")}
    if outcome.report_dir is not None:
        tables = f"; tables and plots in {outcome.report_dir}"
    else:  # a curve's point makes no report of its own: the curve's tables follow
        tables = "; no report while cells fail" if counts["failed"] else ""
    return (
        f"{counts['done']} cells run, {counts['skipped']} done before, {counts['failed']} failed "
        f"in {grid.seconds:.1f} s; results in {outcome.cells_dir}{tables}"
    )


def failure_details(outcome: BenchmarkOutcome) -> str:
    """The tracebacks of the failed cells."""
    return "\n".join(
        f"--- {failed.label}\n{failed.error}" for failed in outcome.grid.with_status("failed")
    )

