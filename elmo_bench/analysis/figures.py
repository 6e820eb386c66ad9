"""The figures the analyses draw, as matplotlib ``Figure`` objects rendered by Agg.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``, so no
display or global backend state is involved, and saved atomically (a temporary file renamed onto
the target) like every other result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from elmo_bench.atomic import write_atomically


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix, 150 dpi), atomically."""
    path = Path(path)
    write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=150))
    return path


def _group_ticks(groups: Sequence[str]) -> tuple[list[float], list[str], list[float]]:
    """Tick positions and labels at the centre of each run of equal labels, and the boundaries
    between runs."""
    centres, labels, boundaries = [], [], []
    start = 0
    for index in range(1, len(groups) + 1):
        if index == len(groups) or groups[index] != groups[start]:
            centres.append((start + index - 1) / 2)
            labels.append(groups[start])
            if index < len(groups):
                boundaries.append(index - 0.5)
            start = index
    return centres, labels, boundaries


def heatmap_figure(
    title: str, panels: Sequence[tuple[str, np.ndarray]], groups: Sequence[str] | None = None
) -> Figure:
    """One heat-map per panel, side by side, on a shared colour scale (the lowest value to 1).

    Args:
        title: the figure title.
        panels: ``(panel title, [n, n] matrix)`` pairs.
        groups: a label per row/column (e.g. the sense of each occurrence); runs of equal labels
            are marked on the axes and separated by lines.
    """
    low = min(float(matrix.min()) for _, matrix in panels)
    figure = Figure(figsize=(3.6 * len(panels) + 0.8, 3.9), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for axis, (panel_title, matrix) in zip(axes, panels, strict=True):
        image = axis.imshow(matrix, vmin=low if low < 1.0 else 0.0, vmax=1.0, cmap="viridis")
        axis.set_title(panel_title, fontsize=10)
        if groups is not None:
            centres, labels, boundaries = _group_ticks(groups)
            axis.set_xticks(centres, labels, fontsize=8)
            axis.set_yticks(centres, labels, fontsize=8, rotation=90, va="center")
            for boundary in boundaries:
                axis.axhline(boundary, color="white", linewidth=1.2)
                axis.axvline(boundary, color="white", linewidth=1.2)
        else:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.colorbar(image, ax=list(axes), shrink=0.85, label="cosine similarity")
    figure.suptitle(title)
    return figure


def line_figure(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y_label: str,
    baselines: Mapping[str, float] | None = None,
    baseline_label: str = "{} baseline",
) -> Figure:
    """Lines over categorical x positions (None values leave gaps).

    Args:
        baselines: series name -> a value drawn as a dashed horizontal line in the series'
            colour, labelled ``baseline_label.format(series name)``.
    """
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axis = figure.subplots()
    positions = np.arange(len(x_labels))
    for index, (name, values) in enumerate(series.items()):
        y = np.array([np.nan if value is None else value for value in values], dtype=float)
        axis.plot(positions, y, marker="o", color=f"C{index}", label=name)
        if baselines is not None and name in baselines:
            axis.axhline(
                baselines[name], color=f"C{index}", linestyle="--", linewidth=1,
                label=baseline_label.format(name),
            )
    axis.set_xticks(positions, x_labels)
    axis.set_ylabel(y_label)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.suptitle(title)
    return figure


def loglog_figure(
    title: str,
    panels: Sequence[tuple[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]],
    x_label: str,
) -> Figure:
    """Panels of log-log lines: ``(y label, {series name: (x values, y values)})``."""
    figure = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (y_label, series) in zip(axes, panels, strict=True):
        for name, (x, y) in series.items():
            axis.loglog(x, y, marker="o", label=name)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.suptitle(title)
    return figure
