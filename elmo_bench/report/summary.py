"""Cells -> the report's content: per (task, embedder) score summaries with costs and published
references, paired comparisons, learned mixes, and notes on anything that weakens a comparison."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from elmo_bench.report.cells import Cell, CellFileError
from elmo_bench.report.reference import reference_for
from elmo_bench.report.significance import PairedComparison, compare

EMBEDDER_ORDER = (
    "glove", "elmo", "elmo-lm-finetuned", "elmo-unfrozen", "elmo+glove", "elmo-layer0",
    "elmo-layer1", "elmo-layer2",
)
"""Row order of the known embedders; others follow alphabetically."""

MORE_CONTEXTUAL_FIRST = (
    "elmo-unfrozen",
    "elmo-lm-finetuned",
    "elmo+glove",
    "elmo",
    "elmo-layer2",
    "elmo-layer1",
    "elmo-layer0",
    "glove",
)
"""In a comparison, A is the embedder listed earlier here (the one-sided test asks whether A is
better: an adapted biLM against the frozen one, ELMo against GloVe); ELMo against GloVe comes first
of all."""

HEADLINE_PAIR = ("elmo", "glove")


def embedder_sort_key(name: str) -> tuple[int, str]:
    return (EMBEDDER_ORDER.index(name) if name in EMBEDDER_ORDER else len(EMBEDDER_ORDER), name)


@dataclass(frozen=True)
class ScoreSummary:
    """One embedder on one task over its seeds (scores in [0, 1]; costs averaged over seeds).

    Attributes:
        std: sample standard deviation over seeds (n - 1 in the denominator); None for one seed.
        paper, paper_std: the published number set beside this row (see
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
    paper: float | None
    paper_std: float | None
    embedding_seconds: float
    adaptation_seconds: float
    training_seconds_per_epoch: float
    peak_memory_mib: float
    embedding_tokens_per_second: float | None

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seeds": list(self.seeds),
            "scores": list(self.scores),
            "n_seeds": self.n_seeds,
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
    comparisons: list[PairedComparison]
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
    published = reference_for(task, first.embedder, first.metric)
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
        paper=published[0] if published else None,
        paper_std=published[1] if published else None,
        embedding_seconds=_mean([cell.embedding_seconds for cell in cells]),
        adaptation_seconds=_mean([cell.adaptation_seconds for cell in cells]),
        training_seconds_per_epoch=_mean([cell.training_seconds_per_epoch for cell in cells]),
        peak_memory_mib=_mean([cell.peak_memory_bytes / 2**20 for cell in cells]),
        embedding_tokens_per_second=None
        if None in tokens_per_second
        else _mean(tokens_per_second),
    )


def comparison_pairs(embedders: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair ``(A, B)`` of ``embedders``: ELMo against GloVe first, then by
    :data:`MORE_CONTEXTUAL_FIRST` (others alphabetically after)."""

    def rank(name: str) -> tuple[int, str]:
        known = MORE_CONTEXTUAL_FIRST
        return (known.index(name) if name in known else len(known), name)

    pairs = [
        (a, b) if rank(a) <= rank(b) else (b, a)
        for a, b in itertools.combinations(sorted(embedders), 2)
    ]
    return sorted(pairs, key=lambda pair: (pair != HEADLINE_PAIR, rank(pair[0]), rank(pair[1])))


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


def summarise(cells: Sequence[Cell], resamples: int, seed: int) -> ReportContent:
    """Summaries, comparisons, mixes and notes of ``cells``.

    Raises:
        CellFileError: cells of one task report different main scores, or cells of one
            (task, embedder) used different embedder weights.
    """
    groups = _grouped(cells)
    summaries, comparisons, notes = [], [], []
    for task in sorted(groups):
        by_embedder = groups[task]
        embedders = sorted(by_embedder, key=embedder_sort_key)
        summaries.extend(_summary(task, by_embedder[name]) for name in embedders)
        notes.extend(_settings_notes(task, [c for name in embedders for c in by_embedder[name]]))
        if len(embedders) < 2:
            notes.append(f"{task}: only {embedders[0]} was run, so there is nothing to compare")
        for a, b in comparison_pairs(embedders):
            comparisons.append(compare(task, by_embedder[a], by_embedder[b], resamples, seed))
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
    return ReportContent(summaries, comparisons, mixes, notes)
