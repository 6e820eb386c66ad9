"""Paired bootstrap over test examples: is embedder A's score above embedder B's by more than the
test sample's luck?

For one task and a pair (A, B): draw ``n`` test examples with replacement, the same draws for A
and B and for every seed; on each resample compute every cell's corpus-level main score from its
per-example outcomes (NER: summed span counts, then F1; SQuAD: mean EM/F1; classification:
accuracy), average over the seeds both embedders ran (paired by seed number), and take the
difference ``A - B``. The one-sided p-value is the share of resamples where the difference is
``<= 0``; the two-sided one is twice the smaller tail (at most 1). The 2.5 and 97.5 percentiles of
the differences give a 95% interval. This captures the uncertainty from sampling the test set for
the trained heads; the variation over seeds enters through the seed average (and the std column
of the score table), not through the resampling.

Hand-written with numpy: scipy.stats.bootstrap has no paired corpus-level F1 (a ratio of sums
over the resample, averaged over seeds). With ``paired=True, vectorized=True`` it can be made to
compute one by passing every count column of every cell as its own sample, but it then
materialises each resampled column (``[batch, n]`` per column); :func:`resampled_scores` instead
sums the counts through one matrix product per batch of resamples, 13x faster in a measurement
here (CoNLL-sized test set, 10 cells, 10,000 resamples, one thread: 0.8 s against 10.5 s). The
p-value needs only the resampled differences, not scipy's intervals.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from elmo_bench.metrics.per_example import ExampleOutcomes
from elmo_bench.report.cells import Cell

DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
# Resampled weights held at once: rows of [n_examples] float64, about 32 MB in all.
_WEIGHT_ENTRIES_PER_BATCH = 4_000_000


@dataclass(frozen=True)
class PairedComparison:
    """Embedder ``a`` against ``b`` on ``task``'s main score (scores in [0, 1]).

    Attributes:
        seeds: seeds both embedders ran; the means and the test use these.
        mean_a, mean_b: mean main score over ``seeds`` (over each one's own seeds when they share
            none).
        difference: ``mean_a - mean_b``.
        n_examples: test examples resampled (None without a test).
        resamples: bootstrap resamples (0 without a test).
        ci95_low, ci95_high: 2.5 and 97.5 percentiles of the resampled differences.
        p_one_sided: share of resamples where ``a`` is not above ``b`` (small: ``a`` is better).
        p_two_sided: twice the smaller tail, at most 1.
        reason: why there is no test (None when there is one).
    """

    task: str
    metric: str
    a: str
    b: str
    seeds: tuple[int, ...]
    mean_a: float
    mean_b: float
    difference: float
    n_examples: int | None
    resamples: int
    ci95_low: float | None
    ci95_high: float | None
    p_one_sided: float | None
    p_two_sided: float | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": list(self.seeds)}


def resampled_scores(
    outcomes: Sequence[ExampleOutcomes],
    metric: str,
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``[len(outcomes), resamples]``: each system's ``metric`` on the same bootstrap resamples of
    the examples (all ``outcomes`` must describe the same examples in the same order)."""
    n_examples = outcomes[0].n_examples
    if any(system.n_examples != n_examples for system in outcomes):
        raise ValueError("paired outcomes must cover the same examples")
    widths = [system.counts.shape[1] for system in outcomes]
    offsets = np.cumsum([0, *widths])
    counts = np.concatenate([system.counts for system in outcomes], axis=1)  # [n, sum(widths)]
    scores = np.empty((len(outcomes), resamples))
    batch = max(1, _WEIGHT_ENTRIES_PER_BATCH // n_examples)
    for start in range(0, resamples, batch):
        size = min(batch, resamples - start)
        picks = rng.integers(0, n_examples, size=(size, n_examples))
        # weights[r, i]: how often resample r drew example i.
        rows = np.repeat(np.arange(size) * n_examples, n_examples)
        weights = np.bincount(rows + picks.ravel(), minlength=size * n_examples)
        totals = weights.reshape(size, n_examples).astype(np.float64) @ counts
        for index, system in enumerate(outcomes):
            system_totals = totals[:, offsets[index] : offsets[index + 1]]
            scores[index, start : start + size] = system.score(metric, system_totals)
    return scores


def _pair_rng(seed: int, task: str, a: str, b: str) -> np.random.Generator:
    """A generator for one comparison, independent of which other cells are reported."""
    return np.random.default_rng([seed, zlib.crc32(f"{task}\t{a}\t{b}".encode("utf-8"))])


def _why_untestable(cells: Sequence[Cell]) -> str | None:
    for cell in cells:
        if cell.outcomes is None:
            return f"{cell.path.name}: {cell.no_outcomes_reason}"
    first = cells[0]
    for cell in cells[1:]:
        if cell.examples_sha256 != first.examples_sha256:
            return (
                f"{first.path.name} and {cell.path.name} scored different test examples "
                "(examples_sha256 differ)"
            )
    return None


def compare(
    task: str,
    a_cells: Sequence[Cell],
    b_cells: Sequence[Cell],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedComparison:
    """The paired bootstrap of embedder A's cells against embedder B's on ``task``."""
    a_by_seed = {cell.seed: cell for cell in a_cells}
    b_by_seed = {cell.seed: cell for cell in b_cells}
    seeds = tuple(sorted(a_by_seed.keys() & b_by_seed.keys()))
    a_name, b_name = a_cells[0].embedder, b_cells[0].embedder
    metric = a_cells[0].metric
    paired_a = [a_by_seed[s] for s in seeds] or list(a_cells)
    paired_b = [b_by_seed[s] for s in seeds] or list(b_cells)
    mean_a = float(np.mean([cell.score for cell in paired_a]))
    mean_b = float(np.mean([cell.score for cell in paired_b]))
    untested = PairedComparison(
        task=task,
        metric=metric,
        a=a_name,
        b=b_name,
        seeds=seeds,
        mean_a=mean_a,
        mean_b=mean_b,
        difference=mean_a - mean_b,
        n_examples=None,
        resamples=0,
        ci95_low=None,
        ci95_high=None,
        p_one_sided=None,
        p_two_sided=None,
        reason=None,
    )
    if not seeds:
        return replace(
            untested,
            reason=f"no seed run for both ({a_name}: {sorted(a_by_seed)}; "
            f"{b_name}: {sorted(b_by_seed)})",
        )
    reason = _why_untestable([*paired_a, *paired_b])
    if reason is not None:
        return replace(untested, reason=reason)
    scores = resampled_scores(
        [cell.outcomes for cell in (*paired_a, *paired_b)],
        metric,
        resamples,
        _pair_rng(seed, task, a_name, b_name),
    )
    differences = scores[: len(seeds)].mean(axis=0) - scores[len(seeds) :].mean(axis=0)
    not_above = float(np.mean(differences <= 0))
    not_below = float(np.mean(differences >= 0))
    low, high = np.percentile(differences, [2.5, 97.5])
    return replace(
        untested,
        n_examples=paired_a[0].outcomes.n_examples,
        resamples=resamples,
        ci95_low=float(low),
        ci95_high=float(high),
        p_one_sided=not_above,
        p_two_sided=min(1.0, 2 * min(not_above, not_below)),
    )
