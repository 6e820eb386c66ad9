"""``elmo-bench contexts WORD``: how a word's vectors change with its context, layer by layer.

Reads sentences holding WORD (``--sentences FILE``: one whitespace-tokenized sentence a line,
optionally ``SENSE<TAB>sentence``; default: the built-in set of WORD, see
:data:`elmo_bench.analysis.contexts.BUILTIN_WORDS`), embeds every occurrence with each embedder,
and writes under ``--out`` (default ``results/contexts``):

- ``WORD.json``: occurrences, per-layer similarity matrices and sense scores, neighbours;
- ``WORD.md``: the table (also printed) and the nearest neighbours in context;
- ``WORD-EMBEDDER.png``: one heat-map per layer of the similarity between occurrences.

Nearest neighbours in context (``--neighbours K``, 0 to skip) need a corpus: ``--corpus`` or,
by default, ``$ELMO_BENCH_DATA/corpus/wikipedia``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from elmo_bench.analysis.contexts import (
    BUILTIN_WORDS,
    ContextsAnalysis,
    ContextsError,
    analyse_contexts,
    builtin_sentences,
    load_context_set,
)
from elmo_bench.analysis.figures import heatmap_figure, save_figure
from elmo_bench.analysis.neighbours import (
    NeighbourReport,
    corpus_contexts,
    nearest_in_context,
    nearest_words,
)
from elmo_bench.devices import add_device_argument, resolve_device
from elmo_bench.embedders.base import Embedder
from elmo_bench.embedders.registry import DEFAULT_SOURCES, load_embedder, source_settings
from elmo_bench.embedders.static import StaticEmbedder
from elmo_bench.paths import data_dir
from elmo_bench.atomic import write_atomically
from elmo_bench.settings import did_you_mean

DEFAULT_OUTPUT_DIR = Path("results") / "contexts"
# What each source needs, as the flags that give it.
_REQUIRED_FLAGS = {
    "elmo": "--elmo-options and --elmo-weights (or --elmo-model NAME)",
    "glove": "--glove PATH_OR_NAME",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("word", help="the word (a token, matched case-sensitively)")
    parser.add_argument(
        "--sentences",
        type=Path,
        help="one whitespace-tokenized sentence a line, optionally 'SENSE<TAB>sentence' "
        f"(default: the built-in set of WORD; built-in: {', '.join(BUILTIN_WORDS)})",
    )
    parser.add_argument(
        "--no-senses", action="store_true", help="do not group occurrences by sense"
    )
    parser.add_argument(
        "--embedders",
        default="glove,elmo",
        help=f"comma-separated sources, of: {', '.join(DEFAULT_SOURCES)} (default glove,elmo)",
    )
    parser.add_argument("--elmo-options", help="ELMo options.json")
    parser.add_argument("--elmo-weights", help="ELMo weights.hdf5")
    parser.add_argument("--elmo-model", help="published ELMo: small, medium, original, ...")
    parser.add_argument("--glove", help="GloVe/word2vec text file, or a published name")
    parser.add_argument(
        "--neighbours", type=int, default=3, metavar="K",
        help="nearest occurrences in context per sentence from a corpus sample (0: skip)",
    )
    parser.add_argument(
        "--corpus", type=Path,
        help="corpus for the neighbours (default: $ELMO_BENCH_DATA/corpus/wikipedia)",
    )
    parser.add_argument(
        "--corpus-sentences", type=int, default=2000, metavar="N",
        help="corpus sentences holding WORD to sample (default 2000)",
    )
    parser.add_argument(
        "--neighbour-layer", type=int, help="ELMo layer compared for neighbours (default: top)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUTPUT_DIR,
        help=f"output folder (default {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    add_device_argument(parser, "cpu")


def _load_embedders(args: argparse.Namespace) -> dict[str, Embedder]:
    names = [name.strip() for name in args.embedders.split(",") if name.strip()]
    if not names:
        raise ContextsError("--embedders names no embedder")
    for name in names:
        if name not in DEFAULT_SOURCES:
            raise ContextsError(
                f"unknown embedder {name!r}{did_you_mean(name, DEFAULT_SOURCES)}; "
                f"known: {', '.join(DEFAULT_SOURCES)}"
            )
    given = {
        "elmo": args.elmo_model is not None
        or (args.elmo_options is not None and args.elmo_weights is not None),
        "glove": args.glove is not None,
    }
    missing = [name for name in names if not given[name]]
    if missing:
        raise ContextsError(
            "; ".join(f"{name} needs {_REQUIRED_FLAGS[name]}" for name in missing)
        )
    overrides = {
        key: value
        for key, value in {
            "elmo.options": args.elmo_options,
            "elmo.weights": args.elmo_weights,
            "elmo.model": args.elmo_model,
            "glove.vectors": args.glove,
        }.items()
        if value is not None
    }
    device = resolve_device(args.device)
    overrides.update({"elmo.device": device, "transformer.device": device})
    settings = source_settings(overrides)
    return {name: load_embedder(name, settings[name]) for name in names}


def _neighbours(
    args: argparse.Namespace, analysis: ContextsAnalysis, embedders: dict[str, Embedder]
) -> NeighbourReport | None:
    contextual = [name for name, embedder in embedders.items() if embedder.n_layers > 1]
    if args.neighbours <= 0 or not contextual:
        return None
    corpus = args.corpus
    if corpus is None:
        root = data_dir()
        if root is None:
            print("nearest neighbours skipped: no corpus (give --corpus, or set ELMO_BENCH_DATA)")
            return None
        corpus = root / "corpus" / "wikipedia"
    name = contextual[0]
    embedder = embedders[name]
    layer = embedder.n_layers - 1 if args.neighbour_layer is None else args.neighbour_layer
    sample = corpus_contexts(corpus, analysis.word, args.corpus_sentences)
    static = next(
        (n for n, e in embedders.items() if isinstance(e, StaticEmbedder)), None
    )
    return NeighbourReport(
        embedder=name,
        layer=layer,
        sample=sample,
        queries=analysis.occurrences,
        neighbours=nearest_in_context(
            embedder, layer, analysis.occurrences, sample, analysis.word, args.neighbours
        ),
        static_embedder=static,
        static_words=None
        if static is None
        else nearest_words(embedders[static].vectors, analysis.word, 10),
    )


def _write_outputs(analysis: ContextsAnalysis, out: Path) -> list[Path]:
    stem = re.sub(r"[^\w.-]", "_", analysis.word)
    written = []
    json_path = out / f"{stem}.json"
    text = json.dumps(analysis.to_dict(), indent=1, allow_nan=False) + "\n"
    write_atomically(json_path, lambda path: path.write_text(text, encoding="utf-8"))
    written.append(json_path)
    markdown_path = out / f"{stem}.md"
    markdown = analysis.to_markdown()
    write_atomically(markdown_path, lambda path: path.write_text(markdown, encoding="utf-8"))
    written.append(markdown_path)
    groups = [o.sense for o in analysis.occurrences] if analysis.grouped else None
    for embedder in analysis.fingerprints:
        layers = [layer for layer in analysis.layers if layer.embedder == embedder]
        panels = [(f"{embedder} layer {layer.layer}", layer.similarity) for layer in layers]
        figure = heatmap_figure(
            f'"{analysis.word}": cosine similarity between occurrences ({embedder})',
            panels,
            groups,
        )
        written.append(save_figure(figure, out / f"{stem}-{embedder}.png"))
    return written


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    source = args.sentences if args.sentences is not None else builtin_sentences(args.word)
    contexts = load_context_set(args.word, source, group_by_sense=not args.no_senses)
    embedders = _load_embedders(args)
    analysis = analyse_contexts(contexts, embedders)
    analysis.neighbours = _neighbours(args, analysis, embedders)
    written = _write_outputs(analysis, args.out)
    print(analysis.to_markdown(short=True))
    print("wrote " + ", ".join(str(path) for path in written))
    return 0
