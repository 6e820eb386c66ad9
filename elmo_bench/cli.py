"""``elmo-bench``: one subcommand per job; each lives in its own module under ``commands/``."""
from __future__ import annotations

import argparse
import importlib
import sys

from elmo_bench import __version__
from elmo_bench.errors import run_main

# Subcommand name -> module under elmo_bench.commands exposing ``configure(parser)`` (adds the
# arguments) and ``run(args) -> int``.
COMMANDS = {
    "bench": "Run every task x embedder x seed of a preset (pretraining included); resumable.",
    "list": "List tasks, embedders and presets.",
    "embed": "Embed a text file with ELMo into HDF5 (AllenNLP's `elmo` command layout).",
    "pretrain": "Pretrain a biLM (ELMo's language model) on a corpus; resumable; exports the official format.",
    "task": "Train and score one task cell (task x embedder x seed); write its JSON result.",
    "report": "Tables, plots and paired significance tests from the cell result files.",
    "contexts": "How a word's vectors change with context, layer by layer: sense scores, heat-maps, nearest neighbours in context.",
    "curves": "The claims' curves: score against the biLM's pretraining tokens, against the task's training data, and a transformer beside the preset.",
    "probes": "Layer-wise linear probes (CoNLL-2003 POS, chunks) for each ELMo layer, the mix and GloVe; table and plot.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elmo-bench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"elmo-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"elmo_bench.commands.{name}")
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A user error (:class:`~elmo_bench.errors.ElmoBenchError`, a missing
    file) is one line on stderr and status 2; anything else is a bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    return run_main(f"elmo-bench {args.command}", lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
