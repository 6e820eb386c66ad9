"""A curve's tables: ``<curve>.md`` (what it shows, how it was tested, the tables), ``<curve>.csv``
(one row per point, task and embedder) and ``<curve>.json`` (every number)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from elmo_bench.curves.definitions import ALPHA
from elmo_bench.curves.stats import CurveNumbers, PointComparison, PointScore


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _score(score: PointScore | None) -> str:
    if score is None:
        return "-"
    text = _points(score.mean) + ("" if score.std is None else f" ± {100 * score.std:.2f}")
    if score.ci95_low is not None:
        text += f" [{_points(score.ci95_low)}, {_points(score.ci95_high)}]"
    return text + (" *" if score.not_converged_seeds else "")


def _gain(comparison: PointComparison | None) -> tuple[str, str]:
    """``("+1.20 [0.40, 2.00]", "0.0040")`` or why there is no test."""
    if comparison is None:
        return "-", "-"
    result = comparison.result
    if result.difference is None:
        return "-", result.reason or "-"
    gain = f"{100 * result.difference:+.2f}"
    if result.ci95_low is None:
        return gain, f"untested: {result.reason}"
    p_value = max(result.p_holm, result.p_resolution)
    p_text = f"< {result.p_resolution:.4f}" if p_value <= result.p_resolution else f"{p_value:.4f}"
    return f"{gain} [{_points(result.ci95_low)}, {_points(result.ci95_high)}]", p_text


def _shown(numbers: CurveNumbers, point: str, task: str, embedder: str) -> PointScore | None:
    """The row shown for ``embedder`` at ``point``: a fixed baseline's one row at every point."""
    definition = numbers.definition
    if definition.fixed_baseline and embedder == definition.baseline:
        return next((s for s in numbers.scores if (s.task, s.embedder) == (task, embedder)), None)
    return numbers.score(point, task, embedder)


def _tokens(x: float | None) -> str:
    """``31,457,280`` -> ``"31.5M"``; below a million the count itself."""
    if x is None:
        return "-"
    return f"{x / 1e6:.1f}M" if x >= 1e6 else f"{x:,.0f}"


def _header(numbers: CurveNumbers, preset: str, command: str) -> list[str]:
    definition = numbers.definition
    lines = [
        f"# Curve `{definition.name}` (preset `{preset}`)", "",
        f"{definition.description}. Made by `{command}`; rebuilt from the cell files by the same "
        "command with `--tables-only`.", "",
        "Scores in points: mean ± std over seeds, then [95% interval of the mean] from a two-level "
        "bootstrap (seeds and test examples drawn with replacement); * marks a row with a seed "
        "whose best epoch was its last (not converged). "
        f"Gain: `{definition.contender}` − `{definition.baseline}`, its 95% interval and two-sided "
        f"p from the report's two-level bootstrap ({numbers.resamples:,} resamples), Holm-adjusted "
        f"across the {len(numbers.tasks)} task(s) of each point; *above* means gain > 0 and "
        f"p (Holm) < {ALPHA}.", "",
    ]
    if numbers.missing:
        lines += [f"{len(numbers.missing)} cell files are not there yet (their rows show '-'), "
                  f"e.g. `{numbers.missing[0]}`.", ""]
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def _data_matched(numbers: CurveNumbers) -> list[str]:
    """The sample-efficiency table: per task and point, the baseline's row from
    :meth:`CurveNumbers.data_matches`."""
    definition = numbers.definition
    rows = [[task, contender.point, _points(contender.mean),
             "higher at every point" if matched is None else matched.point,
             "-" if matched is None else _points(matched.mean)]
            for task in numbers.tasks for contender, matched in numbers.data_matches(task)]
    contender, baseline = definition.contender, definition.baseline
    return [f"## How much training data `{baseline}` needs to score what `{contender}` scores", "",
            f"For each point: the most data on which `{baseline}`'s mean stays at or below "
            f"`{contender}`'s mean on that point's share of it, up to the first point where "
            f"`{baseline}` scores higher (means over seeds; their intervals are in the next "
            "table).", "",
            *_table(["task", f"{contender} trained on", f"{contender} mean",
                     f"{baseline} scores no higher up to", f"{baseline} mean there"], rows)]


def markdown(numbers: CurveNumbers, preset: str, command: str) -> str:
    """The curve's ``.md`` document."""
    definition = numbers.definition
    lines = _header(numbers, preset, command)
    if definition.axis == "pretraining":
        rows = []
        for task in numbers.tasks:
            first = numbers.first_above(task)
            if first is None:
                tested = sum(1 for c in numbers.comparisons if c.result.task == task and c.result.p_holm is not None)
                rows.append([task, f"none of the {tested} tested points", "-", "-", "-"])
            else:
                gain, p_text = _gain(first)
                rows.append([task, first.point, _tokens(first.x), gain, p_text])
        lines += [f"## First point where `{definition.contender}` is above `{definition.baseline}`", "",
                  *_table(["task", "point", "tokens seen", "gain [95% CI]", "p (Holm)"], rows)]
    if definition.axis == "train_fraction":
        lines += _data_matched(numbers)
    if definition.axis != "none":
        lines += ["## Scores and gain at each point", ""]
    embedders = list(definition.all_embedders)
    header = ["task", "point"]
    if definition.axis == "pretraining":
        header += ["tokens seen", "held-out ppl"]
    if definition.axis == "train_fraction":
        header += ["train examples"]
    header += [*embedders, f"gain {definition.contender} − {definition.baseline} [95% CI]", "p (Holm)"]
    if definition.axis == "none":
        header += ["embedding tokens/s", "s/epoch", "peak MiB"]
    rows = []
    for task in numbers.tasks:
        for point in numbers.points:
            row = [task, point.label]
            if definition.axis == "pretraining":
                ppl = point.details.get("heldout_perplexity")
                row += [_tokens(point.x), "-" if ppl is None else f"{ppl:.1f}"]
            if definition.axis == "train_fraction":
                known = [s.train_examples for s in numbers.scores
                         if (s.point, s.task) == (point.label, task) and s.train_examples is not None]
                row += [str(known[0]) if known else "-"]
            row += [_score(_shown(numbers, point.label, task, name)) for name in embedders]
            row += list(_gain(numbers.comparison(point.label, task)))
            if definition.axis == "none":
                own = [numbers.score(point.label, task, name) for name in embedders]
                row += [
                    " / ".join("-" if s is None or s.embedding_tokens_per_second is None
                               else f"{s.embedding_tokens_per_second:,.0f}" for s in own),
                    " / ".join("-" if s is None else f"{s.training_seconds_per_epoch:.1f}" for s in own),
                    " / ".join("-" if s is None else f"{s.peak_memory_mib:,.0f}" for s in own),
                ]
            rows.append(row)
    lines += _table(header, rows)
    if definition.axis == "none":
        lines += [f"Cost columns list {', '.join(embedders)} in that order (means over seeds).", ""]
    if definition.fixed_baseline:
        lines += [f"`{definition.baseline}` does not depend on the biLM: its cells are the preset's, "
                  "the same row at every point (the band of the plot).", ""]
    return "\n".join(lines)


CSV_COLUMNS = ("curve", "point", "x", "task", "embedder", "metric", "n_seeds", "mean", "std",
               "ci95_low", "ci95_high", "scores", "not_converged_seeds", "train_examples",
               "embedding_tokens_per_second", "training_seconds_per_epoch", "peak_memory_mib")


def csv_text(numbers: CurveNumbers) -> str:
    """One row per point, task and embedder (scores in [0, 1])."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for score in numbers.scores:
        row = {**score.to_dict(), "curve": numbers.definition.name, "n_seeds": len(score.seeds)}
        row["scores"] = " ".join(f"{value:.6f}" for value in score.scores)
        row["not_converged_seeds"] = " ".join(map(str, score.not_converged_seeds))
        writer.writerow(["" if row[column] is None else row[column] for column in CSV_COLUMNS])
    return buffer.getvalue()


def json_document(numbers: CurveNumbers, preset: str, command: str) -> dict[str, Any]:
    """Every number of the curve, with its points' details and the missing cell files."""
    definition = numbers.definition
    return {
        "curve": definition.name,
        "preset": preset,
        "command": command,
        "description": definition.description,
        "contender": definition.contender,
        "baseline": definition.baseline,
        "alpha": ALPHA,
        "resamples": numbers.resamples,
        "points": [{"label": p.label, "x": p.x, "cells": p.cells_name, "embedders": list(p.embedders),
                    "details": p.details} for p in numbers.points],
        "scores": [score.to_dict() for score in numbers.scores],
        "comparisons": [comparison.to_dict() for comparison in numbers.comparisons],
        "first_above": {task: (c.point if (c := numbers.first_above(task)) else None)
                        for task in numbers.tasks},
        "baseline_matched": {task: {contender.point: None if matched is None else matched.point
                                    for contender, matched in numbers.data_matches(task)}
                             for task in numbers.tasks} if definition.axis == "train_fraction" else None,
        "missing_cells": numbers.missing,
    }


def json_text(numbers: CurveNumbers, preset: str, command: str) -> str:
    return json.dumps(json_document(numbers, preset, command), indent=1, allow_nan=False) + "\n"
