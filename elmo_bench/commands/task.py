"""``elmo-bench task NAME --embedder E --seed S``: train and score one cell, write its JSON result.

Every split of the task is located and read first (:meth:`~elmo_bench.task.Task.check_data`), so a
wrong data path or a malformed file fails in seconds, before the embedder is loaded.

Settings are overridden with ``--config SECTION.KEY=VALUE`` (repeatable), sections ``options``,
``head``, ``training`` (the task's) and ``embedder`` (sources: ``embedder.elmo.weights=PATH``); the
``--elmo-*`` and ``--glove`` flags are shorthands for the embedder sources. Values are read as JSON
when they parse (``3``, ``null``, ``["max"]``), as strings otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from elmo_bench.cache import EmbeddingCache
from elmo_bench.cell import run_cell, summary_line, write_result
from elmo_bench.compared import COMPARED_EMBEDDERS, build_embedder
from elmo_bench.devices import add_device_argument, resolve_device
from elmo_bench.embedders.registry import DEFAULT_SOURCES
from elmo_bench.settings import SettingsError, did_you_mean, parse_sections
from elmo_bench.task import discover_tasks

SECTIONS = ("options", "head", "training", "embedder")
DEFAULT_OUTPUT_DIR = Path("results") / "cells"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="task name (e.g. conll2003_ner, sst2, sst5, trec6, squad11)")
    parser.add_argument(
        "--embedder", required=True, help=f"one of: {', '.join(COMPARED_EMBEDDERS)}"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed for initialisation, dropout, batch order"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=f"override a setting; SECTION is one of {', '.join(SECTIONS)} (repeatable)",
    )
    parser.add_argument("--elmo-options", help="shorthand for --config embedder.elmo.options=PATH")
    parser.add_argument("--elmo-weights", help="shorthand for --config embedder.elmo.weights=PATH")
    parser.add_argument(
        "--elmo-model", help="shorthand for --config embedder.elmo.model=NAME (published)"
    )
    parser.add_argument(
        "--glove", help="shorthand for --config embedder.glove.vectors=PATH_OR_NAME"
    )
    parser.add_argument(
        "--tasks-dir", action="append", default=[], type=Path, help="another folder of task modules"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"result file (default {DEFAULT_OUTPUT_DIR}/TASK.EMBEDDER.seedS.json)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="embedding cache (default: ELMO_BENCH_CACHE/embeddings)"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    add_device_argument(parser, None)
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def cell_settings(args: argparse.Namespace) -> dict[str, dict]:
    """The ``--config`` overrides by section, with the embedder-source shorthands folded in
    (shared by ``elmo-bench probes``, which runs cells with the same flags)."""
    sections = parse_sections(args.config, "--config", "training.max_epochs=3")
    for section in sections:
        if section not in SECTIONS:
            raise SettingsError(
                f"--config section {section!r} is unknown{did_you_mean(section, SECTIONS)}; "
                f"expected one of {', '.join(SECTIONS)}"
            )
    embedder = sections.setdefault("embedder", {})
    shorthands = {
        "elmo.options": args.elmo_options,
        "elmo.weights": args.elmo_weights,
        "elmo.model": args.elmo_model,
        "glove.vectors": args.glove,
    }
    for key, value in shorthands.items():
        if value is not None:
            embedder[key] = value
    apply_device(sections, args.device)
    return sections


def apply_device(sections: dict[str, dict], device: str | None) -> None:
    """Put ``--device`` (when given) on the heads and every source embedder with a ``device``
    setting (ELMo, the transformer), where ``--config`` did not place them itself; then check every
    device setting, resolving ``auto``, so that a GPU torch cannot use is one line before any work
    (not a traceback from inside a model)."""
    placed = [f"{source}.device" for source, defaults in DEFAULT_SOURCES.items() if "device" in defaults]
    if device is not None:
        sections.setdefault("training", {}).setdefault("device", device)
        for key in placed:
            sections["embedder"].setdefault(key, device)
    resolved: dict[str, str] = {}
    for section, key in [("training", "device"), *(("embedder", key) for key in placed)]:
        value = sections.get(section, {}).get(key)
        if isinstance(value, str):
            if value not in resolved:
                flag = "--device" if value == device else f"--config {section}.{key}"
                resolved[value] = resolve_device(value, what=flag)
            sections[section][key] = resolved[value]


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = cell_settings(args)
    task_class = discover_tasks(args.tasks_dir).get(args.name)
    task = task_class(
        options=sections.get("options"),
        head=sections.get("head"),
        training=sections.get("training"),
    )
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    counts = task.check_data()  # a misconfigured task fails here, before anything is loaded
    if log is not None:
        log(f"{task.name}: " + ", ".join(f"{role} {n} examples" for role, n in counts.items()))
    embedder = build_embedder(args.embedder, sections.get("embedder"))
    result = run_cell(
        task, embedder, args.seed, EmbeddingCache(args.cache_dir), log=log, progress=not args.quiet
    )
    output = args.output or DEFAULT_OUTPUT_DIR / f"{task.name}.{embedder.name}.seed{args.seed}.json"
    write_result(output, result)
    print(f"{summary_line(result)} -> {output}")
    return 0
