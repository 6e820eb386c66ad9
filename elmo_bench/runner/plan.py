"""The plan a benchmark run prints before any work: its stages, its cells, and how long they are
estimated to take.

Estimates are measurements, not a cost model: a stage's from the last manifest of the same preset
(``<results>/bench/<preset>.json``) when that manifest's stage had the same settings (thread and
worker counts aside); a cell's from the result files in the cells folder of the same task and
embedder trained with the same task settings (any seed, any embedder weights: a stale cell of
an earlier biLM still measures the head's cost). Anything without such a measurement is counted
as unknown and said so; the total is then a lower bound. Wall time divides the cells' seconds by
the executor's workers, as the pool runs that many cells at once.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elmo_bench.runner.grid import CellSpec, finished_result
from elmo_bench.runner.stage_folders import RUNTIME_KEYS
from elmo_bench.runner.stages import StagePlan


def _same_settings(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def strip(config: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in config.items() if key not in RUNTIME_KEYS}
    return json.loads(json.dumps(strip(a), default=str)) == json.loads(json.dumps(strip(b), default=str))


def measured_stage_seconds(manifest: Path, name: str, config: Mapping[str, Any]) -> float | None:
    """Wall seconds of stage ``name`` in the manifest ``manifest`` when it ran there with
    ``config`` (runtime keys aside) in one invocation; None otherwise."""
    try:
        stage = json.loads(manifest.read_text(encoding="utf-8"))["stages"][name]
        cost = stage["cost"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if cost.get("resumed") or not _same_settings(stage.get("config", {}), config):
        return None
    return float(cost["wall_seconds_last_invocation"])


def measured_cell_seconds(specs: Sequence[CellSpec]) -> dict[tuple[str, str], float]:
    """``{(task, embedder): median total seconds}`` of the result files beside ``specs``'
    results whose task and embedder match one of ``specs`` and whose task settings are that
    spec's (the device aside)."""
    wanted = {(spec.task, spec.embedder): spec.task_settings for spec in specs}
    folders = {Path(spec.result_path).parent for spec in specs}
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                key = (result["task"], result["embedder"])
                settings, total = result["settings"], float(result["timings"]["total_seconds"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if key in wanted and _same_settings_of_cell(settings, wanted[key]):
                seconds[key].append(total)
    return {key: statistics.median(values) for key, values in seconds.items()}


def _same_settings_of_cell(recorded: Mapping[str, Any], planned: Mapping[str, Any]) -> bool:
    def without_device(settings: Mapping[str, Any]) -> dict[str, Any]:
        copy = json.loads(json.dumps(settings, default=str))
        copy.get("training", {}).pop("device", None)
        return copy
    return without_device(recorded) == without_device(planned)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def plan_lines(
    preset: str,
    stages: Sequence[StagePlan],
    stage_seconds: Mapping[str, float | None],
    specs: Sequence[CellSpec],
    workers: int,
) -> list[str]:
    """The plan as log lines: each stage (done, or to run with its measured cost), the cells per
    task (how many are done), and the estimated wall time of what is left."""
    lines = [f"plan of the {preset!r} run:"]
    known, unknown = 0.0, []
    for stage in stages:
        if stage.done:
            lines.append(f"  stage {stage.name}: done ({stage.folder})")
            continue
        seconds = stage_seconds.get(stage.name)
        if seconds is None:
            unknown.append(f"stage {stage.name}")
            cost = "not measured before"
        else:
            known += seconds
            cost = f"measured {_duration(seconds)}"
        lines.append(f"  stage {stage.name}: to run, {stage.description} ({cost}) -> {stage.folder}")
    per_cell = measured_cell_seconds(specs)
    by_task: dict[str, list[CellSpec]] = defaultdict(list)
    for spec in specs:
        by_task[spec.task].append(spec)
    cell_seconds = 0.0
    for task, task_specs in by_task.items():
        left = [spec for spec in task_specs if finished_result(spec) is None]
        embedders = list(dict.fromkeys(spec.embedder for spec in task_specs))
        task_seconds = [per_cell.get((spec.task, spec.embedder)) for spec in left]
        unmeasured = sum(value is None for value in task_seconds)
        cell_seconds += sum(value for value in task_seconds if value is not None)
        if unmeasured:
            unknown.append(f"{unmeasured} {task} cell(s)")
        lines.append(
            f"  {task}: {len(task_specs)} cells ({', '.join(embedders)} x "
            f"{len({spec.seed for spec in task_specs})} seeds), {len(task_specs) - len(left)} done"
        )
    known += cell_seconds / max(workers, 1)
    total = f"estimated time left: {_duration(known)} ({workers} cells at a time)"
    if unknown:
        total += f", plus what was never measured: {', '.join(unknown)}"
    lines.append("  " + total)
    return lines
