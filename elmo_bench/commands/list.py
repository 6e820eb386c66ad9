"""``elmo-bench list``: the tasks (with their descriptions), the compared embedders and the presets.

Tasks come from the repository's ``tasks/`` folder and every ``--tasks-dir``; embedders from
:data:`elmo_bench.compared.COMPARED_EMBEDDERS`; presets from
:data:`elmo_bench.runner.presets.PRESETS`; the published ELMo models and GloVe vectors, with their
download sizes, from :mod:`elmo_bench.embedders.elmo.published` and
:mod:`elmo_bench.embedders.published_vectors`. The tasks of a ``--tasks-dir`` folder are checked:
each split is located and read (:meth:`~elmo_bench.task.Task.check_data`) and listed with its
number of examples, so a misconfigured task fails here with one line that says what to fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elmo_bench.embedders.elmo.published import PUBLISHED
from elmo_bench.embedders.published_vectors import PUBLISHED_VECTORS
from elmo_bench.compared import COMPARED_EMBEDDERS, SourceUse
from elmo_bench.runner.presets import PRESETS, preset_summary
from elmo_bench.task import discover_tasks


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks-dir", action="append", default=[], type=Path,
        help="another folder of task modules (repeatable); its tasks' data is read and checked",
    )


def describe_use(use: SourceUse) -> str:
    """``"elmo: all layers, learned scalar mix, dropout 0.5"``."""
    layers = "all layers" if use.layers is None else "layer " + ", ".join(map(str, use.layers))
    parts = [layers]
    if use.mix:
        parts.append("learned scalar mix")
    if use.dropout:
        parts.append(f"dropout {use.dropout:g}")
    if use.adaptation == "lm-finetuned":
        parts.append("biLM fine-tuned as a language model on the task's training text, then frozen")
    elif use.adaptation == "unfrozen":
        parts.append("biLM trained with the head")
    return f"{use.source}: {', '.join(parts)}"


def listing(tasks_dirs: list[Path]) -> str:
    """The text ``elmo-bench list`` prints."""
    registry = discover_tasks(tasks_dirs)
    lines = ["Tasks:"]
    names = registry.names()
    width = max(map(len, [*names, *COMPARED_EMBEDDERS, *PRESETS]))
    checked = {
        name: registry.get(name)().check_data()
        for folder in tasks_dirs
        for name in registry.names_in(folder)
    }
    for name in names:
        counts = checked.get(name)
        data = "" if counts is None else " [" + ", ".join(
            f"{role} {count:,}" for role, count in counts.items()
        ) + " examples]"
        lines.append(f"  {name:<{width}}  {registry.get(name).description}{data}")
    lines.append("Embedders:")
    lines += [
        f"  {name:<{width}}  {' + '.join(describe_use(use) for use in uses)}"
        for name, uses in COMPARED_EMBEDDERS.items()
    ]
    lines.append("Presets:")
    lines += [f"  {name:<{width}}  {preset_summary(name)}" for name in PRESETS]
    lines.append("Published files (downloaded on first use into ELMO_BENCH_CACHE):")
    files = [(f"ELMo {model.name}", f"{model.approx_weights_mb} MB", model.description)
             for model in PUBLISHED.values()]
    files += [(f"GloVe {vectors.name}", vectors.size_text, vectors.description)
              for vectors in PUBLISHED_VECTORS.values()]
    name_width = max(len(name) for name, _, _ in files)
    lines += [f"  {name:<{name_width}}  {size:>7}  {text}" for name, size, text in files]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(listing(args.tasks_dir))
    return 0
