"""Layer-wise probe results: a table and a plot of test accuracy by embedder layer.

Built from cell result files (one JSON per task x embedder x seed, as :mod:`elmo_bench.cell`
writes them), so a partial or resumed run still reports. Accuracy is averaged over the seeds of
a (task, embedder); the table gives mean, standard deviation (over seeds, when several) and the
number of seeds, plus the learned ELMo layer weights for the mixed embedder.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from elmo_bench.analysis.figures import line_figure
from elmo_bench.errors import ElmoBenchError

LAYER_EMBEDDERS = {
    "elmo-layer0": "layer 0",
    "elmo-layer1": "layer 1",
    "elmo-layer2": "layer 2",
    "elmo": "mix",
}
"""ELMo embedders in plot order, with their x-axis labels."""


class ProbeResultsError(ElmoBenchError, ValueError):
    """A probe result file that cannot be read or lacks what the table needs."""


def load_cell_results(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Read cell result files.

    Raises:
        ProbeResultsError: a file that is not JSON or lacks task, embedder, seed or test scores.
    """
    results = []
    for path in paths:
        try:
            result = json.loads(Path(path).read_text(encoding="utf-8"))
            result["task"], result["embedder"], result["seed"], result["scores"]["test"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ProbeResultsError(
                f"{path}: not a cell result with task, embedder, seed and test scores ({error!r})"
            ) from error
        results.append(result)
    return results


def _mix_weights(result: dict[str, Any]) -> list[float] | None:
    mixes = result.get("head", {}).get("learned_mixes") or []
    mixed = [mix for mix in mixes if mix is not None]
    return mixed[0]["layer_weights"] if mixed else None


def summarise(results: Sequence[dict[str, Any]], score: str = "accuracy") -> dict[str, Any]:
    """``{"score": score, "tasks": {task: {embedder: row}}}`` where a row holds the test
    ``mean``, ``std`` (None for one seed), ``seeds``, per-seed ``values``, mean ``dev``, mean
    epochs run, and for a mixed embedder the learned layer weights of each seed.

    Raises:
        ProbeResultsError: a result without ``score`` in its test scores.
    """
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for result in results:
        if score not in result["scores"]["test"]:
            raise ProbeResultsError(
                f"{result['task']} {result['embedder']} seed {result['seed']}: no test {score!r}"
            )
        grouped.setdefault(result["task"], {}).setdefault(result["embedder"], []).append(result)
    tasks: dict[str, dict[str, Any]] = {}
    for task, by_embedder in sorted(grouped.items()):
        tasks[task] = {}
        for embedder, cells in by_embedder.items():
            cells = sorted(cells, key=lambda cell: cell["seed"])
            values = [float(cell["scores"]["test"][score]) for cell in cells]
            weights = [_mix_weights(cell) for cell in cells]
            tasks[task][embedder] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else None,
                "seeds": [cell["seed"] for cell in cells],
                "values": values,
                "dev": statistics.fmean(float(cell["scores"]["dev"][score]) for cell in cells),
                "epochs": statistics.fmean(len(cell["training"]["epochs"]) for cell in cells),
                "mix_weights": weights if any(w is not None for w in weights) else None,
            }
    return {"score": score, "tasks": tasks}


def _ordered_embedders(summary: dict[str, Any]) -> list[str]:
    present = {embedder for rows in summary["tasks"].values() for embedder in rows}
    known = [name for name in ("glove", *LAYER_EMBEDDERS) if name in present]
    return known + sorted(present - set(known))


def table_markdown(summary: dict[str, Any], mix_weights: bool = True) -> str:
    """Tasks as rows, embedders as columns: test score in % (± std over seeds when several),
    then (when ``mix_weights``) the learned ELMo layer weights of ``elmo``."""
    embedders = _ordered_embedders(summary)
    lines = [
        f"| task | {' | '.join(embedders)} |",
        f"|---|{'---|' * len(embedders)}",
    ]
    for task, rows in summary["tasks"].items():
        cells = []
        for embedder in embedders:
            row = rows.get(embedder)
            if row is None:
                cells.append("")
            elif row["std"] is None:
                cells.append(f"{100 * row['mean']:.2f}")
            else:
                cells.append(f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}")
        lines.append(f"| {task} | {' | '.join(cells)} |")
    mixes = [
        f"- {task}: " + "; ".join(
            f"seed {seed}: [{', '.join(f'{w:.2f}' for w in weights)}]"
            for seed, weights in zip(rows["elmo"]["seeds"], rows["elmo"]["mix_weights"])
            if weights is not None
        )
        for task, rows in summary["tasks"].items()
        if "elmo" in rows and rows["elmo"]["mix_weights"] is not None
    ]
    if mixes and mix_weights:
        lines += ["", "Learned ELMo layer weights (softmax, layers 0, 1, 2, ...) of `elmo`:", *mixes]
    return "\n".join(lines) + "\n"


def accuracy_by_layer_figure(summary: dict[str, Any]) -> Figure:
    """Test score by ELMo layer (and the learned mix) per task, GloVe as a dashed line."""
    layers = [name for name in LAYER_EMBEDDERS if any(name in r for r in summary["tasks"].values())]
    series = {
        task: [100 * rows[name]["mean"] if name in rows else None for name in layers]
        for task, rows in summary["tasks"].items()
    }
    baselines = {
        task: 100 * rows["glove"]["mean"]
        for task, rows in summary["tasks"].items()
        if "glove" in rows
    }
    return line_figure(
        f"Linear probes: test {summary['score']} by ELMo layer",
        [LAYER_EMBEDDERS[name] for name in layers],
        series,
        f"test {summary['score']} (%)",
        baselines=baselines,
        baseline_label="{} GloVe",
    )
