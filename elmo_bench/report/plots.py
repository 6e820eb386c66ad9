"""The report's plots, rendered off-screen (matplotlib's Agg canvas, no pyplot global state).

``scores.png``: per task, one bar per embedder (mean over seeds, error bar ± std, dots: seeds; a
red x marks a seed whose head did not converge).
``cost_vs_score.png``: score against embedding cost (seconds per 1,000 tokens, log scale).
``mix_weights.png``: the learned softmax weight of each ELMo layer, per task (mean over seeds).
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from elmo_bench.report.summary import ReportContent, embedder_sort_key

# Tableau colours by embedder position in the report's order, so that colours agree across plots.
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _colours(content: ReportContent) -> dict[str, str]:
    names = sorted({summary.embedder for summary in content.summaries}, key=embedder_sort_key)
    return {name: _COLOURS[index % len(_COLOURS)] for index, name in enumerate(names)}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # No software/version metadata, so that the same numbers give the same file.
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def scores_png(content: ReportContent) -> bytes:
    """Grouped bars: x = task, one bar per embedder; scores in percent."""
    colours = _colours(content)
    tasks = content.tasks
    figure = Figure(figsize=(max(6.0, 1.8 * len(tasks) + 2), 4.5), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / len(colours)
    for offset, embedder in enumerate(colours):
        summaries = [s for s in content.summaries if s.embedder == embedder]
        xs = [tasks.index(s.task) - 0.4 + width * (offset + 0.5) for s in summaries]
        axes.bar(
            xs,
            [100 * s.mean for s in summaries],
            width,
            yerr=[0.0 if s.std is None else 100 * s.std for s in summaries],
            capsize=3,
            color=colours[embedder],
            label=embedder,
        )
        for x, summary in zip(xs, summaries, strict=True):
            late = set(summary.not_converged_seeds)
            for seed, score in zip(summary.seeds, summary.scores, strict=True):
                marker, colour = ("x", "red") if seed in late else ("o", "black")
                axes.plot([x], [100 * score], marker, color=colour, markersize=4)
    axes.set_xticks(range(len(tasks)))
    axes.set_xticklabels([f"{task}\n({_metric(content, task)})" for task in tasks], fontsize=9)
    axes.set_ylabel("score on the reported split (%)")
    axes.set_title("Scores: mean over seeds, ± std, dots = seeds (red x: not converged)")
    axes.legend(title="embedder", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def _metric(content: ReportContent, task: str) -> str:
    return next(summary.metric for summary in content.summaries if summary.task == task)


def cost_vs_score_png(content: ReportContent) -> bytes:
    """Score (± std) against embedding cost (seconds per 1,000 tokens, log scale): colour =
    embedder, marker = task, a grey line joins the embedders of one task."""
    colours = _colours(content)
    figure = Figure(figsize=(7.5, 5.0), layout="constrained")
    axes = figure.add_subplot()
    legend = []
    for index, task in enumerate(content.tasks):
        marker = _MARKERS[index % len(_MARKERS)]
        points = sorted(
            (
                (1000 / summary.embedding_tokens_per_second, summary)
                for summary in content.summaries
                if summary.task == task and summary.embedding_tokens_per_second
            ),
            key=lambda point: point[0],  # embedders of equal cost keep their table order
        )
        if not points:
            continue
        axes.plot(
            [cost for cost, _ in points],
            [100 * summary.mean for _, summary in points],
            "-",
            color="grey",
            alpha=0.4,
            zorder=1,
        )
        for cost, summary in points:
            axes.errorbar(
                cost,
                100 * summary.mean,
                yerr=None if summary.std is None else 100 * summary.std,
                fmt=marker,
                markersize=7,
                capsize=3,
                color=colours[summary.embedder],
                zorder=2,
            )
        label = f"{task} ({_metric(content, task)})"
        legend.append(Line2D([], [], marker=marker, color="black", linestyle="none", label=label))
    legend += [Patch(color=colour, label=embedder) for embedder, colour in colours.items()]
    axes.set_xscale("log")
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("embedding seconds per 1,000 tokens (log scale)")
    axes.set_ylabel("score on the reported split (%)")
    axes.set_title("Embedding cost vs score (mean ± std over seeds)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(handles=legend, fontsize=8, loc="best")
    return _png(figure)


def mix_weights_png(content: ReportContent) -> bytes:
    """Grouped bars: x = task and embedder that learned a mix, one bar per layer (softmax weight,
    mean over seeds; dots: seeds). Which layers each task uses."""
    groups: dict[tuple[str, str, str], list[tuple[float, ...]]] = {}
    for row in content.mixes:
        groups.setdefault((row.task, row.embedder, row.source), []).append(row.layer_weights)
    figure = Figure(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.5), layout="constrained")
    axes = figure.add_subplot()
    if not groups:
        axes.text(0.5, 0.5, "no learned scalar mix in these cells", ha="center", va="center")
        axes.set_axis_off()
        return _png(figure)
    n_layers = max(len(weights) for rows in groups.values() for weights in rows)
    width = 0.8 / n_layers
    for layer in range(n_layers):
        xs, means, seeds = [], [], []
        for index, rows in enumerate(groups.values()):
            values = [weights[layer] for weights in rows if layer < len(weights)]
            if values:
                xs.append(index - 0.4 + width * (layer + 0.5))
                means.append(sum(values) / len(values))
                seeds.append(values)
        axes.bar(xs, means, width, color=_COLOURS[layer % len(_COLOURS)], label=f"layer {layer}")
        for x, values in zip(xs, seeds, strict=True):
            axes.plot([x] * len(values), values, "o", color="black", markersize=3)
    axes.set_xticks(range(len(groups)))
    labels = [task if embedder == source else f"{task}\n{embedder}" for task, embedder, source in groups]
    axes.set_xticklabels(labels, fontsize=9)
    axes.axhline(1 / n_layers, color="grey", linestyle="--", linewidth=1, label="uniform")
    axes.set_ylabel("softmax weight")
    axes.set_title("Learned scalar mix: weight of each layer (mean over seeds, dots = seeds)")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)
