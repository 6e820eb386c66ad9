"""``build_report``: read every cell result under a folder, write the report files atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from elmo_bench.atomic import write_bytes_atomically
from elmo_bench.report.cells import load_cells
from elmo_bench.report.plots import cost_vs_score_png, mix_weights_png, scores_png
from elmo_bench.report.render import (
    ReportSource,
    csv_text,
    json_document,
    latex_tables,
    markdown_report,
)
from elmo_bench.report.significance import DEFAULT_RESAMPLES, DEFAULT_SEED
from elmo_bench.report.summary import summarise

REPORT_FILES = (
    "README.md",
    "results.csv",
    "results.json",
    "results.tex",
    "scores.png",
    "cost_vs_score.png",
    "mix_weights.png",
)


def build_report(
    cells_dir: Path,
    out_dir: Path,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    caveat: str = "",
) -> dict[str, Any]:
    """Build the report of every cell result (``*.json``, recursively) under ``cells_dir`` into
    ``out_dir``: README.md, results.csv, results.json, results.tex, scores.png,
    cost_vs_score.png, mix_weights.png (see :data:`REPORT_FILES`). Every file is rendered before the first is
    written, and each is replaced atomically.

    Args:
        resamples: bootstrap resamples per comparison and task.
        seed: seed of the bootstrap's random generators.
        caveat: what the run behind the cells cannot conclude (a preset's ``report_caveat``),
            printed under the report's title.

    Returns:
        The content of results.json.

    Raises:
        CellFileError: a cell file is malformed or inconsistent with the others (the message
            names it), or there is none.
        ValueError: ``resamples`` is not positive.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples}")
    cells_dir, out_dir = Path(cells_dir), Path(out_dir)
    cells = load_cells(cells_dir)
    content = summarise(cells, resamples, seed)
    source = ReportSource(
        cells_dir=str(cells_dir),
        cell_files=tuple(str(cell.path.relative_to(cells_dir)) for cell in cells),
        resamples=resamples,
        seed=seed,
        caveat=caveat,
    )
    document = json_document(content, source)
    outputs = {
        "README.md": markdown_report(content, source).encode("utf-8"),
        "results.csv": csv_text(content).encode("utf-8"),
        "results.json": (json.dumps(document, indent=1, allow_nan=False) + "\n").encode("utf-8"),
        "results.tex": latex_tables(content).encode("utf-8"),
        "scores.png": scores_png(content),
        "cost_vs_score.png": cost_vs_score_png(content),
        "mix_weights.png": mix_weights_png(content),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        write_bytes_atomically(out_dir / name, outputs[name])
    return document
