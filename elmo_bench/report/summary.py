"""Cells -> the report's content: per (task, embedder) score summaries with costs, convergence
and published references, the seed-aware comparisons, learned mixes, and notes on anything that
weakens a comparison."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from elmo_bench.comparisons import COMPARISONS, EMBEDDER_ORDER, Comparison
from elmo_bench.report.cells import Cell, CellFileError, TrainingHistory
from elmo_bench.report.reference import PublishedScore, published_score
from elmo_bench.report.significance import ComparisonResult, compare, holm_adjusted, skipped


def comparisons_for(embedders: Collection[str]) -> list[Comparison]:
    """The :data:`~elmo_bench.comparisons.COMPARISONS` whose two embedders are both among ``embedders``."""
    return [c for c in COMPARISONS if c.a in embedders and c.b in embedders]


def embedder_sort_key(name: str) -> tuple[int, str]:
    """Rows in :data:`~elmo_bench.comparisons.EMBEDDER_ORDER`, then the embedders it does not
    list, alphabetically."""
    return (EMBEDDER_ORDER.index(name) if name in EMBEDDER_ORDER else len(EMBEDDER_ORDER), name)


@dataclass(frozen=True)
class ScoreSummary:
    """One embedder on one task over its seeds (scores in [0, 1]; costs averaged over seeds).

    Attributes:
        std: sample standard deviation over seeds (n - 1 in the denominator); None for one seed.
        training: each seed's training history (None where its file records none), in the order
            of ``seeds``.
        published: the published number set beside this row (see
            :mod:`elmo_bench.report.reference`), or None.
        embedding_seconds: seconds to compute the embeddings of all three splits.
        adaptation_seconds: seconds to adapt the embedder to the task (language-model
            fine-tuning; 0 for the others).
        training_seconds_per_epoch: median seconds per training epoch.
        peak_memory_mib: peak resident memory of the cell's process.
        embedding_tokens_per_second: tokens embedded per second of embedding time.
    """

    task: str
    metric: str
    reported_split: str
    embedder: str
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    mean: float
    std: float | None
    training: tuple[TrainingHistory | None, ...]
    published: PublishedScore | None
    embedding_seconds: float
    adaptation_seconds: float
    training_seconds_per_epoch: float
    peak_memory_mib: float
    embedding_tokens_per_second: float | None

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def not_converged_seeds(self) -> tuple[int, ...]:
        """Seeds whose best epoch was their last (see :attr:`TrainingHistory.converged`)."""
        return tuple(
            seed
            for seed, history in zip(self.seeds, self.training, strict=True)
            if history is not None and not history.converged
        )

    def to_dict(self) -> dict[str, Any]:
        row = {**asdict(self), "seeds": list(self.seeds), "scores": list(self.scores)}
        del row["training"], row["published"]
        published = self.published
        return {
            **row,
            "n_seeds": self.n_seeds,
            "epochs_run": [h.epochs_run if h else None for h in self.training],
            "best_epochs": [h.best_epoch if h else None for h in self.training],
            "stopped_early": [h.stopped_early if h else None for h in self.training],
            "max_epochs": [h.max_epochs if h else None for h in self.training],
            "not_converged_seeds": list(self.not_converged_seeds),
            "paper": published.value if published else None,
            "paper_std": published.std if published else None,
            "paper_split": published.split if published else None,
            "paper_split_comparable": published.comparable_split if published else None,
            "paper_system": published.system if published else None,
            "paper_source": published.source if published else None,
        }


@dataclass(frozen=True)
class MixRow:
    """One learned scalar mix: softmax-normalised layer weights (layer 0 first) and gamma."""

    task: str
    embedder: str
    seed: int
    source: str
    layer_weights: tuple[float, ...]
    gamma: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "layer_weights": list(self.layer_weights)}


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows, computed from the cells."""

    summaries: list[ScoreSummary]
    comparisons: list[ComparisonResult]
    mixes: list[MixRow]
    notes: list[str]

    @property
    def tasks(self) -> list[str]:
        return sorted({summary.task for summary in self.summaries})


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values))


def _grouped(cells: Sequence[Cell]) -> dict[str, dict[str, list[Cell]]]:
    """task -> embedder -> cells (by seed), checking that each task has one main score and each
    embedder one set of weights."""
    groups: dict[str, dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    first_of_task: dict[str, Cell] = {}
    for cell in cells:
        first = first_of_task.setdefault(cell.task, cell)
        if (cell.metric, cell.reported_split) != (first.metric, first.reported_split):
            raise CellFileError(
                f"{cell.path}: task {cell.task} reports {cell.metric} on {cell.reported_split} "
                f"but {first.path} reports {first.metric} on {first.reported_split}"
            )
        same_embedder = groups[cell.task][cell.embedder]
        if same_embedder and same_embedder[0].embedder_fingerprint != cell.embedder_fingerprint:
            raise CellFileError(
                f"{cell.path}: embedder {cell.embedder} has fingerprint "
                f"{cell.embedder_fingerprint} but {same_embedder[0].embedder_fingerprint} in "
                f"{same_embedder[0].path}; seeds of one row must use the same weights"
            )
        same_embedder.append(cell)
    return {task: dict(by_embedder) for task, by_embedder in groups.items()}


def _summary(task: str, cells: Sequence[Cell]) -> ScoreSummary:
    first = cells[0]
    scores = tuple(cell.score for cell in cells)
    tokens_per_second = [cell.embedding_tokens_per_second for cell in cells]
    return ScoreSummary(
        task=task,
        metric=first.metric,
        reported_split=first.reported_split,
        embedder=first.embedder,
        seeds=tuple(cell.seed for cell in cells),
        scores=scores,
        mean=_mean(scores),
        std=statistics.stdev(scores) if len(scores) > 1 else None,
        training=tuple(cell.training for cell in cells),
        published=published_score(task, first.embedder, first.metric),
        embedding_seconds=_mean([cell.embedding_seconds for cell in cells]),
        adaptation_seconds=_mean([cell.adaptation_seconds for cell in cells]),
        training_seconds_per_epoch=_mean([cell.training_seconds_per_epoch for cell in cells]),
        peak_memory_mib=_mean([cell.peak_memory_bytes / 2**20 for cell in cells]),
        embedding_tokens_per_second=None
        if None in tokens_per_second
        else _mean(tokens_per_second),
    )


def _flat_settings(settings: dict[str, Any]) -> dict[str, str]:
    """``{"training.max_epochs": "8", ...}``: each setting as JSON under its dotted name."""
    flat = {}
    for section, value in settings.items():
        entries = value.items() if isinstance(value, dict) else [(None, value)]
        for key, inner in entries:
            flat[section if key is None else f"{section}.{key}"] = json.dumps(inner, sort_keys=True)
    return flat


def _settings_notes(task: str, cells: Sequence[Cell]) -> list[str]:
    """A note per setting that differs between the cells of ``task`` (their scores then do not
    share one protocol)."""
    flats = [_flat_settings(cell.comparable_settings) for cell in cells]
    notes = []
    for name in sorted(set().union(*flats)):
        files_by_value: dict[str | None, list[str]] = defaultdict(list)
        for cell, flat in zip(cells, flats, strict=True):
            files_by_value[flat.get(name)].append(cell.path.name)
        if len(files_by_value) > 1:
            variants = "; ".join(
                f"{value if value is not None else 'unset'} in {', '.join(files)}"
                for value, files in files_by_value.items()
            )
            notes.append(f"{task}: cells differ in {name}: {variants}")
    return notes


def _compare_on_task(
    task: str,
    comparison: Comparison,
    by_embedder: dict[str, list[Cell]],
    resamples: int,
    seed: int,
) -> ComparisonResult:
    """``comparison`` on ``task``: tested, or skipped where one of its embedders has no cell."""
    missing = [name for name in (comparison.a, comparison.b) if name not in by_embedder]
    if missing:
        metric = next(iter(by_embedder.values()))[0].metric
        reason = f"{task} has no {' and no '.join(missing)} cells"
        return skipped(task, metric, comparison.a, comparison.b, comparison.question, reason)
    return compare(
        task,
        by_embedder[comparison.a],
        by_embedder[comparison.b],
        comparison.question,
        resamples,
        seed,
    )


def _comparisons(
    groups: dict[str, dict[str, list[Cell]]], resamples: int, seed: int
) -> list[ComparisonResult]:
    """Every comparison the grid's embedders allow, on every task, Holm-adjusted across the
    tested tasks of each comparison; ordered by comparison, then task."""
    embedders = {name for by_embedder in groups.values() for name in by_embedder}
    results = []
    for comparison in comparisons_for(embedders):
        rows = [
            _compare_on_task(task, comparison, groups[task], resamples, seed)
            for task in sorted(groups)
        ]
        results.extend(holm_adjusted(rows))
    return results


def summarise(cells: Sequence[Cell], resamples: int, seed: int) -> ReportContent:
    """Summaries, comparisons, mixes and notes of ``cells``.

    Raises:
        CellFileError: cells of one task report different main scores, or cells of one
            (task, embedder) used different embedder weights.
    """
    groups = _grouped(cells)
    summaries, notes = [], []
    for task in sorted(groups):
        by_embedder = groups[task]
        embedders = sorted(by_embedder, key=embedder_sort_key)
        summaries.extend(_summary(task, by_embedder[name]) for name in embedders)
        notes.extend(_settings_notes(task, [c for name in embedders for c in by_embedder[name]]))
        if len(embedders) < 2:
            notes.append(f"{task}: only {embedders[0]} was run, so there is nothing to compare")
    mixes = [
        MixRow(cell.task, cell.embedder, cell.seed, mix.source, mix.layer_weights, mix.gamma)
        for cell in cells
        for mix in cell.mixes
    ]
    mixes.sort(key=lambda row: (row.task, embedder_sort_key(row.embedder), row.source, row.seed))
    without = [cell for cell in cells if cell.outcomes is None]
    if without:
        reasons = sorted({cell.no_outcomes_reason for cell in without})
        notes.append(
            f"{len(without)} of {len(cells)} cells have no per-example outcomes "
            f"({'; '.join(reasons)}), so comparisons involving them have no p-value: "
            + ", ".join(cell.path.name for cell in without)
        )
    return ReportContent(summaries, _comparisons(groups, resamples, seed), mixes, notes)
