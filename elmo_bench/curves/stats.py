"""A curve's numbers from its cell files: each embedder's score at each point with a seed-aware
interval, and the contender against the baseline at each point (the report's two-level bootstrap,
Holm-adjusted across the tasks of the point)."""

from __future__ import annotations

import json
import statistics
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elmo_bench.curves.definitions import ALPHA, CurveDefinition
from elmo_bench.curves.points import CurvePoint
from elmo_bench.report.cells import Cell, load_cell
from elmo_bench.report.significance import (
    ComparisonResult,
    compare,
    holm_adjusted,
    mean_over_drawn_seeds,
    resampled_scores,
    skipped,
)
from elmo_bench.runner.grid import result_path


@dataclass(frozen=True)
class PointScore:
    """One embedder on one task at one point, over its seeds (scores in [0, 1]).

    Attributes:
        ci95_low, ci95_high: 2.5 and 97.5 percentiles of the mean over seeds under the two-level
            bootstrap (seeds and test examples drawn with replacement); None without per-example
            outcomes.
        train_examples: training examples the heads saw (the first seed's file).
        embedding_tokens_per_second, training_seconds_per_epoch, peak_memory_mib: costs, means
            over seeds.
    """

    point: str
    x: float | None
    task: str
    embedder: str
    metric: str
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    mean: float
    std: float | None
    ci95_low: float | None
    ci95_high: float | None
    not_converged_seeds: tuple[int, ...]
    train_examples: int | None
    embedding_tokens_per_second: float | None
    training_seconds_per_epoch: float
    peak_memory_mib: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": list(self.seeds), "scores": list(self.scores),
                "not_converged_seeds": list(self.not_converged_seeds)}


@dataclass(frozen=True)
class PointComparison:
    """The contender against the baseline on one task at one point."""

    point: str
    x: float | None
    result: ComparisonResult

    @property
    def above(self) -> bool:
        """The contender is above the baseline by the seed-aware test: a positive difference
        with a Holm-adjusted p below :data:`ALPHA`."""
        result = self.result
        return (result.status == "tested" and result.difference is not None and result.difference > 0
                and result.p_holm is not None and result.p_holm < ALPHA)

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "x": self.x, "above": self.above, **self.result.to_dict()}


@dataclass
class CurveNumbers:
    """Everything a curve's tables and plot show."""

    definition: CurveDefinition
    points: list[CurvePoint]
    tasks: list[str]
    scores: list[PointScore]
    comparisons: list[PointComparison]
    missing: list[str] = field(default_factory=list)
    resamples: int = 0

    def score(self, point: str, task: str, embedder: str) -> PointScore | None:
        return next((s for s in self.scores
                     if (s.point, s.task, s.embedder) == (point, task, embedder)), None)

    def comparison(self, point: str, task: str) -> PointComparison | None:
        return next((c for c in self.comparisons if (c.point, c.result.task) == (point, task)), None)

    def first_above(self, task: str) -> PointComparison | None:
        """The first point (in x order) where the contender is above the baseline on ``task``."""
        return next((c for c in self.comparisons if c.result.task == task and c.above), None)

    def baseline_matched(self, point: str, task: str) -> PointScore | None:
        """The baseline's row at the last point (in x order) before its mean first rises above the
        contender's mean at ``point`` on ``task``; None when the baseline is above it from the
        first point on or the contender has no row there. Along the training-data curve this is
        the paper's sample-efficiency reading (Peters et al. 2018, section 5.4): how much more
        data the baseline needs to score what the contender scores on ``point``'s share of it.
        Stopping at the first point above keeps the reading conservative where noise makes the
        baseline's curve dip."""
        contender = self.score(point, task, self.definition.contender)
        if contender is None:
            return None
        matched = None
        for candidate in self.points:
            baseline = self.score(candidate.label, task, self.definition.baseline)
            if baseline is None:
                continue
            if baseline.mean > contender.mean:
                break
            matched = baseline
        return matched

    def data_matches(self, task: str) -> list[tuple[PointScore, PointScore | None]]:
        """``(the contender's row, :meth:`baseline_matched`)`` at each point (in x order) where
        the contender has a row on ``task``."""
        rows = [self.score(point.label, task, self.definition.contender) for point in self.points]
        return [(row, self.baseline_matched(row.point, task)) for row in rows if row is not None]


def mean_interval(cells: Sequence[Cell], resamples: int, seed: int) -> tuple[float, float] | None:
    """The 95% interval of the mean score over ``cells``' seeds: seeds and test examples drawn
    with replacement (the first level and second level of the report's bootstrap); None when a
    cell has no per-example outcomes or they scored different examples."""
    if any(cell.outcomes is None for cell in cells) or len({c.examples_sha256 for c in cells}) != 1:
        return None
    first = cells[0]
    rng = np.random.default_rng([seed, zlib.crc32(f"{first.task}\t{first.embedder}\tinterval".encode())])
    per_seed = resampled_scores([cell.outcomes for cell in cells], first.metric, resamples, rng)
    means = mean_over_drawn_seeds(per_seed, rng)  # [R]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _train_examples(path: Path) -> int | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["protocol"]["examples"]["train"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def _point_score(point: CurvePoint, cells: Sequence[Cell], resamples: int, seed: int) -> PointScore:
    first = cells[0]
    scores = tuple(cell.score for cell in cells)
    interval = mean_interval(cells, resamples, seed)
    rates = [cell.embedding_tokens_per_second for cell in cells]
    return PointScore(
        point=point.label, x=point.x, task=first.task, embedder=first.embedder, metric=first.metric,
        seeds=tuple(cell.seed for cell in cells), scores=scores,
        mean=float(statistics.fmean(scores)),
        std=statistics.stdev(scores) if len(scores) > 1 else None,
        ci95_low=None if interval is None else interval[0],
        ci95_high=None if interval is None else interval[1],
        not_converged_seeds=tuple(cell.seed for cell in cells
                                  if cell.training is not None and not cell.training.converged),
        train_examples=_train_examples(first.path),
        embedding_tokens_per_second=None if None in rates else float(statistics.fmean(rates)),
        training_seconds_per_epoch=float(statistics.fmean(c.training_seconds_per_epoch for c in cells)),
        peak_memory_mib=float(statistics.fmean(c.peak_memory_bytes / 2**20 for c in cells)),
    )


def curve_numbers(
    definition: CurveDefinition,
    points: Sequence[CurvePoint],
    tasks: Sequence[str],
    seeds: Sequence[int],
    results_dir: Path,
    resamples: int,
    seed: int,
) -> CurveNumbers:
    """Read the cell files of every point (those that exist; the others are listed in
    ``missing``) and compute the curve's scores and comparisons.

    Raises:
        CellFileError: a cell file that is not a valid cell result (the message names it).
    """
    cells: dict[tuple[str, str, str], list[Cell]] = {}
    missing = []
    for point in points:
        folder = Path(results_dir) / "cells" / point.cells_name
        for task in tasks:
            for embedder in point.embedders:
                for cell_seed in seeds:
                    path = result_path(folder, task, embedder, cell_seed)
                    if path.is_file():
                        cells.setdefault((point.label, task, embedder), []).append(load_cell(path))
                    else:
                        missing.append(str(path))
    scores = [
        _point_score(point, cells[(point.label, task, embedder)], resamples, seed)
        for point in points for task in tasks for embedder in point.embedders
        if (point.label, task, embedder) in cells
    ]
    # A fixed baseline (GloVe along the pretraining curve) is run at one point and compared at all.
    fixed = {}
    if definition.fixed_baseline:
        fixed = {task: cells[key] for point in points for task in tasks
                 if (key := (point.label, task, definition.baseline)) in cells}
    comparisons = []
    for point in points:
        rows = []
        for task in tasks:
            contender = cells.get((point.label, task, definition.contender))
            baseline = fixed.get(task) if definition.fixed_baseline else cells.get(
                (point.label, task, definition.baseline))
            if contender is None or baseline is None:
                lacking = [name for name, found in ((definition.contender, contender),
                                                    (definition.baseline, baseline)) if found is None]
                metric = (contender or baseline or [None])[0]
                rows.append(skipped(task, metric.metric if metric else "?", definition.contender,
                                    definition.baseline, definition.description,
                                    f"no {' and no '.join(lacking)} cells at {point.label}"))
            else:
                rows.append(compare(task, contender, baseline, definition.description, resamples, seed))
        comparisons.extend(PointComparison(point.label, point.x, row) for row in holm_adjusted(rows))
    return CurveNumbers(definition, list(points), list(tasks), scores, comparisons, missing, resamples)
