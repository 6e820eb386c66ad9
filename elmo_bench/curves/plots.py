"""The curves' plots, rendered off-screen like the report's (:mod:`elmo_bench.report.plots`).

``pretraining.png``: per task, score against the biLM's pretraining tokens (log x) for each
embedder run at the snapshots (mean, 95% interval bars, dots: seeds), GloVe's mean as a line and
its interval as a band.
``training-data.png``: per task, score against the training fraction (log x), and below it the
gain of the contender over the baseline with its 95% interval.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from elmo_bench.curves.stats import CurveNumbers, PointScore
from elmo_bench.report.summary import embedder_sort_key

_COLOURS = {"glove": "tab:blue", "elmo": "tab:green", "elmo+glove": "tab:orange", "transformer": "tab:purple"}
SEED_DOTS_OFFSET = 1.08
"""Factor on x that sets each point's seed dots beside its mean."""


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No software/version metadata, so that the same numbers give the same file.
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def _below(upper: float | None, lower: float | None) -> float:
    """An error bar's length in points: ``upper - lower``, 0 where either is unknown or the
    interval does not reach past the mean (a percentile interval need not hold it)."""
    return 0.0 if upper is None or lower is None else max(0.0, 100 * (upper - lower))


def _colour(embedder: str) -> str:
    return _COLOURS.get(embedder, "tab:grey")


def _series(numbers: CurveNumbers, task: str, embedder: str) -> list[PointScore]:
    rows = [s for s in numbers.scores if (s.task, s.embedder) == (task, embedder) and s.x is not None]
    return sorted(rows, key=lambda score: score.x)


def _draw_series(axes, rows: list[PointScore], embedder: str) -> None:
    if not rows:
        return
    xs = [row.x for row in rows]
    means = [100 * row.mean for row in rows]
    low = [_below(row.mean, row.ci95_low) for row in rows]
    high = [_below(row.ci95_high, row.mean) for row in rows]
    axes.errorbar(xs, means, yerr=[low, high], fmt="-o", capsize=3, color=_colour(embedder),
                  label=embedder, markersize=5)
    for row in rows:  # beside the mean (both axes are log scale), where the marker cannot hide them
        axes.plot([row.x * SEED_DOTS_OFFSET] * len(row.scores), [100 * value for value in row.scores], ".",
                  color=_colour(embedder), alpha=0.5, markersize=4)


def _task_axes(figure: Figure, numbers: CurveNumbers, rows: int = 1):
    return figure.subplots(rows, len(numbers.tasks), squeeze=False)


def pretraining_png(numbers: CurveNumbers) -> bytes:
    """Score against pretraining tokens, one panel per task, the fixed baseline as a band."""
    definition = numbers.definition
    figure = Figure(figsize=(4.2 * len(numbers.tasks), 4.0), layout="constrained")
    grid = _task_axes(figure, numbers)
    for axes, task in zip(grid[0], numbers.tasks, strict=True):
        band = next((s for s in numbers.scores if (s.task, s.embedder) == (task, definition.baseline)), None)
        if band is not None:
            axes.axhline(100 * band.mean, color=_colour(band.embedder), linestyle="--",
                         label=f"{band.embedder} (mean, 95% band)")
            if band.ci95_low is not None:
                axes.axhspan(100 * band.ci95_low, 100 * band.ci95_high, color=_colour(band.embedder), alpha=0.15)
        for embedder in sorted(definition.embedders, key=embedder_sort_key):
            _draw_series(axes, _series(numbers, task, embedder), embedder)
        axes.set_xscale("log")
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("biLM pretraining tokens seen (log scale)")
        axes.set_title(task)
        axes.grid(alpha=0.3, which="both")
    grid[0][0].set_ylabel("score on the reported split (%)")
    grid[0][0].legend(fontsize=8, loc="lower right")
    figure.suptitle("Pretraining curve: mean over seeds, 95% two-level intervals, dots = seeds")
    return _png(figure)


def training_data_png(numbers: CurveNumbers) -> bytes:
    """Scores (top) and the contender's gain over the baseline (bottom) against the training
    fraction, one column per task."""
    definition = numbers.definition
    figure = Figure(figsize=(4.2 * len(numbers.tasks), 6.5), layout="constrained")
    grid = _task_axes(figure, numbers, rows=2)
    percent = FuncFormatter(lambda value, _: f"{100 * value:g}%")
    fractions = sorted({point.x for point in numbers.points if point.x is not None})
    for column, task in enumerate(numbers.tasks):
        top, bottom = grid[0][column], grid[1][column]
        for embedder in sorted(definition.embedders, key=embedder_sort_key):
            _draw_series(top, _series(numbers, task, embedder), embedder)
        gains = sorted((c for c in numbers.comparisons
                        if c.result.task == task and c.result.difference is not None and c.x is not None),
                       key=lambda comparison: comparison.x)
        if gains:
            xs = [c.x for c in gains]
            values = [100 * c.result.difference for c in gains]
            low = [_below(c.result.difference, c.result.ci95_low) for c in gains]
            high = [_below(c.result.ci95_high, c.result.difference) for c in gains]
            bottom.errorbar(xs, values, yerr=[low, high], fmt="-o", capsize=3, color=_colour(definition.contender))
        bottom.axhline(0, color="black", linewidth=1)
        for axes in (top, bottom):
            axes.set_xscale("log")
            axes.set_xticks(fractions)
            axes.xaxis.set_major_formatter(percent)
            axes.xaxis.set_minor_formatter(NullFormatter())
            axes.grid(alpha=0.3, which="both")
        top.set_title(task)
        bottom.set_xlabel("fraction of the training split (log scale)")
    grid[0][0].set_ylabel("score on the reported split (%)")
    grid[1][0].set_ylabel(f"{definition.contender} − {definition.baseline} (points, 95% CI)")
    grid[0][0].legend(fontsize=8, loc="lower right")
    figure.suptitle("Training-data curve: mean over seeds, 95% two-level intervals, dots = seeds")
    return _png(figure)


PLOTS = {"pretraining": pretraining_png, "train_fraction": training_data_png}
"""Curve axis -> its plot (a curve without an axis has none: its rows join the preset's report)."""
