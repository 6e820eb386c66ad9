"""``elmo-bench probes``: layer-wise linear probes (POS, chunks) for each ELMo layer and GloVe.

Runs every (task, embedder, seed) cell of the probe grid, by default the CoNLL-2003 POS and chunk
probes (``tasks/conll2003_pos.py``, ``tasks/conll2003_chunk.py``) on ``glove``, ``elmo-layer0``,
``elmo-layer1``, ``elmo-layer2`` and ``elmo`` (the learned mix), and writes under ``--out``
(default ``results/probes``):

- ``cells/TASK.EMBEDDER.seedS.json``: each cell's full result (kept: a rerun skips cells whose
  file exists, unless ``--force``);
- ``probes.json`` and ``probes.md``: test accuracy by task and embedder, rebuilt from the cell
  files (the table is also printed);
- ``probes.png``: accuracy by ELMo layer, GloVe as a dashed line.

Embedders are frozen and their vectors cached (``--cache-dir``), so the ELMo layers share one
embedding pass. Settings are overridden as in ``elmo-bench task`` (``--config training.max_epochs=3``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from elmo_bench.analysis.figures import save_figure
from elmo_bench.analysis.probes import (
    accuracy_by_layer_figure,
    load_cell_results,
    summarise,
    table_markdown,
)
from elmo_bench.cache import EmbeddingCache
from elmo_bench.cell import run_cell, summary_line, write_result
from elmo_bench.devices import add_device_argument
from elmo_bench.commands.task import SECTIONS, cell_settings
from elmo_bench.compared import COMPARED_EMBEDDERS, build_embedder, check_embedder_names
from elmo_bench.atomic import write_atomically
from elmo_bench.errors import UsageError
from elmo_bench.paths import DataFolders
from elmo_bench.task import discover_tasks

DEFAULT_OUTPUT_DIR = Path("results") / "probes"
DEFAULT_TASKS = "conll2003_pos,conll2003_chunk"
DEFAULT_EMBEDDERS = "glove,elmo-layer0,elmo-layer1,elmo-layer2,elmo"
CHUNK_F1 = "chunk_f1"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default=DEFAULT_TASKS, help=f"comma-separated (default {DEFAULT_TASKS})")
    parser.add_argument(
        "--embedders",
        default=DEFAULT_EMBEDDERS,
        help=f"comma-separated, of: {', '.join(COMPARED_EMBEDDERS)} (default {DEFAULT_EMBEDDERS})",
    )
    parser.add_argument("--seeds", default="1", help="comma-separated seeds (default 1)")
    parser.add_argument(
        "--config", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help=f"override a setting of every cell; SECTION is one of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--elmo-options", help="shorthand for --config embedder.elmo.options=PATH")
    parser.add_argument("--elmo-weights", help="shorthand for --config embedder.elmo.weights=PATH")
    parser.add_argument("--elmo-model", help="shorthand for --config embedder.elmo.model=NAME")
    parser.add_argument("--glove", help="shorthand for --config embedder.glove.vectors=PATH_OR_NAME")
    parser.add_argument("--tasks-dir", action="append", default=[], type=Path, help="another folder of task modules")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT_DIR, help=f"output folder (default {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--force", action="store_true", help="rerun cells whose result file exists")
    parser.add_argument("--cache-dir", type=Path, help="embedding cache (default: ELMO_BENCH_CACHE/embeddings)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    add_device_argument(parser, None)
    parser.add_argument("--quiet", action="store_true", help="print only the summary lines and the table")


def _names(text: str, what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError(f"--{what} names nothing")
    return names


def _seeds(text: str) -> list[int]:
    try:
        return [int(seed) for seed in _names(text, "seeds")]
    except ValueError as error:
        raise UsageError(f"--seeds must be comma-separated integers, got {text!r}") from error


def _run_cells(args: argparse.Namespace, sections: dict[str, dict]) -> list[Path]:
    """Run (or keep) every cell of the grid; returns the cell files in grid order."""
    registry = discover_tasks(args.tasks_dir)
    task_names, embedder_names = _names(args.tasks, "tasks"), _names(args.embedders, "embedders")
    seeds = _seeds(args.seeds)
    data_folders = DataFolders.from_environment()
    tasks = [
        registry.get(name)(
            options=sections.get("options"),
            head=sections.get("head"),
            training=sections.get("training"),
            data_folders=data_folders,
        )
        for name in task_names
    ]
    check_embedder_names(embedder_names)
    cache = EmbeddingCache(args.cache_dir)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    cell_paths = []
    for embedder_name in embedder_names:
        embedder = None  # loaded when a cell of it runs
        for task in tasks:
            for seed in seeds:
                path = args.out / "cells" / f"{task.name}.{embedder_name}.seed{seed}.json"
                cell_paths.append(path)
                if path.exists() and not args.force:
                    print(f"{path}: kept (--force reruns it)")
                    continue
                embedder = embedder or build_embedder(embedder_name, sections.get("embedder"))
                result = run_cell(task, embedder, seed, cache, log=log, progress=not args.quiet)
                write_result(path, result)
                print(f"{summary_line(result)} -> {path}", flush=True)
    return cell_paths


def _write_report(cell_paths: list[Path], out: Path) -> str:
    """Write probes.json, probes.md and probes.png from the cell files; returns the tables."""
    results = load_cell_results(cell_paths)
    summary = summarise(results)
    # Chunking is also scored by strict chunk-span F1 (conlleval's measure): a second table.
    with_spans = [result for result in results if CHUNK_F1 in result["scores"]["test"]]
    span_summary = summarise(with_spans, CHUNK_F1) if with_spans else None
    text = json.dumps({**summary, CHUNK_F1: span_summary}, indent=1, allow_nan=False) + "\n"
    write_atomically(out / "probes.json", lambda path: path.write_text(text, encoding="utf-8"))
    tables = table_markdown(summary)
    if span_summary is not None:
        tables += "\nStrict chunk-span F1 (%) of the same predictions:\n\n" + table_markdown(
            span_summary, mix_weights=False
        )
    markdown = (
        "# Layer-wise linear probes\n\nTest token accuracy (%) of a linear softmax classifier "
        "per token on the frozen embedder; `elmo` is the learned scalar mix of all ELMo layers. "
        "Each cell's protocol, settings and embedder fingerprints are in `cells/`.\n\n" + tables
    )
    write_atomically(out / "probes.md", lambda path: path.write_text(markdown, encoding="utf-8"))
    save_figure(accuracy_by_layer_figure(summary), out / "probes.png")
    return tables


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    cell_paths = _run_cells(args, cell_settings(args))
    print(_write_report(cell_paths, args.out))
    print(f"wrote {args.out / 'probes.json'}, {args.out / 'probes.md'}, {args.out / 'probes.png'}")
    return 0
