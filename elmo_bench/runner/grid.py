"""The benchmark grid: one cell per (task, embedder, seed), one result file per cell, resumable.

:func:`plan_cells` turns resolved preset settings into :class:`CellSpec` objects: plain, picklable
descriptions of a cell (task settings merged and validated, embedder sources, the folders it reads
and writes), each with its *settings fingerprint*, the digest of everything that determines its
scores (:mod:`elmo_bench.runner.identity`). :func:`execute_cell` runs one spec anywhere (this
process, a pool worker, a submitit job): the spec's data folders go to the task it builds, and
from there to the readers; nothing travels through the environment. It writes
``results/cells/<preset>/<task>.<embedder>.seed<S>.json`` atomically with
:func:`elmo_bench.cell.write_result`. :func:`run_grid` skips the cells whose file parses and
carries the spec's fingerprint, so a killed run continues where it stopped, and a file that is
stale (other settings, weights or data), corrupt or partial is redone.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from elmo_bench.cache import EmbeddingCache
from elmo_bench.cell import RESULT_FORMAT_VERSION, run_cell, summary_line, write_result
from elmo_bench.compared import COMPARED_EMBEDDERS, build_embedder, check_embedder_names
from elmo_bench.data.subsets import check_fraction
from elmo_bench.embedders.registry import source_settings
from elmo_bench.errors import USER_ERRORS, one_line
from elmo_bench.paths import DataFolders
from elmo_bench.runner.identity import cell_fingerprint, data_identity, settings_read, source_identity
from elmo_bench.runner.presets import TASK_SECTIONS
from elmo_bench.settings import PresetError, did_you_mean
from elmo_bench.task import TaskRegistry, TrainingConfig, discover_tasks
from elmo_bench.training_checkpoint import TRAINING_CHECKPOINTS_DIR, EpochCheckpoint

RUNNER_KEY = "runner"
"""The key of a result under which the runner records the cell's preset and fingerprint."""


@dataclass(frozen=True)
class CellSpec:
    """Everything a worker needs to run one cell; plain data, picklable.

    Attributes:
        preset: the preset's name (the results subfolder).
        task, embedder, seed: the cell.
        task_settings: the task's merged ``options``, ``head`` and ``training``.
        sources: the embedder's source settings (``{"elmo.weights": path, ...}``).
        tasks_dirs: extra task folders the worker loads (absolute paths).
        data_dir: the local data folder the task reads, or None (see :attr:`data_folders`).
        cache_dir: the cache folder: embeddings go to its ``embeddings/``, Hub copies of the
            task's data to its ``hub/``.
        result_path: the cell's result file (absolute).
        threads: torch threads while the cell runs.
        fingerprint: the settings fingerprint
            (:func:`~elmo_bench.runner.identity.cell_fingerprint`).
        provenance: what the result records under ``runner`` besides the fingerprint (the
            pretraining stages its sources came from).
        verbose: print the cell's progress lines to stderr.
        train_fraction: the nested part of the training split the head trains on
            (:mod:`elmo_bench.data.subsets`); None: all of it.
    """

    preset: str
    task: str
    embedder: str
    seed: int
    task_settings: dict[str, dict[str, Any]]
    sources: dict[str, Any]
    tasks_dirs: tuple[str, ...]
    data_dir: str | None
    cache_dir: str
    result_path: str
    threads: int
    fingerprint: str
    provenance: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False
    train_fraction: float | None = None

    @property
    def label(self) -> str:
        return f"{self.task}.{self.embedder}.seed{self.seed}"

    @property
    def data_folders(self) -> DataFolders:
        """Where the cell's task reads its data."""
        return DataFolders(
            None if self.data_dir is None else Path(self.data_dir), Path(self.cache_dir)
        )


@dataclass(frozen=True)
class CellOutcome:
    """What became of one cell: ``status`` is ``done``, ``skipped`` (finished before) or
    ``failed`` (``error`` holds the traceback)."""

    label: str
    status: str
    result_path: str
    summary: str = ""
    seconds: float = 0.0
    error: str = ""


def result_path(cells_dir: Path, task: str, embedder: str, seed: int) -> Path:
    """``<cells_dir>/<task>.<embedder>.seed<S>.json``."""
    return cells_dir / f"{task}.{embedder}.seed{seed}.json"


# ------------------------------------------------------------------------------------------------
# Planning


def select(
    settings: dict[str, Any],
    registry: TaskRegistry,
    tasks: Sequence[str] | None = None,
    embedders: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> None:
    """Narrow ``settings``' tasks, embedders and seeds to a part of the grid (in place) and check
    every name.

    Raises:
        TaskRegistryError: an unknown task (with the closest name).
        UnknownEmbedderError: an unknown embedder (with the closest name).
        PresetError: no cells, repeated names, or a seed that is not an integer.
    """
    for key, chosen in (("tasks", tasks), ("embedders", embedders), ("seeds", seeds)):
        if chosen is not None:
            settings[key] = list(chosen)
    for name in settings["tasks"]:
        registry.get(name)
    check_embedder_names(settings["embedders"])
    for seed in settings["seeds"]:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise PresetError(f"seeds must be integers, got {seed!r}")
    for key in ("tasks", "embedders", "seeds"):
        values = settings[key]
        if not values:
            raise PresetError(f"no {key} selected: the grid is empty")
        if len(set(values)) != len(values):
            raise PresetError(f"{key} repeats a value: {values}")
    for task, names in settings["task_embedders"].items():
        registry.get(task)
        if not isinstance(names, list) or not names:
            raise PresetError(f"task_embedders.{task} must be a non-empty list of embedders, got {names!r}")
        check_embedder_names(names, f"task_embedders.{task}: ")


def task_embedders(settings: Mapping[str, Any], task: str) -> list[str]:
    """The selected embedders that ``task`` runs: ``embedders``, narrowed by ``task_embedders``."""
    chosen = settings["task_embedders"].get(task)
    return [name for name in settings["embedders"] if chosen is None or name in chosen]


def task_settings(
    settings: Mapping[str, Any], registry: TaskRegistry, device: str
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each selected task's merged, validated ``options``/``head``/``training``.

    ``training.device`` starts at ``device``; then ``task_defaults`` (each key applied to the
    selected tasks that have it), then ``task_settings.<task>``.

    Raises:
        PresetError: a ``task_defaults`` key no selected task has, a ``task_settings`` entry for
            an unknown task or section (each with the closest known name).
        SettingsError: a ``task_settings`` key the task does not have (from the task).
    """
    classes = {name: registry.get(name) for name in settings["tasks"]}
    training_keys = set(asdict(TrainingConfig()))
    defaults = settings["task_defaults"]
    for section, values in defaults.items():
        if section not in TASK_SECTIONS:
            raise PresetError(
                f"task_defaults has no section {section!r}{did_you_mean(section, TASK_SECTIONS)}; "
                f"known: {', '.join(TASK_SECTIONS)}"
            )
        known = set().union(*(_section_keys(c, section, training_keys) for c in classes.values()))
        for key in values:
            if key not in known:
                raise PresetError(
                    f"task_defaults.{section}.{key}: no selected task has {section} setting "
                    f"{key!r}{did_you_mean(key, known)}; known: {', '.join(sorted(known))}"
                )
    per_task = settings["task_settings"]
    for name, sections in per_task.items():
        if name not in registry.names():
            raise PresetError(
                f"task_settings names unknown task {name!r}{did_you_mean(name, registry.names())}; "
                f"known tasks: {', '.join(registry.names())}"
            )
        for section in sections:
            if section not in TASK_SECTIONS:
                raise PresetError(
                    f"task_settings.{name} has no section {section!r}"
                    f"{did_you_mean(section, TASK_SECTIONS)}; known: {', '.join(TASK_SECTIONS)}"
                )
    merged = {}
    for name, cls in classes.items():
        overrides: dict[str, dict[str, Any]] = {
            "options": {}, "head": {}, "training": {"device": device}
        }
        for section in TASK_SECTIONS:
            keys = _section_keys(cls, section, training_keys)
            overrides[section].update(
                {key: value for key, value in defaults.get(section, {}).items() if key in keys}
            )
            overrides[section].update(per_task.get(name, {}).get(section, {}))
        task = cls(**overrides)  # validates every key and the training values
        merged[name] = {
            "options": dict(task.options), "head": dict(task.head), "training": dict(task.training)
        }
    return merged


def check_tasks_data(
    settings: Mapping[str, Any],
    registry: TaskRegistry,
    data_dir: Path | None,
    cache_dir: Path,
    device: str,
) -> dict[str, dict[str, int]]:
    """Locate and read every split of every selected task (with its grid settings), before any
    pretraining or training; returns the examples per task and role.

    Raises:
        TaskDataError: a split cannot be located or read (one line: task, role, path, fix).
    """
    merged = task_settings(settings, registry, device)
    folders = DataFolders(data_dir, cache_dir)
    return {
        name: registry.get(name)(**merged[name], data_folders=folders).check_data()
        for name in settings["tasks"]
    }


def _section_keys(task_class: type, section: str, training_keys: set[str]) -> set[str]:
    return training_keys if section == "training" else set(getattr(task_class, section))


def train_fraction(settings: Mapping[str, Any]) -> float | None:
    """The preset's ``train_fraction`` as the cells take it: None for the whole training split
    (the setting unset or 1), else the fraction in (0, 1).

    Raises:
        PresetError: a value that is not a number in (0, 1].
    """
    value = settings.get("train_fraction")
    if value is None:
        return None
    try:
        fraction = check_fraction(value)
    except ValueError as error:
        raise PresetError(str(error)) from None
    return None if fraction == 1 else fraction


def plan_cells(
    settings: Mapping[str, Any],
    registry: TaskRegistry,
    sources: Mapping[str, Any],
    cells_dir: Path,
    tasks_dirs: Sequence[Path],
    data_dir: Path | None,
    cache_dir: Path,
    device: str,
    provenance: Mapping[str, Any] | None = None,
    verbose: bool = False,
) -> list[CellSpec]:
    """The cells of the selected grid, task by task, embedder by embedder, seed by seed.

    Args:
        settings: resolved preset settings (after :func:`select`).
        registry: the loaded tasks.
        sources: flat embedder source settings (``{"elmo.weights": path, ...}``, every key).
        cells_dir: where the result files go.
        tasks_dirs, data_dir, cache_dir: what the workers load and read (data_dir None: no local
            data folder, every split from the Hub copies in cache_dir).
        device: the resolved device (``cpu``/``cuda``).
        provenance: recorded in every result under ``runner`` (the stages).
        verbose: cells print their progress lines.
    """
    by_source = source_settings(sources)
    merged = task_settings(settings, registry, device)
    fraction = train_fraction(settings)
    folders = DataFolders(data_dir, cache_dir)
    data = {
        name: data_identity(registry.get(name)(**merged[name], data_folders=folders))
        for name in settings["tasks"]
    }
    identities: dict[str, dict[str, Any]] = {}  # by the JSON of the settings read
    specs = []
    for task in settings["tasks"]:
        for embedder in task_embedders(settings, task):
            uses = COMPARED_EMBEDDERS[embedder]
            cell_sources = {}
            for source in sorted({use.source for use in uses}):
                read = settings_read(source, by_source[source], uses)
                key = json.dumps([source, read], sort_keys=True, default=str)
                if key not in identities:
                    identities[key] = source_identity(read)
                cell_sources[source] = identities[key]
            for seed in settings["seeds"]:
                specs.append(
                    CellSpec(
                        preset=settings["preset"],
                        task=task,
                        embedder=embedder,
                        seed=seed,
                        task_settings=merged[task],
                        sources=dict(sources),
                        tasks_dirs=tuple(str(Path(folder).resolve()) for folder in tasks_dirs),
                        data_dir=None if data_dir is None else str(Path(data_dir).resolve()),
                        cache_dir=str(Path(cache_dir).resolve()),
                        result_path=str(result_path(Path(cells_dir).resolve(), task, embedder, seed)),
                        threads=settings["threads"],
                        fingerprint=cell_fingerprint(
                            task, embedder, seed, merged[task], cell_sources, data[task], fraction,
                            registry.get(task).subset_strata,
                        ),
                        provenance=dict(provenance or {}),
                        verbose=verbose,
                        train_fraction=fraction,
                    )
                )
    return specs


# ------------------------------------------------------------------------------------------------
# Running one cell


def finished_result(spec: CellSpec) -> dict[str, Any] | None:
    """The cell's result file when it parses and matches ``spec`` (fingerprint, task, embedder,
    seed, format); None when it is missing, corrupt, partial or stale."""
    try:
        result = json.loads(Path(spec.result_path).read_text(encoding="utf-8"))
        matches = (
            result["format_version"] == RESULT_FORMAT_VERSION
            and result[RUNNER_KEY]["fingerprint"] == spec.fingerprint
            and result["task"] == spec.task
            and result["embedder"] == spec.embedder
            and result["seed"] == spec.seed
        )
        summary_line(result)  # every field the summary needs is there
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return result if matches else None


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch uses ``threads`` threads for the block; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_cell_spec(spec: CellSpec) -> dict[str, Any]:
    """Run one cell and write its result file; returns the result. Raises what the cell raises.

    A cell whose result another run finished since this grid was planned (two runs sharing a
    results folder, e.g. one cell run ahead with ``--tasks``/``--seeds``) is returned as it is.
    """
    finished = finished_result(spec)
    if finished is not None:
        return finished
    with _torch_threads(spec.threads):
        registry = discover_tasks(spec.tasks_dirs)
        task = registry.get(spec.task)(**spec.task_settings, data_folders=spec.data_folders)
        embedder = build_embedder(spec.embedder, spec.sources)
        def log(line: str) -> None:
            print(f"[{spec.label}] {line}", file=sys.stderr, flush=True)

        cache = EmbeddingCache(Path(spec.cache_dir) / "embeddings")
        checkpoint = training_checkpoint(spec)
        result = run_cell(task, embedder, spec.seed, cache, log=log if spec.verbose else None,
                          train_fraction=spec.train_fraction, checkpoint=checkpoint)
    # The process id says which cells shared a process (its peak memory covers all of them).
    result[RUNNER_KEY] = {"preset": spec.preset, "fingerprint": spec.fingerprint, "process_id": os.getpid(),
                          **spec.provenance}
    write_result(spec.result_path, result)
    checkpoint.remove()
    return result


def training_checkpoint(spec: CellSpec) -> EpochCheckpoint:
    """The cell's head-training checkpoint: ``<cache>/training/<fingerprint>.pt``, so a killed
    cell resumes after its last finished epoch, and a cell with other settings, data or weights
    (another fingerprint) never does from it."""
    return EpochCheckpoint(
        Path(spec.cache_dir) / TRAINING_CHECKPOINTS_DIR / f"{spec.fingerprint}.pt",
        {"task": spec.task, "embedder": spec.embedder, "seed": spec.seed, "fingerprint": spec.fingerprint},
    )


def execute_cell(spec: CellSpec) -> CellOutcome:
    """:func:`run_cell_spec`, with a failure returned as a ``failed`` outcome so that one bad
    cell does not stop the others: in ``error``, a user error's one line, or a bug's traceback.
    What every executor runs."""
    started = time.perf_counter()
    try:
        result = run_cell_spec(spec)
    except USER_ERRORS as error:
        return CellOutcome(
            spec.label, "failed", spec.result_path, seconds=time.perf_counter() - started,
            error=f"error: {one_line(error)}",
        )
    except Exception:  # a bug: reported with the grid, traceback and all, never lost
        return CellOutcome(
            spec.label, "failed", spec.result_path, seconds=time.perf_counter() - started,
            error=traceback.format_exc(),
        )
    return CellOutcome(
        spec.label, "done", spec.result_path, summary_line(result), time.perf_counter() - started
    )


# ------------------------------------------------------------------------------------------------
# The grid


@dataclass
class GridReport:
    """Outcomes of a grid run, in the order the cells finished."""

    outcomes: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def with_status(self, status: str) -> list[CellOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]


def run_grid(
    specs: Sequence[CellSpec],
    executor: Any,
    out: Callable[[str], None] = tqdm.write,
    progress: bool = True,
) -> GridReport:
    """Run every cell of ``specs`` not finished before with ``executor`` (an
    :class:`~elmo_bench.runner.executors.Executor`); one line per cell as it ends.

    Cells that fail are reported (with their error's last line) and do not stop the others.
    """
    started = time.perf_counter()
    report = GridReport()
    todo = []
    for spec in specs:
        result = finished_result(spec)
        if result is None:
            todo.append(spec)
        else:
            report.outcomes.append(CellOutcome(spec.label, "skipped", spec.result_path, summary_line(result)))
            out(f"skip (done before) {summary_line(result)}")
    with tqdm(
        total=len(specs), initial=len(specs) - len(todo), desc="cells", unit="cell",
        disable=not progress, file=sys.stderr, dynamic_ncols=True,
    ) as bar:

        def on_done(outcome: CellOutcome) -> None:
            report.outcomes.append(outcome)
            if outcome.status == "done":
                out(f"{outcome.summary} ({outcome.seconds:.1f} s)")
            else:
                last_line = outcome.error.strip().splitlines()[-1] if outcome.error else "?"
                out(f"FAILED {outcome.label}: {last_line}")
            bar.update(1)

        if todo:
            executor.run(todo, on_done)
    report.seconds = time.perf_counter() - started
    return report
